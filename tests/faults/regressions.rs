//! Minimal tests for bugs the fault suite ran into outside its own code, kept so they stay
//! fixed. A new one starts `#[ignore = "bug: ..."]` until its fix lands; `--run-ignored only`
//! shows whether a fix holds.

use crate::harness::{ClusterSpec, Harness};
use crate::support::http_within;
use serde_json::{json, Value};
use std::time::Duration;

/// A one-node cluster (of `REEF_TEST_BIN` when set) and a way to talk to it.
fn single_node() -> (Harness, impl Fn(&Harness, &str, &str, Value) -> Value) {
    let mut spec = ClusterSpec::new(1);
    spec.netns = false;
    let mut h = Harness::new(&spec);
    h.start_all();
    h.wait_leader(Duration::from_secs(30)).expect("leader");
    let call = |h: &Harness, method: &str, path: &str, body: Value| {
        let (code, v) = http_within(
            h.cluster.node(1).http,
            method,
            path,
            Some(&body),
            Duration::from_secs(10),
        )
        .expect("request");
        assert_eq!(code, 200, "{method} {path}: {v}");
        v
    };
    (h, call)
}

/// SQLite numbers anonymous `?` parameters left to right; the engine compiles the WHERE clause
/// of an UPDATE before its SET list and numbers them in that order, so
/// `UPDATE t SET v = ? WHERE id = ?` with `[100, 1]` looks for `id = 100` and sets `v = 1`.
/// Found with the register workload's compare-and-set (`UPDATE reg SET v = ? WHERE k = ? AND
/// v = ?`), which never swapped.
#[test]
fn update_binds_anonymous_parameters_left_to_right() {
    let _turn = crate::take_turn();
    let (h, call) = single_node();
    call(
        &h,
        "POST",
        "/db/execute",
        json!([
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)",
            "INSERT INTO t VALUES(1, 1)",
            "INSERT INTO t VALUES(2, 2)"
        ]),
    );
    let v = call(
        &h,
        "POST",
        "/db/execute",
        json!([["UPDATE t SET v = ? WHERE id = ?", 100, 1]]),
    );
    let rows = call(
        &h,
        "POST",
        "/db/query?level=strong",
        json!(["SELECT id, v FROM t ORDER BY id"]),
    );
    assert_eq!(
        rows["results"][0]["values"],
        json!([[1, 100], [2, 2]]),
        "UPDATE answered {v}"
    );
}

/// Result column names of expressions lose their closing parenthesis (`typeof(v`, `abs(v`)
/// and `count(*)` comes back as `count`; SQLite (and rqlite clients reading by name) expect
/// the expression text.
#[test]
fn expression_columns_are_named_by_their_text() {
    let _turn = crate::take_turn();
    let (h, call) = single_node();
    call(
        &h,
        "POST",
        "/db/execute",
        json!(["CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES(-3)"]),
    );
    let rows = call(
        &h,
        "POST",
        "/db/query",
        json!(["SELECT typeof(v), abs(v), count(*) FROM t"]),
    );
    assert_eq!(
        rows["results"][0]["columns"],
        json!(["typeof(v)", "abs(v)", "count(*)"]),
        "{rows}"
    );
}

/// raft-rs 0.7 silently drops a ReadIndex request that reaches a leader before it has
/// committed an entry of its own term (`Raft::step_leader`, `MsgReadIndex`: "Reject read only
/// request when this leader has not committed any log entry in its term"). The driver's
/// read batcher has already marked that round in flight, so it never completes and every
/// later `linearizable` read on that leader queues behind it and times out (503 "linearizable
/// read: timed out") for as long as the node stays leader. Reads arriving right after an
/// election hit this; the fault suite's final reads found it. Fix: start a round only once
/// `raft.commit_to_current_term()` holds (keep readers queued until the no-op commits), or
/// re-issue a round that got no answer within an election timeout.
#[test]
fn linearizable_reads_keep_working_after_failover() {
    use crate::client::{Conns, Reply};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let _turn = crate::take_turn();
    let mut spec = ClusterSpec::new(3);
    spec.netns = false;
    let mut h = Harness::new(&spec);
    h.start_all();
    h.wait_leader(Duration::from_secs(30)).expect("leader");
    let urls = h.urls();
    crate::workload::create_schema(&urls, Duration::from_secs(30)).expect("schema");
    let stop = Arc::new(AtomicBool::new(false));
    // Readers hammer every node so some read reaches each new leader the moment it wins.
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let (urls, stop) = (urls.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut conns = Conns::new(&urls, Duration::from_secs(2));
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let _ = conns.query(n % urls.len(), json!("SELECT 1"), "linearizable");
                }
            })
        })
        .collect();
    let mut conns = Conns::new(&urls, Duration::from_secs(8));
    for round in 1..=6 {
        let old = h.leader().expect("leader");
        h.kill(old);
        let new = h.wait_leader(Duration::from_secs(30)).expect("new leader");
        h.start(old);
        std::thread::sleep(Duration::from_secs(3));
        for _ in 0..3 {
            let r = conns.query((new - 1) as usize, json!("SELECT 1"), "linearizable");
            assert!(
                matches!(r, Reply::Ok(_)),
                "failover {round}: killed {old}, node {new} leads, yet a linearizable read \
                 there answers {r:?}"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
}
