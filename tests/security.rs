//! Client-facing security with real processes: HTTPS, users and permissions, client
//! certificates, identity checked on the leader, certificate rotation under load, refused
//! certificate files, and an rqlite client (pyrqlite) over HTTPS with basic auth.

mod support;

use base64::Engine as _;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{https, Cluster, Response, BIN};

const LONG: Duration = Duration::from_secs(30);

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {b64}\r\n")
}

/// The value of one sample (`name` with its labels, exactly) in Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn reefdb(args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "reefdb {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Issues a fresh certificate for node `id` from the cluster CA into the cluster's certs/.
fn issue(c: &Cluster, id: u64, days: u64) {
    let certs = c.path().join("certs");
    let certs = certs.to_str().unwrap();
    reefdb(
        &[
            "certs",
            "issue",
            "--ca-dir",
            certs,
            "--id",
            &id.to_string(),
            "--host",
            "127.0.0.1",
            "--days",
            &days.to_string(),
            "--out",
            certs,
        ],
        None,
    );
}

fn sighup(c: &Cluster, id: u64) {
    let pid = c.node(id).child.as_ref().unwrap().id();
    unsafe {
        libc::kill(pid as i32, libc::SIGHUP);
    }
}

const USERS: &str = r#"[
  {"username": "root", "password": "ROOT_HASH", "perms": ["all"]},
  {"username": "reader", "password": "reader-pw", "perms": ["query"]},
  {"username": "carol", "password": "carol-pw", "perms": ["execute", "query"]},
  {"username": "*", "perms": ["status", "ready"]}
]"#;

/// pyrqlite, installed with pip when missing. Returns the interpreter to run it with.
fn python_with_pyrqlite() -> &'static str {
    let has = || {
        Command::new("python3")
            .args(["-c", "import pyrqlite"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has() {
        let out = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "pyrqlite"])
            .output()
            .expect("python3 is needed for the pyrqlite test");
        assert!(
            out.status.success() && has(),
            "installing pyrqlite failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    "python3"
}

const PYRQLITE: &str = r#"
import ssl, sys, pyrqlite.dbapi2 as db
ctx = ssl.create_default_context(cafile=sys.argv[2])
conn = db.connect(scheme="https", host="127.0.0.1", port=int(sys.argv[1]), ssl_context=ctx,
                  user="carol", password="carol-pw")
cur = conn.cursor()
cur.execute("INSERT INTO t(v) VALUES(?)", ("from python",))
cur.execute("SELECT v FROM t WHERE v = ?", ("from python",))
print(cur.fetchall()[0][0])
"#;

/// An HTTPS cluster with users: TLS everywhere, 401/403 where due, the identity of a
/// forwarded request checked on the leader with the leader's users file, client certificates
/// on one node, the HTTPS certificate rotated by SIGHUP, and pyrqlite as a client.
#[test]
fn https_cluster_with_users_and_client_certificates() {
    let mut c = Cluster::init(3);
    let dir = c.path().to_path_buf();
    let root_hash = reefdb(
        &["hash-password", "--iterations", "20000"],
        Some("root-pw\n"),
    );
    let users = USERS.replace("ROOT_HASH", root_hash.trim());
    for id in 1..=3 {
        std::fs::write(dir.join(format!("node{id}/users.json")), &users).unwrap();
    }
    // A CA for client certificates (kept apart from the cluster CA) and a stranger's CA.
    for ca in ["clientca", "otherca"] {
        let d = dir.join(ca);
        reefdb(
            &["certs", "--dir", d.to_str().unwrap(), "--nodes", "1"],
            None,
        );
    }
    for id in 1..=3 {
        c.edit_config(id, |t| {
            let client_ca = if id == 3 {
                ", client_ca: ../clientca/ca.pem"
            } else {
                ""
            };
            format!(
                "{t}http_tls: {{ cert: ../certs/node{id}.pem, key: ../certs/node{id}.key{client_ca} }}\nauth: users.json\n"
            )
        });
    }
    let ca = dir.join("certs/ca.pem");
    // The harness presents a client certificate; only node 3 asks for one.
    let client = support::tls_client(
        &ca,
        Some((
            &dir.join("clientca/node1.pem"),
            &dir.join("clientca/node1.key"),
        )),
    );
    c.tls = Some(client.clone());
    for id in 1..=3 {
        c.start_node(id);
    }
    let leader = c.wait_leader(LONG);
    let follower = if leader == 1 { 2 } else { 1 };
    let addr = |id: u64| c.node(id).http;
    let call = |id: u64, method: &str, path: &str, auth: &str, body: &str| -> Response {
        let headers = format!("Content-Type: application/json\r\n{auth}");
        https(addr(id), &client, method, path, &headers, body.as_bytes()).unwrap()
    };
    let root = basic("root", "root-pw");
    let reader = basic("reader", "reader-pw");
    let carol = basic("carol", "carol-pw");

    // Plain HTTP is not served on an HTTPS port.
    let plain = support::http(addr(1), "GET", "/livez", None);
    assert!(!matches!(plain, Ok((200, _))), "{plain:?}");

    // /status tells the truth about TLS and auth.
    let st = c.status(1).unwrap();
    assert_eq!(
        st["tls"],
        json!({"peers": "mtls", "http": "tls", "auth": true})
    );
    assert_eq!(c.status(3).unwrap()["tls"]["http"], "mtls");
    for cert in ["transport", "http", "ca"] {
        assert!(
            st["cert_expiry"][cert].as_u64().unwrap() > 1_700_000_000,
            "{st}"
        );
    }

    // Writes and reads over TLS, through the follower (forwarded with the identity) too.
    let r = call(
        leader,
        "POST",
        "/db/execute",
        &root,
        r#"["CREATE TABLE t(v)"]"#,
    );
    assert_eq!(r.code, 200, "{}", r.body);
    for id in [leader, follower] {
        let r = call(
            id,
            "POST",
            "/db/execute",
            &root,
            r#"[["INSERT INTO t(v) VALUES(?)", "x"]]"#,
        );
        assert_eq!(r.code, 200, "node {id}: {}", r.body);
        let r = call(
            id,
            "GET",
            "/db/query?q=SELECT%20count(*)%20FROM%20t",
            &reader,
            "",
        );
        assert_eq!(r.code, 200, "node {id}: {}", r.body);
    }
    let r = call(
        follower,
        "GET",
        "/db/query?q=SELECT%20count(*)%20FROM%20t",
        &reader,
        "",
    );
    assert_eq!(r.body["results"][0]["values"], json!([[2]]), "{}", r.body);

    // 401: no credentials, wrong password, unknown user; each with a challenge.
    for auth in [
        String::new(),
        basic("root", "wrong"),
        basic("nobody", "root-pw"),
        "Authorization: Basic !!notbase64\r\n".to_string(),
    ] {
        for id in [leader, follower] {
            let r = call(
                id,
                "POST",
                "/db/execute",
                &auth,
                r#"["INSERT INTO t(v) VALUES(1)"]"#,
            );
            assert_eq!(r.code, 401, "{auth:?} on node {id}: {}", r.body);
            assert!(r.body["error"].is_string(), "{}", r.body);
            assert!(r.head.contains("www-authenticate: basic"), "{}", r.head);
        }
    }
    // `*` may read the status, not the data.
    assert_eq!(call(follower, "GET", "/readyz", "", "").code, 200);
    assert_eq!(
        call(follower, "GET", "/db/query?q=SELECT%201", "", "").code,
        401
    );

    // 403: a query-only user may not write, by any door.
    for id in [leader, follower] {
        for (path, body) in [
            ("/db/execute", r#"["INSERT INTO t(v) VALUES(1)"]"#),
            (
                "/db/request",
                r#"["SELECT 1", "INSERT INTO t(v) VALUES(1)"]"#,
            ),
            ("/admin/transfer-leader", ""),
            ("/admin/reload-certs", ""),
        ] {
            let r = call(id, "POST", path, &reader, body);
            assert_eq!(r.code, 403, "{path} on node {id}: {}", r.body);
            assert!(
                r.body["error"].as_str().unwrap().contains("reader"),
                "{}",
                r.body
            );
        }
        let r = call(id, "POST", "/db/request", &reader, r#"["SELECT 1"]"#);
        assert_eq!(r.code, 200, "{}", r.body);
    }

    // The leader decides with its own users file: take `execute` from carol there only,
    // reload it, and her write through a follower (which still lets her) is refused.
    let r = call(
        follower,
        "POST",
        "/db/execute",
        &carol,
        r#"[["INSERT INTO t(v) VALUES(?)", "c"]]"#,
    );
    assert_eq!(r.code, 200, "{}", r.body);
    std::fs::write(
        dir.join(format!("node{leader}/users.json")),
        users.replace(r#""execute", "query"]"#, r#""query"]"#),
    )
    .unwrap();
    let r = call(leader, "POST", "/admin/reload-certs", &root, "");
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["reloaded"], json!(["transport", "http", "users"]));
    let r = call(
        follower,
        "POST",
        "/db/execute",
        &carol,
        r#"[["INSERT INTO t(v) VALUES(?)", "c"]]"#,
    );
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("\"carol\" lacks the `execute`"),
        "{}",
        r.body
    );
    std::fs::write(dir.join(format!("node{leader}/users.json")), &users).unwrap();
    assert_eq!(
        call(leader, "POST", "/admin/reload-certs", &root, "").code,
        200
    );

    // Refusals are counted.
    let metrics = call(leader, "GET", "/metrics", "", "");
    let text = metrics.body.as_str().unwrap();
    assert!(
        sample(text, "reefdb_auth_failures_total").unwrap() >= 4.0,
        "{text}"
    );
    assert!(
        sample(text, "reefdb_auth_forbidden_total").unwrap() >= 4.0,
        "{text}"
    );

    // Client certificates on node 3: none, or one from another CA, is refused.
    let no_cert = support::tls_client(&ca, None);
    let stranger = support::tls_client(
        &ca,
        Some((
            &dir.join("otherca/node1.pem"),
            &dir.join("otherca/node1.key"),
        )),
    );
    for (what, tls) in [("no certificate", &no_cert), ("another CA's", &stranger)] {
        let r = https(addr(3), tls, "GET", "/livez", "", b"");
        assert!(r.is_err(), "{what}: {:?}", r.map(|r| r.code));
    }
    assert_eq!(call(3, "GET", "/livez", "", "").code, 200);
    assert_eq!(
        https(addr(1), &no_cert, "GET", "/livez", "", b"")
            .unwrap()
            .code,
        200
    );
    let text = call(3, "GET", "/metrics", "", "").body;
    let failures = sample(
        text.as_str().unwrap(),
        "reefdb_http_tls_handshake_failures_total",
    );
    assert!(failures.unwrap() >= 2.0, "{text}");

    // pyrqlite over HTTPS with basic auth.
    let python = python_with_pyrqlite();
    let out = Command::new(python)
        .args([
            "-c",
            PYRQLITE,
            &addr(follower).port().to_string(),
            ca.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyrqlite: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from python");

    // Rotate node 1's certificate (transport and HTTPS share it here): after SIGHUP, new
    // connections see the new one and the expiry gauges move; the log warns it is short-lived.
    let old = support::served_certificate(addr(1), &client).unwrap();
    issue(&c, 1, 20);
    let new_pem = std::fs::read(dir.join("certs/node1.pem")).unwrap();
    let new_der = rustls_pemfile::certs(&mut new_pem.as_slice())
        .next()
        .unwrap()
        .unwrap()
        .to_vec();
    assert_ne!(old, new_der);
    sighup(&c, 1);
    c.wait_for(LONG, "node 1 to serve its new certificate", |_| {
        support::served_certificate(addr(1), &client).ok().as_ref() == Some(&new_der)
    });
    let st = c.status(1).unwrap();
    let left = st["cert_expiry"]["http"].as_u64().unwrap() as i64
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
    assert!((19 * 86_400..=20 * 86_400).contains(&left), "{st}");
    let log = std::fs::read_to_string(&c.node(1).log).unwrap();
    assert!(log.contains("certificate expires within 30 days"), "{log}");
    let r = call(
        1,
        "POST",
        "/db/execute",
        &root,
        r#"[["INSERT INTO t(v) VALUES(?)", "after"]]"#,
    );
    assert_eq!(r.code, 200, "{}", r.body);
    support::wait_converged(&c);
}

/// Rotating every node's transport certificate with SIGHUP while clients write: no
/// acknowledged write is lost, the leader and its term stay, and a node restarted afterwards
/// (new handshakes with the new certificates everywhere) rejoins. Bad new files are refused
/// with an error naming the file, and the node keeps serving on the old ones.
#[test]
fn rotating_transport_certificates_under_write_load() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(LONG);
    let term = c.status(leader).unwrap()["term"].as_u64().unwrap();
    let (code, v) = c.execute(leader, &json!(["CREATE TABLE w(client, seq)"]));
    assert_eq!(code, 200, "{v}");
    let addrs: Vec<_> = c.nodes.iter().map(|n| n.http).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(support::Acks::default()));
    let writers = support::start_writers(addrs, 3, stop.clone(), acks.clone());
    let acked = |acks: &Arc<Mutex<support::Acks>>| acks.lock().unwrap().acked.len();
    let wait_acks = |n: usize| {
        let deadline = Instant::now() + LONG;
        while acked(&acks) < n {
            assert!(
                Instant::now() < deadline,
                "writes stalled at {}",
                acked(&acks)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_acks(20);

    let metric = |id: u64, series: &str| -> f64 {
        let (code, body) = support::http(c.node(id).http, "GET", "/metrics", None).unwrap();
        assert_eq!(code, 200);
        sample(body.as_str().unwrap(), series).unwrap_or(0.0)
    };
    let mut order: Vec<u64> = (1..=3).filter(|n| *n != leader).collect();
    order.push(leader);
    for id in &order {
        let before = metric(
            *id,
            "reefdb_cert_expiry_timestamp_seconds{cert=\"transport\"}",
        );
        issue(&c, *id, 60);
        sighup(&c, *id);
        c.wait_for(LONG, "the reload to take effect", |_| {
            metric(*id, "reefdb_cert_reloads_total") >= 1.0
        });
        let after = metric(
            *id,
            "reefdb_cert_expiry_timestamp_seconds{cert=\"transport\"}",
        );
        assert!(after < before, "node {id}: expiry {before} -> {after}");
        let n = acked(&acks);
        wait_acks(n + 10);
    }

    // Bad files, each refused with the file named; the node keeps serving throughout.
    let certs = c.path().join("certs");
    let mine = |ext: &str| certs.join(format!("node{leader}.{ext}"));
    let other = if leader == 1 { 2 } else { 1 };
    let good_cert = std::fs::read(mine("pem")).unwrap();
    let good_key = std::fs::read(mine("key")).unwrap();
    let stranger = c.path().join("otherca");
    reefdb(
        &["certs", "--dir", stranger.to_str().unwrap(), "--nodes", "3"],
        None,
    );
    let put = |cert: Option<&[u8]>, key: &[u8]| {
        match cert {
            Some(cert) => std::fs::write(mine("pem"), cert).unwrap(),
            None => std::fs::remove_file(mine("pem")).unwrap(),
        }
        std::fs::write(mine("key"), key).unwrap();
    };
    let read = |p: PathBuf| Some(std::fs::read(p).unwrap());
    let malformed = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Option<Vec<u8>>, Vec<u8>, String)> = vec![
        (
            "malformed",
            Some(malformed.to_vec()),
            good_key.clone(),
            format!("node{leader}.pem: malformed PEM"),
        ),
        (
            "empty",
            Some(Vec::new()),
            good_key.clone(),
            format!("node{leader}.pem: no PEM certificate"),
        ),
        (
            "missing",
            None,
            good_key.clone(),
            format!("node{leader}.pem: No such file"),
        ),
        (
            "another node's key",
            Some(good_cert.clone()),
            read(certs.join(format!("node{other}.key"))).unwrap(),
            format!("node{leader}.key: private key is unusable or does not belong"),
        ),
        (
            "another node's certificate",
            read(certs.join(format!("node{other}.pem"))),
            read(certs.join(format!("node{other}.key"))).unwrap(),
            format!("certificate is for node {other}, but this is node {leader}"),
        ),
        (
            "another CA's",
            read(stranger.join(format!("node{leader}.pem"))),
            read(stranger.join(format!("node{leader}.key"))).unwrap(),
            "does not verify against the CA".into(),
        ),
    ];
    for (what, cert, key, want) in &cases {
        put(cert.as_deref(), key);
        let (code, v) =
            support::http(c.node(leader).http, "POST", "/admin/reload-certs", None).unwrap();
        assert_eq!(code, 422, "{what}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains(want.as_str()), "{what}: {e}");
        let n = acked(&acks);
        wait_acks(n + 5);
    }
    // SIGHUP with a bad file: refused the same way, in the log.
    let failures = metric(leader, "reefdb_cert_reload_failures_total");
    sighup(&c, leader);
    c.wait_for(LONG, "the refused SIGHUP reload", |_| {
        metric(leader, "reefdb_cert_reload_failures_total") > failures
    });
    let log = std::fs::read_to_string(&c.node(leader).log).unwrap();
    assert!(log.contains("certificate reload refused"), "{log}");
    let (code, v) = c.execute(
        leader,
        &json!([["INSERT INTO w(client, seq) VALUES(?, ?)", 99, 1]]),
    );
    assert_eq!(code, 200, "the node keeps serving: {v}");
    put(Some(&good_cert), &good_key);
    let (code, v) =
        support::http(c.node(leader).http, "POST", "/admin/reload-certs", None).unwrap();
    assert_eq!(code, 200, "{v}");

    // A follower restarted now handshakes with everyone's new certificates.
    let restarted = order[0];
    c.restart(restarted);
    c.wait_for(LONG, "the restarted follower to catch up", |c| {
        c.status(restarted)
            .is_some_and(|s| s["leader_id"] == leader && s["applied_index"] == s["commit_index"])
    });
    let n = acked(&acks);
    wait_acks(n + 10);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    support::wait_converged(&c);
    support::check_every_ack_once(&c, &acks.lock().unwrap());
    let st = c.status(leader).unwrap();
    assert_eq!(st["leader_id"], leader, "{st}");
    assert_eq!(st["term"], term, "no election happened: {st}");
}

/// Bad certificate files stop a node at start-up, with the file named, before it serves.
#[test]
fn a_node_with_a_bad_key_refuses_to_start() {
    let mut c = Cluster::init(2);
    let certs = c.path().join("certs");
    std::fs::copy(certs.join("node2.key"), certs.join("node1.key")).unwrap();
    c.start_node(1);
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(s) = c.nodes[0].child.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 started with a mismatched key"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(&c.node(1).log).unwrap();
    assert!(
        log.contains("node1.key: private key is unusable or does not belong to the certificate"),
        "{log}"
    );
    c.nodes[0].child = None;
}
