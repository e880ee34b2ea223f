//! The writer task: the one owner of every open file of the log.
//!
//! [`crate::RaftLog`] decides *what* goes where (it lays records out in segments and knows every
//! entry's offset before it is written); the writer only executes those decisions, in order,
//! against real files through glommio's `DmaFile` (O_DIRECT on io_uring). They talk through an
//! unbounded local channel of [`Op`]s.
//!
//! Group commit: the writer takes one op, yields once so that tasks woken by the previous flush
//! can stage their next appends, then drains everything queued and performs the whole batch as
//! one flush: one aligned write of the new bytes (re-writing the in-memory partial tail block in
//! front of them), the hard-state slot if it changed (concurrently, it is another file), and the
//! sync (O_DSYNC writes or one fdatasync per touched file). Only then does it answer every
//! `Sync` op in the batch. There is never more than one flush in flight, and whatever is
//! staged while a flush runs joins the next one.
//!
//! A failed write or sync puts the writer in the failed state for good: the failing flush and
//! every later one answer `LogError::Failed`, nothing more is written, and the node must
//! restart so recovery can decide what reached the disk.

use crate::config::{LogConfig, Preallocate, SyncMode};
use crate::error::{LogError, Result};
use crate::format::{align_down, align_up, segment_file_name, stamp_flush, SegmentHeader, BLOCK};
use crate::meta::{encode_slot, slot_of, SLOT_SIZE};
use crate::recovery::SPARE_PREFIX;
use futures::channel::oneshot;
use glommio::channels::local_channel::LocalReceiver;
use glommio::io::{Directory, DmaFile, OpenOptions};
use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
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

pub(crate) type Reply = oneshot::Sender<Result<FlushReport>>;

/// One instruction for the writer.
pub(crate) enum Op {
    /// Bytes of whole records for segment `seg` at `offset`, contiguous with what came before.
    /// `records` are the record starts within `bytes` (for flush stamping).
    Write {
        seg: u64,
        offset: u64,
        bytes: Vec<u8>,
        records: Vec<u32>,
    },
    /// Make everything so far durable, then start a new segment with this header.
    Rotate { header: SegmentHeader },
    /// New hard-state payload. `barrier`: make everything staged before it durable first.
    Meta { payload: Vec<u8>, barrier: bool },
    /// After everything staged so far is durable, recycle or delete these segments.
    Delete { seqs: Vec<u64> },
    /// Answer once everything staged so far is durable.
    Sync { reply: Reply },
    /// Install the flush observer.
    Observe(FlushObserver),
    /// Flush, answer, and stop.
    Close { reply: Reply },
}

/// State the writer publishes to the log handle. Written only by the writer, read by the
/// handle; both live on one executor thread, so `Cell`/`OnceCell` suffice (no borrow is ever
/// held across an await).
#[derive(Default)]
pub(crate) struct Shared {
    /// Number of ops (in channel order) whose effects are durable.
    pub durable_ops: Cell<u64>,
    /// Set once, when the writer fails.
    pub failed: OnceCell<LogError>,
    /// Counters for metrics.
    pub flushes: Cell<u64>,
    pub bytes_written: Cell<u64>,
    pub sync_micros_total: Cell<u64>,
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
    pending: Vec<u8>,
    pending_records: Vec<usize>,
    pending_meta: Option<Vec<u8>>,
    meta: MetaFile,
    spares: VecDeque<PathBuf>,
    spare_task: Option<glommio::Task<Result<PathBuf>>>,
    seen_ops: u64,
    flushes: u64,
    observer: Option<FlushObserver>,
}

fn open_opts(mode: SyncMode, create: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(create);
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
            pending_records: Vec::new(),
            pending_meta: None,
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
        w.start_spare_prep();
        Ok(w)
    }

    /// The task body: batches ops into flushes until the channel closes or `Close` arrives.
    pub(crate) async fn run(mut self, rx: LocalReceiver<Op>) {
        loop {
            let Some(first) = rx.recv().await else {
                let mut report = FlushReport::default();
                if self.shared.failed.get().is_none() {
                    if let Err(e) = self.commit(&mut report).await {
                        self.fail(e);
                    }
                }
                break;
            };
            // Let tasks woken by the previous flush stage their appends so they share this one.
            futures_lite::future::yield_now().await;
            let mut batch = vec![first];
            while let Some(Some(op)) = futures_lite::future::poll_once(rx.recv()).await {
                batch.push(op);
            }
            if self.process(batch).await {
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

    /// Runs one batch; returns true when the writer must stop.
    async fn process(&mut self, batch: Vec<Op>) -> bool {
        let mut waiters: Vec<Reply> = Vec::new();
        let mut close: Option<Reply> = None;
        let mut report = FlushReport::default();
        for op in batch {
            self.seen_ops += 1;
            if self.shared.failed.get().is_some() {
                if let Op::Sync { reply } | Op::Close { reply } = op {
                    let _ = reply.send(Err(self.failed_err()));
                }
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
                Op::Sync { reply } => {
                    waiters.push(reply);
                    Ok(())
                }
                Op::Observe(f) => {
                    self.observer = Some(f);
                    Ok(())
                }
                Op::Close { reply } => {
                    close = Some(reply);
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
        report.waiters = waiters.len() as u32;
        if ok && (report.bytes > 0 || report.meta_written) {
            if let Some(obs) = self.observer.as_mut() {
                obs(&report);
            }
        }
        for w in waiters {
            let _ = w.send(if ok {
                Ok(report)
            } else {
                Err(self.failed_err())
            });
        }
        if let Some(c) = close {
            let _ = c.send(if ok {
                Ok(report)
            } else {
                Err(self.failed_err())
            });
            return true;
        }
        false
    }

    fn stage(&mut self, seg: u64, offset: u64, bytes: Vec<u8>, records: Vec<u32>) -> Result<()> {
        let Some(a) = self.active.as_ref() else {
            return Err(LogError::Invalid(format!(
                "write for segment {seg} with no active segment"
            )));
        };
        let at = a.tail_off + (a.tail.len() + self.pending.len()) as u64;
        if a.seq != seg || at != offset {
            return Err(LogError::Invalid(format!(
                "write for segment {seg} at {offset} but the writer is at segment {} offset {at}",
                a.seq
            )));
        }
        let base = self.pending.len();
        self.pending.extend_from_slice(&bytes);
        self.pending_records
            .extend(records.iter().map(|&r| base + r as usize));
        Ok(())
    }

    /// Writes what is pending (segment bytes and hard state, concurrently) and makes it durable.
    async fn commit(&mut self, report: &mut FlushReport) -> Result<()> {
        let meta = self.pending_meta.take();
        if self.pending.is_empty() && meta.is_none() {
            return Ok(());
        }
        let start = Instant::now();
        let mode = self.cfg.sync_mode;
        let has_data = !self.pending.is_empty();
        let records = self.pending_records.len() as u32;
        let data = async {
            if !has_data {
                return Ok(0u64);
            }
            let a = self
                .active
                .as_mut()
                .ok_or_else(|| LogError::Invalid("no active segment".into()))?;
            write_data(a, &mut self.pending, &mut self.pending_records, mode).await
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
        match self.spare_task.take() {
            Some(t) => t.await,
            None => {
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
    }
}

/// Writes the pending bytes behind the in-memory tail block in one aligned write.
async fn write_data(
    a: &mut Active,
    pending: &mut Vec<u8>,
    records: &mut Vec<usize>,
    mode: SyncMode,
) -> Result<u64> {
    a.flush_no += 1;
    for &r in records.iter() {
        stamp_flush(a.salt, &mut pending[r..], a.flush_no);
    }
    let total = a.tail.len() + pending.len();
    let size = align_up(total as u64, BLOCK) as usize;
    let mut buf = a.file.alloc_dma_buffer(size);
    {
        let b = buf.as_bytes_mut();
        b[..a.tail.len()].copy_from_slice(&a.tail);
        b[a.tail.len()..total].copy_from_slice(pending);
        b[total..].fill(0);
    }
    let end = a.tail_off + total as u64;
    let new_off = align_down(end, BLOCK);
    let keep_from = (new_off - a.tail_off) as usize;
    let new_tail = buf.as_bytes()[keep_from..total].to_vec();
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
    a.tail = new_tail;
    a.tail_off = new_off;
    pending.clear();
    records.clear();
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
