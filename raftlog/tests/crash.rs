//! Crash consistency on real files: cut the last segment at every byte offset of its final
//! records and flip single bytes in its tail, then recover; flip a byte in a record that a later
//! completed flush follows (or in a sealed segment) and expect a refusal naming file and offset.
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::{entry, run, small_cfg};
use raft::eraftpb::Entry;
use reef_raftlog::format::record_size;
use reef_raftlog::recovery::recover;
use reef_raftlog::scan::scan_file;
use reef_raftlog::{LogError, RaftLog};
use std::path::{Path, PathBuf};

/// Writes `n` entries, each in its own flush, and closes the log. Returns the entries.
fn build(dir: &Path, n: u64) -> Vec<Entry> {
    let path = dir.to_path_buf();
    run(move || async move {
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        let mut all = Vec::new();
        for i in 1..=n {
            let e = entry(i, 1, 40 + (i as usize * 13) % 90);
            log.append(std::slice::from_ref(&e)).unwrap();
            log.flush().await.unwrap();
            all.push(e);
        }
        log.close().await.unwrap();
        all
    })
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// (offset, end) of every entry record of a segment, with its index.
fn entry_records(seg: &Path) -> Vec<(u64, u64, u64)> {
    let s = scan_file(seg).unwrap();
    s.records
        .iter()
        .filter(|r| r.kind == reef_raftlog::format::RecordKind::Entry)
        .map(|r| {
            let e: Entry = protobuf::Message::parse_from_bytes(s.payload(r)).unwrap();
            // End of the bytes that matter (header + payload); the zero padding after them is
            // not covered by a checksum and a cut inside it loses nothing.
            let _ = record_size;
            (r.offset, r.offset + 24 + r.payload.len() as u64, e.index)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("log")).unwrap();
    std::fs::copy(from.join("hardstate"), to.join("hardstate")).unwrap();
    for ent in std::fs::read_dir(from.join("log")).unwrap() {
        let p = ent.unwrap().path();
        std::fs::copy(&p, to.join("log").join(p.file_name().unwrap())).unwrap();
    }
}

fn recovered_indexes(dir: &Path) -> Result<Vec<u64>, LogError> {
    let r = recover(dir, 1 << 20)?;
    Ok((r.index.first_index()..=r.index.last_index()).collect())
}

#[test]
fn cutting_the_tail_at_every_byte_keeps_exactly_the_whole_records() {
    let base = tempfile::tempdir().unwrap();
    let n = 60;
    build(base.path(), n);
    let segs = segments(base.path());
    let last = segs.last().unwrap();
    let recs = entry_records(last);
    assert!(recs.len() >= 6, "need several records in the last segment");
    let first_cut = recs[recs.len() - 5].0;
    let end = recs.last().unwrap().1;
    let len = std::fs::metadata(last).unwrap().len();
    let work = tempfile::tempdir().unwrap();
    copy_dir(base.path(), work.path());
    let wseg = work.path().join("log").join(last.file_name().unwrap());
    let original = std::fs::read(&wseg).unwrap();
    for cut in first_cut..=end {
        // Bytes past the cut never reached the disk: they read back as zeros.
        let mut bytes = original.clone();
        bytes[cut as usize..].fill(0);
        std::fs::write(&wseg, &bytes).unwrap();
        assert_eq!(std::fs::metadata(&wseg).unwrap().len(), len);
        let got = recovered_indexes(work.path()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = recs
            .iter()
            .filter(|r| r.1 <= cut)
            .map(|r| r.2)
            .max()
            .unwrap_or(0);
        let expect_last = whole.max(recs[0].2 - 1);
        assert_eq!(
            got.last().copied().unwrap_or(0),
            expect_last,
            "cut at {cut}"
        );
        assert_eq!(
            got.len() as u64,
            expect_last,
            "all earlier entries survive (cut at {cut})"
        );
    }
    // A log opened after a cut keeps working and keeps its data across another reopen.
    let mut bytes = original.clone();
    let cut = recs[recs.len() - 3].0 + 7;
    bytes[cut as usize..].fill(0);
    std::fs::write(&wseg, &bytes).unwrap();
    let p = work.path().to_path_buf();
    let survivors = recs[recs.len() - 4].2;
    run(move || async move {
        let mut log = RaftLog::open(&p, small_cfg()).await.unwrap();
        assert_eq!(raft::Storage::last_index(&log).unwrap(), survivors);
        log.append(&[entry(survivors + 1, 2, 33)]).unwrap();
        log.flush().await.unwrap();
        log.close().await.unwrap();
        let log = RaftLog::open(&p, small_cfg()).await.unwrap();
        assert_eq!(raft::Storage::last_index(&log).unwrap(), survivors + 1);
        assert_eq!(raft::Storage::term(&log, survivors + 1).unwrap(), 2);
        log.close().await.unwrap();
    });
}

#[test]
fn flipping_bytes_in_the_tail_never_invents_or_loses_earlier_records() {
    let base = tempfile::tempdir().unwrap();
    build(base.path(), 40);
    let segs = segments(base.path());
    let last = segs.last().unwrap();
    let recs = entry_records(last);
    let work = tempfile::tempdir().unwrap();
    copy_dir(base.path(), work.path());
    let wseg = work.path().join("log").join(last.file_name().unwrap());
    let original = std::fs::read(&wseg).unwrap();
    // The final record (the last flush): every byte.
    let (start, end, idx) = *recs.last().unwrap();
    for pos in start..end {
        let mut bytes = original.clone();
        bytes[pos as usize] ^= 0x5a;
        std::fs::write(&wseg, &bytes).unwrap();
        let got = recovered_indexes(work.path()).unwrap_or_else(|e| panic!("flip at {pos}: {e}"));
        let last_got = got.last().copied().unwrap_or(0);
        assert!(
            last_got == idx - 1 || last_got == idx,
            "flip at {pos}: recovered up to {last_got}"
        );
        assert_eq!(
            got.len() as u64,
            last_got,
            "a prefix survives (flip at {pos})"
        );
    }
}

#[test]
fn a_damaged_record_followed_by_later_flushes_is_refused_with_file_and_offset() {
    let base = tempfile::tempdir().unwrap();
    build(base.path(), 40);
    let segs = segments(base.path());
    let last = segs.last().unwrap();
    let recs = entry_records(last);
    let (off, _, _) = recs[recs.len() / 2];
    let work = tempfile::tempdir().unwrap();
    copy_dir(base.path(), work.path());
    let wseg = work.path().join("log").join(last.file_name().unwrap());
    let mut bytes = std::fs::read(&wseg).unwrap();
    bytes[off as usize + 30] ^= 1;
    std::fs::write(&wseg, &bytes).unwrap();
    match recover(work.path(), 1 << 20) {
        Err(LogError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, wseg);
            assert_eq!(offset, off);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let msg = recover(work.path(), 1 << 20).unwrap_err().to_string();
    assert!(
        msg.contains(&wseg.display().to_string()) && msg.contains(&off.to_string()),
        "{msg}"
    );
    // And the log refuses to open.
    let p = work.path().to_path_buf();
    let r = run(move || async move {
        RaftLog::open(&p, small_cfg())
            .await
            .err()
            .map(|e| e.to_string())
    });
    assert!(r.is_some_and(|m| m.contains("byte offset")));
}

#[test]
fn a_damaged_record_in_a_sealed_segment_is_refused() {
    let base = tempfile::tempdir().unwrap();
    build(base.path(), 1500);
    let segs = segments(base.path());
    assert!(segs.len() >= 3, "small segments rotate");
    let first = &segs[0];
    let recs = entry_records(first);
    let (off, _, _) = *recs.last().unwrap();
    let work = tempfile::tempdir().unwrap();
    copy_dir(base.path(), work.path());
    let wseg = work.path().join("log").join(first.file_name().unwrap());
    let mut bytes = std::fs::read(&wseg).unwrap();
    bytes[off as usize + 2] ^= 0x80;
    std::fs::write(&wseg, &bytes).unwrap();
    match recover(work.path(), 1 << 20) {
        Err(LogError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, wseg);
            assert_eq!(offset, off);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_damaged_segment_header_is_refused() {
    let base = tempfile::tempdir().unwrap();
    build(base.path(), 5);
    let seg = segments(base.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();
    let err = recover(base.path(), 1 << 20).unwrap_err();
    assert!(
        matches!(err, LogError::Corrupt { ref path, .. } if *path == seg),
        "{err}"
    );
}
