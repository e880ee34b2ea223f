//! Round trips through real files: entries, hard state, metadata, compaction, snapshot reset,
//! cache misses served from disk, and the snapshot store.
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::{entry, run, small_cfg};
use raft::eraftpb::Entry;
use raft::eraftpb::{ConfState, HardState, SnapshotMetadata};
use raft::{GetEntriesContext, Storage};
use reef_raftlog::{LogConfig, Preallocate, RaftLog, SnapshotStore};
use std::collections::BTreeMap;

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

#[test]
fn entries_hard_state_and_metadata_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        let ents: Vec<_> = (1..=500)
            .map(|i| entry(i, 1 + i / 200, 100 + (i as usize % 300)))
            .collect();
        for chunk in ents.chunks(7) {
            log.append(chunk).unwrap();
        }
        let mut hs = HardState::default();
        hs.term = 3;
        hs.vote = 2;
        hs.commit = 450;
        log.set_hard_state(&hs).unwrap();
        let mut cs = ConfState::default();
        cs.voters = vec![1, 2, 3];
        log.set_conf_state(&cs).unwrap();
        log.set_metadata("peers", Some(b"1=a:1,2=b:2".to_vec()))
            .unwrap();
        log.flush().await.unwrap();
        assert!(
            log.stats().segments > 1,
            "500 entries of ~250 bytes must span 64 KiB segments"
        );
        log.close().await.unwrap();

        let log = RaftLog::open(&path, small_cfg()).await.unwrap();
        assert_eq!(log.first_index().unwrap(), 1);
        assert_eq!(log.last_index().unwrap(), 500);
        // Cache is 4 KiB, so most of these come from disk.
        let got = log.entries(1, 501, None, ctx()).unwrap();
        assert_eq!(got, ents);
        let st = log.initial_state().unwrap();
        assert_eq!(
            (st.hard_state.term, st.hard_state.vote, st.hard_state.commit),
            (3, 2, 450)
        );
        assert_eq!(st.conf_state.voters, vec![1, 2, 3]);
        assert_eq!(log.metadata("peers"), Some(&b"1=a:1,2=b:2"[..]));
        // max_size: the first entry always comes back, then stop before exceeding.
        let one = log.entries(10, 20, 1, ctx()).unwrap();
        assert_eq!(one.len(), 1);
        log.close().await.unwrap();
    });
}

/// Appends `n` entries of `len` bytes in `term` after the last of `want` (or, with `back`,
/// replacing its last `back` entries), to the log and to `want`.
fn add(log: &mut RaftLog, want: &mut Vec<Entry>, back: usize, n: usize, term: u64, len: usize) {
    want.truncate(want.len() - back.min(want.len()));
    let from = want.len() as u64 + 1;
    let ents: Vec<_> = (from..from + n as u64)
        .map(|i| entry(i, term, len))
        .collect();
    log.append(&ents).unwrap();
    want.extend(ents);
}

#[test]
fn appends_written_in_place_or_copied_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let cfg = LogConfig {
            segment_size: 8 << 20,
            preallocate: Preallocate::Fallocate,
            cache_bytes: 4 * 1024,
            ..LogConfig::default()
        };
        let mut log = RaftLog::open(&path, cfg.clone()).await.unwrap();
        let mut want = Vec::new();
        // One write per flush, starting at many offsets within a block: each is sent from the
        // staging buffer it was encoded into, the tail block's bytes put in front.
        for k in 0..60 {
            add(&mut log, &mut want, 0, 1 + k % 3, 1, (k * 37) % 900 + 1);
            log.flush().await.unwrap();
        }
        let s = log.stats();
        assert_eq!((s.writes_in_place, s.writes_copied), (60, 0));
        // Entries, then a hard state, several times before one flush (a Raft driver's turns):
        // the write is extended past the hard-state updates and still sent in place.
        let mut hs = HardState::default();
        for turn in 0..10u64 {
            for i in 0..5u64 {
                add(&mut log, &mut want, 0, 2, 1, 300 + (turn * 5 + i) as usize);
                hs.term = 1;
                hs.vote = 1 + (turn * 5 + i) % 3;
                log.set_hard_state(&hs).unwrap();
            }
            log.flush().await.unwrap();
        }
        let s = log.stats();
        assert_eq!((s.writes_in_place, s.writes_copied), (70, 0));
        // A conflicting suffix replaced in the same write.
        add(&mut log, &mut want, 4, 6, 2, 500);
        log.flush().await.unwrap();
        // A batch larger than a staging buffer (256 KiB) spills to the heap and is copied.
        add(&mut log, &mut want, 0, 300, 2, 1000);
        log.flush().await.unwrap();
        let s = log.stats();
        assert_eq!((s.writes_in_place, s.writes_copied), (71, 1));
        // Read back from disk (the cache holds 4 KiB), then again after reopening.
        let last = want.len() as u64;
        assert_eq!(log.entries(1, last + 1, None, ctx()).unwrap(), want);
        log.close().await.unwrap();
        let log = RaftLog::open(&path, cfg).await.unwrap();
        assert_eq!(log.last_index().unwrap(), last);
        assert_eq!(log.entries(1, last + 1, None, ctx()).unwrap(), want);
        assert_eq!(log.initial_state().unwrap().hard_state.vote, hs.vote);
        log.close().await.unwrap();
    });
}

#[test]
fn conflicting_suffix_is_replaced_durably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        let old: Vec<_> = (1..=20).map(|i| entry(i, 1, 50)).collect();
        log.append(&old).unwrap();
        log.flush().await.unwrap();
        // Same sizes as the old entries, so stale records would line up if truncation did not
        // stop recovery from reading them.
        let new: Vec<_> = (11..=15).map(|i| entry(i, 2, 50)).collect();
        log.append(&new).unwrap();
        log.flush().await.unwrap();
        assert_eq!(log.last_index().unwrap(), 15);
        log.close().await.unwrap();
        let log = RaftLog::open(&path, small_cfg()).await.unwrap();
        assert_eq!(log.last_index().unwrap(), 15);
        assert_eq!(log.term(10).unwrap(), 1);
        assert_eq!(log.term(11).unwrap(), 2);
        assert_eq!(log.entries(11, 16, None, ctx()).unwrap(), new);
        log.close().await.unwrap();
    });
}

#[test]
fn compaction_deletes_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        for i in 1..=1000u64 {
            log.append(&[entry(i, 1, 200)]).unwrap();
        }
        log.flush().await.unwrap();
        let before = log.stats().segments;
        log.compact(900).unwrap();
        log.flush().await.unwrap();
        let after = log.stats().segments;
        assert!(after < before, "segments {before} -> {after}");
        assert_eq!(log.first_index().unwrap(), 901);
        assert_eq!(log.term(900).unwrap(), 1);
        assert!(log.term(899).is_err());
        assert!(log.entries(899, 902, None, ctx()).is_err());
        log.close().await.unwrap();
        let files = std::fs::read_dir(path.join("log")).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        });
        assert_eq!(files.count(), after);
        let log = RaftLog::open(&path, small_cfg()).await.unwrap();
        assert_eq!(log.first_index().unwrap(), 901);
        assert_eq!(log.last_index().unwrap(), 1000);
        assert_eq!(log.entries(901, 1001, None, ctx()).unwrap().len(), 100);
        log.close().await.unwrap();
    });
}

#[test]
fn apply_snapshot_resets_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        log.append(&(1..=300).map(|i| entry(i, 1, 300)).collect::<Vec<_>>())
            .unwrap();
        log.flush().await.unwrap();
        let mut meta = SnapshotMetadata::default();
        meta.index = 100;
        meta.term = 5;
        meta.mut_conf_state().voters = vec![1, 4];
        log.apply_snapshot(&meta).unwrap();
        log.append(&[entry(101, 5, 10)]).unwrap();
        log.flush().await.unwrap();
        assert_eq!(log.stats().segments, 1);
        log.close().await.unwrap();
        let log = RaftLog::open(&path, small_cfg()).await.unwrap();
        assert_eq!(log.first_index().unwrap(), 101);
        assert_eq!(log.last_index().unwrap(), 101);
        assert_eq!(log.term(100).unwrap(), 5);
        assert_eq!(log.initial_state().unwrap().conf_state.voters, vec![1, 4]);
        assert!(log.initial_state().unwrap().hard_state.commit >= 100);
        log.close().await.unwrap();
    });
}

#[test]
fn default_config_zero_fills_and_recycles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let cfg = LogConfig {
            segment_size: 128 * 1024,
            ..LogConfig::default()
        };
        let mut log = RaftLog::open(&path, cfg.clone()).await.unwrap();
        for i in 1..=2000u64 {
            log.append(&[entry(i, 1, 300)]).unwrap();
            if i % 50 == 0 {
                log.flush().await.unwrap();
            }
        }
        log.flush().await.unwrap();
        log.compact(1900).unwrap();
        log.flush().await.unwrap();
        let spares = std::fs::read_dir(path.join("log"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("spare-")
            })
            .count();
        assert!(spares >= 1, "deleted segments are recycled as spares");
        log.close().await.unwrap();
        let log = RaftLog::open(&path, cfg).await.unwrap();
        assert_eq!(log.entries(1901, 2001, None, ctx()).unwrap().len(), 100);
        log.close().await.unwrap();
    });
}

/// Appends staged before the writer runs are written together, and every flush request made
/// meanwhile shares that one flush; a flush future outlives the handle (the writer drains the
/// queue when the log is dropped).
#[test]
fn waiters_share_one_flush_and_outlive_the_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        log.append(&[entry(1, 1, 100)]).unwrap();
        let f1 = log.flush();
        log.append(&[entry(2, 1, 100)]).unwrap();
        let f2 = log.flush();
        let (r1, r2) = (f1.await.unwrap(), f2.await.unwrap());
        assert_eq!(r1, r2, "one flush for both");
        assert_eq!((r1.records, r1.waiters), (2, 2));
        log.append(&[entry(3, 1, 100)]).unwrap();
        let f3 = log.flush();
        drop(log);
        assert_eq!(f3.await.unwrap().records, 1);
        let log = RaftLog::open(&path, small_cfg()).await.unwrap();
        assert_eq!(
            log.entries(1, 4, None, ctx()).unwrap(),
            vec![entry(1, 1, 100), entry(2, 1, 100), entry(3, 1, 100)]
        );
        log.close().await.unwrap();
    });
}

#[test]
fn snapshot_store_round_trip_and_chunk_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let store = SnapshotStore::new(path.join("snap"));
        let data: Vec<u8> = (0..(2 * 1024 * 1024 + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut w = store.begin(42, 3).await.unwrap();
        for part in data.chunks(100_000) {
            w.write(part).await.unwrap();
        }
        let mut cs = ConfState::default();
        cs.voters = vec![1, 2];
        let mut md = BTreeMap::new();
        md.insert("peers".to_string(), b"x".to_vec());
        let m = w.finish(cs, md).await.unwrap();
        assert_eq!(m.chunks(), 3);
        assert_eq!(std::fs::read(store.data_path(42, 3)).unwrap(), data);
        assert_eq!(store.latest().unwrap().unwrap(), m);

        // Stream it to a "follower" store, chunk by chunk, verifying each.
        let other = SnapshotStore::new(path.join("snap2"));
        let r = store.open(42, 3).await.unwrap();
        let mut inc = other.receive(r.manifest().clone()).await.unwrap();
        let c0 = r.read_chunk(0).await.unwrap();
        let mut bad = c0.clone();
        bad[5] ^= 1;
        assert!(
            inc.write_chunk(0, &bad).await.is_err(),
            "a corrupted chunk is refused"
        );
        assert!(
            inc.write_chunk(1, &c0).await.is_err(),
            "out of order is refused"
        );
        for i in 0..m.chunks() {
            inc.write_chunk(i, &r.read_chunk(i).await.unwrap())
                .await
                .unwrap();
        }
        let m2 = inc
            .finish(ConfState::default(), BTreeMap::new())
            .await
            .unwrap();
        assert_eq!(m2, m);
        assert_eq!(std::fs::read(other.data_path(42, 3)).unwrap(), data);
        reef_raftlog::snapshot::verify_data(&other, &m2).unwrap();

        // An unfinished snapshot is invisible; delete removes a finished one.
        let mut w = store.begin(50, 3).await.unwrap();
        w.write(b"partial").await.unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        w.abort().await.unwrap();
        store.delete(42, 3).await.unwrap();
        assert!(store.list().unwrap().is_empty());
    });
}

/// raft-rs is offered the latest snapshot only when it can serve the request: recent enough
/// and with the recipient in its membership (a learner added after the snapshot was built
/// would ignore it). Otherwise the log says a fresh snapshot is wanted.
#[test]
fn snapshot_offer_needs_the_recipient_in_its_membership() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        let unavailable = |r: raft::Result<raft::eraftpb::Snapshot>| {
            matches!(
                r,
                Err(raft::Error::Store(
                    raft::StorageError::SnapshotTemporarilyUnavailable
                ))
            )
        };
        assert!(unavailable(log.snapshot(0, 2)));
        assert!(log.take_snapshot_wanted());
        assert!(!log.take_snapshot_wanted(), "the flag is taken once");

        let mut meta = SnapshotMetadata::default();
        meta.index = 10;
        meta.term = 2;
        meta.mut_conf_state().voters = vec![1, 2, 3];
        log.set_latest_snapshot(meta);
        assert_eq!(log.snapshot(0, 2).unwrap().get_metadata().index, 10);
        assert!(!log.take_snapshot_wanted());
        // Node 4 is not in the snapshot's membership; a request past index 10 is too new.
        assert!(unavailable(log.snapshot(0, 4)));
        assert!(log.take_snapshot_wanted());
        assert!(unavailable(log.snapshot(11, 2)));
        assert!(log.take_snapshot_wanted());
        log.close().await.unwrap();
    });
}
