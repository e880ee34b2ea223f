//! `reefdb demo` as a user runs it: it starts a cluster, prints endpoints, answers a curl
//! write and read, and stops every node on Ctrl-C.

mod support;

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_starts_a_cluster_that_answers_and_stops_on_ctrl_c() {
    let (http, raft) = support::free_ports(3);
    let mut child = Command::new(support::BIN)
        .args(["demo", "--http-port", &http.to_string()])
        .args(["--raft-port", &raft.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start reefdb demo");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut printed = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("Press Ctrl-C");
                printed.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("demo did not become ready; it printed {printed:#?}");
            }
        }
    }
    let text = printed.join("\n");
    for i in 0..3u16 {
        assert!(
            text.contains(&format!("http://127.0.0.1:{}", http + i)),
            "endpoint of node {} missing from {text}",
            i + 1
        );
    }
    assert!(text.contains("curl"), "a curl example is printed: {text}");

    let node1: SocketAddr = ([127, 0, 0, 1], http).into();
    let node3: SocketAddr = ([127, 0, 0, 1], http + 2).into();
    let (code, v) = support::http(
        node1,
        "POST",
        "/db/execute",
        Some(&json!([
            "CREATE TABLE fish (id INTEGER PRIMARY KEY, name TEXT)",
            ["INSERT INTO fish(name) VALUES(?)", "clownfish"]
        ])),
    )
    .unwrap();
    assert_eq!(code, 200, "{v}");
    let (code, v) = support::http(
        node3,
        "GET",
        "/db/query?q=SELECT%20name%20FROM%20fish",
        None,
    )
    .unwrap();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["results"][0]["values"], json!([["clownfish"]]));

    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "demo did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "demo exit status {status}");
    // Every node is gone: nothing answers on the ports any more.
    for i in 0..3u16 {
        let addr: SocketAddr = ([127, 0, 0, 1], http + i).into();
        assert!(
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            "node {} still listening after the demo stopped",
            i + 1
        );
    }
}
