//! Real processes: a child appends with sync and prints each durable index; the parent
//! SIGKILLs it at a random moment and checks, on reopen, that every printed index is there
//! with its data. The child is this same test binary, re-executed with an environment variable.
//! Also: 64 concurrent appenders on one executor, and a single-node raft-rs RawNode.
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::{entry, payload, run, small_cfg};
use raft::eraftpb::{ConfState, Entry};
use raft::{Config, GetEntriesContext, RawNode, Storage};
use reef_raftlog::RaftLog;
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

const CHILD_ENV: &str = "REEF_RAFTLOG_CHILD_DIR";

/// Child side: only does anything when started by `sigkill_loses_no_acknowledged_append`.
#[test]
#[ignore = "helper run as a child process by sigkill_loses_no_acknowledged_append"]
fn child_appender() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    run(move || async move {
        let mut log = RaftLog::open(&dir, small_cfg()).await.unwrap();
        let mut next = log.last_index().unwrap() + 1;
        let term = log.hard_state().term + 1;
        let mut hs = log.hard_state().clone();
        hs.term = term;
        log.set_hard_state(&hs).unwrap();
        loop {
            // Batches of 1..4 entries, each durable before it is announced.
            let n = 1 + next % 4;
            let ents: Vec<_> = (next..next + n)
                .map(|i| entry(i, term, 64 + (i as usize % 500)))
                .collect();
            log.append(&ents).unwrap();
            log.flush().await.unwrap();
            next += n;
            println!("durable {} {term}", next - 1);
        }
    });
}

#[test]
fn sigkill_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(u64, u64)> = Vec::new();
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let mut it = line.split_whitespace();
                if it.next() == Some("durable") {
                    let idx: u64 = it.next().unwrap().parse().unwrap();
                    let term: u64 = it.next().unwrap().parse().unwrap();
                    v.push((idx, term));
                }
            }
            v
        });
        let wait = 300 + rand::random::<u64>() % 900 + round * 50;
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = reader.join().unwrap();
        assert!(
            !got.is_empty(),
            "round {round}: the child acknowledged nothing in {wait} ms"
        );
        acked.extend(got);
        // Every acknowledged index must be present with its data and term (the term of the
        // last round that acknowledged it: later rounds only append after what survived).
        let p = dir.path().to_path_buf();
        let acked_now = acked.clone();
        run(move || async move {
            let log = RaftLog::open(&p, small_cfg()).await.unwrap();
            let last = log.last_index().unwrap();
            let max_acked = acked_now.iter().map(|a| a.0).max().unwrap();
            assert!(
                last >= max_acked,
                "last index {last} < acknowledged {max_acked}"
            );
            let ents = log
                .entries(1, last + 1, None, GetEntriesContext::empty(false))
                .unwrap();
            for (i, e) in ents.iter().enumerate() {
                assert_eq!(e.index, i as u64 + 1);
                assert_eq!(
                    &e.data[..],
                    &payload(e.index, e.term, 64 + (e.index as usize % 500))[..]
                );
            }
            // The newest acknowledgement of each index names its term.
            let mut newest = std::collections::BTreeMap::new();
            for (idx, term) in &acked_now {
                newest.insert(*idx, *term);
            }
            let (idx, term) = newest.iter().next_back().unwrap();
            assert_eq!(ents[*idx as usize - 1].term, *term);
            log.close().await.unwrap();
        });
    }
}

#[test]
fn sixty_four_concurrent_appenders_resolve_once_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    const TASKS: u64 = 64;
    const EACH: u64 = 40;
    run(move || async move {
        let log = Rc::new(RefCell::new(
            RaftLog::open(&path, small_cfg()).await.unwrap(),
        ));
        let max_waiters = Rc::new(std::cell::Cell::new(0u32));
        let mw = max_waiters.clone();
        log.borrow_mut()
            .on_flush(Box::new(move |r| mw.set(mw.get().max(r.waiters))))
            .unwrap();
        let resolved = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let log = log.clone();
            let resolved = resolved.clone();
            tasks.push(glommio::spawn_local(async move {
                for s in 0..EACH {
                    // The borrow ends before the await: appenders interleave freely.
                    let (idx, durable) = {
                        let mut l = log.borrow_mut();
                        let idx = l.last_index().unwrap() + 1;
                        let mut e = Entry::default();
                        e.index = idx;
                        e.term = 1;
                        e.data = format!("{t}:{s}").into_bytes().into();
                        l.append(&[e]).unwrap();
                        (idx, l.flush())
                    };
                    durable.await.unwrap();
                    resolved.borrow_mut().push((t, s, idx));
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        let resolved = resolved.borrow().clone();
        assert_eq!(
            resolved.len() as u64,
            TASKS * EACH,
            "every append resolved exactly once"
        );
        let mut idxs: Vec<_> = resolved.iter().map(|r| r.2).collect();
        idxs.sort();
        idxs.dedup();
        assert_eq!(idxs.len() as u64, TASKS * EACH);
        assert!(
            max_waiters.get() > 1,
            "appends shared flushes (group commit)"
        );
        let l = Rc::try_unwrap(log).ok().unwrap().into_inner();
        l.close().await.unwrap();

        let l = RaftLog::open(&path, small_cfg()).await.unwrap();
        let ents = l
            .entries(1, TASKS * EACH + 1, None, GetEntriesContext::empty(false))
            .unwrap();
        assert_eq!(ents.len() as u64, TASKS * EACH);
        let mut last_seq = vec![None::<u64>; TASKS as usize];
        for (t, s, idx) in &resolved {
            assert_eq!(
                &ents[*idx as usize - 1].data[..],
                format!("{t}:{s}").as_bytes()
            );
        }
        for e in &ents {
            let text = std::str::from_utf8(&e.data).unwrap();
            let (t, s) = text.split_once(':').unwrap();
            let (t, s): (usize, u64) = (t.parse().unwrap(), s.parse().unwrap());
            assert!(
                last_seq[t].is_none_or(|p| p < s),
                "task {t}'s appends are in order in the log"
            );
            last_seq[t] = Some(s);
        }
        l.close().await.unwrap();
    });
}

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// Handles one Ready the way the node's driver will (async ready API). Returns applied entries.
async fn drive(node: &mut RawNode<RaftLog>) -> Vec<Entry> {
    let mut applied = Vec::new();
    if !node.has_ready() {
        return applied;
    }
    let mut rd = node.ready();
    assert!(rd.messages().is_empty(), "single node sends nothing");
    applied.extend(rd.take_committed_entries());
    node.mut_store().append(rd.entries()).unwrap();
    if let Some(hs) = rd.hs() {
        node.mut_store().set_hard_state(hs).unwrap();
    }
    let durable = node.mut_store().flush();
    let number = rd.number();
    // raft-rs 0.7: advance_append_async returns nothing; commits show up in later Readys.
    node.advance_append_async(rd);
    if let Some(last) = applied.last() {
        node.mut_store().set_commit(last.index);
        node.advance_apply_to(last.index);
    }
    durable.await.unwrap();
    node.on_persist_ready(number);
    applied
}

async fn propose_and_commit(node: &mut RawNode<RaftLog>, data: &[&str]) -> Vec<Entry> {
    for d in data {
        node.propose(vec![], d.as_bytes().to_vec()).unwrap();
    }
    let mut applied = Vec::new();
    for _ in 0..100 {
        applied.extend(drive(node).await);
        let got = applied.iter().filter(|e| !e.data.is_empty()).count();
        if got == data.len() {
            break;
        }
    }
    applied
}

#[test]
fn single_node_raw_node_elects_commits_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let cfg = Config {
            id: 1,
            ..Config::default()
        };
        let mut log = RaftLog::open(&path, small_cfg()).await.unwrap();
        let mut cs = ConfState::default();
        cs.voters = vec![1];
        log.set_conf_state(&cs).unwrap();
        log.flush().await.unwrap();
        let mut node = RawNode::new(&cfg, log, &logger()).unwrap();
        node.campaign().unwrap();
        for _ in 0..10 {
            drive(&mut node).await;
        }
        assert_eq!(node.raft.state, raft::StateRole::Leader);
        let applied = propose_and_commit(&mut node, &["a", "b", "c"]).await;
        let datas: Vec<_> = applied
            .iter()
            .filter(|e| !e.data.is_empty())
            .map(|e| e.data.to_vec())
            .collect();
        assert_eq!(datas, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let hs = node.raft.hard_state();
        let last = node.store().last_index().unwrap();
        let ents = node
            .store()
            .entries(1, last + 1, None, GetEntriesContext::empty(false))
            .unwrap();
        let store = std::mem::replace(
            node.mut_store(),
            RaftLog::open(path.join("scratch"), small_cfg())
                .await
                .unwrap(),
        );
        store.close().await.unwrap();

        // Restart from the same directory.
        let log = RaftLog::open(&path, small_cfg()).await.unwrap();
        let st = log.initial_state().unwrap();
        assert_eq!(
            (st.hard_state.term, st.hard_state.vote, st.hard_state.commit),
            (hs.term, hs.vote, hs.commit)
        );
        assert_eq!(st.conf_state.voters, vec![1]);
        assert_eq!(
            log.entries(1, last + 1, None, GetEntriesContext::empty(false))
                .unwrap(),
            ents
        );
        let cfg = Config {
            id: 1,
            applied: hs.commit,
            ..Config::default()
        };
        let mut node = RawNode::new(&cfg, log, &logger()).unwrap();
        node.campaign().unwrap();
        for _ in 0..10 {
            drive(&mut node).await;
        }
        assert_eq!(node.raft.state, raft::StateRole::Leader);
        assert!(node.raft.term > hs.term);
        let applied = propose_and_commit(&mut node, &["d"]).await;
        assert!(applied.iter().any(|e| &e.data[..] == b"d"));
    });
}
