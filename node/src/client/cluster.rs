//! Tolerant decoding of `/status` and `/nodes` into the few facts the tools display.
//!
//! The node's answers grow fields over time, and rqlite itself names some of them
//! differently (`api_addr` for the HTTP address, `addr` for the Raft one, a map keyed by
//! id instead of a list). Every field here is optional, numbers may arrive as JSON numbers
//! or strings, and unknown fields are ignored, so a newer or older node still shows up.

use serde_json::{Map, Value};

/// One node's view of itself, from its `/status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStatus {
    pub id: Option<String>,
    pub role: Option<String>,
    pub term: Option<u64>,
    pub leader_id: Option<String>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    /// Peer ids, when the node lists them.
    pub peers: Vec<String>,
    /// The node's data disk (`disk` in ReefDB's `/status`): free bytes, its minimum, and
    /// whether it is below it (then the cluster refuses writes).
    pub disk_free_bytes: Option<u64>,
    pub disk_min_free_bytes: Option<u64>,
    pub disk_low: Option<bool>,
}

/// One member, as a node's `/nodes` lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub raft_addr: Option<String>,
    pub http_addr: Option<String>,
    pub role: Option<String>,
    pub reachable: Option<bool>,
    pub match_index: Option<u64>,
}

/// Text of a scalar (ids may be numbers or strings).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// First of `names` present in `map` (or in its `raft` sub-object, rqlite's nesting).
fn field<'a>(map: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    for n in names {
        if let Some(v) = map.get(*n).filter(|v| !v.is_null()) {
            return Some(v);
        }
    }
    if let Some(Value::Object(raft)) = map.get("raft") {
        for n in names {
            if let Some(v) = raft.get(*n).filter(|v| !v.is_null()) {
                return Some(v);
            }
        }
    }
    None
}

impl NodeStatus {
    pub fn from_json(v: &Value) -> NodeStatus {
        let Value::Object(map) = v else {
            return NodeStatus::default();
        };
        let num = |names: &[&str]| field(map, names).and_then(number);
        let peers = match field(map, &["peers"]) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|p| match p {
                    Value::Object(o) => o.get("id").and_then(text),
                    other => text(other),
                })
                .collect(),
            Some(Value::Object(o)) => o.keys().cloned().collect(),
            _ => Vec::new(),
        };
        NodeStatus {
            id: field(map, &["id", "node_id"]).and_then(text),
            role: field(map, &["role", "state"])
                .and_then(text)
                .map(|r| r.to_lowercase()),
            term: num(&["term"]),
            leader_id: field(map, &["leader_id", "leader"])
                .and_then(|v| match v {
                    Value::Object(o) => o.get("node_id").or_else(|| o.get("id")).and_then(text),
                    other => text(other),
                })
                .filter(|l| l != "0"),
            commit_index: num(&["commit_index"]),
            applied_index: num(&["applied_index"]),
            first_index: num(&["first_index"]),
            last_index: num(&["last_index", "last_log_index"]),
            snapshot_index: num(&["snapshot_index", "last_snapshot_index"]),
            peers,
            disk_free_bytes: map.get("disk").and_then(|d| number(&d["free_bytes"])),
            disk_min_free_bytes: map.get("disk").and_then(|d| number(&d["min_free_bytes"])),
            disk_low: map.get("disk").and_then(|d| boolean(&d["low"])),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.role.as_deref() == Some("leader")
    }
}

impl NodeInfo {
    /// Accepts a list of members, `{"nodes": [...]}`, or rqlite's map keyed by id.
    pub fn list_from_json(v: &Value) -> Vec<NodeInfo> {
        let mut nodes: Vec<NodeInfo> = match v {
            Value::Array(items) => items.iter().filter_map(|i| Self::one(None, i)).collect(),
            Value::Object(map) => match map.get("nodes") {
                Some(Value::Array(items)) => {
                    items.iter().filter_map(|i| Self::one(None, i)).collect()
                }
                Some(Value::Object(by_id)) => by_id
                    .iter()
                    .filter_map(|(id, i)| Self::one(Some(id), i))
                    .collect(),
                _ => map
                    .iter()
                    .filter_map(|(id, i)| Self::one(Some(id), i))
                    .collect(),
            },
            _ => Vec::new(),
        };
        nodes.sort_by_key(|n| natural_key(&n.id));
        nodes
    }

    fn one(key: Option<&String>, v: &Value) -> Option<NodeInfo> {
        let Value::Object(map) = v else {
            return None;
        };
        let id = field(map, &["id", "node_id"])
            .and_then(text)
            .or_else(|| key.cloned())?;
        let role = field(map, &["role", "state"])
            .and_then(text)
            .map(|r| r.to_lowercase())
            .or_else(|| match field(map, &["leader"]).and_then(boolean) {
                Some(true) => Some("leader".to_string()),
                Some(false) => match field(map, &["voter"]).and_then(boolean) {
                    Some(false) => Some("learner".to_string()),
                    _ => Some("follower".to_string()),
                },
                None => None,
            });
        Some(NodeInfo {
            id,
            raft_addr: field(map, &["raft_addr", "addr"]).and_then(text),
            http_addr: field(map, &["http_addr", "api_addr"]).and_then(text),
            role,
            reachable: field(map, &["reachable"]).and_then(boolean),
            match_index: field(map, &["match_index", "matched"]).and_then(number),
        })
    }

    /// The member's HTTP base URL, if it has one.
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.as_ref().map(|a| {
            if a.contains("://") {
                a.clone()
            } else {
                format!("http://{a}")
            }
        })
    }
}

/// Sorts "2" before "10" while still ordering non-numeric ids.
fn natural_key(id: &str) -> (u8, u64, String) {
    match id.parse::<u64>() {
        Ok(n) => (0, n, String::new()),
        Err(_) => (1, 0, id.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_reads_flat_nested_and_string_numbers() {
        let s = NodeStatus::from_json(&json!({
            "id": 1, "role": "Leader", "term": "7", "leader_id": 1,
            "commit_index": 100, "applied_index": 99, "first_index": 1,
            "last_index": 101, "snapshot_index": 50, "peers": [2, {"id": 3}]
        }));
        assert_eq!(s.id.as_deref(), Some("1"));
        assert!(s.is_leader());
        assert_eq!(
            (s.term, s.commit_index, s.last_index),
            (Some(7), Some(100), Some(101))
        );
        assert_eq!(s.peers, vec!["2", "3"]);
        let nested = NodeStatus::from_json(&json!({"raft": {"state": "follower", "term": 3}}));
        assert_eq!(
            (nested.role.as_deref(), nested.term),
            (Some("follower"), Some(3))
        );
        assert_eq!(NodeStatus::from_json(&json!([])), NodeStatus::default());
        assert_eq!(
            NodeStatus::from_json(&json!({"leader_id": 0})).leader_id,
            None
        );
    }

    #[test]
    fn nodes_accepts_list_wrapped_list_and_rqlite_map() {
        let list = NodeInfo::list_from_json(&json!([
            {"id": 10, "raft_addr": "r10", "http_addr": "127.0.0.1:4010", "role": "follower",
             "reachable": true, "match_index": 5},
            {"id": 2, "role": "leader"}
        ]));
        assert_eq!(
            list.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["2", "10"]
        );
        assert_eq!(list[1].http_url().as_deref(), Some("http://127.0.0.1:4010"));
        assert_eq!(list[1].match_index, Some(5));
        let wrapped = NodeInfo::list_from_json(&json!({"nodes": [{"id": "a"}]}));
        assert_eq!(wrapped[0].id, "a");
        let rqlite = NodeInfo::list_from_json(&json!({
            "n1": {"api_addr": "http://h:4001", "addr": "h:4002", "reachable": true, "leader": true},
            "n2": {"api_addr": "http://h:4003", "addr": "h:4004", "reachable": false, "leader": false, "voter": false}
        }));
        assert_eq!(rqlite[0].role.as_deref(), Some("leader"));
        assert_eq!(rqlite[1].role.as_deref(), Some("learner"));
        assert_eq!(rqlite[1].http_url().as_deref(), Some("http://h:4003"));
        assert_eq!(rqlite[1].reachable, Some(false));
        assert!(NodeInfo::list_from_json(&json!("nonsense")).is_empty());
    }
}
