//! The workload: client threads doing what an application would, recorded for the checks.
//!
//! - Register clients read, write and compare-and-set integer registers (rows of
//!   `reg(k, v)`), through random nodes. Writes and swaps, and reads at `linearizable`,
//!   `strong` and `weak` (a leader lease: linearizable while clocks drift less than the
//!   README's bound, which holds on one machine), go into a linearizability history; `none`
//!   reads (allowed to be stale) are kept aside and only checked for values nobody wrote. Every value written is
//!   unique, which the checker needs to stay fast. Each key serves a small group of clients
//!   for a bounded number of operations, then the group moves on to a fresh key, so no
//!   register's history outgrows what the checker can search.
//! - Append clients insert `(client, seq)` rows; every acknowledged insert must later be
//!   present exactly once on every node, and every insert refused for certain must be absent.
//!
//! Statements use numbered parameters (`?1`): the engine binds anonymous `?` in the wrong order
//! in `UPDATE .. SET .. WHERE` (see the ignored regression test in `main.rs`).

use crate::client::{first_int, rows_affected, Conns, Reply, Tally};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reefdb::linearizability::{Call, Clock, Outcome, Recorder};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub const SCHEMA: [&str; 2] = [
    "CREATE TABLE reg(k TEXT PRIMARY KEY, v INTEGER)",
    "CREATE TABLE app(id INTEGER PRIMARY KEY, client INTEGER, seq INTEGER, pad TEXT)",
];
const WRITE: &str =
    "INSERT INTO reg(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v";
const CAS: &str = "UPDATE reg SET v = ?1 WHERE k = ?2 AND v = ?3";
const READ: &str = "SELECT v FROM reg WHERE k = ?1";
const APPEND: &str = "INSERT INTO app(client, seq, pad) VALUES(?1, ?2, ?3)";

/// Extra pause after an unsuccessful operation.
const BACKOFF: Duration = Duration::from_millis(50);

/// Client ids by role (they also make written values unique).
pub const APPEND_CLIENT_BASE: u32 = 1000;
pub const PROBE_CLIENT: u32 = 5000;
pub const BALLAST_CLIENT_BASE: u32 = 6000;
pub const FINAL_READ_CLIENT: u32 = 9000;

#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub register_clients: u32,
    /// Clients sharing one key at a time (the checker wants <= ~8).
    pub clients_per_key: u32,
    /// Operations each client does on a key before moving to the next.
    pub ops_per_key: u64,
    pub append_clients: u32,
    /// Pause between one client's operations.
    pub think: Duration,
    /// Client-side timeout of one request.
    pub timeout: Duration,
}

/// A read at level `none` (may be stale), checked only for phantom values.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LooseRead {
    pub client: u32,
    pub key: String,
    pub level: &'static str,
    pub value: Option<i64>,
}

/// Everything one register client saw.
pub struct RegisterOutput {
    pub recorder: Recorder,
    pub loose: Vec<LooseRead>,
    pub tally: Tally,
    /// Answers that contradict the API itself (e.g. a write acknowledged with 0 rows).
    pub anomalies: Vec<String>,
}

/// Everything one append client saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct AppendLog {
    pub client: u32,
    pub acked: Vec<u64>,
    pub failed: Vec<u64>,
    pub indeterminate: Vec<u64>,
    #[serde(skip)]
    pub tally: Tally,
    pub anomalies: Vec<String>,
}

/// A unique register value: the client in the high digits, its sequence below.
pub fn unique_value(client: u32, seq: u64) -> i64 {
    (client as i64 + 1) * 1_000_000_000 + seq as i64
}

/// Writes `value` to `key` through `node`, recording it. Returns whether it was acknowledged.
pub fn write(
    conns: &mut Conns,
    node: usize,
    rec: &mut Recorder,
    tally: &mut Tally,
    anomalies: &mut Vec<String>,
    key: &str,
    value: i64,
) -> bool {
    let p = rec.invoke(key, Call::Write { value });
    match conns.execute(node, &json!([[WRITE, key, value]])) {
        Reply::Ok(v) if rows_affected(&v) == Some(1) => {
            rec.complete(p, Outcome::Written);
            tally.ok("write");
            true
        }
        Reply::Ok(v) => {
            anomalies.push(format!("write {key}={value} acknowledged with {v}"));
            rec.complete(p, Outcome::Indeterminate);
            tally.indeterminate("write", "acknowledged without rows_affected 1");
            false
        }
        Reply::Failed(why) => {
            rec.complete(p, Outcome::Failed);
            tally.failed("write", &why);
            false
        }
        Reply::Indeterminate(why) => {
            rec.complete(p, Outcome::Indeterminate);
            tally.indeterminate("write", &why);
            false
        }
    }
}

/// Reads `key` at `level` through `node`. Reads at every level but `none` are recorded in
/// `rec`; the value (if the read succeeded) is returned either way.
#[allow(clippy::too_many_arguments)]
pub fn read(
    conns: &mut Conns,
    node: usize,
    rec: &mut Recorder,
    loose: &mut Vec<LooseRead>,
    tally: &mut Tally,
    anomalies: &mut Vec<String>,
    key: &str,
    level: &'static str,
) -> Option<Option<i64>> {
    let checked = is_checked(level);
    let p = checked.then(|| rec.invoke(key, Call::Read));
    let op = format!("read {level}");
    let reply = conns.query(node, json!([READ, key]), level);
    let (outcome, value) = match reply {
        Reply::Ok(v) => match first_int(&v) {
            Ok(value) => {
                tally.ok(&op);
                (Outcome::Read { value }, Some(value))
            }
            Err(e) => {
                anomalies.push(format!("read {key} at {level}: {e}"));
                tally.failed(&op, "malformed answer");
                (Outcome::Failed, None)
            }
        },
        Reply::Failed(why) => {
            tally.failed(&op, &why);
            (Outcome::Failed, None)
        }
        Reply::Indeterminate(why) => {
            tally.indeterminate(&op, &why);
            (Outcome::Indeterminate, None)
        }
    };
    match p {
        Some(p) => rec.complete(p, outcome),
        None => {
            if let Some(value) = value {
                loose.push(LooseRead {
                    client: 0,
                    key: key.to_string(),
                    level,
                    value,
                });
            }
        }
    }
    value
}

/// Whether reads at `level` must be linearizable.
pub fn is_checked(level: &str) -> bool {
    level != "none"
}

/// Starts the register clients. Each returns its output when `stop` is set.
pub fn start_registers(
    spec: &WorkloadSpec,
    urls: &[String],
    clock: Clock,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Vec<JoinHandle<RegisterOutput>> {
    (0..spec.register_clients)
        .map(|client| {
            let (spec, urls, stop) = (spec.clone(), urls.to_vec(), stop.clone());
            std::thread::Builder::new()
                .name(format!("register-{client}"))
                .spawn(move || register_client(client, &spec, &urls, clock, seed, &stop))
                .expect("spawn register client")
        })
        .collect()
}

fn register_client(
    client: u32,
    spec: &WorkloadSpec,
    urls: &[String],
    clock: Clock,
    seed: u64,
    stop: &AtomicBool,
) -> RegisterOutput {
    let mut rng = StdRng::seed_from_u64(seed ^ (0x5eed_0000 + client as u64));
    let mut conns = Conns::new(urls, spec.timeout);
    let mut out = RegisterOutput {
        recorder: Recorder::new(client, clock),
        loose: Vec::new(),
        tally: Tally::default(),
        anomalies: Vec::new(),
    };
    let group = client / spec.clients_per_key;
    let mut seq = 0u64;
    let mut done_on_key = 0u64;
    let mut epoch = 0u64;
    // The last value this client knows the register held: what a swap expects.
    let mut known: Option<i64> = None;
    while !stop.load(Ordering::Relaxed) {
        if done_on_key == spec.ops_per_key {
            epoch += 1;
            done_on_key = 0;
            known = None;
        }
        done_on_key += 1;
        let key = format!("r{group}_{epoch}");
        let node = rng.random_range(0..conns.len());
        let acked_before = out.tally.totals()[0];
        let dice = rng.random_range(0..100);
        if dice < 25 {
            seq += 1;
            let value = unique_value(client, seq);
            if write(
                &mut conns,
                node,
                &mut out.recorder,
                &mut out.tally,
                &mut out.anomalies,
                &key,
                value,
            ) {
                known = Some(value);
            }
        } else if dice < 45 && known.is_some() {
            seq += 1;
            let new = unique_value(client, seq);
            let expected = known.expect("checked");
            let p = out.recorder.invoke(&key, Call::Cas { expected, new });
            match conns.execute(node, &json!([[CAS, new, &key, expected]])) {
                Reply::Ok(v) => match rows_affected(&v) {
                    Some(1) => {
                        out.recorder.complete(p, Outcome::Cas { succeeded: true });
                        out.tally.ok("cas");
                        known = Some(new);
                    }
                    Some(0) => {
                        out.recorder.complete(p, Outcome::Cas { succeeded: false });
                        out.tally.ok("cas");
                        known = None;
                    }
                    _ => {
                        out.anomalies
                            .push(format!("cas {key} {expected}->{new} answered {v}"));
                        out.recorder.complete(p, Outcome::Indeterminate);
                        out.tally.indeterminate("cas", "bad rows_affected");
                    }
                },
                Reply::Failed(why) => {
                    out.recorder.complete(p, Outcome::Failed);
                    out.tally.failed("cas", &why);
                }
                Reply::Indeterminate(why) => {
                    out.recorder.complete(p, Outcome::Indeterminate);
                    out.tally.indeterminate("cas", &why);
                    known = None;
                }
            }
        } else {
            let level = match rng.random_range(0..10) {
                0..=4 => "linearizable",
                5..=6 => "strong",
                7..=8 => "weak",
                _ => "none",
            };
            let before = out.loose.len();
            let seen = read(
                &mut conns,
                node,
                &mut out.recorder,
                &mut out.loose,
                &mut out.tally,
                &mut out.anomalies,
                &key,
                level,
            );
            for l in &mut out.loose[before..] {
                l.client = client;
            }
            if let Some(Some(v)) = seen {
                if is_checked(level) {
                    known = Some(v);
                }
            }
        }
        std::thread::sleep(spec.think);
        if out.tally.totals()[0] == acked_before {
            // Unsuccessful: the node may be down or electing; do not spin on it.
            std::thread::sleep(BACKOFF);
        }
    }
    out
}

/// Inserts `(client, seq)` rows until `stop`; `pad` bytes of filler per row.
pub fn append_client(
    client: u32,
    urls: &[String],
    timeout: Duration,
    think: Duration,
    pad: usize,
    seed: u64,
    stop: &AtomicBool,
) -> AppendLog {
    let mut rng = StdRng::seed_from_u64(seed ^ (0xa99e_0000 + client as u64));
    let mut conns = Conns::new(urls, timeout);
    let mut log = AppendLog {
        client,
        ..Default::default()
    };
    let filler = "x".repeat(pad);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let node = rng.random_range(0..conns.len());
        match conns.execute(node, &json!([[APPEND, client, seq, &filler]])) {
            Reply::Ok(v) if rows_affected(&v) == Some(1) => {
                log.acked.push(seq);
                log.tally.ok("append");
            }
            Reply::Ok(v) => {
                log.anomalies
                    .push(format!("append ({client}, {seq}) acknowledged with {v}"));
                log.indeterminate.push(seq);
                log.tally
                    .indeterminate("append", "acknowledged without rows_affected 1");
            }
            Reply::Failed(why) => {
                log.failed.push(seq);
                log.tally.failed("append", &why);
                std::thread::sleep(BACKOFF);
            }
            Reply::Indeterminate(why) => {
                log.indeterminate.push(seq);
                log.tally.indeterminate("append", &why);
                std::thread::sleep(BACKOFF);
            }
        }
        std::thread::sleep(think);
    }
    log
}

/// Starts the append clients.
pub fn start_appends(
    spec: &WorkloadSpec,
    urls: &[String],
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Vec<JoinHandle<AppendLog>> {
    (0..spec.append_clients)
        .map(|i| {
            let client = APPEND_CLIENT_BASE + i;
            let (urls, stop) = (urls.to_vec(), stop.clone());
            let (timeout, think) = (spec.timeout, spec.think);
            std::thread::Builder::new()
                .name(format!("append-{client}"))
                .spawn(move || append_client(client, &urls, timeout, think, 16, seed, &stop))
                .expect("spawn append client")
        })
        .collect()
}

/// Creates the tables, retrying through every node until one acknowledges each statement.
pub fn create_schema(urls: &[String], within: Duration) -> Result<(), String> {
    let mut conns = Conns::new(urls, Duration::from_secs(5));
    let deadline = std::time::Instant::now() + within;
    for stmt in SCHEMA {
        let mut node = 0;
        let mut last;
        loop {
            match conns.execute(node % urls.len(), &json!([stmt])) {
                Reply::Ok(_) => break,
                // An indeterminate CREATE may have applied; then the retry says it exists.
                Reply::Failed(why) if why.contains("already exists") => break,
                Reply::Failed(why) | Reply::Indeterminate(why) => last = why,
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "{stmt}: not acknowledged within {within:?}: {last}"
                ));
            }
            node += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// Reads every row of `app` from `node` at level `none`, in pages.
pub fn read_appends(conns: &mut Conns, node: usize) -> Result<Vec<(u32, u64)>, String> {
    let mut rows = Vec::new();
    let mut after = 0i64;
    loop {
        let stmt = json!([
            "SELECT id, client, seq FROM app WHERE id > ?1 ORDER BY id LIMIT 20000",
            after
        ]);
        let v = match conns.query(node, stmt, "none") {
            Reply::Ok(v) => v,
            Reply::Failed(e) | Reply::Indeterminate(e) => return Err(e),
        };
        let page: Vec<Value> = v["results"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if page.is_empty() {
            return Ok(rows);
        }
        for r in &page {
            let (Some(id), Some(c), Some(s)) = (r[0].as_i64(), r[1].as_u64(), r[2].as_u64()) else {
                return Err(format!("malformed row {r}"));
            };
            after = id;
            rows.push((c as u32, s));
        }
    }
}
