//! [`RaftLog`]: the handle the Raft driver owns. It stages appends and hard-state changes,
//! keeps the in-memory index and entry cache (so raft-rs can read what was staged at once),
//! lays records out in segments, and queues the resulting ops for the writer task. It implements
//! `raft::Storage`.

use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::format::{
    align_down, decode_record, encode_record_in, record_size, reset_payload, segment_file_name,
    truncate_payload, RecordKind, SegmentHeader, BLOCK, HEADER_BLOCK,
};
use crate::index::{entry_cost, LogIndex};
use crate::meta::MetaState;
use crate::recovery::{recover, LOG_DIR};
use crate::stage::Stage;
use crate::writer::{open_file, Active, Durable, FlushObserver, FlushReport, Op, Shared, Writer};
use protobuf::{CodedOutputStream, Message};
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};
use std::collections::VecDeque;
use std::future::Future;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A segment as the planner sees it.
#[derive(Debug, Clone)]
struct SegInfo {
    seq: u64,
    salt: u64,
    capacity: u64,
    /// Where the next record goes.
    pos: u64,
    /// Highest index the segment says anything about; see `SegmentSummary::max_index`.
    max_index: u64,
}

/// Records being gathered for one `Op::Write`.
struct WriteBatch {
    seg: u64,
    offset: u64,
    bytes: Stage,
    records: Vec<u32>,
    /// Taken back from the tail of the queue (already counted in `ops_sent`).
    reopened: bool,
}

/// A queued write is extended in place by later appends only up to this size (record offsets
/// within one write are u32, and the writer should not have to copy huge batches at once).
const REOPEN_LIMIT: usize = 16 << 20;

/// Figures for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// First index held.
    pub first_index: u64,
    /// Last index held (staged, not necessarily durable).
    pub last_index: u64,
    /// Segment files in use.
    pub segments: usize,
    /// Bytes of records in the segments.
    pub bytes_used: u64,
    /// Bytes the segment files occupy (preallocated size).
    pub bytes_on_disk: u64,
    /// Entries held in the cache.
    pub cached_entries: usize,
    /// Flushes completed since open.
    pub flushes: u64,
    /// Bytes written to segments since open.
    pub bytes_written: u64,
    /// Sum of flush latencies since open, in microseconds.
    pub sync_micros_total: u64,
    /// Segment writes sent straight from the buffer appends were encoded into.
    pub writes_in_place: u64,
    /// Segment writes laid out by copying (several writes in one flush, or a batch larger than
    /// a staging buffer).
    pub writes_copied: u64,
    /// True once a write failed (the log is read-only until restart).
    pub failed: bool,
}

/// The durable Raft log of one node. See the crate docs for the design.
pub struct RaftLog {
    dir: PathBuf,
    cfg: LogConfig,
    index: LogIndex,
    /// A suffix of the live log, each with the op count after which it is durable.
    cache: VecDeque<(Entry, u64)>,
    cache_size: usize,
    meta: MetaState,
    segments: VecDeque<SegInfo>,
    /// Segments with a smaller sequence number hold nothing live (an installed snapshot reset
    /// the log in segment `dead_before`).
    dead_before: u64,
    /// Ops queued for the writer so far (a write extended in place counts once).
    ops_sent: u64,
    shared: Rc<Shared>,
    latest_snapshot: Option<SnapshotMetadata>,
    /// Set when raft-rs asked for a snapshot that the latest one cannot serve (none yet, or
    /// one whose membership lacks the recipient, e.g. a learner added after it was built).
    snapshot_wanted: std::cell::Cell<bool>,
    writer_task: Option<glommio::Task<()>>,
}

impl RaftLog {
    /// Opens (or creates) the log under `dir`, the node's raft directory, recovering whatever is
    /// on disk, and starts its writer task on the current glommio executor. The last segment is
    /// sealed and a fresh one started, so a torn tail is never written over.
    pub async fn open(dir: impl AsRef<Path>, cfg: LogConfig) -> Result<RaftLog> {
        cfg.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let log_dir = dir.join(LOG_DIR);
        std::fs::create_dir_all(&log_dir).map_err(|e| LogError::io("creating", &log_dir, &e))?;
        sync_dir(&dir)?;
        let rec = recover(&dir, cfg.cache_bytes)?;
        for s in &rec.stray {
            let _ = std::fs::remove_file(s);
        }
        let active = match rec.segments.last() {
            Some(s) if !s.sealed => {
                let file = open_file(&s.path, cfg.sync_mode, false).await?;
                let off = align_down(s.end_offset, BLOCK);
                // The partial tail block is re-read with a plain pread: it is rewritten, whole,
                // by the first flush (the seal record at open).
                let want = (s.end_offset - off) as usize;
                let mut tail = vec![0u8; want];
                std::fs::File::open(&s.path)
                    .and_then(|f| f.read_exact_at(&mut tail, off))
                    .map_err(|e| LogError::io("reading tail block", &s.path, &e))?;
                Some(Active {
                    file: Rc::new(file),
                    seq: s.header.seq,
                    salt: s.header.salt,
                    path: s.path.clone(),
                    tail_off: off,
                    tail,
                    flush_no: s.max_flush,
                })
            }
            _ => None,
        };
        let shared = Rc::new(Shared::default());
        let writer = Writer::new(
            &dir,
            &log_dir,
            cfg.clone(),
            shared.clone(),
            active,
            rec.spares.clone(),
            rec.meta.generation,
        )
        .await?;
        let writer_task = glommio::spawn_local(writer.run());
        let dead_before = rec
            .segments
            .iter()
            .rev()
            .find(|s| s.reset.is_some())
            .map(|s| s.header.seq)
            .unwrap_or(0);
        let unsealed_last = rec.segments.last().is_some_and(|s| !s.sealed);
        let segments = rec
            .segments
            .iter()
            .map(|s| SegInfo {
                seq: s.header.seq,
                salt: s.header.salt,
                capacity: s.header.capacity,
                pos: s.end_offset,
                max_index: s.max_index,
            })
            .collect();
        let cache_size = rec.cache.iter().map(entry_cost).sum();
        let mut log = RaftLog {
            dir,
            cfg,
            index: rec.index,
            cache: rec.cache.into_iter().map(|e| (e, 0)).collect(),
            cache_size,
            meta: rec.meta.state,
            segments,
            dead_before,
            ops_sent: 0,
            shared,
            latest_snapshot: None,
            snapshot_wanted: std::cell::Cell::new(false),
            writer_task: Some(writer_task),
        };
        log.latest_snapshot =
            crate::snapshot::SnapshotStore::new(log.dir.join(crate::snapshot::SNAP_DIR))
                .latest()
                .ok()
                .flatten()
                .map(|m| m.to_raft_metadata());
        let mut batch = log.new_batch();
        if unsealed_last {
            log.seal_and_rotate(&mut batch);
        } else {
            log.rotate(&mut batch);
        }
        log.send_batch(&mut batch);
        log.delete_dead_segments()?;
        log.flush().await?;
        Ok(log)
    }

    /// The raft directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stages entries (from `Ready::entries()`), truncating any existing suffix that starts at or
    /// after the first new index. raft-rs can read them at once; they are durable when a later
    /// [`RaftLog::flush`] resolves.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.check_failed()?;
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_idx = first.index;
        if first_idx <= self.index.start_index() {
            return Err(LogError::Invalid(format!(
                "append at index {first_idx} is at or below the compacted index {}",
                self.index.start_index()
            )));
        }
        if first_idx > self.index.last_index() + 1 {
            return Err(LogError::Invalid(format!(
                "append at index {first_idx} leaves a gap after the last index {}",
                self.index.last_index()
            )));
        }
        for (i, e) in entries.iter().enumerate() {
            if e.index != first_idx + i as u64 {
                return Err(LogError::Invalid(format!(
                    "entries to append are not contiguous at {}",
                    e.index
                )));
            }
        }
        // Every size is checked before anything is staged, so an error leaves the log as it
        // was. `compute_size` also caches the sizes the encoder below relies on.
        for e in entries {
            self.check_fits(e.compute_size() as usize)?;
        }
        let mut batch = self.new_batch();
        if first_idx <= self.index.last_index() {
            self.push_record(
                &mut batch,
                RecordKind::Truncate,
                &truncate_payload(first_idx),
            );
            self.index.truncate_from(first_idx);
            while self.cache.back().is_some_and(|(e, _)| e.index >= first_idx) {
                let (e, _) = self.cache.pop_back().expect("checked non-empty");
                self.cache_size -= entry_cost(&e);
            }
        }
        for e in entries {
            let len = e.get_cached_size() as usize;
            let offset = self.make_room(&mut batch, len);
            let seg = self
                .segments
                .back_mut()
                .expect("an active segment always exists");
            let start = batch.bytes.len();
            batch.records.push(start as u32);
            let rec = batch.bytes.extend(record_size(len) as usize);
            let encoded = encode_record_in(seg.salt, RecordKind::Entry, len, rec, |p| {
                let mut os = CodedOutputStream::bytes(p);
                e.write_to_with_cached_sizes(&mut os)?;
                os.check_eof();
                Ok::<(), protobuf::ProtobufError>(())
            });
            if let Err(err) = encoded {
                // Not expected (the size was just computed); keep what was staged before.
                batch.bytes.truncate(start);
                batch.records.pop();
                self.send_batch(&mut batch);
                return Err(LogError::Invalid(format!(
                    "cannot encode entry {}: {err}",
                    e.index
                )));
            }
            seg.pos += record_size(len);
            seg.max_index = seg.max_index.max(e.index);
            self.index.push(crate::index::EntryPos {
                term: e.term,
                seg: seg.seq,
                offset,
                len: len as u32,
            });
        }
        self.send_batch(&mut batch);
        let durable_after = self.ops_sent;
        for e in entries {
            self.cache_size += entry_cost(e);
            self.cache.push_back((e.clone(), durable_after));
        }
        self.evict_cache();
        Ok(())
    }

    /// Stages a new hard state. Term and vote changes are written (durably, with the next flush);
    /// a commit-only change is kept in memory and written with the next hard-state write,
    /// compaction or close (raft-rs tolerates an older commit on restart; see crate docs).
    pub fn set_hard_state(&mut self, hs: &HardState) -> Result<()> {
        self.check_failed()?;
        let changed = hs.term != self.meta.hard_state.term || hs.vote != self.meta.hard_state.vote;
        self.meta.hard_state = hs.clone();
        if changed {
            self.send_meta(false)?;
        }
        Ok(())
    }

    /// Records a new commit index (from `LightReady::commit_index()`); kept in memory, written
    /// with the next hard-state write.
    pub fn set_commit(&mut self, commit: u64) {
        self.meta.hard_state.commit = self.meta.hard_state.commit.max(commit);
    }

    /// Stages a new ConfState (after applying a conf change).
    pub fn set_conf_state(&mut self, cs: &ConfState) -> Result<()> {
        self.check_failed()?;
        self.meta.conf_state = cs.clone();
        self.send_meta(false)
    }

    /// Sets (`Some`) or removes (`None`) a metadata value, e.g. `"peers"`.
    pub fn set_metadata(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<()> {
        self.check_failed()?;
        let old = match value {
            Some(v) => self.meta.metadata.insert(key.to_string(), v),
            None => self.meta.metadata.remove(key),
        };
        if let Err(e) = self.meta.encode_payload() {
            match old {
                Some(v) => self.meta.metadata.insert(key.to_string(), v),
                None => self.meta.metadata.remove(key),
            };
            return Err(e);
        }
        self.send_meta(false)
    }

    /// A metadata value.
    pub fn metadata(&self, key: &str) -> Option<&[u8]> {
        self.meta.metadata.get(key).map(|v| v.as_slice())
    }

    /// The whole metadata map.
    pub fn metadata_map(&self) -> &std::collections::BTreeMap<String, Vec<u8>> {
        &self.meta.metadata
    }

    /// Current (staged) hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.meta.hard_state
    }

    /// Current (staged) ConfState.
    pub fn conf_state(&self) -> &ConfState {
        &self.meta.conf_state
    }

    /// Resets the log to an installed snapshot: every entry is dropped and the log continues
    /// after `meta.index`. Segments before the reset are deleted once it is durable.
    pub fn apply_snapshot(&mut self, meta: &SnapshotMetadata) -> Result<()> {
        self.check_failed()?;
        if meta.index < self.index.first_index() && self.index.start_index() > 0 {
            return Err(LogError::Invalid(format!(
                "snapshot at index {} is older than the log's first index {}",
                meta.index,
                self.index.first_index()
            )));
        }
        let mut batch = self.new_batch();
        self.seal_and_rotate_to(&mut batch, meta.index + 1, meta.index);
        self.push_record(
            &mut batch,
            RecordKind::Reset,
            &reset_payload(meta.index, meta.term),
        );
        self.send_batch(&mut batch);
        self.index.reset(meta.index, meta.term);
        self.cache.clear();
        self.cache_size = 0;
        self.meta.conf_state = meta.get_conf_state().clone();
        self.meta.hard_state.commit = self.meta.hard_state.commit.max(meta.index);
        self.send_meta(false)?;
        self.dead_before = self.segments.back().expect("active segment").seq;
        self.delete_dead_segments()
    }

    /// Discards entries up to and including `index` (which must be applied, hence committed),
    /// recording the new floor durably before recycling or deleting the whole segments that
    /// hold nothing above it.
    pub fn compact(&mut self, index: u64) -> Result<()> {
        self.check_failed()?;
        if index <= self.index.start_index() {
            return Ok(());
        }
        if index > self.index.last_index() {
            return Err(LogError::Invalid(format!(
                "cannot compact to {index}: the last index is {}",
                self.index.last_index()
            )));
        }
        let term = self.index.term(index).expect("index is held");
        self.index.compact_to(index);
        while self.cache.front().is_some_and(|(e, _)| e.index <= index) {
            let (e, _) = self.cache.pop_front().expect("checked non-empty");
            self.cache_size -= entry_cost(&e);
        }
        self.meta.floor_index = index;
        self.meta.floor_term = term;
        self.meta.hard_state.commit = self.meta.hard_state.commit.max(index);
        self.send_meta(true)?;
        self.delete_dead_segments()
    }

    /// Tells the log which snapshot `Storage::snapshot` should offer (called when the node
    /// finishes writing one).
    pub fn set_latest_snapshot(&mut self, meta: SnapshotMetadata) {
        if self
            .latest_snapshot
            .as_ref()
            .is_none_or(|m| m.index <= meta.index)
        {
            self.latest_snapshot = Some(meta);
        }
    }

    /// Whether `Storage::snapshot` was asked for a snapshot it could not offer since the last
    /// call: the node should build a fresh one (raft-rs asks again later).
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// A future that resolves once everything staged before this call is durable, or with the
    /// error that prevented it. It does not borrow the log: the driver keeps staging while it
    /// waits, and those stages join the next flush.
    ///
    /// Cheap: it queues nothing when something is already queued, and every request made
    /// before the writer takes the queue shares one completion.
    pub fn flush(&mut self) -> impl Future<Output = Result<FlushReport>> + 'static {
        if let Err(e) = self.check_failed() {
            return Durable::failed(e);
        }
        let mut q = self.shared.queue.borrow_mut();
        let wake = q.ops.is_empty();
        if wake {
            q.ops.push(Op::Sync);
            self.ops_sent += 1;
        }
        q.done.waiters.set(q.done.waiters.get() + 1);
        let durable = Durable::waiting(q.done.clone());
        drop(q);
        if wake {
            self.shared.wake_writer();
        }
        durable
    }

    /// Installs a callback run after every flush (fsync latency and batch size for metrics).
    pub fn on_flush(&mut self, observer: FlushObserver) -> Result<()> {
        self.send(Op::Observe(observer))
    }

    /// Whether a write has failed (the log is read-only until restart).
    pub fn failed(&self) -> Option<&LogError> {
        self.shared.failed.get()
    }

    /// Figures for metrics.
    pub fn stats(&self) -> LogStats {
        LogStats {
            first_index: self.index.first_index(),
            last_index: self.index.last_index(),
            segments: self.segments.len(),
            bytes_used: self.segments.iter().map(|s| s.pos).sum(),
            bytes_on_disk: self.segments.iter().map(|s| s.capacity).sum(),
            cached_entries: self.cache.len(),
            flushes: self.shared.flushes.get(),
            bytes_written: self.shared.bytes_written.get(),
            sync_micros_total: self.shared.sync_micros_total.get(),
            writes_in_place: self.shared.writes_in_place.get(),
            writes_copied: self.shared.writes_copied.get(),
            failed: self.shared.failed.get().is_some(),
        }
    }

    /// Writes the current hard state (with its commit index), flushes, and stops the writer.
    pub async fn close(mut self) -> Result<()> {
        if self.shared.failed.get().is_none() {
            self.send_meta(false)?;
        }
        self.send(Op::Close)?;
        let done = self.shared.queue.borrow().done.clone();
        let r = Durable::waiting(done).await;
        if let Some(t) = self.writer_task.take() {
            t.await;
        }
        r.map(|_| ())
    }

    fn check_failed(&self) -> Result<()> {
        match self.shared.failed.get() {
            Some(e) => Err(LogError::Failed(Box::new(e.clone()))),
            None => Ok(()),
        }
    }

    fn send(&mut self, op: Op) -> Result<()> {
        if self.writer_task.is_none() {
            return Err(LogError::Closed);
        }
        self.shared.push(op);
        self.ops_sent += 1;
        Ok(())
    }

    fn send_meta(&mut self, barrier: bool) -> Result<()> {
        let payload = self.meta.encode_payload()?;
        self.send(Op::Meta { payload, barrier })
    }

    /// Starts gathering records: extends the last queued write if it ends where the next
    /// record goes (so concurrent appenders fill one buffer per flush), else starts a new one
    /// in a staging buffer the writer handed over.
    ///
    /// The last write may be reopened even if hard-state updates without a barrier or bare
    /// flush requests were queued after it: the writer commits those together with every
    /// write of the same batch anyway, so moving the write behind them changes nothing on
    /// disk, and a driver that stages entries and then a hard state on every turn still
    /// fills one buffer per flush.
    fn new_batch(&mut self) -> WriteBatch {
        let (seg, offset) = self
            .segments
            .back()
            .map(|s| (s.seq, s.pos))
            .unwrap_or((0, 0));
        let mut q = self.shared.queue.borrow_mut();
        let last = q
            .ops
            .iter()
            .rposition(|op| !matches!(op, Op::Meta { barrier: false, .. } | Op::Sync));
        if let Some(i) = last {
            if let Op::Write {
                seg: s,
                offset: o,
                bytes,
                ..
            } = &q.ops[i]
            {
                if *s == seg && *o + bytes.len() as u64 == offset && bytes.len() < REOPEN_LIMIT {
                    if let Op::Write {
                        seg,
                        offset,
                        bytes,
                        records,
                    } = q.ops.remove(i)
                    {
                        return WriteBatch {
                            seg,
                            offset,
                            bytes,
                            records,
                            reopened: true,
                        };
                    }
                }
            }
        }
        let (mut bytes, records) = q.free.pop().unwrap_or_default();
        bytes.begin(offset);
        WriteBatch {
            seg,
            offset,
            bytes,
            records,
            reopened: false,
        }
    }

    fn send_batch(&mut self, batch: &mut WriteBatch) {
        if !batch.bytes.is_empty() {
            let op = Op::Write {
                seg: batch.seg,
                offset: batch.offset,
                bytes: std::mem::take(&mut batch.bytes),
                records: std::mem::take(&mut batch.records),
            };
            self.shared.push(op);
            if !batch.reopened {
                self.ops_sent += 1;
            }
        } else if batch.bytes.dma_head().is_some() {
            // Never used: the staging buffer goes back for the next batch.
            let stage = std::mem::take(&mut batch.bytes);
            let records = std::mem::take(&mut batch.records);
            self.shared.queue.borrow_mut().free.push((stage, records));
        }
        let (seg, offset) = self
            .segments
            .back()
            .map(|s| (s.seq, s.pos))
            .unwrap_or((0, 0));
        *batch = WriteBatch {
            seg,
            offset,
            bytes: Stage::default(),
            records: Vec::new(),
            reopened: false,
        };
    }

    /// Checks that a record with a payload of `len` bytes fits in an empty segment.
    fn check_fits(&self, len: usize) -> Result<()> {
        if HEADER_BLOCK + record_size(len) + record_size(0) > self.cfg.segment_size {
            return Err(LogError::Invalid(format!(
                "record of {len} bytes does not fit in a segment of {} bytes",
                self.cfg.segment_size
            )));
        }
        Ok(())
    }

    /// Makes room for a record with a payload of `len` bytes (which `check_fits`): rotates to
    /// a new segment if the active one cannot take it and still be sealed, and starts a new
    /// write if the current one would grow past u32 offsets. Returns the record's offset.
    fn make_room(&mut self, batch: &mut WriteBatch, len: usize) -> u64 {
        let size = record_size(len);
        let seg = self
            .segments
            .back()
            .expect("an active segment always exists");
        if seg.pos + size + record_size(0) > seg.capacity {
            self.seal_and_rotate(batch);
        } else if batch.bytes.len() as u64 + size > u32::MAX as u64 {
            self.send_batch(batch);
        }
        self.segments.back().expect("active segment").pos
    }

    /// Lays one small record out in the active segment (rotating first if it does not fit).
    fn push_record(&mut self, batch: &mut WriteBatch, kind: RecordKind, payload: &[u8]) {
        self.make_room(batch, payload.len());
        self.push_unchecked(batch, kind, payload);
    }

    /// Appends a record to the batch without checking room (see `make_room`).
    fn push_unchecked(&mut self, batch: &mut WriteBatch, kind: RecordKind, payload: &[u8]) {
        let seg = self
            .segments
            .back_mut()
            .expect("an active segment always exists");
        batch.records.push(batch.bytes.len() as u32);
        let rec = batch.bytes.extend(record_size(payload.len()) as usize);
        encode_record_in(seg.salt, kind, payload.len(), rec, |p| {
            p.copy_from_slice(payload);
            Ok::<(), ()>(())
        })
        .expect("copying a payload cannot fail");
        seg.pos += record_size(payload.len());
    }

    fn seal_and_rotate(&mut self, batch: &mut WriteBatch) {
        let next = self.index.last_index() + 1;
        self.seal_and_rotate_to(batch, next, self.index.last_index())
    }

    fn seal_and_rotate_to(&mut self, batch: &mut WriteBatch, first_index: u64, max_index: u64) {
        // Room for the seal is always kept (see `make_room`).
        self.push_unchecked(batch, RecordKind::Seal, &[]);
        self.send_batch(batch);
        self.rotate_to(batch, first_index, max_index)
    }

    fn rotate(&mut self, batch: &mut WriteBatch) {
        let next = self.index.last_index() + 1;
        self.rotate_to(batch, next, self.index.last_index())
    }

    fn rotate_to(&mut self, batch: &mut WriteBatch, first_index: u64, max_index: u64) {
        let seq = self.segments.back().map(|s| s.seq + 1).unwrap_or(1);
        let header = SegmentHeader {
            seq,
            first_index,
            salt: rand::random(),
            capacity: self.cfg.segment_size,
        };
        self.shared.push(Op::Rotate { header });
        self.ops_sent += 1;
        self.segments.push_back(SegInfo {
            seq,
            salt: header.salt,
            capacity: header.capacity,
            pos: HEADER_BLOCK,
            max_index,
        });
        *batch = self.new_batch();
    }

    /// Sends a delete for the leading segments that hold nothing live any more.
    fn delete_dead_segments(&mut self) -> Result<()> {
        // Only the durable floor counts: compaction sends it with a barrier before this delete.
        let floor = self.meta.floor_index;
        let mut seqs = Vec::new();
        while self.segments.len() > 1 {
            let s = &self.segments[0];
            if s.seq < self.dead_before || s.max_index <= floor {
                seqs.push(s.seq);
                self.segments.pop_front();
            } else {
                break;
            }
        }
        if seqs.is_empty() {
            return Ok(());
        }
        self.send(Op::Delete { seqs })
    }

    fn evict_cache(&mut self) {
        let durable = self.shared.durable_ops.get();
        while self.cache_size > self.cfg.cache_bytes {
            match self.cache.front() {
                Some((_, op)) if *op <= durable => {
                    let (e, _) = self.cache.pop_front().expect("checked non-empty");
                    self.cache_size -= entry_cost(&e);
                }
                _ => break,
            }
        }
    }

    fn segment(&self, seq: u64) -> Option<&SegInfo> {
        let i = self.segments.binary_search_by_key(&seq, |s| s.seq).ok()?;
        self.segments.get(i)
    }

    /// Reads entries `lo..hi` (all below the cache) from their segments with plain preads:
    /// raft-rs's `Storage` is synchronous, and only followers that fell behind the cache get here.
    fn read_from_disk(
        &self,
        lo: u64,
        hi: u64,
        max_size: u64,
        out: &mut Vec<Entry>,
        size: &mut u64,
    ) -> Result<bool> {
        let mut idx = lo;
        while idx < hi {
            let first = *self.index.get(idx).expect("index held");
            let seg = self.segment(first.seg).ok_or_else(|| {
                LogError::Invalid(format!(
                    "entry {idx} points at missing segment {}",
                    first.seg
                ))
            })?;
            let path = self.dir.join(LOG_DIR).join(segment_file_name(seg.seq));
            // One read for a run of entries in the same segment, at most ~1 MiB.
            let mut run_end = idx + 1;
            let mut end_off = first.offset + record_size(first.len as usize);
            while run_end < hi {
                let p = self.index.get(run_end).expect("index held");
                if p.seg != first.seg || p.offset != end_off || end_off - first.offset > (1 << 20) {
                    break;
                }
                end_off += record_size(p.len as usize);
                run_end += 1;
            }
            let file = std::fs::File::open(&path)
                .map_err(|e| LogError::io("opening for read", &path, &e))?;
            let mut buf = vec![0u8; (end_off - first.offset) as usize];
            file.read_exact_at(&mut buf, first.offset)
                .map_err(|e| LogError::io("reading entries", &path, &e))?;
            let mut at = 0usize;
            for i in idx..run_end {
                let pos = self.index.get(i).expect("index held");
                let off = first.offset + at as u64;
                let (h, payload) =
                    decode_record(seg.salt, &buf[at..]).map_err(|f| LogError::Corrupt {
                        path: path.clone(),
                        offset: off,
                        reason: format!("entry {i}: {f:?}"),
                    })?;
                let e = match h.kind {
                    RecordKind::Entry => Entry::parse_from_bytes(payload).ok(),
                    _ => None,
                }
                .filter(|e| e.index == i && e.term == pos.term)
                .ok_or_else(|| LogError::Corrupt {
                    path: path.clone(),
                    offset: off,
                    reason: format!("record is not entry {i}"),
                })?;
                *size += u64::from(e.compute_size());
                if !out.is_empty() && *size > max_size {
                    return Ok(false);
                }
                out.push(e);
                at += record_size(pos.len as usize) as usize;
            }
            idx = run_end;
        }
        Ok(true)
    }
}

impl Drop for RaftLog {
    fn drop(&mut self) {
        // Let the writer finish what was staged; it stops once the queue is empty.
        self.shared.closed.set(true);
        self.shared.wake_writer();
        if let Some(t) = self.writer_task.take() {
            t.detach();
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| LogError::io("syncing directory", dir, &e))
}

impl raft::Storage for RaftLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let mut hs = self.meta.hard_state.clone();
        // The stored commit may be stale (written lazily) or ahead of entries that never became
        // durable; raft-rs requires first_index - 1 <= commit <= last_index.
        hs.commit = hs
            .commit
            .clamp(self.index.start_index(), self.index.last_index());
        Ok(RaftState::new(hs, self.meta.conf_state.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max_size = max_size.into().unwrap_or(raft::NO_LIMIT);
        if low < self.index.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.index.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut out = Vec::new();
        if low >= high {
            return Ok(out);
        }
        let cache_first = self.cache.front().map(|(e, _)| e.index).unwrap_or(u64::MAX);
        let mut size = 0u64;
        if low < cache_first {
            let disk_hi = high.min(cache_first);
            if !self.read_from_disk(low, disk_hi, max_size, &mut out, &mut size)? || disk_hi == high
            {
                return Ok(out);
            }
        }
        let from = low.max(cache_first);
        for (e, _) in self
            .cache
            .iter()
            .skip((from - cache_first) as usize)
            .take((high - from) as usize)
        {
            size += u64::from(e.compute_size());
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx < self.index.start_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.index
            .term(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.index.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.index.last_index())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        match &self.latest_snapshot {
            // A recipient missing from the snapshot's membership would ignore it.
            Some(m) if m.index >= request_index && conf_has(m.get_conf_state(), to) => {
                let mut s = Snapshot::default();
                s.set_metadata(m.clone());
                Ok(s)
            }
            _ => {
                self.snapshot_wanted.set(true);
                Err(raft::Error::Store(
                    StorageError::SnapshotTemporarilyUnavailable,
                ))
            }
        }
    }
}

fn conf_has(c: &raft::eraftpb::ConfState, id: u64) -> bool {
    c.voters.contains(&id)
        || c.learners.contains(&id)
        || c.voters_outgoing.contains(&id)
        || c.learners_next.contains(&id)
}
