//! Property test: random sequences of append (with conflicting suffixes), compaction, snapshot
//! install, hard-state changes and reopen agree with a simple in-memory model on every
//! `raft::Storage` call, with a cache small enough that reads also come from disk.
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::{entry, run};
use proptest::prelude::*;
use raft::eraftpb::{Entry, HardState, SnapshotMetadata};
use raft::{GetEntriesContext, Storage, StorageError};
use reef_raftlog::{LogConfig, Preallocate, RaftLog};

#[derive(Debug, Clone)]
enum Op {
    /// Overwrite the last `back` entries (new term) and add `n` more, each `size` bytes.
    Append {
        back: u8,
        n: u8,
        size: u16,
    },
    /// Compact to `pct`% of the way from the first to the last index.
    Compact {
        pct: u8,
    },
    /// Install a snapshot `ahead` entries past the last index.
    Snapshot {
        ahead: u8,
    },
    /// New term/vote.
    Vote {
        vote: u8,
    },
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, 1u8..6, 0u16..700).prop_map(|(back, n, size)| Op::Append { back, n, size }),
        1 => (0u8..=100).prop_map(|pct| Op::Compact { pct }),
        1 => (0u8..3).prop_map(|ahead| Op::Snapshot { ahead }),
        1 => (0u8..4).prop_map(|vote| Op::Vote { vote }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

/// The model: the log is `start` (index, term) followed by `ents`.
#[derive(Default)]
struct Model {
    start: (u64, u64),
    ents: Vec<Entry>,
    term: u64,
    vote: u64,
}

impl Model {
    fn last(&self) -> u64 {
        self.start.0 + self.ents.len() as u64
    }
}

fn cfg() -> LogConfig {
    LogConfig {
        segment_size: 64 * 1024,
        preallocate: Preallocate::Fallocate,
        cache_bytes: 2048,
        ..LogConfig::default()
    }
}

fn check(log: &RaftLog, m: &Model, probe: u64) {
    assert_eq!(log.first_index().unwrap(), m.start.0 + 1, "first_index");
    assert_eq!(log.last_index().unwrap(), m.last(), "last_index");
    assert_eq!(log.term(m.start.0).unwrap(), m.start.1, "term of the start");
    if m.start.0 > 0 {
        assert_eq!(
            log.term(m.start.0 - 1),
            Err(raft::Error::Store(StorageError::Compacted))
        );
    }
    assert_eq!(
        log.term(m.last() + 1),
        Err(raft::Error::Store(StorageError::Unavailable))
    );
    for (i, e) in m.ents.iter().enumerate() {
        assert_eq!(log.term(m.start.0 + 1 + i as u64).unwrap(), e.term);
    }
    let ctx = || GetEntriesContext::empty(false);
    let first = m.start.0 + 1;
    if m.start.0 > 0 {
        assert!(
            log.entries(first - 1, first, None, ctx()).is_err(),
            "compacted entries are refused"
        );
    }
    let n = m.ents.len() as u64;
    let lo = first + if n > 0 { probe % n } else { 0 };
    let hi = m.last() + 1;
    for max in [None, Some(0u64), Some(probe % 3000)] {
        let got = log.entries(lo, hi, max, ctx()).unwrap();
        let mut want = m.ents[(lo - first) as usize..].to_vec();
        raft::util::limit_size(&mut want, max);
        assert_eq!(got, want, "entries({lo}, {hi}, {max:?})");
    }
    let st = log.initial_state().unwrap();
    assert_eq!((st.hard_state.term, st.hard_state.vote), (m.term, m.vote));
}

fn apply(log: &mut RaftLog, m: &mut Model, op: &Op) {
    match *op {
        Op::Append { back, n, size } => {
            let back = (back as u64).min(m.ents.len() as u64);
            let from = m.last() + 1 - back;
            let term = if back > 0 { m.term + 1 } else { m.term.max(1) };
            m.term = term;
            let ents: Vec<_> = (from..from + back + n as u64)
                .map(|i| entry(i, term, size as usize))
                .collect();
            log.append(&ents).unwrap();
            m.ents.truncate((from - m.start.0 - 1) as usize);
            m.ents.extend(ents);
            let mut hs = log.hard_state().clone();
            hs.term = m.term;
            hs.vote = m.vote;
            log.set_hard_state(&hs).unwrap();
        }
        Op::Compact { pct } => {
            let span = m.ents.len() as u64;
            let to = m.start.0 + span * pct as u64 / 100;
            if to > m.start.0 {
                log.compact(to).unwrap();
                let k = (to - m.start.0) as usize;
                m.start = (to, m.ents[k - 1].term);
                m.ents.drain(..k);
            }
        }
        Op::Snapshot { ahead } => {
            let idx = (m.last() + ahead as u64).max(m.start.0 + 1);
            m.term += 1;
            let mut meta = SnapshotMetadata::default();
            meta.index = idx;
            meta.term = m.term;
            log.apply_snapshot(&meta).unwrap();
            m.start = (idx, m.term);
            m.ents.clear();
            let mut hs = log.hard_state().clone();
            hs.term = m.term;
            log.set_hard_state(&hs).unwrap();
        }
        Op::Vote { vote } => {
            m.term += 1;
            m.vote = vote as u64;
            let mut hs = HardState::default();
            hs.term = m.term;
            hs.vote = m.vote;
            log.set_hard_state(&hs).unwrap();
        }
        Op::Flush | Op::Reopen => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn log_agrees_with_model(ops in proptest::collection::vec(op(), 1..60), probe in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        run(move || async move {
            let mut log = RaftLog::open(&path, cfg()).await.unwrap();
            let mut m = Model::default();
            for op in &ops {
                apply(&mut log, &mut m, op);
                match op {
                    Op::Flush => { log.flush().await.unwrap(); }
                    Op::Reopen => {
                        log.close().await.unwrap();
                        log = RaftLog::open(&path, cfg()).await.unwrap();
                    }
                    _ => {}
                }
                check(&log, &m, probe);
            }
            log.close().await.unwrap();
            let log = RaftLog::open(&path, cfg()).await.unwrap();
            check(&log, &m, probe);
            log.close().await.unwrap();
        });
    }
}
