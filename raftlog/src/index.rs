//! The in-memory index of the live log: for every entry after the compaction point, its term and
//! where its record lies on disk. It is the one structure recovery rebuilds and the log keeps up
//! to date, so `term()`, `first_index()` and `last_index()` never touch the disk.

use std::collections::VecDeque;

/// Where one entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPos {
    /// The entry's term.
    pub term: u64,
    /// Segment sequence number.
    pub seg: u64,
    /// Offset of the record header in the segment file.
    pub offset: u64,
    /// Payload length of the record.
    pub len: u32,
}

/// Entries `start_index + 1 ..= last_index()`, contiguous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogIndex {
    start_index: u64,
    start_term: u64,
    entries: VecDeque<EntryPos>,
}

impl LogIndex {
    /// An empty log whose last compacted (or snapshotted) entry is `(index, term)`.
    pub fn new(start_index: u64, start_term: u64) -> LogIndex {
        LogIndex {
            start_index,
            start_term,
            entries: VecDeque::new(),
        }
    }

    /// Index of the last entry not held (compacted or covered by a snapshot).
    pub fn start_index(&self) -> u64 {
        self.start_index
    }

    /// Term of `start_index`.
    pub fn start_term(&self) -> u64 {
        self.start_term
    }

    /// First index held.
    pub fn first_index(&self) -> u64 {
        self.start_index + 1
    }

    /// Last index held (`start_index` when empty).
    pub fn last_index(&self) -> u64 {
        self.start_index + self.entries.len() as u64
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Position of entry `idx`, if held.
    pub fn get(&self, idx: u64) -> Option<&EntryPos> {
        if idx <= self.start_index {
            return None;
        }
        self.entries.get((idx - self.start_index - 1) as usize)
    }

    /// Term of `idx` when it is `start_index` or held.
    pub fn term(&self, idx: u64) -> Option<u64> {
        if idx == self.start_index {
            return Some(self.start_term);
        }
        self.get(idx).map(|p| p.term)
    }

    /// Appends the entry `last_index() + 1`.
    pub fn push(&mut self, pos: EntryPos) {
        self.entries.push_back(pos);
    }

    /// Drops every entry with index >= `from` (no-op past the end; clamps at the start).
    pub fn truncate_from(&mut self, from: u64) {
        let keep = from.saturating_sub(self.start_index + 1);
        self.entries
            .truncate(keep.min(self.entries.len() as u64) as usize);
    }

    /// Drops every entry and restarts the log after `(index, term)`.
    pub fn reset(&mut self, index: u64, term: u64) {
        self.entries.clear();
        self.start_index = index;
        self.start_term = term;
    }

    /// Drops entries up to and including `index`, which must be held or be `start_index`.
    pub fn compact_to(&mut self, index: u64) {
        if index <= self.start_index {
            return;
        }
        let term = self.term(index).expect("compact_to an index that is held");
        let n = (index - self.start_index) as usize;
        self.entries.drain(..n);
        self.start_index = index;
        self.start_term = term;
    }

    /// Iterates `(index, position)` from `from` on.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &EntryPos)> {
        let skip = from.saturating_sub(self.start_index + 1) as usize;
        let base = self.start_index + 1;
        self.entries
            .iter()
            .enumerate()
            .skip(skip)
            .map(move |(i, p)| (base + i as u64, p))
    }
}

/// Bytes an entry is charged against the cache budget.
pub fn entry_cost(e: &raft::eraftpb::Entry) -> usize {
    e.data.len() + e.context.len() + 48
}
