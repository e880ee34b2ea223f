//! `reefdb shell` driven through stdin against a real node, as a script would.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::Cluster;

fn shell(c: &Cluster, node: u64, script: &str) -> (bool, String, String) {
    let url = format!("http://{}", c.node(node).http);
    let mut child = Command::new(support::BIN)
        .args(["shell", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reefdb shell");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shell_runs_statements_and_dot_commands_from_stdin() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(Duration::from_secs(30));
    let follower = (1..=3).find(|n| *n != leader).unwrap();
    let script = "\
CREATE TABLE fish(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO fish(name)
  VALUES ('clownfish'), ('tang');
SELECT id, name FROM fish ORDER BY id;
.tables
.schema fish
.leader
.level none
SELECT COUNT(*) AS n FROM fish;
";
    // Through a follower: writes are forwarded, reads answered.
    let (ok, out, err) = shell(&c, follower, script);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    for want in [
        "2 rows affected, last insert id 2",
        "| id | name      |",
        "|  1 | clownfish |",
        "|  2 | tang      |",
        "(2 rows)",
        "fish",
        "CREATE TABLE fish(id INTEGER PRIMARY KEY, name TEXT)",
        &format!("leader: node {leader}"),
        "| n |",
        "| 2 |",
    ] {
        assert!(
            out.contains(want),
            "{want:?} missing from:\n{out}\nstderr:\n{err}"
        );
    }
    // A failing statement prints the server's message and the exit status says so.
    let (ok, _out, err) = shell(&c, leader, "SELECT nope FROM fish;\n");
    assert!(!ok);
    assert!(err.contains("no such column: nope"), "{err}");
}
