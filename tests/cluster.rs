//! The mission's acceptance tests: real `reefdb` processes on loopback elect a leader,
//! replicate writes sent to any node, survive SIGKILLed leaders and whole-cluster crashes,
//! and lose no acknowledged write.

mod support;

use serde_json::json;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{check_every_ack_once, raw_http, rows, start_writers, wait_converged, Acks, Cluster};

const LONG: Duration = Duration::from_secs(30);

fn count(c: &Cluster, node: u64, table: &str, level: &str) -> Option<i64> {
    let (code, v) = c.query(node, &format!("SELECT COUNT(*) FROM {table}"), Some(level));
    if code != 200 {
        return None;
    }
    rows(&v).first()?.first()?.as_i64()
}

#[test]
fn elects_one_leader_and_replicates_writes_sent_to_any_node() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let roles: Vec<String> = (1..=3)
        .map(|i| c.status(i).unwrap()["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "leader").count(),
        1,
        "exactly one leader: {roles:?}"
    );
    assert_eq!(roles[(leader - 1) as usize], "leader");

    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"]),
    );
    assert_eq!(code, 200, "{v}");
    for node in 1..=3u64 {
        let (code, v) = c.execute(
            node,
            &json!([["INSERT INTO t(v) VALUES(?)", format!("via-{node}")]]),
        );
        assert_eq!(code, 200, "write via node {node}: {v}");
        assert_eq!(v["results"][0]["rows_affected"], 1, "{v}");
    }
    // Every node applies every write ...
    c.wait_for(LONG, "all nodes to hold 3 rows", |c| {
        (1..=3).all(|n| count(c, n, "t", "none") == Some(3))
    });
    // ... and linearizable reads through any node agree.
    let answers: BTreeSet<String> = (1..=3)
        .map(|n| {
            let (code, v) = c.query(n, "SELECT id, v FROM t ORDER BY id", None);
            assert_eq!(code, 200, "{v}");
            rows(&v)
                .iter()
                .map(|r| format!("{r:?}"))
                .collect::<String>()
        })
        .collect();
    assert_eq!(answers.len(), 1, "nodes disagree: {answers:?}");
}

#[test]
fn leader_failover_under_load_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE w(id INTEGER PRIMARY KEY, client INTEGER, seq INTEGER)"]),
    );
    assert_eq!(code, 200, "{v}");
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Acks::default()));
    let addrs: Vec<SocketAddr> = c.nodes.iter().map(|n| n.http).collect();
    let writers = start_writers(addrs, 6, stop.clone(), acks.clone());

    let mut gaps = Vec::new();
    for round in 1..=3 {
        std::thread::sleep(Duration::from_millis(1500));
        let leader = c.wait_leader(LONG);
        let before = acks.lock().unwrap().acked.len();
        assert!(before > 0, "no write was acknowledged before kill {round}");
        let killed_at = Instant::now();
        c.kill(leader);
        let new_leader = c.wait_leader(LONG);
        assert_ne!(new_leader, leader);
        // The gap: the last acknowledgement before the kill to the first acknowledgement of a
        // request sent after it (requests already in flight at the kill do not count).
        let deadline = Instant::now() + LONG;
        let gap = loop {
            let a = acks.lock().unwrap();
            let last_before = a
                .acked
                .iter()
                .filter(|x| x.3 <= killed_at)
                .map(|x| x.3)
                .max();
            let first_after = a
                .acked
                .iter()
                .filter(|x| x.2 > killed_at)
                .map(|x| x.3)
                .min();
            if let (Some(b), Some(f)) = (last_before, first_after) {
                break f - b;
            }
            drop(a);
            assert!(
                Instant::now() < deadline,
                "writes never resumed after kill {round}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!(
            "failover {round}: killed leader {leader}, new leader {new_leader}, gap {:?}",
            gap
        );
        gaps.push(gap);
        c.start_node(leader);
    }
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    wait_converged(&c);
    let acks = acks.lock().unwrap();
    eprintln!(
        "acknowledged {} writes, {} not acknowledged; failover gaps {:?}",
        acks.acked.len(),
        acks.failed,
        gaps
    );
    check_every_ack_once(&c, &acks);
}

#[test]
fn whole_cluster_crash_and_restart_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE w(id INTEGER PRIMARY KEY, client INTEGER, seq INTEGER)"]),
    );
    assert_eq!(code, 200, "{v}");
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Acks::default()));
    let addrs: Vec<SocketAddr> = c.nodes.iter().map(|n| n.http).collect();
    let writers = start_writers(addrs, 6, stop.clone(), acks.clone());
    std::thread::sleep(Duration::from_millis(2000));
    for n in 1..=3 {
        c.kill(n);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(!acks.lock().unwrap().acked.is_empty());
    for n in 1..=3 {
        c.start_node(n);
    }
    c.wait_leader(LONG);
    wait_converged(&c);
    check_every_ack_once(&c, &acks.lock().unwrap());
    // And it serves again without manual steps.
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!([["INSERT INTO w(client, seq) VALUES(?, ?)", 99, 1]]),
    );
    assert_eq!(code, 200, "{v}");
}

#[test]
fn bad_input_gets_clear_errors_and_changes_nothing() {
    let c = Cluster::init(3);
    c.edit_config(1, |t| {
        t.replace("max_body_bytes: 8388608", "max_body_bytes: 2048")
    });
    let mut c = c;
    for n in 1..=3 {
        c.start_node(n);
    }
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!([
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO t(v) VALUES('keep')"
        ]),
    );
    assert_eq!(code, 200, "{v}");
    let node1 = c.node(1).http;
    let big = format!("[\"SELECT '{}'\"]", "x".repeat(4096));
    // (method, path, content type, body, expected status, text the error must contain)
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/db/execute",
            "application/json",
            b"{garbage".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/db/execute",
            "application/json",
            b"[1, 2]".to_vec(),
            400,
            "expected a SQL string",
        ),
        (
            "POST",
            "/db/execute",
            "application/json",
            b"[]".to_vec(),
            400,
            "no statements",
        ),
        (
            "POST",
            "/db/execute",
            "image/png",
            b"\x89PNG".to_vec(),
            415,
            "not supported",
        ),
        (
            "POST",
            "/db/execute",
            "application/json",
            big.into_bytes(),
            413,
            "limit",
        ),
        (
            "POST",
            "/db/execute",
            "application/json",
            b"[\"SELEC 1\"]".to_vec(),
            400,
            "syntax error",
        ),
        (
            "POST",
            "/db/query",
            "application/json",
            b"[\"DELETE FROM t\"]".to_vec(),
            400,
            "not a read",
        ),
        (
            "GET",
            "/db/query?q=DROP%20TABLE%20t",
            "",
            Vec::new(),
            400,
            "not a read",
        ),
        ("GET", "/db/query", "", Vec::new(), 400, "q="),
        (
            "GET",
            "/db/query?q=SELECT%201&level=psychic",
            "",
            Vec::new(),
            400,
            "unknown level",
        ),
        ("GET", "/db/execute", "", Vec::new(), 405, "POST"),
        ("GET", "/nowhere", "", Vec::new(), 404, "no such endpoint"),
    ];
    for (method, path, ct, body, want, text) in cases {
        let (code, v) = raw_http(node1, method, path, ct, &body).expect("request");
        assert_eq!(code, want, "{method} {path} {ct}: {v}");
        let err = v["error"].as_str().unwrap_or_default();
        assert!(
            err.contains(text),
            "{method} {path}: error {err:?} should mention {text:?}"
        );
    }
    // A statement that parses but fails when applied is answered like rqlite: 200, with the
    // error in that statement's result.
    let (code, v) = c.execute(1, &json!(["INSERT INTO nope VALUES(1)"]));
    assert_eq!(code, 200, "{v}");
    let err = v["results"][0]["error"].as_str().unwrap_or_default();
    assert!(err.contains("no such table: nope"), "{v}");
    // Nothing changed, and every node still serves.
    c.wait_leader(LONG);
    for n in 1..=3 {
        let (code, v) = c.query(n, "SELECT v FROM t", None);
        assert_eq!(code, 200, "{v}");
        assert_eq!(rows(&v), vec![vec![json!("keep")]], "node {n}");
    }
}

#[test]
fn sigterm_stops_gracefully_and_restart_needs_no_flags() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE t(v)", "INSERT INTO t VALUES('before')"]),
    );
    assert_eq!(code, 200, "{v}");
    for n in 1..=3 {
        let status = c.stop(n);
        assert!(
            status.success(),
            "node {n} exit status after SIGTERM: {status}"
        );
    }
    for n in 1..=3 {
        c.start_node(n);
    }
    let leader = c.wait_leader(LONG);
    let (code, v) = c.query(leader, "SELECT v FROM t", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(rows(&v), vec![vec![json!("before")]]);
}

#[test]
fn a_config_pointing_at_another_nodes_data_is_refused() {
    let mut c = Cluster::start(3);
    c.stop(2);
    // Node 3's config copied into node 2's folder: it claims id 3, and its relative data_dir
    // now resolves to node 2's data.
    let node3 = std::fs::read_to_string(&c.node(3).config).unwrap();
    c.edit_config(2, |_| node3);
    let out = std::process::Command::new(support::BIN)
        .args(["run", "--config"])
        .arg(&c.node(2).config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to node 2"), "{err}");
}
