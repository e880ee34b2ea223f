//! One request, three possible truths: it took effect, it did not, or nobody can know.
//!
//! The workload and the nemeses send every request through [`Conns`], which keeps one
//! keep-alive connection per node (the crate's own blocking client) and classifies each
//! answer. The classification is the contract the checks rely on, so it is conservative:
//! only answers that say the request was never proposed, or was overwritten before commit,
//! count as *failed*; everything that might have reached the log is *indeterminate*.
//!
//! - a connection that could not be opened: the request was never sent, failed;
//! - HTTP 4xx: refused before proposing, failed;
//! - HTTP 503 whose message says "not applied" (a new leader overwrote the entry), "not the
//!   leader" or "no leader is known" (refused before proposing): failed;
//! - any other 5xx, a timeout, a connection lost after sending: indeterminate;
//! - HTTP 200: applied; a statement error inside it is a failure of that statement (the
//!   engine is deterministic, so it failed everywhere).

use reefdb::client::{ClientError, Endpoint, HttpConn};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The classified answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Ok(Value),
    Failed(String),
    Indeterminate(String),
}

/// One connection per node, reopened after any error.
pub struct Conns {
    conns: Vec<HttpConn>,
}

impl Conns {
    pub fn new(urls: &[String], timeout: Duration) -> Conns {
        Conns {
            conns: urls
                .iter()
                .map(|u| {
                    HttpConn::new(Endpoint::parse(u).expect("node URL"), timeout)
                        // A connection idle this long may have been closed by the node; a
                        // write sent into that close would come back indeterminate.
                        .with_max_idle(Duration::from_secs(2))
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// `POST /db/execute` with `statements` (a JSON array).
    pub fn execute(&mut self, node: usize, statements: &Value) -> Reply {
        self.send(node, "/db/execute", statements)
    }

    /// `POST /db/query?level=L` with one statement.
    pub fn query(&mut self, node: usize, statement: Value, level: &str) -> Reply {
        let target = format!("/db/query?level={level}");
        self.send(node, &target, &Value::Array(vec![statement]))
    }

    fn send(&mut self, node: usize, target: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("JSON body");
        let conn = &mut self.conns[node];
        match conn.request("POST", target, Some("application/json"), &bytes) {
            Ok(resp) => classify(resp.status, &resp.body),
            Err(ClientError::Connect { source, .. }) => {
                Reply::Failed(format!("connect: {}", source.kind()))
            }
            Err(e) => Reply::Indeterminate(e.kind()),
        }
    }
}

fn classify(status: u16, body: &[u8]) -> Reply {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if status == 200 {
        if let Some(err) = v["results"][0]["error"].as_str() {
            return Reply::Failed(format!("statement error: {err}"));
        }
        if v["results"][0].is_object() {
            return Reply::Ok(v);
        }
        return Reply::Indeterminate(format!("200 without results: {}", short(&v.to_string())));
    }
    let msg = v["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let kind = format!("{status} {}", short(&msg));
    // 507: refused before proposing, while a member's disk is low.
    if (400..500).contains(&status) || status == 507 {
        return Reply::Failed(kind);
    }
    if status == 503
        && (msg.contains("not applied")
            || msg.starts_with("not the leader")
            || msg.starts_with("no leader is known"))
    {
        return Reply::Failed(kind);
    }
    Reply::Indeterminate(kind)
}

fn short(s: &str) -> String {
    // Numbers (indexes, terms, node ids) would make every message its own kind.
    let s: String = s
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    reefdb::client::shorten(&s, 72)
}

/// How many operations of each name ended each way, and why the unsuccessful ones did.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// name -> [ok, failed, indeterminate]
    pub ops: BTreeMap<String, [u64; 3]>,
    /// failure or indeterminate reason -> count
    pub reasons: BTreeMap<String, u64>,
}

impl Tally {
    pub fn ok(&mut self, op: &str) {
        self.ops.entry(op.to_string()).or_default()[0] += 1;
    }

    pub fn failed(&mut self, op: &str, why: &str) {
        self.ops.entry(op.to_string()).or_default()[1] += 1;
        *self
            .reasons
            .entry(format!("{op} failed: {why}"))
            .or_default() += 1;
    }

    pub fn indeterminate(&mut self, op: &str, why: &str) {
        self.ops.entry(op.to_string()).or_default()[2] += 1;
        *self
            .reasons
            .entry(format!("{op} indeterminate: {why}"))
            .or_default() += 1;
    }

    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.ops {
            let e = self.ops.entry(k.clone()).or_default();
            for i in 0..3 {
                e[i] += v[i];
            }
        }
        for (k, v) in &other.reasons {
            *self.reasons.entry(k.clone()).or_default() += v;
        }
    }

    pub fn totals(&self) -> [u64; 3] {
        let mut t = [0; 3];
        for v in self.ops.values() {
            for i in 0..3 {
                t[i] += v[i];
            }
        }
        t
    }
}

/// The integer in the first column of the first row of a query answer, `None` if no row.
pub fn first_int(v: &Value) -> Result<Option<i64>, String> {
    let rows = &v["results"][0]["values"];
    match rows.as_array().map(|r| r.as_slice()) {
        None | Some([]) => Ok(None),
        Some([row, ..]) => row[0]
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("not an integer: {row}")),
    }
}

/// `rows_affected` of the first result.
pub fn rows_affected(v: &Value) -> Option<i64> {
    v["results"][0]["rows_affected"].as_i64()
}
