//! Test support: real `reefdb` processes on loopback, driven over real HTTP.
//!
//! A `Cluster` runs `reefdb init-cluster` into a temporary folder with ports nobody else
//! holds, starts each node as a child process, and lets a test kill (SIGKILL), stop
//! (SIGTERM), pause (SIGSTOP) and restart nodes exactly as an operator or a crash would.
//! When a test panics, the tail of every node's log is printed, because a failing cluster
//! test without node logs cannot be debugged.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_reefdb");

/// Finds `n` consecutive ports free for both TCP and UDP, twice (HTTP and Raft ranges).
pub fn free_ports(n: u16) -> (u16, u16) {
    use rand::Rng;
    let mut rng = rand::rng();
    'outer: loop {
        let base: u16 = rng.random_range(20_000..60_000);
        let (http, raft) = (base, base + 100);
        for p in (http..http + n).chain(raft..raft + n) {
            let tcp = std::net::TcpListener::bind(("127.0.0.1", p));
            let udp = std::net::UdpSocket::bind(("127.0.0.1", p));
            if tcp.is_err() || udp.is_err() {
                continue 'outer;
            }
        }
        return (http, raft);
    }
}

pub struct Node {
    pub id: u64,
    pub config: PathBuf,
    pub http: SocketAddr,
    pub log: PathBuf,
    pub child: Option<Child>,
    pub extra_args: Vec<String>,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    /// When set, the harness talks HTTPS with this client configuration.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// When set, the harness sends this `Authorization` header with every request.
    pub authorization: Option<String>,
}

impl Cluster {
    /// Writes a cluster of `n` nodes without starting it (tests may edit the configs).
    pub fn init(n: u64) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("reef-test-")
            .tempdir()
            .expect("temp dir");
        let (http, raft) = free_ports(n as u16);
        let out = Command::new(BIN)
            .args(["init-cluster", "--dir"])
            .arg(dir.path())
            .args(["--nodes", &n.to_string()])
            .args(["--http-port", &http.to_string()])
            .args(["--raft-port", &raft.to_string()])
            .output()
            .expect("run reefdb init-cluster");
        assert!(
            out.status.success(),
            "init-cluster failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let nodes = (1..=n)
            .map(|id| Node {
                id,
                config: dir.path().join(format!("node{id}/config.yaml")),
                http: SocketAddr::from(([127, 0, 0, 1], http + id as u16 - 1)),
                log: dir.path().join(format!("node{id}/node.log")),
                child: None,
                extra_args: Vec::new(),
            })
            .collect();
        Cluster {
            dir,
            nodes,
            tls: None,
            authorization: None,
        }
    }

    /// Writes and starts a cluster, and waits for a leader.
    pub fn start(n: u64) -> Cluster {
        let mut c = Cluster::init(n);
        for id in 1..=n {
            c.start_node(id);
        }
        c.wait_leader(Duration::from_secs(30));
        c
    }

    /// Applies `edit` to node `id`'s config text.
    pub fn edit_config(&self, id: u64, edit: impl FnOnce(String) -> String) {
        let path = &self.node(id).config;
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, edit(text)).unwrap();
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Starts node `id` (the same command every time: restart needs no flags).
    pub fn start_node(&mut self, id: u64) {
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(&node.config)
            .args(&node.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn reefdb run");
        node.child = Some(child);
    }

    fn signal(&mut self, id: u64, sig: i32) {
        let node = self.node_mut(id);
        let child = node
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is not running"));
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
    }

    /// SIGKILL: a crash. Waits for the process to be gone.
    pub fn kill(&mut self, id: u64) {
        self.signal(id, libc::SIGKILL);
        let mut child = self.node_mut(id).child.take().unwrap();
        let _ = child.wait();
    }

    /// SIGTERM and wait: a graceful stop. Returns the exit status.
    pub fn stop(&mut self, id: u64) -> std::process::ExitStatus {
        self.signal(id, libc::SIGTERM);
        let mut child = self.node_mut(id).child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("node {id} ignored SIGTERM for 15 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pause(&mut self, id: u64) {
        self.signal(id, libc::SIGSTOP);
    }

    pub fn resume(&mut self, id: u64) {
        self.signal(id, libc::SIGCONT);
    }

    pub fn restart(&mut self, id: u64) {
        self.kill(id);
        self.start_node(id);
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// One request to node `id`, over HTTPS and with credentials when the harness has them.
    pub fn call(
        &self,
        id: u64,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = "Content-Type: application/json\r\n".to_string();
        if let Some(a) = &self.authorization {
            headers.push_str(&format!("Authorization: {a}\r\n"));
        }
        let addr = self.node(id).http;
        match &self.tls {
            Some(tls) => {
                https(addr, tls, method, path, &headers, body.as_bytes()).map(|r| (r.code, r.body))
            }
            None => raw_http_with_headers(addr, method, path, &headers, body.as_bytes()),
        }
    }

    pub fn status(&self, id: u64) -> Option<Value> {
        let (code, body) = self.call(id, "GET", "/status", None).ok()?;
        (code == 200).then_some(body)
    }

    /// Waits until every running node reports the same leader, which is running too.
    pub fn wait_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            for n in &self.nodes {
                if let Some(child) = n.child.as_ref() {
                    // A node that exited (a zombie until reaped) will never elect anyone.
                    let dead = std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
                        .map(|s| s.contains(") Z "))
                        .unwrap_or(true);
                    assert!(!dead, "node {} exited while waiting for a leader", n.id);
                }
            }
            let running = self.running();
            let leaders: Vec<Option<u64>> = running
                .iter()
                .map(|id| {
                    self.status(*id)
                        .and_then(|s| s["leader_id"].as_u64())
                        .filter(|l| *l != 0)
                })
                .collect();
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) && running.contains(l) {
                    return *l;
                }
            }
            if Instant::now() > deadline {
                panic!("no agreed leader within {timeout:?}: {leaders:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `f` holds, panicking with `what` after `timeout`.
    pub fn wait_for(&self, timeout: Duration, what: &str, mut f: impl FnMut(&Cluster) -> bool) {
        let deadline = Instant::now() + timeout;
        while !f(self) {
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn execute(&self, id: u64, body: &Value) -> (u16, Value) {
        self.call(id, "POST", "/db/execute", Some(body))
            .expect("execute")
    }

    /// A read at `level` (linearizable if None). Returns the rows of the first result.
    pub fn query(&self, id: u64, sql: &str, level: Option<&str>) -> (u16, Value) {
        let mut path = format!("/db/query?q={}", urlencode(sql));
        if let Some(l) = level {
            path.push_str(&format!("&level={l}"));
        }
        self.call(id, "GET", &path, None).expect("query")
    }

    pub fn tail_logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            out.push_str(&format!(
                "----- node {} ({}) -----\n",
                n.id,
                n.log.display()
            ));
            for l in &all[from..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.tail_logs(60));
            if std::env::var_os("REEF_KEEP_TEST_DIR").is_some() {
                let kept = self.dir.path().to_path_buf();
                eprintln!("keeping {}", kept.display());
                std::mem::forget(std::mem::replace(
                    &mut self.dir,
                    tempfile::tempdir().unwrap(),
                ));
            }
        }
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                unsafe {
                    libc::kill(c.id() as i32, libc::SIGCONT);
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One HTTP/1.1 request over a fresh connection. Returns the status and the JSON body
/// (`Value::String` holding the raw text when the body is not JSON).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    raw_http(addr, method, path, "application/json", body.as_bytes())
}

pub fn raw_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, Value)> {
    raw_http_with_headers(
        addr,
        method,
        path,
        &format!("Content-Type: {content_type}\r\n"),
        body,
    )
}

/// Like `raw_http`, with extra header lines (each ending in `\r\n`).
pub fn raw_http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> std::io::Result<(u16, Value)> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    exchange(s, addr, method, path, headers, body).map(|r| (r.code, r.body))
}

/// An HTTP response as the tests look at it.
pub struct Response {
    pub code: u16,
    /// The header block, lower-cased.
    pub head: String,
    pub body: Value,
}

/// A TLS client configuration trusting `ca` (PEM), presenting `client` (cert, key) if given.
pub fn tls_client(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = rustls_pemfile::certs(&mut std::fs::read(cert).unwrap().as_slice())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls_pemfile::private_key(&mut std::fs::read(key).unwrap().as_slice())
                .unwrap()
                .unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    })
}

fn tls_stream(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
    Ok(rustls::StreamOwned::new(conn, s))
}

/// One HTTPS request over a fresh connection. `headers` are extra lines ending in `\r\n`.
pub fn https(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> std::io::Result<Response> {
    exchange(tls_stream(addr, tls)?, addr, method, path, headers, body)
}

/// The certificate (DER) a node's HTTPS endpoint presents to a new connection.
pub fn served_certificate(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
) -> std::io::Result<Vec<u8>> {
    let mut s = tls_stream(addr, tls)?;
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    let certs = s
        .conn
        .peer_certificates()
        .ok_or_else(|| std::io::Error::other("no server certificate"))?;
    Ok(certs[0].to_vec())
}

fn exchange(
    mut s: impl Read + Write,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> std::io::Result<Response> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A TLS peer closing without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&buf)
}

/// Splits a whole HTTP/1.1 response into status, lower-cased header block and JSON body
/// (a body that is not JSON comes back as a string).
fn parse_response(buf: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP header in {text:?}")))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {head:?}")))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok(Response {
        code,
        head: head.to_ascii_lowercase(),
        body: json,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

// ---- Acknowledged-write tracking shared by the cluster, membership and fault tests. ----

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const CONVERGE: Duration = Duration::from_secs(30);

/// The rows of the first result of a query response.
pub fn rows(v: &Value) -> Vec<Vec<Value>> {
    v["results"][0]["values"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// What writer threads learn: every acknowledged `(client, seq)`, when its request was sent
/// and when it was acknowledged.
#[derive(Default)]
pub struct Acks {
    pub acked: Vec<(u64, u64, Instant, Instant)>,
    pub failed: u64,
}

/// Writers that insert `(client, seq)` rows through random nodes until told to stop.
pub fn start_writers(
    addrs: Vec<SocketAddr>,
    clients: u64,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Acks>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|client| {
            let (addrs, stop, acks) = (addrs.clone(), stop.clone(), acks.clone());
            std::thread::spawn(move || {
                let mut seq = 0u64;
                let mut i = client as usize;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    i += 1;
                    let addr = addrs[i % addrs.len()];
                    let body = serde_json::json!([[
                        "INSERT INTO w(client, seq) VALUES(?, ?)",
                        client,
                        seq
                    ]]);
                    let sent = Instant::now();
                    match http(addr, "POST", "/db/execute", Some(&body)) {
                        Ok((200, v)) if v["results"][0]["rows_affected"] == 1 => acks
                            .lock()
                            .unwrap()
                            .acked
                            .push((client, seq, sent, Instant::now())),
                        _ => {
                            // Not acknowledged: it may or may not have applied. Back off a little so
                            // a dead node is not hammered.
                            acks.lock().unwrap().failed += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect()
}

/// Reads every `(client, seq)` row from `node` once it has caught up.
pub fn rows_on(c: &Cluster, node: u64) -> BTreeMap<(u64, u64), u64> {
    let (code, v) = c.query(node, "SELECT client, seq FROM w", Some("none"));
    assert_eq!(code, 200, "{v}");
    let mut seen = BTreeMap::new();
    for r in rows(&v) {
        let key = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

/// Waits until every running node has applied everything the leader committed.
pub fn wait_converged(c: &Cluster) {
    c.wait_for(CONVERGE, "all nodes to apply the same commit index", |c| {
        let st: Vec<(u64, u64)> = c
            .running()
            .iter()
            .filter_map(|n| c.status(*n))
            .map(|s| {
                (
                    s["commit_index"].as_u64().unwrap_or(0),
                    s["applied_index"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        st.len() == c.running().len()
            && st.iter().all(|(c, a)| c == a)
            && st.windows(2).all(|w| w[0].1 == w[1].1)
    });
}

pub fn check_every_ack_once(c: &Cluster, acks: &Acks) {
    for node in c.running() {
        let seen = rows_on(c, node);
        for (client, seq, _, _) in &acks.acked {
            assert_eq!(
                seen.get(&(*client, *seq)),
                Some(&1),
                "node {node}: acknowledged write ({client}, {seq}) must be present exactly once"
            );
        }
        assert!(
            seen.values().all(|n| *n == 1),
            "node {node}: a write applied twice"
        );
    }
}
// ----- Additions for the fault suite (tests/faults): nodes on chosen addresses, started
// through a hook (to enter a network namespace), and polled with short timeouts so a paused
// node cannot stall the caller.

/// The `reefdb` binary nodes run: `REEF_TEST_BIN` when set (e.g. a release build, or another
/// revision under test), else the one cargo built for this test.
pub fn node_bin() -> PathBuf {
    std::env::var_os("REEF_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(BIN))
}

impl Cluster {
    /// Writes a cluster whose node `I` listens on `hosts[I-1]` (HTTP `http_port`, Raft
    /// `raft_port`): `init-cluster` writes certificates and configs, then each config's own
    /// addresses and peer list are rewritten. Certificates name node ids, not addresses, so
    /// they stay valid.
    pub fn init_on_hosts(hosts: &[std::net::IpAddr], http_port: u16, raft_port: u16) -> Cluster {
        use serde_yaml::Value as Yaml;
        let dir = tempfile::Builder::new()
            .prefix("reef-faults-")
            .tempdir()
            .expect("temp dir");
        let n = hosts.len() as u64;
        let out = Command::new(node_bin())
            .args(["init-cluster", "--dir"])
            .arg(dir.path())
            .args(["--nodes", &n.to_string()])
            .args(["--host", &hosts[0].to_string()])
            .args(["--http-port", &http_port.to_string()])
            .args(["--raft-port", &raft_port.to_string()])
            .output()
            .expect("run reefdb init-cluster");
        assert!(
            out.status.success(),
            "init-cluster failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addrs: Vec<(SocketAddr, SocketAddr)> = hosts
            .iter()
            .map(|h| {
                (
                    SocketAddr::new(*h, http_port),
                    SocketAddr::new(*h, raft_port),
                )
            })
            .collect();
        // Edited as plain YAML, so fields this test does not know survive untouched.
        let peers = Yaml::Sequence(
            addrs
                .iter()
                .enumerate()
                .map(|(i, (http, raft))| {
                    let mut m = serde_yaml::Mapping::new();
                    m.insert("id".into(), (i as u64 + 1).into());
                    m.insert("raft_addr".into(), raft.to_string().into());
                    m.insert("http_addr".into(), http.to_string().into());
                    Yaml::Mapping(m)
                })
                .collect(),
        );
        let mut nodes = Vec::new();
        for (i, (http, raft)) in addrs.iter().enumerate() {
            let id = i as u64 + 1;
            let path = dir.path().join(format!("node{id}/config.yaml"));
            let text = std::fs::read_to_string(&path).unwrap();
            let mut config: Yaml = serde_yaml::from_str(&text).expect("init-cluster config");
            config["http_addr"] = http.to_string().into();
            config["raft_addr"] = raft.to_string().into();
            config["peers"] = peers.clone();
            std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
            nodes.push(Node {
                id,
                config: path,
                http: *http,
                log: dir.path().join(format!("node{id}/node.log")),
                child: None,
                extra_args: Vec::new(),
            });
        }
        Cluster {
            dir,
            nodes,
            tls: None,
            authorization: None,
        }
    }

    /// Starts node `id` like [`Cluster::start_node`], letting `prepare` adjust the command
    /// first (environment, a `pre_exec` hook that enters a network namespace, ...).
    pub fn start_node_with(&mut self, id: u64, prepare: impl FnOnce(&mut Command)) {
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let mut cmd = Command::new(node_bin());
        cmd.arg("run")
            .arg("--config")
            .arg(&node.config)
            .args(&node.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            // The log is a file: no colour codes in it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        prepare(&mut cmd);
        node.child = Some(cmd.spawn().expect("spawn reefdb run"));
    }

    /// If node `id` exited on its own, forgets its process and returns how it ended.
    pub fn reap(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let node = self.node_mut(id);
        let status = node.child.as_mut()?.try_wait().ok()??;
        node.child = None;
        Some(status)
    }

    /// The process id of node `id`, if it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.node(id).child.as_ref().map(|c| c.id())
    }

    /// `GET /status` (with `?digest` if asked) answered within `timeout`, or None.
    pub fn status_within(&self, id: u64, digest: bool, timeout: Duration) -> Option<Value> {
        let path = if digest { "/status?digest" } else { "/status" };
        match http_within(self.node(id).http, "GET", path, None, timeout) {
            Ok((200, v)) => Some(v),
            _ => None,
        }
    }

    /// The node's log text (every start appends to it), without terminal colour codes.
    pub fn log_text(&self, id: u64) -> String {
        let raw = std::fs::read(&self.node(id).log).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&raw))
    }
}

/// [`http`] with one timeout for connecting and for the whole answer.
pub fn http_within(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> std::io::Result<(u16, Value)> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf).map(|r| (r.code, r.body))
}

/// Removes terminal escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Free and total bytes of the file system holding `path`, as statvfs reports them.
pub fn fs_space(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: statvfs only writes into the zeroed struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::statvfs(c.as_ptr(), &mut st) },
        0,
        "{}",
        path.display()
    );
    let unit = st.f_frsize as u64;
    (st.f_bavail as u64 * unit, st.f_blocks as u64 * unit)
}
