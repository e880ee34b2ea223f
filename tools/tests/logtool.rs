//! `reef-logtool` run as a real process on a log written by the real log: info, dump ranges,
//! verify clean (exit 0), verify corrupt (exit 1, file and offset named), usage (exit 2).
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default)]

use raft::eraftpb::Entry;
use reef_raftlog::{LogConfig, Preallocate, RaftLog};
use std::path::Path;
use std::process::Command;

fn write_log(dir: &Path) {
    let dir = dir.to_path_buf();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let cfg = LogConfig {
                segment_size: 64 * 1024,
                preallocate: Preallocate::Fallocate,
                ..LogConfig::default()
            };
            let mut log = RaftLog::open(&dir, cfg).await.unwrap();
            for i in 1..=40u64 {
                let mut e = Entry::default();
                e.index = i;
                e.term = 2;
                e.data = vec![i as u8; 10 + i as usize].into();
                log.append(&[e]).unwrap();
                log.flush().await.unwrap();
            }
            log.set_metadata("peers", Some(b"1=127.0.0.1:4001".to_vec()))
                .unwrap();
            log.close().await.unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

fn tool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reef-logtool"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn info_dump_verify_on_a_stopped_node() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let d = dir.path().to_str().unwrap();

    let (code, out, _) = tool(&["info", d]);
    assert_eq!(code, 0);
    assert!(
        out.contains("log: first_index=1 last_index=40 entries=40"),
        "{out}"
    );
    assert!(out.contains("metadata peers: 16 bytes"), "{out}");
    assert!(
        out.contains("segment 1 00000000000000000001.seg: entries 1..=40"),
        "{out}"
    );

    let (code, out, _) = tool(&["dump", d, "--from", "5", "--to", "7"]);
    assert_eq!(code, 0);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("5 term=2 type=EntryNormal size=15 0505"),
        "{out}"
    );

    let (code, out, _) = tool(&["verify", d]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("ok: 1 segments") && out.contains("entries 1..=40"),
        "{out}"
    );
    assert!(!out.contains("note"), "a clean stop ends in zeros: {out}");

    // A torn last write (half a record header after the last record) is reported, not an
    // error; zeros there again are a clean end.
    let seg = dir.path().join("log").join("00000000000000000001.seg");
    let end = reef_raftlog::scan::scan_file(&seg).unwrap().end_offset() as usize;
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[end..end + 10].fill(0xab);
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out, _) = tool(&["verify", d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("records of {} end at {end}", seg.display())),
        "{out}"
    );
    bytes[end..end + 10].fill(0);
    std::fs::write(&seg, &bytes).unwrap();

    // Damage entry 10's payload: later flushes follow it, so this is corruption.
    let s = reef_raftlog::scan::scan_file(&seg).unwrap();
    let off = s.records[9].offset;
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[off as usize + 26] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let (code, _, err) = tool(&["verify", d]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&seg.display().to_string()) && err.contains(&format!("byte offset {off}")),
        "{err}"
    );

    let (code, _, err) = tool(&["dump", d, "--from"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = tool(&["frobnicate", d]);
    assert_eq!(code, 2);
}

/// `dump` shows the SQL of real command batches; `info` shows a real engine snapshot's header
/// (index, term, size, per-table rows) from the snapshot store; `verify` opens the archive.
#[test]
fn sql_in_dump_and_engine_snapshot_in_info() {
    use reef_engine::{CommandBatch, Engine, EngineConfig, Statement, Value};
    let dir = tempfile::tempdir().unwrap();
    let raft_dir = dir.path().to_path_buf();
    let batches = [
        CommandBatch::new(vec![Statement::new(
            "CREATE TABLE people(id INTEGER PRIMARY KEY,\nname TEXT)",
        )]),
        {
            let mut b = CommandBatch::new(vec![
                Statement::with_params(
                    "INSERT INTO people(name) VALUES(?)",
                    vec![Value::from("fi'ona")],
                ),
                Statement::with_params(
                    "INSERT INTO people(name) VALUES(?)",
                    vec![Value::Blob(vec![1, 2, 255].into())],
                ),
            ]);
            b.client_id = 9;
            b.seq = 4;
            b.transaction = true;
            b
        },
    ];
    let mut engine = Engine::new(EngineConfig::default());
    for (i, b) in batches.iter().enumerate() {
        engine.apply(i as u64 + 1, 2, b);
    }
    let mut archive = Vec::new();
    reef_engine::snapshot::write(&engine.view(), &mut |c| {
        archive.extend_from_slice(c);
        Ok(())
    })
    .unwrap();
    let entries: Vec<Vec<u8>> = batches.iter().map(|b| b.encode()).collect();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let mut log = RaftLog::open(&raft_dir, LogConfig::default())
                .await
                .unwrap();
            for (i, data) in entries.iter().enumerate() {
                let mut e = Entry::default();
                e.index = i as u64 + 1;
                e.term = 2;
                e.data = data.clone().into();
                log.append(&[e]).unwrap();
            }
            let mut e = Entry::default();
            e.index = 3;
            e.term = 2;
            log.append(&[e]).unwrap();
            log.flush().await.unwrap();
            log.close().await.unwrap();
            let store = reef_raftlog::SnapshotStore::new(raft_dir.join("snap"));
            let mut w = store.begin(2, 2).await.unwrap();
            w.write(&archive).await.unwrap();
            w.finish(Default::default(), Default::default())
                .await
                .unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = tool(&["dump", d]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<_> = out.lines().collect();
    assert!(
        lines[0].ends_with("client=0 seq=0 now_ms=0 seed=0: CREATE TABLE people(id INTEGER PRIMARY KEY,\\nname TEXT)"),
        "{out}"
    );
    assert!(
        lines[1].contains("client=9 seq=4 transaction")
            && lines[1].ends_with(
                "INSERT INTO people(name) VALUES(?) ['fi''ona']; INSERT INTO people(name) VALUES(?) [x'0102FF']"
            ),
        "{out}"
    );
    assert!(lines[2].ends_with("(empty: leader no-op)"), "{out}");
    let (code, out, err) = tool(&["info", d]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("engine snapshot: format v1 index=2 term=2 size=")
            && out.contains("rows=2 tables=1 [people=2 rows/0 indexes]"),
        "{out}"
    );
    let (code, out, err) = tool(&["verify", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 snapshots verified"), "{out}");
}
