//! Rebuilding the log's state from a directory: read the hard-state file, walk every segment in
//! sequence order, replay entry / truncate / reset records into a [`LogIndex`], and keep the
//! most recent entries for the cache.
//!
//! It uses plain `std::fs` reads: it runs once at startup (before the log serves anything) and is
//! shared as-is with `reef-logtool`, which must work without an executor.
//!
//! Rules (see the crate docs for why they hold):
//! - every segment visible under its final name has a valid header, else: corruption;
//! - every segment but the last ends with a `Seal` record, else: corruption at the first bad
//!   record;
//! - the last segment may end in a torn tail, which is cut off (and sealed by the log on open);
//! - entries are contiguous after the compaction floor; a gap is corruption.

use crate::error::{LogError, Result};
use crate::format::{
    parse_reset, parse_segment_file_name, parse_truncate, RecordFault, RecordKind, SegmentHeader,
};
use crate::index::{entry_cost, EntryPos, LogIndex};
use crate::meta::{self, LoadedMeta};
use crate::scan::{scan_file, SegmentEnd};
use protobuf::Message;
use raft::eraftpb::Entry;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Name of the segment directory inside the raft directory.
pub const LOG_DIR: &str = "log";
/// Prefix of preallocated, not yet used segment files.
pub const SPARE_PREFIX: &str = "spare-";

/// What recovery learned about one segment.
#[derive(Debug, Clone)]
pub struct SegmentSummary {
    /// Its file.
    pub path: PathBuf,
    /// Its header.
    pub header: SegmentHeader,
    /// Size of the file.
    pub file_len: u64,
    /// Offset just past the last valid record.
    pub end_offset: u64,
    /// Whether it ends with a seal record.
    pub sealed: bool,
    /// Number of valid records.
    pub records: usize,
    /// Number of entry records (live or not).
    pub entry_records: usize,
    /// Lowest and highest entry index recorded in it, if any.
    pub entry_range: Option<(u64, u64)>,
    /// Highest index this segment says anything about (entries, reset, or the log's last index
    /// when it was opened); whole segments are deleted only once the floor reaches this.
    pub max_index: u64,
    /// `(index, term)` if its first record is a reset (snapshot install).
    pub reset: Option<(u64, u64)>,
    /// For the last segment: why the walk stopped before the file's end, if it did and the
    /// bytes there are not zeros (a zero-filled tail is a clean end).
    pub torn: Option<(u64, RecordFault)>,
    /// Highest flush number among its records.
    pub max_flush: u32,
}

/// Everything recovery rebuilt.
#[derive(Debug)]
pub struct Recovered {
    /// The raft directory.
    pub dir: PathBuf,
    /// Hard state, conf state, floor, metadata.
    pub meta: LoadedMeta,
    /// The live log.
    pub index: LogIndex,
    /// Segments in sequence order.
    pub segments: Vec<SegmentSummary>,
    /// The most recent live entries (a suffix of `index`), up to the cache budget.
    pub cache: VecDeque<Entry>,
    /// Preallocated files ready for reuse.
    pub spares: Vec<PathBuf>,
    /// Leftover temporary files from an interrupted operation.
    pub stray: Vec<PathBuf>,
}

/// Recovers the log under `dir` (the raft directory). `cache_bytes` bounds how many recent
/// entries are kept in memory. A missing directory is an empty log.
pub fn recover(dir: &Path, cache_bytes: usize) -> Result<Recovered> {
    let meta = meta::load(&dir.join(meta::META_FILE))?;
    let log_dir = dir.join(LOG_DIR);
    let (segs, spares, stray) = list_dir(&log_dir)?;
    let mut index = LogIndex::new(meta.state.floor_index, meta.state.floor_term);
    let floor = meta.state.floor_index;
    let mut cache: VecDeque<Entry> = VecDeque::new();
    let mut cache_size = 0usize;
    let mut summaries = Vec::with_capacity(segs.len());
    let n = segs.len();
    for (i, (seq, path)) in segs.into_iter().enumerate() {
        let is_last = i + 1 == n;
        let s = scan_file(&path)?;
        if s.header.seq != seq {
            return Err(LogError::Corrupt {
                path,
                offset: 16,
                reason: format!(
                    "header says segment {} but the file name says {seq}",
                    s.header.seq
                ),
            });
        }
        let torn = match &s.end {
            SegmentEnd::Sealed { .. } => None,
            SegmentEnd::Open { offset, fault } => {
                if !is_last {
                    return Err(LogError::Corrupt {
                        path,
                        offset: *offset,
                        reason: format!(
                            "invalid record ({}) in a segment that is not the last one (it should \
                             have been sealed)",
                            fault
                                .as_ref()
                                .map(|f| format!("{f:?}"))
                                .unwrap_or_else(|| "end of file".into())
                        ),
                    });
                }
                // Zeros where the next record header would be are the normal end of a
                // zero-filled segment (a clean stop), not damage.
                let at = *offset as usize;
                let zeros = s
                    .data
                    .get(at..at + crate::format::RECORD_HEADER)
                    .is_some_and(|h| h.iter().all(|&b| b == 0));
                fault.clone().filter(|_| !zeros).map(|f| (*offset, f))
            }
        };
        let mut sum = SegmentSummary {
            path: path.clone(),
            header: s.header,
            file_len: s.data.len() as u64,
            end_offset: s.end_offset(),
            sealed: matches!(s.end, SegmentEnd::Sealed { .. }),
            records: s.records.len(),
            entry_records: 0,
            entry_range: None,
            max_index: s.header.first_index.saturating_sub(1),
            reset: None,
            torn,
            max_flush: s.records.iter().map(|r| r.flush).max().unwrap_or(0),
        };
        for (ri, r) in s.records.iter().enumerate() {
            let payload = s.payload(r);
            let corrupt = |reason: String| LogError::Corrupt {
                path: path.clone(),
                offset: r.offset,
                reason,
            };
            match r.kind {
                RecordKind::Entry => {
                    let e = Entry::parse_from_bytes(payload)
                        .map_err(|e| corrupt(format!("entry record does not decode: {e}")))?;
                    sum.entry_records += 1;
                    sum.entry_range = Some(match sum.entry_range {
                        None => (e.index, e.index),
                        Some((lo, hi)) => (lo.min(e.index), hi.max(e.index)),
                    });
                    sum.max_index = sum.max_index.max(e.index);
                    if e.index <= index.start_index() {
                        continue;
                    }
                    if e.index != index.last_index() + 1 {
                        return Err(corrupt(format!(
                            "entry {} does not follow the log's last index {} (gap or duplicate)",
                            e.index,
                            index.last_index()
                        )));
                    }
                    index.push(EntryPos {
                        term: e.term,
                        seg: seq,
                        offset: r.offset,
                        len: payload.len() as u32,
                    });
                    cache_size += entry_cost(&e);
                    cache.push_back(e);
                    while cache_size > cache_bytes {
                        match cache.pop_front() {
                            Some(old) => cache_size -= entry_cost(&old),
                            None => break,
                        }
                    }
                }
                RecordKind::Truncate => {
                    let from = parse_truncate(payload)
                        .ok_or_else(|| corrupt("truncate record has a bad payload".into()))?;
                    index.truncate_from(from);
                    while cache.back().is_some_and(|e| e.index >= from) {
                        cache.pop_back();
                    }
                }
                RecordKind::Reset => {
                    let (ri_index, ri_term) = parse_reset(payload)
                        .ok_or_else(|| corrupt("reset record has a bad payload".into()))?;
                    if ri > 0 {
                        return Err(corrupt(
                            "reset record is not the first record of its segment".into(),
                        ));
                    }
                    sum.reset = Some((ri_index, ri_term));
                    sum.max_index = sum.max_index.max(ri_index);
                    cache.clear();
                    if ri_index >= floor {
                        index.reset(ri_index, ri_term);
                    } else {
                        index.reset(floor, meta.state.floor_term);
                    }
                }
                RecordKind::Seal => {}
            }
        }
        summaries.push(sum);
    }
    // Keep the cache a suffix of the index and its size accounting simple.
    while cache
        .front()
        .is_some_and(|e| e.index <= index.start_index())
    {
        cache.pop_front();
    }
    Ok(Recovered {
        dir: dir.to_path_buf(),
        meta,
        index,
        segments: summaries,
        cache,
        spares,
        stray,
    })
}

type Listing = (Vec<(u64, PathBuf)>, Vec<PathBuf>, Vec<PathBuf>);

fn list_dir(log_dir: &Path) -> Result<Listing> {
    let mut segs = Vec::new();
    let mut spares = Vec::new();
    let mut stray = Vec::new();
    let rd = match std::fs::read_dir(log_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((segs, spares, stray)),
        Err(e) => return Err(LogError::io("listing", log_dir, &e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| LogError::io("listing", log_dir, &e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_segment_file_name(name) {
            segs.push((seq, ent.path()));
        } else if name.starts_with(SPARE_PREFIX) && !name.ends_with(".tmp") {
            spares.push(ent.path());
        } else if name.ends_with(".tmp") {
            stray.push(ent.path());
        }
    }
    segs.sort();
    spares.sort();
    Ok((segs, spares, stray))
}

/// Reads and checks one entry at a position found by recovery (plain std I/O, for tools).
pub fn read_entry(rec: &Recovered, index: u64) -> Result<Entry> {
    let pos = *rec
        .index
        .get(index)
        .ok_or_else(|| LogError::Invalid(format!("entry {index} is not in the log")))?;
    let seg = rec
        .segments
        .iter()
        .find(|s| s.header.seq == pos.seg)
        .ok_or_else(|| {
            LogError::Invalid(format!(
                "entry {index} points at missing segment {}",
                pos.seg
            ))
        })?;
    let mut buf = vec![0u8; crate::format::record_size(pos.len as usize) as usize];
    use std::os::unix::fs::FileExt;
    std::fs::File::open(&seg.path)
        .and_then(|f| f.read_exact_at(&mut buf, pos.offset))
        .map_err(|e| LogError::io("reading entry", &seg.path, &e))?;
    let corrupt = |reason: String| LogError::Corrupt {
        path: seg.path.clone(),
        offset: pos.offset,
        reason,
    };
    let (_, payload) = crate::format::decode_record(seg.header.salt, &buf)
        .map_err(|f| corrupt(format!("{f:?}")))?;
    let e = Entry::parse_from_bytes(payload)
        .map_err(|e| corrupt(format!("entry does not decode: {e}")))?;
    if e.index != index {
        return Err(corrupt(format!(
            "record holds entry {} not {index}",
            e.index
        )));
    }
    Ok(e)
}
