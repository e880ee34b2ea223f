//! `reefdb demo`: a local cluster in a temporary folder, for kicking the tyres.
//!
//! Runs `init-cluster` into a fresh folder, starts each node as a child process of this one
//! (the same binary, `reefdb run --config ...`), waits until they agree on a leader, prints
//! the endpoints and a curl example, and on Ctrl-C (or SIGTERM) stops them all gracefully.
//! Child processes are real nodes: killing one with `kill -9` from another terminal is the
//! quickest way to watch a failover.

use super::init_cluster::{self, InitClusterArgs};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// HTTP port of node 1 (node I uses port + I - 1).
    #[arg(long, default_value_t = 4001)]
    pub http_port: u16,
    /// Raft (QUIC) port of node 1.
    #[arg(long, default_value_t = 4101)]
    pub raft_port: u16,
    /// Keep the cluster here instead of a temporary folder (kept after exit).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How long to wait for the cluster to elect a leader.
    #[arg(long, default_value_t = 30)]
    pub startup_timeout_s: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Init(#[from] init_cluster::InitError),
    #[error("{0}")]
    Io(String),
    #[error("the cluster did not elect a leader within {0:?}; node logs are in {1}")]
    NoLeader(Duration, PathBuf),
    #[error("node {id} exited during start-up ({status}); its log is {log}")]
    NodeDied {
        id: u64,
        status: std::process::ExitStatus,
        log: PathBuf,
    },
}

/// Runs the demo until Ctrl-C. `make_certs` is the certificate generator `init-cluster` uses.
pub fn run(
    args: DemoArgs,
    make_certs: impl FnOnce(&Path, &[(u64, std::net::IpAddr)]) -> Result<(), String>,
) -> Result<(), DemoError> {
    let (dir, _temp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("reefdb-demo-")
                .tempdir()
                .map_err(|e| DemoError::Io(format!("creating a temporary folder: {e}")))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let init = InitClusterArgs {
        dir: dir.clone(),
        nodes: args.nodes,
        host: "127.0.0.1".parse().expect("literal address"),
        http_port: args.http_port,
        raft_port: args.raft_port,
        cores: 1,
        force: true,
    };
    let configs = init_cluster::write(&init, make_certs)?;
    let exe = std::env::current_exe()
        .map_err(|e| DemoError::Io(format!("finding the reefdb binary: {e}")))?;

    // Signals are caught before any child starts, so a Ctrl-C during start-up still stops them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| DemoError::Io(format!("installing a signal handler: {e}")))?;
    }

    let mut children: Vec<(u64, Child, PathBuf)> = Vec::new();
    let result = (|| {
        for (i, config) in configs.iter().enumerate() {
            let id = i as u64 + 1;
            let log = config.with_file_name("node.log");
            let out = std::fs::File::create(&log)
                .map_err(|e| DemoError::Io(format!("{}: {e}", log.display())))?;
            let child = Command::new(&exe)
                .arg("run")
                .arg("--config")
                .arg(config)
                .stdin(Stdio::null())
                .stdout(out.try_clone().map_err(|e| DemoError::Io(e.to_string()))?)
                .stderr(out)
                .spawn()
                .map_err(|e| DemoError::Io(format!("starting node {id}: {e}")))?;
            children.push((id, child, log));
        }
        let http: Vec<SocketAddr> = (0..args.nodes)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], args.http_port + i as u16)))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(args.startup_timeout_s);
        let leader = loop {
            for (id, child, log) in children.iter_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(DemoError::NodeDied {
                        id: *id,
                        status,
                        log: log.clone(),
                    });
                }
            }
            if let Some(l) = http.iter().find_map(|a| leader_of(*a)) {
                break l;
            }
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(DemoError::NoLeader(
                    Duration::from_secs(args.startup_timeout_s),
                    dir.clone(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let first = http[0];
        println!(
            "ReefDB demo: {} nodes, files in {}",
            args.nodes,
            dir.display()
        );
        for (i, a) in http.iter().enumerate() {
            println!("  node {}: http://{a}", i + 1);
        }
        println!("  leader: node {leader}");
        println!();
        println!("Try:");
        println!(
            "  curl -s -XPOST 'http://{first}/db/execute' -H 'Content-Type: application/json' \\\n    -d '[\"CREATE TABLE fish (id INTEGER PRIMARY KEY, name TEXT)\", [\"INSERT INTO fish(name) VALUES(?)\", \"clownfish\"]]'"
        );
        println!("  curl -s -G 'http://{first}/db/query' --data-urlencode 'q=SELECT * FROM fish'");
        println!();
        println!("Press Ctrl-C to stop the cluster.");
        let _ = std::io::stdout().flush();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    })();

    println!("stopping {} nodes...", children.len());
    for (_, child, _) in children.iter_mut() {
        // SIGTERM asks for a graceful stop; the node flushes and exits.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (id, child, _) in children.iter_mut() {
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    eprintln!("node {id} did not stop in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
    println!("stopped.");
    result
}

/// Asks a node who leads, by its `/status`. `None` until a leader is known.
fn leader_of(addr: SocketAddr) -> Option<u64> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(
        s,
        "GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("leader_id")?.as_u64().filter(|l| *l != 0)
}
