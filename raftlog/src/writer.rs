//! The writer task: the one owner of every open file of the log.
//!
//! [`crate::RaftLog`] decides *what* goes where (it lays records out in segments and knows every
//! entry's offset before it is written); the writer only executes those decisions, in order,
//! against real files through glommio's `DmaFile` (O_DIRECT on io_uring). They share a staging
//! [`Queue`] of [`Op`]s: the log pushes ops (and appends extend the last write op in place,
//! encoding entries straight into its [`Stage`], DMA memory the writer handed over), the writer
//! takes the whole queue at once.
//!
//! Group commit: whenever the queue is non-empty the writer takes all of it, with the one
//! [`Completion`] every flush request made meanwhile holds, and performs it as one flush: one
//! aligned write of the new bytes (re-writing the in-memory partial tail block in front of
//! them), the hard-state slot if it changed (concurrently, it is another file), and the sync
//! (O_DSYNC writes or one fdatasync per touched file). Only then does it resolve the
//! completion, waking every waiter at once. There is never more than one flush in flight;
//! whatever is staged while a flush runs is already queued, encoded, when it completes, and the
//! next flush starts at once. Per append this costs one record encode into the staging buffer
//! and one waker: no message, no channel, no allocation of the log's. When a flush holds one
//! write whose stage is DMA memory (the common case), the writer puts the tail block's bytes in
//! the room the log left in front of the records and writes that very buffer; otherwise it
//! copies the writes into one fresh DMA buffer.
//!
//! A failed write or sync puts the writer in the failed state for good: the failing flush and
//! every later one resolve with `LogError::Failed`, nothing more is written, and the node must
//! restart so recovery can decide what reached the disk. If the writer task is dropped, every
//! pending completion resolves with `LogError::Closed`.

use crate::config::{LogConfig, Preallocate, SyncMode};
use crate::error::{LogError, Result};
use crate::format::{align_down, align_up, segment_file_name, stamp_flush, SegmentHeader, BLOCK};
use crate::meta::{encode_slot, slot_of, SLOT_SIZE};
use crate::recovery::SPARE_PREFIX;
use crate::stage::Stage;
use glommio::io::{Directory, DmaBuffer, DmaFile, OpenOptions};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// What one completed flush did; handed to every waiter of that flush and to the observer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Writer-wide flush counter.
    pub flush: u64,
    /// Bytes written to the segment (tail-block rewrite and padding included).
    pub bytes: u64,
    /// Records that became durable.
    pub records: u32,
    /// Whether the hard-state file was written.
    pub meta_written: bool,
    /// `Sync` requests (appenders) answered by this flush.
    pub waiters: u32,
    /// Time from issuing the write(s) to durability, in microseconds.
    pub sync_micros: u64,
}

/// Callback the node installs to turn flushes into metrics (fsync latency, batch sizes).
pub type FlushObserver = Box<dyn FnMut(&FlushReport)>;

/// One instruction for the writer.
pub(crate) enum Op {
    /// Bytes of whole records for segment `seg` at `offset`, contiguous with what came before.
    /// `records` are the record starts within `bytes` (for flush stamping). While it is the last
    /// op queued, later appends to the same segment extend it in place.
    Write {
        seg: u64,
        offset: u64,
        bytes: Stage,
        records: Vec<u32>,
    },
    /// Make everything so far durable, then start a new segment with this header.
    Rotate { header: SegmentHeader },
    /// New hard-state payload. `barrier`: make everything staged before it durable first.
    Meta { payload: Vec<u8>, barrier: bool },
    /// After everything staged so far is durable, recycle or delete these segments.
    Delete { seqs: Vec<u64> },
    /// Nothing to do but flush: queued by a flush request that found the queue empty, so the
    /// writer wakes and resolves it.
    Sync,
    /// Install the flush observer.
    Observe(FlushObserver),
    /// Flush, resolve, and stop.
    Close,
}

/// Empty DMA staging buffers kept ready for the log, so appends made while a flush is in
/// flight find one (the writer refills before each write it submits).
const STAGES_READY: usize = 2;
/// Size of a staging buffer: a batch larger than this spills to the heap and is copied. 64
/// appenders of 1 KiB fill 68 KiB. Glommio's registered I/O memory is 10 MiB per executor.
const STAGE_BYTES: usize = 256 << 10;
/// Record-offset vectors kept for reuse.
const FREE_RECORDS: usize = 8;

/// What the log has staged and the writer has not taken yet.
pub(crate) struct Queue {
    /// Ops in the order the log staged them.
    pub ops: Vec<Op>,
    /// Resolved when the batch made of `ops` is durable (or failed); every flush request made
    /// while these ops wait holds it. One per flush, not one per waiter.
    pub done: Rc<Completion>,
    /// Empty staging buffers (and record-offset vectors) for new writes, from the writer.
    pub free: Vec<(Stage, Vec<u32>)>,
}

/// What the log handle and the writer share. Both live on one executor thread; nothing here
/// is borrowed across an await.
///
/// The staging queue is an `Rc<RefCell<..>>` shared by the two halves of this one component
/// rather than a channel: the writer must take *everything* staged since its last flush in one
/// step, and an append must be able to extend the last queued write in place (one message and
/// one buffer per flush instead of one per append, encoded straight into the bytes the writer
/// copies to the DMA buffer). The other fields are written only by the writer.
pub(crate) struct Shared {
    pub queue: RefCell<Queue>,
    /// The writer's waker while it waits for work.
    writer: Cell<Option<Waker>>,
    /// Set when the log handle is gone: the writer drains the queue and stops.
    pub closed: Cell<bool>,
    /// Number of ops (in queue order) whose effects are durable.
    pub durable_ops: Cell<u64>,
    /// Set once, when the writer fails.
    pub failed: OnceCell<LogError>,
    /// Counters for metrics.
    pub flushes: Cell<u64>,
    pub bytes_written: Cell<u64>,
    pub sync_micros_total: Cell<u64>,
    /// Segment writes sent from the staging buffer the log encoded into, and those laid out
    /// by copying.
    pub writes_in_place: Cell<u64>,
    pub writes_copied: Cell<u64>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            queue: RefCell::new(Queue {
                ops: Vec::new(),
                done: Rc::new(Completion::default()),
                free: Vec::new(),
            }),
            writer: Cell::new(None),
            closed: Cell::new(false),
            durable_ops: Cell::new(0),
            failed: OnceCell::new(),
            flushes: Cell::new(0),
            bytes_written: Cell::new(0),
            sync_micros_total: Cell::new(0),
            writes_in_place: Cell::new(0),
            writes_copied: Cell::new(0),
        }
    }
}

impl Shared {
    /// Wakes the writer if it waits for work (cheap when it does not).
    pub fn wake_writer(&self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Queues an op and wakes the writer.
    pub fn push(&self, op: Op) {
        self.queue.borrow_mut().ops.push(op);
        self.wake_writer();
    }
}

/// The outcome of one batch, shared by everyone who waits for it.
#[derive(Default)]
pub(crate) struct Completion {
    result: OnceCell<Result<FlushReport>>,
    wakers: Cell<Vec<Waker>>,
    /// Flush requests attached (reported as `FlushReport::waiters`).
    pub waiters: Cell<u32>,
}

impl Completion {
    fn resolve(&self, r: Result<FlushReport>) {
        if self.result.set(r).is_ok() {
            for w in self.wakers.take() {
                w.wake();
            }
        }
    }
}

/// The future [`crate::RaftLog::flush`] returns: resolves with the outcome of the batch that
/// holds everything staged before the request.
pub(crate) struct Durable {
    done: Option<Rc<Completion>>,
    error: Option<LogError>,
    /// The waker registered with `done`, to register again only if the task changes.
    waker: Option<Waker>,
}

impl Durable {
    pub fn waiting(done: Rc<Completion>) -> Durable {
        Durable {
            done: Some(done),
            error: None,
            waker: None,
        }
    }

    pub fn failed(e: LogError) -> Durable {
        Durable {
            done: None,
            error: Some(e),
            waker: None,
        }
    }
}

impl Future for Durable {
    type Output = Result<FlushReport>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        let Some(done) = this.done.as_ref() else {
            // Polled again after it resolved.
            return Poll::Ready(Err(LogError::Closed));
        };
        if let Some(r) = done.result.get() {
            let r = r.clone();
            this.done = None;
            return Poll::Ready(r);
        }
        if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let w = cx.waker().clone();
            let mut wakers = done.wakers.take();
            wakers.push(w.clone());
            done.wakers.set(wakers);
            this.waker = Some(w);
        }
        Poll::Pending
    }
}

/// Waits until the log has queued something (or is gone) and takes the whole queue at once,
/// with the completion its waiters hold.
struct NextBatch<'a> {
    shared: &'a Shared,
    spare: &'a mut Vec<Op>,
}

impl Future for NextBatch<'_> {
    type Output = Option<(Vec<Op>, Rc<Completion>)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut q = this.shared.queue.borrow_mut();
        if !q.ops.is_empty() {
            let ops = std::mem::replace(&mut q.ops, std::mem::take(this.spare));
            let done = std::mem::replace(&mut q.done, Rc::new(Completion::default()));
            return Poll::Ready(Some((ops, done)));
        }
        if this.shared.closed.get() {
            return Poll::Ready(None);
        }
        this.shared.writer.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// The segment currently being appended to.
pub(crate) struct Active {
    pub file: Rc<DmaFile>,
    pub seq: u64,
    pub salt: u64,
    pub path: PathBuf,
    /// Block-aligned offset where the in-memory tail starts.
    pub tail_off: u64,
    /// Bytes from `tail_off` to the current end of written data (< one block).
    pub tail: Vec<u8>,
    /// Flush counter within this segment.
    pub flush_no: u32,
}

struct MetaFile {
    file: DmaFile,
    path: PathBuf,
    generation: u64,
}

pub(crate) struct Writer {
    log_dir: PathBuf,
    dir: Directory,
    cfg: LogConfig,
    shared: Rc<Shared>,
    active: Option<Active>,
    /// Write ops staged for the next commit, in order, and their total length.
    pending: Vec<(Stage, Vec<u32>)>,
    pending_len: usize,
    /// Reused for the tail block the next commit leaves in memory.
    next_tail: Vec<u8>,
    /// Record-offset vectors of written stages, for the next ones.
    free_records: Vec<Vec<u32>>,
    pending_meta: Option<Vec<u8>>,
    /// The completion of the batch being processed (resolved on drop if the task dies).
    current: Option<Rc<Completion>>,
    /// An empty op vector swapped into the queue when the writer takes it.
    spare_ops: Vec<Op>,
    meta: MetaFile,
    spares: VecDeque<PathBuf>,
    spare_task: Option<glommio::Task<Result<PathBuf>>>,
    seen_ops: u64,
    flushes: u64,
    observer: Option<FlushObserver>,
}

/// Write-only on purpose. The writer never reads through these descriptors (recovery and
/// cache misses use plain preads), and glommio decides once per thread and device whether to
/// put a device's I/O on its poll ring by probing the first DMA file opened there with a polled
/// read. On a write-only descriptor that probe fails, so the device stays on the interrupt-driven
/// ring. On a device without poll queues (this machine's virtio disk) polled completions make
/// the executor spin: bench (b) burned ~60 us of CPU per append that way instead of ~4.4 us,
/// at the same throughput. (If another component opens a readable DMA file on the same thread
/// first, its probe decides.)
fn open_opts(mode: SyncMode, create: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(create);
    if mode == SyncMode::Dsync {
        o.custom_flags(libc::O_DSYNC);
    }
    o
}

/// Opens a segment or hard-state file for O_DIRECT writing in the configured sync mode.
pub(crate) async fn open_file(path: &Path, mode: SyncMode, create: bool) -> Result<DmaFile> {
    open_opts(mode, create)
        .dma_open(path)
        .await
        .map_err(|e| LogError::glommio("opening", path, e))
}

impl Writer {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn new(
        raft_dir: &Path,
        log_dir: &Path,
        cfg: LogConfig,
        shared: Rc<Shared>,
        active: Option<Active>,
        spares: Vec<PathBuf>,
        meta_generation: u64,
    ) -> Result<Writer> {
        let dir = Directory::open(log_dir)
            .await
            .map_err(|e| LogError::glommio("opening directory", log_dir, e))?;
        let meta_path = raft_dir.join(crate::meta::META_FILE);
        let fresh = !meta_path.exists();
        let file = open_file(&meta_path, cfg.sync_mode, true).await?;
        if fresh {
            // Write both slots once so later overwrites hit allocated, written blocks.
            let mut buf = file.alloc_dma_buffer(2 * SLOT_SIZE as usize);
            buf.as_bytes_mut().fill(0);
            file.write_at(buf, 0)
                .await
                .map_err(|e| LogError::glommio("initialising", &meta_path, e))?;
            file.fdatasync()
                .await
                .map_err(|e| LogError::glommio("syncing", &meta_path, e))?;
            let rd = Directory::open(raft_dir)
                .await
                .map_err(|e| LogError::glommio("opening directory", raft_dir, e))?;
            rd.sync()
                .await
                .map_err(|e| LogError::glommio("syncing directory", raft_dir, e))?;
        }
        let mut w = Writer {
            log_dir: log_dir.to_path_buf(),
            dir,
            cfg,
            shared,
            active,
            pending: Vec::new(),
            pending_len: 0,
            next_tail: Vec::new(),
            free_records: Vec::new(),
            pending_meta: None,
            current: None,
            spare_ops: Vec::new(),
            meta: MetaFile {
                file,
                path: meta_path,
                generation: meta_generation,
            },
            spares: spares.into(),
            spare_task: None,
            seen_ops: 0,
            flushes: 0,
            observer: None,
        };
        refill_stages(&w.shared, &w.meta.file, &mut w.free_records);
        w.start_spare_prep();
        Ok(w)
    }

    /// The task body: takes everything queued as one batch, flushes it, resolves its waiters,
    /// and repeats until the log handle is gone or `Close` arrives.
    ///
    /// No yield before taking the queue: tasks woken by the previous flush run before the
    /// writer (glommio runs woken tasks in order and the writer is woken by the first of them
    /// to stage), so they all join this batch; and whatever was staged while the previous
    /// flush was in flight is taken the moment it completes.
    pub(crate) async fn run(mut self) {
        loop {
            let next = NextBatch {
                shared: &self.shared,
                spare: &mut self.spare_ops,
            }
            .await;
            let Some((mut ops, done)) = next else {
                break;
            };
            let stop = self.process(&mut ops, done).await;
            self.spare_ops = ops;
            if stop {
                break;
            }
        }
        if let Some(t) = self.spare_task.take() {
            let _ = t.await;
        }
    }

    fn fail(&mut self, e: LogError) {
        tracing::error!(error = %e, "raft log write failed; the log is now read-only");
        let _ = self.shared.failed.set(e);
    }

    fn failed_err(&self) -> LogError {
        LogError::Failed(Box::new(
            self.shared
                .failed
                .get()
                .cloned()
                .unwrap_or(LogError::Closed),
        ))
    }

    /// Runs one batch (leaving `ops` empty) and resolves `done`; returns true when the writer
    /// must stop.
    async fn process(&mut self, ops: &mut Vec<Op>, done: Rc<Completion>) -> bool {
        self.current = Some(done.clone());
        let mut close = false;
        let mut report = FlushReport::default();
        for op in ops.drain(..) {
            self.seen_ops += 1;
            if self.shared.failed.get().is_some() {
                close |= matches!(op, Op::Close);
                continue;
            }
            let r = match op {
                Op::Write {
                    seg,
                    offset,
                    bytes,
                    records,
                } => self.stage(seg, offset, bytes, records),
                Op::Rotate { header } => match self.commit(&mut report).await {
                    Ok(()) => self.rotate(header).await,
                    Err(e) => Err(e),
                },
                Op::Meta { payload, barrier } => {
                    let r = if barrier {
                        self.commit(&mut report).await
                    } else {
                        Ok(())
                    };
                    self.pending_meta = Some(payload);
                    r
                }
                Op::Delete { seqs } => match self.commit(&mut report).await {
                    Ok(()) => self.delete(seqs).await,
                    Err(e) => Err(e),
                },
                Op::Sync => Ok(()),
                Op::Observe(f) => {
                    self.observer = Some(f);
                    Ok(())
                }
                Op::Close => {
                    close = true;
                    Ok(())
                }
            };
            if let Err(e) = r {
                self.fail(e);
            }
        }
        if self.shared.failed.get().is_none() {
            if let Err(e) = self.commit(&mut report).await {
                self.fail(e);
            }
        }
        let ok = self.shared.failed.get().is_none();
        if ok {
            self.shared.durable_ops.set(self.seen_ops);
        }
        report.waiters = done.waiters.get();
        if ok && (report.bytes > 0 || report.meta_written) {
            if let Some(obs) = self.observer.as_mut() {
                obs(&report);
            }
        }
        self.current = None;
        done.resolve(if ok {
            Ok(report)
        } else {
            Err(self.failed_err())
        });
        close
    }

    fn stage(&mut self, seg: u64, offset: u64, bytes: Stage, records: Vec<u32>) -> Result<()> {
        let Some(a) = self.active.as_ref() else {
            return Err(LogError::Invalid(format!(
                "write for segment {seg} with no active segment"
            )));
        };
        let at = a.tail_off + (a.tail.len() + self.pending_len) as u64;
        if a.seq != seg || at != offset {
            return Err(LogError::Invalid(format!(
                "write for segment {seg} at {offset} but the writer is at segment {} offset {at}",
                a.seq
            )));
        }
        self.pending_len += bytes.len();
        self.pending.push((bytes, records));
        Ok(())
    }

    /// Lays out the next segment write in a DMA buffer: the in-memory tail block, then every
    /// pending write with its records stamped with the flush number, zero padding to the block.
    /// A single pending write staged in DMA memory is completed in place; several are copied
    /// into a fresh buffer. Then the log gets empty staging buffers for what comes next.
    fn prepare_data(&mut self) -> Result<DataWrite> {
        let a = self
            .active
            .as_mut()
            .ok_or_else(|| LogError::Invalid("no active segment".into()))?;
        a.flush_no += 1;
        let head = a.tail.len();
        let total = head + self.pending_len;
        let size = align_up(total as u64, BLOCK) as usize;
        let in_place = self.pending.len() == 1 && self.pending[0].0.dma_head() == Some(head);
        let counter = if in_place {
            &self.shared.writes_in_place
        } else {
            &self.shared.writes_copied
        };
        counter.set(counter.get() + 1);
        let mut buf = if in_place {
            let (stage, records) = self.pending.pop().expect("one pending write");
            let mut buf = stage.into_dma().expect("checked to be a DMA stage");
            let b = buf.as_bytes_mut();
            b[..head].copy_from_slice(&a.tail);
            for &r in &records {
                stamp_flush(a.salt, &mut b[head + r as usize..], a.flush_no);
            }
            keep_records(&mut self.free_records, records);
            // The stage keeps its records and the block they end in inside the buffer.
            buf.trim_to_size(size);
            buf
        } else {
            let mut buf = a.file.alloc_dma_buffer(size);
            let b = buf.as_bytes_mut();
            b[..head].copy_from_slice(&a.tail);
            let mut pos = head;
            for (stage, records) in self.pending.drain(..) {
                let bytes = stage.bytes();
                let chunk = &mut b[pos..pos + bytes.len()];
                chunk.copy_from_slice(bytes);
                for &r in &records {
                    stamp_flush(a.salt, &mut chunk[r as usize..], a.flush_no);
                }
                pos += bytes.len();
                keep_records(&mut self.free_records, records);
            }
            buf
        };
        let b = buf.as_bytes_mut();
        b[total..].fill(0);
        let end = a.tail_off + total as u64;
        let new_off = align_down(end, BLOCK);
        let keep_from = (new_off - a.tail_off) as usize;
        self.next_tail.clear();
        self.next_tail.extend_from_slice(&b[keep_from..total]);
        self.pending_len = 0;
        refill_stages(&self.shared, &a.file, &mut self.free_records);
        Ok(DataWrite { buf, new_off })
    }

    /// Writes what is pending (segment bytes and hard state, concurrently) and makes it durable.
    async fn commit(&mut self, report: &mut FlushReport) -> Result<()> {
        let meta = self.pending_meta.take();
        if self.pending.is_empty() && meta.is_none() {
            return Ok(());
        }
        let start = Instant::now();
        let mode = self.cfg.sync_mode;
        let records = self
            .pending
            .iter()
            .map(|(_, r)| r.len() as u32)
            .sum::<u32>();
        let prepared = if self.pending.is_empty() {
            None
        } else {
            Some(self.prepare_data()?)
        };
        let data = async {
            let Some(d) = prepared else {
                return Ok(0u64);
            };
            let a = self
                .active
                .as_mut()
                .ok_or_else(|| LogError::Invalid("no active segment".into()))?;
            write_data(a, d, &mut self.next_tail, mode).await
        };
        let meta_fut = async {
            match meta {
                None => Ok(false),
                Some(p) => write_meta(&mut self.meta, &p, mode).await.map(|_| true),
            }
        };
        let (d, m) = futures_lite::future::zip(data, meta_fut).await;
        let bytes = d?;
        let meta_written = m?;
        let micros = start.elapsed().as_micros() as u64;
        self.flushes += 1;
        report.flush = self.flushes;
        report.bytes += bytes;
        report.records += records;
        report.meta_written |= meta_written;
        report.sync_micros += micros;
        self.shared.flushes.set(self.shared.flushes.get() + 1);
        self.shared
            .bytes_written
            .set(self.shared.bytes_written.get() + bytes);
        self.shared
            .sync_micros_total
            .set(self.shared.sync_micros_total.get() + micros);
        Ok(())
    }

    async fn rotate(&mut self, header: SegmentHeader) -> Result<()> {
        let spare = self.next_spare().await?;
        let path = self.log_dir.join(segment_file_name(header.seq));
        let file = open_file(&spare, self.cfg.sync_mode, false).await?;
        let mut buf = file.alloc_dma_buffer(BLOCK as usize);
        buf.as_bytes_mut().copy_from_slice(&header.encode());
        file.write_at(buf, 0)
            .await
            .map_err(|e| LogError::glommio("writing segment header", &spare, e))?;
        if self.cfg.sync_mode == SyncMode::Fdatasync {
            file.fdatasync()
                .await
                .map_err(|e| LogError::glommio("syncing", &spare, e))?;
        }
        // The header is durable before the file takes its final name: a visible segment
        // always has a valid header.
        glommio::io::rename(&spare, &path)
            .await
            .map_err(|e| LogError::glommio("renaming spare into segment", &path, e))?;
        self.dir
            .sync()
            .await
            .map_err(|e| LogError::glommio("syncing directory", &self.log_dir, e))?;
        if let Some(old) = self.active.take() {
            let _ = old.file.close_rc().await;
        }
        self.active = Some(Active {
            file: Rc::new(file),
            seq: header.seq,
            salt: header.salt,
            path,
            tail_off: crate::format::HEADER_BLOCK,
            tail: Vec::new(),
            flush_no: 0,
        });
        self.start_spare_prep();
        Ok(())
    }

    async fn delete(&mut self, seqs: Vec<u64>) -> Result<()> {
        for seq in seqs {
            if self.active.as_ref().is_some_and(|a| a.seq == seq) {
                return Err(LogError::Invalid(format!(
                    "refusing to delete the active segment {seq}"
                )));
            }
            let path = self.log_dir.join(segment_file_name(seq));
            let in_pool = self.spares.len() + usize::from(self.spare_task.is_some());
            if in_pool < self.cfg.max_spares {
                let to = self.log_dir.join(format!("{SPARE_PREFIX}{seq:020}"));
                glommio::io::rename(&path, &to)
                    .await
                    .map_err(|e| LogError::glommio("recycling segment", &path, e))?;
                self.spares.push_back(to);
            } else {
                glommio::io::remove(&path)
                    .await
                    .map_err(|e| LogError::glommio("deleting segment", &path, e))?;
            }
        }
        self.dir
            .sync()
            .await
            .map_err(|e| LogError::glommio("syncing directory", &self.log_dir, e))?;
        self.start_spare_prep();
        Ok(())
    }

    fn start_spare_prep(&mut self) {
        if self.spare_task.is_some() {
            return;
        }
        let recycled = self.spares.pop_front();
        let fut = prepare_spare(
            self.log_dir.clone(),
            recycled,
            self.cfg.segment_size,
            self.cfg.preallocate,
        );
        self.spare_task = Some(glommio::spawn_local(fut));
    }

    async fn next_spare(&mut self) -> Result<PathBuf> {
        if let Some(t) = self.spare_task.take() {
            match t.await {
                Ok(p) => return Ok(p),
                // The background preparation ran whenever the last rotation happened, maybe
                // while the disk was full for a moment. That is no reason to fail the log if
                // the room is there now: one attempt now decides.
                Err(e) => tracing::warn!(
                    error = %e,
                    "preparing a spare segment in the background failed; trying again now"
                ),
            }
        }
        let recycled = self.spares.pop_front();
        prepare_spare(
            self.log_dir.clone(),
            recycled,
            self.cfg.segment_size,
            self.cfg.preallocate,
        )
        .await
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // If the task is dropped mid-batch (executor shutdown), nobody may wait forever.
        if let Some(c) = self.current.take() {
            c.resolve(Err(LogError::Closed));
        }
        if let Ok(q) = self.shared.queue.try_borrow() {
            q.done.resolve(Err(LogError::Closed));
        }
    }
}

/// Tops the log's supply of empty DMA staging buffers up to `STAGES_READY` (any DMA file of
/// this executor allocates from the same memory).
fn refill_stages(shared: &Shared, file: &DmaFile, records: &mut Vec<Vec<u32>>) {
    let mut q = shared.queue.borrow_mut();
    while q.free.len() < STAGES_READY {
        let stage = Stage::dma(file.alloc_dma_buffer(STAGE_BYTES));
        q.free.push((stage, records.pop().unwrap_or_default()));
    }
}

/// Keeps an emptied record-offset vector for a later stage.
fn keep_records(pool: &mut Vec<Vec<u32>>, mut records: Vec<u32>) {
    if pool.len() < FREE_RECORDS {
        records.clear();
        pool.push(records);
    }
}

/// One aligned segment write, laid out by `Writer::prepare_data`.
struct DataWrite {
    buf: DmaBuffer,
    /// Block-aligned offset of the tail block after this write.
    new_off: u64,
}

/// Writes a prepared segment write at the in-memory tail block and makes it durable; on
/// success the new tail (in `next_tail`) becomes the in-memory tail.
async fn write_data(
    a: &mut Active,
    d: DataWrite,
    next_tail: &mut Vec<u8>,
    mode: SyncMode,
) -> Result<u64> {
    let DataWrite { buf, new_off } = d;
    let size = buf.len();
    let n = a
        .file
        .write_at(buf, a.tail_off)
        .await
        .map_err(|e| LogError::glommio("writing segment", &a.path, e))?;
    if n != size {
        return Err(LogError::Io {
            op: "writing segment",
            path: a.path.clone(),
            errno: None,
            message: format!("short write: {n} of {size} bytes at offset {}", a.tail_off),
        });
    }
    if mode == SyncMode::Fdatasync {
        a.file
            .fdatasync()
            .await
            .map_err(|e| LogError::glommio("syncing segment", &a.path, e))?;
    }
    std::mem::swap(&mut a.tail, next_tail);
    a.tail_off = new_off;
    Ok(size as u64)
}

async fn write_meta(m: &mut MetaFile, payload: &[u8], mode: SyncMode) -> Result<()> {
    let generation = m.generation + 1;
    let img = encode_slot(generation, payload, BLOCK as usize);
    let mut buf = m.file.alloc_dma_buffer(img.len());
    buf.as_bytes_mut().copy_from_slice(&img);
    let n = m
        .file
        .write_at(buf, slot_of(generation) * SLOT_SIZE)
        .await
        .map_err(|e| LogError::glommio("writing hard state", &m.path, e))?;
    if n != img.len() {
        return Err(LogError::Io {
            op: "writing hard state",
            path: m.path.clone(),
            errno: None,
            message: format!("short write: {n} of {} bytes", img.len()),
        });
    }
    if mode == SyncMode::Fdatasync {
        m.file
            .fdatasync()
            .await
            .map_err(|e| LogError::glommio("syncing hard state", &m.path, e))?;
    }
    m.generation = generation;
    Ok(())
}

/// Returns the path of a file of at least `size` bytes whose blocks are allocated (and, with
/// `ZeroFill`, written), ready to become a segment.
async fn prepare_spare(
    log_dir: PathBuf,
    recycled: Option<PathBuf>,
    size: u64,
    how: Preallocate,
) -> Result<PathBuf> {
    let (path, fresh) = match recycled {
        Some(p) => (p, false),
        None => {
            let name = format!("{SPARE_PREFIX}{:016x}.tmp", rand::random::<u64>());
            (log_dir.join(name), true)
        }
    };
    let r = fill_spare(&log_dir, &path, fresh, size, how).await;
    if r.is_err() && fresh {
        // A half-filled new file holds space a full disk needs back (and the next attempt
        // makes its own); a recycled one stays, listed again as a spare on the next open.
        let _ = std::fs::remove_file(&path);
    }
    r
}

/// Sizes the spare at `path` to `size` bytes (allocated or zero-filled), syncs it, and names
/// a fresh one `spare-*`.
async fn fill_spare(
    log_dir: &Path,
    path: &Path,
    fresh: bool,
    size: u64,
    how: Preallocate,
) -> Result<PathBuf> {
    let path = path.to_path_buf();
    let file = open_file(&path, SyncMode::Fdatasync, true).await?;
    let have = file
        .file_size()
        .await
        .map_err(|e| LogError::glommio("sizing", &path, e))?;
    if have < size {
        match how {
            Preallocate::Fallocate => {
                file.pre_allocate(size, false)
                    .await
                    .map_err(|e| LogError::glommio("preallocating", &path, e))?;
            }
            Preallocate::ZeroFill => {
                const CHUNK: u64 = 1 << 20;
                let mut zero = file.alloc_dma_buffer(CHUNK as usize);
                zero.as_bytes_mut().fill(0);
                let zero = Rc::new(zero);
                let mut off = align_down(have, BLOCK);
                while off < size {
                    let n = file
                        .write_rc_at(zero.clone(), off)
                        .await
                        .map_err(|e| LogError::glommio("zero-filling", &path, e))?;
                    if n == 0 {
                        return Err(LogError::Io {
                            op: "zero-filling",
                            path: path.clone(),
                            errno: None,
                            message: "write returned 0".into(),
                        });
                    }
                    off += n as u64;
                }
                if off > size {
                    file.truncate(size)
                        .await
                        .map_err(|e| LogError::glommio("truncating", &path, e))?;
                }
            }
        }
        file.fdatasync()
            .await
            .map_err(|e| LogError::glommio("syncing", &path, e))?;
    }
    file.close()
        .await
        .map_err(|e| LogError::glommio("closing", &path, e))?;
    if fresh {
        let final_path = log_dir.join(format!("{SPARE_PREFIX}{:016x}", rand::random::<u64>()));
        glommio::io::rename(&path, &final_path)
            .await
            .map_err(|e| LogError::glommio("naming spare", &path, e))?;
        return Ok(final_path);
    }
    Ok(path)
}
