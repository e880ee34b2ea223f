//! Snapshots bound the log: with low thresholds the log is compacted and old segments go;
//! a follower that was away longer than the log reaches is brought back by a snapshot and
//! then by log; every node ends with the same state, and restarts serve from the snapshot.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{http, rows, Cluster};

const LONG: Duration = Duration::from_secs(60);

fn small_log(text: String) -> String {
    text.replace("  entries: 100000", "  entries: 400")
        .replace("  keep_entries: 10000", "  keep_entries: 50")
        .replace("  segment_bytes: 67108864", "  segment_bytes: 1048576")
}

fn status(c: &Cluster, n: u64, key: &str) -> u64 {
    c.status(n)
        .map(|s| s[key].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

fn metric(c: &Cluster, n: u64, name: &str) -> f64 {
    let (_, body) = http(c.node(n).http, "GET", "/metrics", None).unwrap();
    body.as_str()
        .unwrap_or("")
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

fn segments(c: &Cluster, n: u64) -> usize {
    let dir = c.path().join(format!("node{n}/data/raft/log"));
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until every running node applied the same index, then returns their digests.
fn digests(c: &Cluster) -> Vec<String> {
    c.wait_for(LONG, "every node to apply the same index", |c| {
        let applied: Vec<u64> = c
            .running()
            .iter()
            .map(|n| status(c, *n, "applied_index"))
            .collect();
        applied.windows(2).all(|w| w[0] == w[1]) && applied[0] > 0
    });
    c.running()
        .iter()
        .map(|n| {
            let (_, s) = http(c.node(*n).http, "GET", "/status?digest", None).unwrap();
            format!("{}@{}", s["state_digest"], s["digest_applied_index"])
        })
        .collect()
}

#[test]
fn compaction_snapshot_catch_up_and_restart_from_snapshot() {
    let mut c = Cluster::init(3);
    for n in 1..=3 {
        c.edit_config(n, small_log);
    }
    for n in 1..=3 {
        c.start_node(n);
    }
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE big(id INTEGER PRIMARY KEY, body TEXT)"]),
    );
    assert_eq!(code, 200, "{v}");
    let away = (1..=3).find(|n| *n != leader).unwrap();
    c.kill(away);

    // ~2,000 entries of ~1 KiB: several segments and several snapshots' worth.
    let body = "x".repeat(1000);
    for i in 0..400 {
        let batch: Vec<serde_json::Value> = (0..5)
            .map(|j| json!(["INSERT INTO big(body) VALUES(?)", format!("{i}-{j}-{body}")]))
            .collect();
        let (code, v) = c.execute(
            leader,
            &json!([batch[0], batch[1], batch[2], batch[3], batch[4]]),
        );
        assert_eq!(code, 200, "{v}");
        // One entry per row, to move the index further.
        let (code, v) = c.execute(
            leader,
            &json!([["INSERT INTO big(body) VALUES(?)", format!("single-{i}")]]),
        );
        assert_eq!(code, 200, "{v}");
    }
    c.wait_for(LONG, "the leader to snapshot and compact", |c| {
        status(c, leader, "snapshot_index") > 0 && status(c, leader, "first_index") > 100
    });
    assert!(metric(&c, leader, "reefdb_snapshots_built_total") >= 1.0);
    assert!(
        segments(&c, leader) <= 3,
        "old segments should be gone, {} remain",
        segments(&c, leader)
    );

    // The follower that was away is behind the leader's first index: it needs a snapshot.
    c.start_node(away);
    c.wait_for(LONG, "the returning follower to catch up", |c| {
        status(c, away, "applied_index") >= status(c, leader, "commit_index")
    });
    assert!(
        metric(&c, away, "reefdb_snapshots_installed_total") >= 1.0,
        "the returning follower caught up without a snapshot"
    );
    let sent: f64 = (1..=3)
        .filter(|n| *n != away)
        .map(|n| metric(&c, n, "reefdb_snapshots_sent_total"))
        .sum();
    assert!(sent >= 1.0, "no node counted a snapshot sent");
    // And then by log.
    for i in 0..20 {
        let (code, v) = c.execute(
            leader,
            &json!([["INSERT INTO big(body) VALUES(?)", format!("after-{i}")]]),
        );
        assert_eq!(code, 200, "{v}");
    }
    let d = digests(&c);
    assert!(d.windows(2).all(|w| w[0] == w[1]), "digests differ: {d:?}");
    let (code, v) = c.query(away, "SELECT COUNT(*) FROM big", Some("none"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(rows(&v), vec![vec![json!(2420)]]);

    // Every node restarts from its snapshot plus the log after it.
    for n in 1..=3 {
        c.kill(n);
    }
    for n in 1..=3 {
        c.start_node(n);
    }
    c.wait_leader(LONG);
    let d2 = digests(&c);
    assert!(
        d2.windows(2).all(|w| w[0] == w[1]),
        "digests differ after restart: {d2:?}"
    );
    assert_eq!(
        d2[0].split('@').next(),
        d[0].split('@').next(),
        "restart changed the state"
    );
}
