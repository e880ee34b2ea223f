//! Read consistency, checked the way a skeptic would: histories of concurrent register
//! operations through every node, while leaders are killed, paused and restarted, judged by
//! a linearizability checker; and stale reads refused once they exceed their bound.

mod support;

use reefdb::linearizability::{
    check, Call, CheckOptions, Clock, History, Outcome, Recorder, Verdict,
};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{http, rows, Cluster};

const LONG: Duration = Duration::from_secs(30);
const KEYS: [&str; 3] = ["a", "b", "c"];

/// One client thread: random writes, compare-and-sets and linearizable reads on the
/// registers, through the nodes in turn, recorded for the checker.
fn client(
    id: u32,
    clock: Clock,
    nodes: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    next_value: Arc<AtomicI64>,
) -> Recorder {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut rec = Recorder::new(id, clock);
    let mut i = id as usize;
    let mut last_seen: Option<i64> = None;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let node = nodes[i % nodes.len()];
        let key = KEYS[rng.random_range(0..KEYS.len())];
        match rng.random_range(0..10) {
            0..=3 => {
                let p = rec.invoke(key, Call::Read);
                let path = format!(
                    "/db/query?level=linearizable&q={}",
                    support::urlencode(&format!("SELECT v FROM r WHERE k = '{key}'"))
                );
                let outcome = match http(node, "GET", &path, None) {
                    Ok((200, v)) => {
                        let value = rows(&v).first().and_then(|r| r[0].as_i64());
                        last_seen = value;
                        Outcome::Read { value }
                    }
                    // A read that failed changed nothing.
                    _ => Outcome::Failed,
                };
                rec.complete(p, outcome);
            }
            4..=7 => {
                let value = next_value.fetch_add(1, Ordering::Relaxed);
                let p = rec.invoke(key, Call::Write { value });
                let body = json!([["UPDATE r SET v = ? WHERE k = ?", value, key]]);
                rec.complete(
                    p,
                    write_outcome(http(node, "POST", "/db/execute", Some(&body)), false),
                );
            }
            _ => {
                let expected = last_seen.unwrap_or(0);
                let new = next_value.fetch_add(1, Ordering::Relaxed);
                let p = rec.invoke(key, Call::Cas { expected, new });
                let body = json!([[
                    "UPDATE r SET v = ? WHERE k = ? AND v = ?",
                    new,
                    key,
                    expected
                ]]);
                rec.complete(
                    p,
                    write_outcome(http(node, "POST", "/db/execute", Some(&body)), true),
                );
            }
        }
    }
    rec
}

fn write_outcome(r: std::io::Result<(u16, serde_json::Value)>, cas: bool) -> Outcome {
    match r {
        Ok((200, v)) => match v["results"][0]["rows_affected"].as_u64() {
            Some(n) if cas => Outcome::Cas { succeeded: n == 1 },
            Some(1) => Outcome::Written,
            _ => Outcome::Indeterminate,
        },
        // The node says so explicitly when a write certainly did not apply.
        Ok((_, v))
            if v["error"]
                .as_str()
                .is_some_and(|e| e.contains("was not applied")) =>
        {
            Outcome::Failed
        }
        _ => Outcome::Indeterminate,
    }
}

#[test]
fn register_histories_are_linearizable_across_leader_kills_and_restarts() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let mut setup = vec![json!("CREATE TABLE r(k TEXT PRIMARY KEY, v INTEGER)")];
    for k in KEYS {
        setup.push(json!(["INSERT INTO r(k, v) VALUES(?, 0)", k]));
    }
    let (code, v) = c.execute(leader, &json!(setup));
    assert_eq!(code, 200, "{v}");

    let clock = Clock::start();
    let stop = Arc::new(AtomicBool::new(false));
    let next_value = Arc::new(AtomicI64::new(1));
    let nodes: Vec<SocketAddr> = c.nodes.iter().map(|n| n.http).collect();
    let clients: Vec<_> = (0..6)
        .map(|id| {
            let (nodes, stop, next) = (nodes.clone(), stop.clone(), next_value.clone());
            std::thread::spawn(move || client(id, clock, nodes, stop, next))
        })
        .collect();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1500));
        let leader = c.wait_leader(LONG);
        c.kill(leader);
        c.wait_leader(LONG);
        std::thread::sleep(Duration::from_millis(500));
        c.start_node(leader);
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let recorders: Vec<Recorder> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let mut history = History::from_recorders(recorders);
    for k in KEYS {
        history = history.with_initial(k, 0);
    }
    let report = check(
        &history,
        &CheckOptions {
            timeout: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .expect("well-formed history");
    if report.verdict != Verdict::Linearizable {
        let path = std::env::temp_dir().join(format!("reef-history-{}.json", std::process::id()));
        let _ = history.save(&path);
        panic!(
            "verdict {:?}; history saved to {}:\n{report}",
            report.verdict,
            path.display()
        );
    }
    eprintln!("linearizable: {report}");
}

#[test]
fn stale_reads_are_served_within_their_freshness_bound_and_refused_beyond_it() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE t(v)", "INSERT INTO t VALUES('x')"]),
    );
    assert_eq!(code, 200, "{v}");
    let follower = (1..=3).find(|n| *n != leader).unwrap();
    c.wait_for(LONG, "the follower to apply the write", |c| {
        c.query(follower, "SELECT v FROM t", Some("none")).0 == 200
    });
    // With a leader around, a bounded stale read is served.
    let fresh = |c: &Cluster, extra: &str| {
        http(
            c.node(follower).http,
            "GET",
            &format!("/db/query?level=none&freshness=1s{extra}&q=SELECT%20v%20FROM%20t"),
            None,
        )
        .unwrap()
    };
    let (code, v) = fresh(&c, "");
    assert_eq!(code, 200, "{v}");
    let (code, v) = fresh(&c, "&freshness_strict");
    assert_eq!(code, 200, "{v}");
    // Cut the follower off: the leader and the other follower stop.
    for n in 1..=3 {
        if n != follower {
            c.kill(n);
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    // Unbounded, it still answers from what it has...
    let (code, v) = c.query(follower, "SELECT v FROM t", Some("none"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(rows(&v), vec![vec![json!("x")]]);
    // ... but not within a bound it can no longer vouch for.
    let (code, v) = fresh(&c, "");
    assert_eq!(code, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("freshness"), "{v}");
    let (code, v) = http(
        c.node(follower).http,
        "GET",
        "/db/query?level=none&freshness=1m&q=SELECT%20v%20FROM%20t",
        None,
    )
    .unwrap();
    assert_eq!(code, 200, "a generous bound is still met: {v}");
    let (code, v) = http(
        c.node(follower).http,
        "GET",
        "/db/query?level=none&freshness=soon&q=SELECT%201",
        None,
    )
    .unwrap();
    assert_eq!(code, 400, "{v}");
    // Linearizable reads need a leader, and there is none.
    let (code, _) = c.query(follower, "SELECT v FROM t", None);
    assert_ne!(code, 200);
}

#[test]
fn a_paused_old_leader_serves_no_stale_read_after_it_resumes() {
    let mut c = Cluster::start(3);
    let old = c.wait_leader(LONG);
    let (code, v) = c.execute(
        old,
        &json!(["CREATE TABLE t(v)", "INSERT INTO t VALUES('old')"]),
    );
    assert_eq!(code, 200, "{v}");
    // Weak reads on the leader are served from its lease.
    let (code, v) = c.query(old, "SELECT v FROM t", Some("weak"));
    assert_eq!(code, 200, "{v}");
    c.pause(old);
    let others: Vec<u64> = (1..=3).filter(|n| *n != old).collect();
    c.wait_for(LONG, "a new leader among the others", |c| {
        others
            .iter()
            .any(|n| c.status(*n).is_some_and(|s| s["role"] == "leader"))
    });
    let new = others
        .iter()
        .copied()
        .find(|n| c.status(*n).is_some_and(|s| s["role"] == "leader"))
        .unwrap();
    let (code, v) = c.execute(new, &json!(["UPDATE t SET v = 'new'"]));
    assert_eq!(code, 200, "{v}");
    c.resume(old);
    // The first reads the old leader answers after resuming must not be stale.
    for level in ["linearizable", "weak"] {
        let (code, v) = c.query(old, "SELECT v FROM t", Some(level));
        if code == 200 {
            assert_eq!(
                rows(&v),
                vec![vec![json!("new")]],
                "level {level}: stale read {v}"
            );
        }
    }
}
