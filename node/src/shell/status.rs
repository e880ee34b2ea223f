//! `reefdb status [URL]`: the cluster at a glance, from one node's `/status` and `/nodes`
//! and each member's own `/status` (members, roles, terms, indexes, lag behind the
//! leader's commit index, and members whose disk is low).

use super::ShellError;
use crate::client::rqlite::RqliteClient;
use crate::client::{Endpoint, HttpConn, NodeInfo, NodeStatus};
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Any node's HTTP API.
    #[arg(default_value = "http://127.0.0.1:4001")]
    pub url: String,
    /// Per-request timeout.
    #[arg(long, default_value = "3s", value_parser = crate::bench::units::parse_duration)]
    pub timeout: Duration,
}

/// What one node told us, plus what each member said about itself.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub url: String,
    pub this: NodeStatus,
    pub members: Vec<(NodeInfo, Result<NodeStatus, String>)>,
}

pub fn gather(url: &str, timeout: Duration) -> Result<ClusterView, ShellError> {
    let mut c = RqliteClient::with_conn(HttpConn::new(Endpoint::parse(url)?, timeout));
    let this = NodeStatus::from_json(&c.status()?);
    let nodes = NodeInfo::list_from_json(&c.nodes()?);
    let members = nodes
        .into_iter()
        .map(|n| {
            let own = match n.http_url() {
                Some(u) => Endpoint::parse(&u)
                    .map_err(|e| e.to_string())
                    .and_then(|ep| {
                        let mut mc = RqliteClient::with_conn(HttpConn::new(ep, timeout));
                        mc.status().map_err(|e| e.to_string())
                    })
                    .map(|v| NodeStatus::from_json(&v)),
                None => Err("no http address".to_string()),
            };
            (n, own)
        })
        .collect();
    Ok(ClusterView {
        url: url.to_string(),
        this,
        members,
    })
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// The text `reefdb status` prints.
pub fn render(view: &ClusterView) -> String {
    let leader_status = view
        .members
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .find(|s| s.is_leader())
        .or(view.this.is_leader().then_some(&view.this));
    let leader_id = leader_status
        .and_then(|s| s.id.clone())
        .or_else(|| view.this.leader_id.clone());
    let leader_commit = leader_status.and_then(|s| s.commit_index);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cluster via {}: {} members, leader {}, term {}, commit index {}",
        view.url,
        view.members.len(),
        opt(leader_id),
        opt(leader_status.and_then(|s| s.term).or(view.this.term)),
        opt(leader_commit)
    );
    let mut rows = vec![[
        "ID",
        "ROLE",
        "HTTP",
        "RAFT",
        "REACHABLE",
        "TERM",
        "COMMIT",
        "APPLIED",
        "LAST",
        "SNAPSHOT",
        "MATCH",
        "LAG",
    ]
    .map(String::from)];
    for (n, own) in &view.members {
        let (role, term, commit, applied, last, snap) = match own {
            Ok(s) => (
                s.role.clone().or_else(|| n.role.clone()),
                opt(s.term),
                opt(s.commit_index),
                opt(s.applied_index),
                opt(s.last_index),
                opt(s.snapshot_index),
            ),
            Err(_) => (
                n.role.clone(),
                "?".into(),
                "?".into(),
                "?".into(),
                "?".into(),
                "?".into(),
            ),
        };
        let lag = match (
            leader_commit,
            own.as_ref().ok().and_then(|s| s.applied_index),
        ) {
            (Some(c), Some(a)) => c.saturating_sub(a).to_string(),
            _ => "-".to_string(),
        };
        let reachable = match (n.reachable, own.is_ok()) {
            (Some(true), _) | (None, true) => "yes",
            (Some(false), _) | (None, false) => "no",
        };
        rows.push([
            n.id.clone(),
            opt(role),
            opt(n.http_addr.clone()),
            opt(n.raft_addr.clone()),
            reachable.to_string(),
            term,
            commit,
            applied,
            last,
            snap,
            opt(n.match_index),
            lag,
        ]);
    }
    let widths: Vec<usize> = (0..12)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for (n, own) in &view.members {
        match own {
            Err(e) => {
                let _ = writeln!(out, "node {}: no status: {e}", n.id);
            }
            Ok(s) if s.disk_low == Some(true) => {
                let mib =
                    |b: Option<u64>| opt(b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0)));
                let _ = writeln!(
                    out,
                    "node {}: disk low, {} free (went below its limits.min_free_disk_bytes of \
                     {}; clears at {}): the cluster refuses writes until space is freed there",
                    n.id,
                    mib(s.disk_free_bytes),
                    mib(s.disk_min_free_bytes),
                    mib(s.disk_min_free_bytes.map(crate::replica::clear_mark))
                );
            }
            Ok(_) => {}
        }
    }
    if view.members.is_empty() {
        let _ = writeln!(out, "(the node listed no members)");
    }
    out
}

/// Entry point of `reefdb status`.
pub fn status(args: StatusArgs) -> Result<(), ShellError> {
    let view = gather(&args.url, args.timeout)?;
    print!("{}", render(&view));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_members_roles_indexes_and_lag() {
        let st = |id: u64, role: &str, applied: u64| {
            NodeStatus::from_json(&json!({
                "id": id, "role": role, "term": 4, "leader_id": 1, "commit_index": 120,
                "applied_index": applied, "first_index": 1, "last_index": 121, "snapshot_index": 100
            }))
        };
        let nodes = NodeInfo::list_from_json(&json!([
            {"id": 1, "role": "leader", "http_addr": "127.0.0.1:4001", "raft_addr": "127.0.0.1:5001", "reachable": true, "match_index": 121},
            {"id": 2, "role": "follower", "http_addr": "127.0.0.1:4002", "raft_addr": "127.0.0.1:5002", "reachable": true, "match_index": 118},
            {"id": 3, "role": "follower", "http_addr": "127.0.0.1:4003", "reachable": false}
        ]));
        let view = ClusterView {
            url: "http://127.0.0.1:4002".into(),
            this: st(2, "follower", 115),
            members: vec![
                (nodes[0].clone(), Ok(st(1, "leader", 120))),
                (nodes[1].clone(), Ok(st(2, "follower", 115))),
                (nodes[2].clone(), Err("cannot connect".into())),
            ],
        };
        let text = render(&view);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "cluster via http://127.0.0.1:4002: 3 members, leader 1, term 4, commit index 120"
        );
        assert!(lines[1].starts_with("ID  ROLE"), "{text}");
        let row2: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(row2[0], "2");
        assert_eq!(row2[1], "follower");
        assert_eq!(row2.last(), Some(&"5"), "lag = 120 - 115: {text}");
        let row3: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            &row3[..5],
            &["3", "follower", "127.0.0.1:4003", "-", "no"],
            "{text}"
        );
        assert!(text.contains("node 3: no status: cannot connect"));
    }

    #[test]
    fn names_members_whose_disk_is_low() {
        let st = |id: u64, low: bool| {
            NodeStatus::from_json(&json!({
                "id": id, "role": "follower",
                "disk": {"free_bytes": 6291456, "min_free_bytes": 16777216, "low": low}
            }))
        };
        let nodes = NodeInfo::list_from_json(&json!([{"id": 1}, {"id": 2}]));
        let view = ClusterView {
            url: "u".into(),
            this: st(1, false),
            members: vec![
                (nodes[0].clone(), Ok(st(1, false))),
                (nodes[1].clone(), Ok(st(2, true))),
            ],
        };
        let text = render(&view);
        let low: Vec<&str> = text.lines().filter(|l| l.contains("disk low")).collect();
        assert_eq!(
            low,
            [
                "node 2: disk low, 6.0 MiB free (went below its limits.min_free_disk_bytes of \
              16.0 MiB; clears at 20.0 MiB): the cluster refuses writes until space is freed there"
            ],
            "{text}"
        );
    }

    #[test]
    fn tolerates_a_node_that_says_little() {
        let view = ClusterView {
            url: "u".into(),
            this: NodeStatus::default(),
            members: vec![],
        };
        let text = render(&view);
        assert!(text.contains("0 members, leader -"), "{text}");
        assert!(text.contains("listed no members"));
    }
}
