//! Operating a cluster: metrics an operator scrapes, `/nodes`, and read consistency levels.

mod support;

use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use support::{fs_space, http, Cluster};

const LONG: Duration = Duration::from_secs(30);

/// Parses Prometheus text format strictly: every line is a comment or a sample, every
/// sample belongs to a declared family. Returns samples by name (with labels).
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("line {n}: {line}"));
            assert!(kind == "HELP" || kind == "TYPE", "line {n}: {line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap_or_default();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "line {n}: bad type {t}"
                );
                types.insert(name.to_string(), t.to_string());
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("line {n} has no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("line {n}: bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "line {n}: bad metric name {name}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}'),
                    "line {n}: bad labels {labels}"
                );
            }
        }
        let family = types.keys().find(|f| {
            name == f.as_str()
                || ["_bucket", "_sum", "_count", "_total"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(f.as_str()))
        });
        assert!(family.is_some(), "line {n}: sample {name} has no # TYPE");
        samples.insert(series.to_string(), value);
    }
    samples
}

#[test]
fn metrics_are_valid_prometheus_text_and_move_under_load() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let addr = c.node(leader).http;
    let scrape = || {
        let (code, body) = http(addr, "GET", "/metrics", None).unwrap();
        assert_eq!(code, 200);
        parse_prometheus(body.as_str().expect("metrics are text"))
    };
    let before = scrape();
    let (code, v) = c.execute(leader, &json!(["CREATE TABLE t(v)"]));
    assert_eq!(code, 200, "{v}");
    for i in 0..50 {
        let (code, v) = c.execute(leader, &json!([["INSERT INTO t VALUES(?)", i]]));
        assert_eq!(code, 200, "{v}");
        let (code, _) = c.query(leader, "SELECT COUNT(*) FROM t", None);
        assert_eq!(code, 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = scrape();
    let families = [
        "reefdb_role{role=\"leader\"}",
        "reefdb_term",
        "reefdb_leader_id",
        "reefdb_commit_index",
        "reefdb_applied_index",
        "reefdb_first_index",
        "reefdb_last_index",
        "reefdb_log_bytes",
        "reefdb_log_segments",
        "reefdb_snapshot_index",
        "reefdb_snapshot_build_seconds_count",
        "reefdb_snapshots_built_total",
        "reefdb_fsync_seconds_count",
        "reefdb_commit_batch_entries_count",
        "reefdb_apply_seconds_count",
        "reefdb_proposals_total",
        "reefdb_proposal_failures_total",
        "reefdb_read_index_rounds_total",
        "reefdb_reads_total{level=\"linearizable\"}",
        "reefdb_http_requests_total{endpoint=\"execute\",code=\"200\"}",
        "reefdb_http_request_seconds_count{endpoint=\"execute\"}",
        "reefdb_peer_frames_sent_total{peer=\"1\"}",
        "reefdb_peer_queue_depth{peer=\"2\"}",
        "reefdb_peer_drops_total{peer=\"3\"}",
        "reefdb_peer_reconnects_total{peer=\"3\"}",
        "reefdb_disk_free_bytes",
        "reefdb_disk_total_bytes",
        "reefdb_disk_low",
        "reefdb_low_disk_members",
    ];
    for f in families {
        // The leader's own id appears in no peer family; skip that one sample name.
        if f.contains(&format!("peer=\"{leader}\"")) {
            continue;
        }
        assert!(
            after.contains_key(f),
            "{f} missing; have {:#?}",
            after.keys()
        );
    }
    assert_eq!(after["reefdb_role{role=\"leader\"}"], 1.0);
    // The space gauges describe the file system the node's log is on: its size is exactly
    // what statvfs says here, and the free space is within it.
    let raft_dir = c.path().join(format!("node{leader}/data/raft"));
    let (free, total) = fs_space(&raft_dir);
    assert_eq!(after["reefdb_disk_total_bytes"], total as f64);
    let reported_free = after["reefdb_disk_free_bytes"];
    assert!(
        reported_free > 0.0 && reported_free <= total as f64,
        "free {reported_free} of {total}"
    );
    // Other builds share this disk: allow what they may write between the two readings.
    assert!(
        (reported_free - free as f64).abs() < (4u64 << 30) as f64,
        "node reports {reported_free} bytes free, statvfs says {free}"
    );
    // Plenty of room here: no disk is low (the low case is in the fault suite's scenarios).
    assert_eq!(after["reefdb_disk_low"], 0.0);
    assert_eq!(after["reefdb_low_disk_members"], 0.0);
    let status = c.status(leader).expect("status");
    assert_eq!(status["disk"]["total_bytes"], json!(total));
    assert_eq!(status["low_disks"], json!([]));
    assert!(
        status["disk"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("/raft")),
        "{status}"
    );
    for moving in [
        "reefdb_applied_index",
        "reefdb_fsync_seconds_count",
        "reefdb_apply_seconds_count",
        "reefdb_proposals_total",
        "reefdb_read_index_rounds_total",
        "reefdb_reads_total{level=\"linearizable\"}",
    ] {
        assert!(
            after[moving] > before.get(moving).copied().unwrap_or(0.0),
            "{moving} did not move: {} -> {}",
            before.get(moving).copied().unwrap_or(0.0),
            after[moving]
        );
    }
}

#[test]
fn nodes_lists_members_with_reachability_and_match_index() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    c.wait_for(LONG, "the leader to see every peer", |c| {
        let (_, v) = http(c.node(leader).http, "GET", "/nodes", None).unwrap();
        v.as_array().is_some_and(|a| {
            a.len() == 3
                && a.iter()
                    .all(|n| n["reachable"] == json!(true) && n["match_index"].as_u64().is_some())
        })
    });
    let (_, v) = http(c.node(leader).http, "GET", "/nodes", None).unwrap();
    for n in v.as_array().unwrap() {
        assert_eq!(n["suffrage"], "voter", "{n}");
        assert!(n["raft_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    }
}

/// Reads one HTTP/1.1 response (status line, headers, a `Content-Length` body) from `s`.
fn read_response(s: &mut std::net::TcpStream) -> std::io::Result<(u16, String)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_lowercase();
    let code = head[9..12].parse().expect("status code");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("length"))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// Waits for the server to close `s`; returns how long that took, or None if it did not
/// within 5 s.
fn closed_after(s: &mut std::net::TcpStream) -> Option<Duration> {
    use std::io::Read;
    let started = std::time::Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = [0u8; 256];
    loop {
        match s.read(&mut rest) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed())
            }
            Err(_) => return None,
        }
    }
}

/// Reads one response `chunk` bytes at a time with `pause` between reads. Returns the body
/// as text and its length, or the error that cut it short.
fn read_slowly(
    s: &mut std::net::TcpStream,
    chunk: usize,
    pause: Duration,
) -> (String, std::io::Result<usize>) {
    use std::io::Read;
    let mut all = Vec::new();
    let mut buf = vec![0u8; chunk];
    let result = loop {
        let head_end = all.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a content-length");
            if all.len() >= end + 4 + len {
                all.drain(..end + 4);
                break Ok(len);
            }
        }
        match s.read(&mut buf) {
            Ok(0) => break Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
        std::thread::sleep(pause);
    };
    (String::from_utf8_lossy(&all).into_owned(), result)
}

/// Connections that sit idle after a request, clients that never finish their headers and
/// bodies that never arrive are cut off after `limits.idle_timeout_ms`; a connection in
/// steady use is not.
#[test]
fn idle_connections_and_unfinished_requests_are_closed() {
    use std::io::Write;
    let mut c = Cluster::init(1);
    c.edit_config(1, |t| {
        assert!(t.contains("idle_timeout_ms: 60000"), "{t}");
        t.replace("idle_timeout_ms: 60000", "idle_timeout_ms: 800")
    });
    c.start_node(1);
    c.wait_leader(LONG);
    let addr = c.node(1).http;
    let connect = || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let get = b"GET /status HTTP/1.1\r\nHost: reef\r\n\r\n";

    // In steady use: a request every 300 ms for 3 s, all on one connection.
    let mut busy = connect();
    for i in 0..10 {
        busy.write_all(get).unwrap();
        let (code, _) = read_response(&mut busy).unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(code, 200);
        std::thread::sleep(Duration::from_millis(300));
    }

    // Idle after one answered request.
    let mut idle = connect();
    idle.write_all(get).unwrap();
    assert_eq!(read_response(&mut idle).unwrap().0, 200);
    let after = closed_after(&mut idle).expect("an idle connection is closed");
    assert!(
        after >= Duration::from_millis(500) && after < Duration::from_secs(3),
        "closed after {after:?}"
    );

    // Headers that never finish, a byte every 200 ms for 4 s: bytes are not progress, so the
    // connection is cut off about 0.8 s in, not 0.8 s after the last byte.
    let mut slow = connect();
    let started = std::time::Instant::now();
    slow.write_all(b"GET /status HTTP/1.1\r\n").unwrap();
    for b in b"Host: reef.example\r\n" {
        std::thread::sleep(Duration::from_millis(200));
        if slow.write_all(&[*b]).is_err() {
            break;
        }
    }
    closed_after(&mut slow).expect("unfinished headers are cut off");
    let total = started.elapsed();
    assert!(
        total < Duration::from_millis(2500),
        "a client trickling its headers was cut off only after {total:?}"
    );

    // A body that never arrives: 408, naming the setting.
    let mut body = connect();
    body.write_all(
        b"POST /db/execute HTTP/1.1\r\nHost: reef\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n[\"CREATE TA",
    )
    .unwrap();
    let (code, text) = read_response(&mut body).expect("an answer to the late body");
    assert_eq!(code, 408, "{text}");
    assert!(text.contains("limits.idle_timeout_ms"), "{text}");

    // A large answer read slowly takes several idle periods to leave, and arrives whole:
    // response bytes leaving are progress.
    let mb = "x".repeat(1 << 20);
    let create = json!(["CREATE TABLE big(v TEXT)"]);
    assert_eq!(
        http(addr, "POST", "/db/execute", Some(&create)).unwrap().0,
        200
    );
    for _ in 0..16 {
        let insert = json!([["INSERT INTO big(v) VALUES(?)", mb]]);
        let (code, out) = http(addr, "POST", "/db/execute", Some(&insert)).unwrap();
        assert_eq!(code, 200, "{out}");
        assert!(out["results"][0]["error"].is_null(), "{out}");
    }
    let mut reader = connect();
    reader
        .write_all(b"GET /db/query?q=SELECT%20v%20FROM%20big HTTP/1.1\r\nHost: reef\r\n\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let (text, total) = read_slowly(&mut reader, 64 << 10, Duration::from_millis(15));
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(1600),
        "read in {took:?}: not slow enough"
    );
    let total = total.unwrap_or_else(|e| panic!("answer cut off after {took:?}: {e}"));
    assert!(total > 16 << 20, "{total} bytes");
    assert_eq!(text.matches(&mb).count(), 16, "all 16 rows arrive");

    // The node still serves new connections.
    let (code, _) = http(addr, "GET", "/status", None).unwrap();
    assert_eq!(code, 200);
}

/// A JSON array holding one statement, padded with spaces to exactly `len` bytes.
fn padded_body(statement: &str, len: usize) -> Vec<u8> {
    let mut b = format!("[{}", serde_json::to_string(statement).unwrap()).into_bytes();
    b.resize(len - 1, b' ');
    b.push(b']');
    b
}

/// Request bodies in progress at once are bounded by `limits.max_request_memory_bytes`: a
/// body that would pass it is refused at once with 503 naming the setting, smaller ones and
/// bodiless requests still go through, and once the large one is answered its room is back.
#[test]
fn request_bodies_in_progress_are_bounded() {
    use std::io::Write;
    const BODY: usize = 600_000;
    let mut c = Cluster::init(1);
    c.edit_config(1, |t| {
        let t = t.replace(
            "max_body_bytes: 8388608",
            &format!("max_body_bytes: {BODY}"),
        );
        assert!(t.contains("max_request_memory_bytes: 268435456"), "{t}");
        t.replace(
            "max_request_memory_bytes: 268435456",
            "max_request_memory_bytes: 1000000",
        )
    });
    c.start_node(1);
    c.wait_leader(LONG);
    let addr = c.node(1).http;
    let post_head = |len: usize| {
        format!(
            "POST /db/execute HTTP/1.1\r\nHost: reef\r\nContent-Type: application/json\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };

    // A large body, half sent: it holds 600 kB of the 1 MB.
    let big = padded_body("CREATE TABLE t(x)", BODY);
    let mut first = std::net::TcpStream::connect(addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    first.write_all(post_head(BODY).as_bytes()).unwrap();
    first.write_all(&big[..BODY / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // A second one does not fit.
    let other = padded_body("CREATE TABLE u(x)", BODY);
    let (code, v) =
        support::raw_http(addr, "POST", "/db/execute", "application/json", &other).unwrap();
    assert_eq!(code, 503, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("limits.max_request_memory_bytes")),
        "{v}"
    );
    // A small body and a request without one do.
    let (code, v) = c.execute(1, &json!(["CREATE TABLE small(x)"]));
    assert_eq!(code, 200, "{v}");
    let (code, _) = http(addr, "GET", "/status", None).unwrap();
    assert_eq!(code, 200);

    // The first body completes and is answered; then the second fits.
    first.write_all(&big[BODY / 2..]).unwrap();
    let (code, text) = read_response(&mut first).unwrap();
    assert_eq!(code, 200, "{text}");
    let (code, v) =
        support::raw_http(addr, "POST", "/db/execute", "application/json", &other).unwrap();
    assert_eq!(code, 200, "{v}");
}
