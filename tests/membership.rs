//! Changing who is in the cluster while it serves writes: add a learner, let it catch up,
//! promote it, move leadership to it, remove an original member, and lose nothing.

mod support;

use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{check_every_ack_once, http, start_writers, wait_converged, Acks, Cluster};

const LONG: Duration = Duration::from_secs(30);

/// Drops node `id`'s entry from a config's `peers:` list.
fn without_peer(text: String, id: u64) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("- id: ") {
            skipping = line == format!("- id: {id}");
        } else if !line.starts_with("  ") {
            skipping = false;
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n") + "\n"
}

fn admin(
    c: &Cluster,
    node: u64,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    http(c.node(node).http, method, path, body).expect("admin request")
}

#[test]
fn grow_to_four_move_leadership_remove_an_original_and_lose_nothing() {
    let mut c = Cluster::init(4);
    for n in 1..=3 {
        c.edit_config(n, |t| without_peer(t, 4));
    }
    c.edit_config(4, |t| t.replace("bootstrap: true", "bootstrap: false"));
    for n in 1..=3 {
        c.start_node(n);
    }
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE w(id INTEGER PRIMARY KEY, client INTEGER, seq INTEGER)"]),
    );
    assert_eq!(code, 200, "{v}");
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Acks::default()));
    let addrs: Vec<SocketAddr> = c.nodes[..3].iter().map(|n| n.http).collect();
    let writers = start_writers(addrs, 4, stop.clone(), acks.clone());
    std::thread::sleep(Duration::from_millis(500));

    // Every member snapshots and compacts its log away, so the new node cannot catch up by
    // log alone: it must be sent a snapshot, then the log after it.
    for n in 1..=3 {
        let (code, v) = admin(&c, n, "POST", "/admin/snapshot", None);
        assert_eq!(code, 200, "snapshot on node {n}: {v}");
        assert!(v["snapshot_index"].as_u64().unwrap() > 1, "{v}");
        let (code, v) = admin(&c, n, "POST", "/admin/compact", None);
        assert_eq!(code, 200, "compact on node {n}: {v}");
        assert!(v["first_index"].as_u64().unwrap() > 1, "{v}");
    }

    // A new node with an empty data directory waits to be added.
    c.start_node(4);
    std::thread::sleep(Duration::from_millis(500));
    let s4 = c.status(4).expect("node 4 serves /status");
    assert_eq!(s4["leader_id"], 0, "an unadded node knows no leader: {s4}");

    let n4 = c.node(4);
    let raft4: SocketAddr = c.status(4).unwrap()["raft_addr"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let join = json!({"id": 4, "raft_addr": raft4.to_string(), "http_addr": n4.http.to_string()});
    // Asked of a follower, the change is forwarded to the leader.
    let follower = (1..=3).find(|n| *n != leader).unwrap();
    let (code, v) = admin(&c, follower, "POST", "/admin/members", Some(&join));
    assert_eq!(code, 200, "add learner: {v}");
    assert!(v["learners"].as_array().unwrap().contains(&json!(4)), "{v}");
    let (code, v) = admin(&c, leader, "POST", "/admin/members", Some(&join));
    assert_eq!(code, 409, "adding it twice is refused: {v}");

    // Promote once it has caught up (409 until then).
    c.wait_for(LONG, "node 4 to be promoted", |c| {
        let (code, _) = admin(c, leader, "POST", "/admin/members/4/promote", None);
        code == 200
    });
    let (_, nodes) = admin(&c, leader, "GET", "/nodes", None);
    let n4 = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == 4)
        .unwrap()
        .clone();
    assert_eq!(n4["suffrage"], "voter", "{nodes}");
    let (_, metrics) = http(c.node(4).http, "GET", "/metrics", None).unwrap();
    let installed = metrics
        .as_str()
        .unwrap_or("")
        .lines()
        .find_map(|l| l.strip_prefix("reefdb_snapshots_installed_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(installed >= 1.0, "node 4 caught up without a snapshot");

    // Leadership moves to the new node.
    let (code, v) = admin(
        &c,
        leader,
        "POST",
        "/admin/transfer-leader",
        Some(&json!({"to": 4})),
    );
    assert_eq!(code, 200, "transfer: {v}");
    assert_eq!(v["leader_id"], 4);
    assert_eq!(c.wait_leader(LONG), 4);

    // An original member leaves; the others keep serving.
    let (code, v) = admin(&c, 4, "DELETE", "/admin/members/1", None);
    assert_eq!(code, 200, "remove: {v}");
    assert!(!v["voters"].as_array().unwrap().contains(&json!(1)), "{v}");
    c.wait_for(LONG, "node 1 to know it was removed", |c| {
        c.status(1).is_some_and(|s| s["role"] == "removed")
    });
    c.stop(1);
    let (code, v) = admin(&c, 4, "DELETE", "/admin/members/9", None);
    assert_eq!(code, 404, "{v}");

    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    wait_converged(&c);
    let acks = acks.lock().unwrap();
    assert!(
        acks.acked.len() > 50,
        "too few writes acknowledged: {}",
        acks.acked.len()
    );
    check_every_ack_once(&c, &acks);

    // The three remaining members keep electing across restarts.
    for n in [2, 3, 4] {
        c.kill(n);
        c.start_node(n);
    }
    let leader = c.wait_leader(LONG);
    assert!([2, 3, 4].contains(&leader));
    let (code, v) = c.execute(
        leader,
        &json!([["INSERT INTO w(client, seq) VALUES(?, ?)", 100, 1]]),
    );
    assert_eq!(code, 200, "{v}");
}

#[test]
fn refuses_removing_the_last_voter_and_bad_admin_calls() {
    let mut c = Cluster::init(1);
    c.edit_config(1, |t| {
        assert!(t.contains("  token: null"), "{t}");
        t.replace("  token: null", "  token: s3cr3t-token-0123456789")
    });
    c.start_node(1);
    c.wait_leader(LONG);
    let addr = c.node(1).http;
    let call = |method: &str, path: &str, token: Option<&str>, body: &str| {
        let mut headers = String::new();
        if let Some(t) = token {
            headers = format!("Authorization: Bearer {t}\r\n");
        }
        support::raw_http_with_headers(addr, method, path, &headers, body.as_bytes()).unwrap()
    };
    let tok = Some("s3cr3t-token-0123456789");
    let (code, v) = call("DELETE", "/admin/members/1", None, "");
    assert_eq!(code, 401, "no token: {v}");
    let (code, _) = call(
        "DELETE",
        "/admin/members/1",
        Some("wrong-token-0123456789"),
        "",
    );
    assert_eq!(code, 401);
    let (code, v) = call("DELETE", "/admin/members/1", tok, "");
    assert_eq!(code, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("last voter"), "{v}");
    let (code, v) = call("POST", "/admin/members", tok, "{\"id\": 2}");
    assert_eq!(code, 400, "{v}");
    let (code, v) = call("POST", "/admin/members/2/promote", tok, "");
    assert_eq!(code, 404, "{v}");
    let (code, v) = call("POST", "/admin/transfer-leader", tok, "");
    assert_eq!(code, 409, "no other voter: {v}");
    let (code, v) = call("POST", "/admin/nonsense", tok, "");
    assert_eq!(code, 404, "{v}");
}
