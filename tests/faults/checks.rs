//! What must hold after every run, once every fault is healed and every node is back.
//!
//! Each check returns `Ok(line for the summary)` or `Err(what is wrong)`; the run collects
//! them all (one failing check does not hide the others).

use crate::client::Conns;
use crate::harness::Harness;
use crate::workload::{self, AppendLog, LooseRead};
use reefdb::linearizability::{self, Call, CheckOptions, History, Outcome};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Waits until every node runs, agrees on the leader, and has applied the same index, which
/// is its commit index. Returns that index.
pub fn wait_converged(h: &Harness, timeout: Duration) -> Result<u64, String> {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        let st: Vec<Option<serde_json::Value>> = h.ids().iter().map(|i| h.status(*i)).collect();
        if st.iter().all(Option::is_some) {
            let st: Vec<serde_json::Value> = st.into_iter().flatten().collect();
            let idx = |s: &serde_json::Value, k: &str| s[k].as_u64().unwrap_or(0);
            let applied: Vec<u64> = st.iter().map(|s| idx(s, "applied_index")).collect();
            let leaders: HashSet<u64> = st.iter().map(|s| idx(s, "leader_id")).collect();
            let caught_up = st
                .iter()
                .all(|s| idx(s, "commit_index") == idx(s, "applied_index"));
            if caught_up
                && leaders.len() == 1
                && !leaders.contains(&0)
                && applied.windows(2).all(|w| w[0] == w[1])
            {
                return Ok(applied[0]);
            }
            last = format!(
                "applied {applied:?}, leaders {leaders:?}, commit {:?}",
                st.iter()
                    .map(|s| idx(s, "commit_index"))
                    .collect::<Vec<_>>()
            );
        } else {
            last = format!(
                "nodes not answering: {:?}",
                h.ids()
                    .into_iter()
                    .zip(&st)
                    .filter(|(_, s)| s.is_none())
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>()
            );
        }
        if Instant::now() > deadline {
            return Err(format!("nodes did not converge within {timeout:?}: {last}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every acknowledged append is on every node exactly once; no row appears twice; no row
/// refused for certain appears; no row appears that nobody tried to insert.
pub fn appends(h: &Harness, logs: &[AppendLog]) -> Result<String, String> {
    let mut acked: HashSet<(u32, u64)> = HashSet::new();
    let mut failed: HashSet<(u32, u64)> = HashSet::new();
    let mut maybe: HashSet<(u32, u64)> = HashSet::new();
    for l in logs {
        acked.extend(l.acked.iter().map(|s| (l.client, *s)));
        failed.extend(l.failed.iter().map(|s| (l.client, *s)));
        maybe.extend(l.indeterminate.iter().map(|s| (l.client, *s)));
    }
    let mut conns = Conns::new(&h.urls(), Duration::from_secs(30));
    let mut errors = Vec::new();
    let mut sizes = Vec::new();
    for id in h.ids() {
        let rows = match workload::read_appends(&mut conns, (id - 1) as usize) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("node {id}: reading app: {e}"));
                continue;
            }
        };
        sizes.push(rows.len());
        let mut count: HashMap<(u32, u64), u32> = HashMap::new();
        for r in &rows {
            *count.entry(*r).or_default() += 1;
        }
        let mut problems = Vec::new();
        let lost: Vec<_> = acked.iter().filter(|k| !count.contains_key(k)).collect();
        if !lost.is_empty() {
            problems.push(format!(
                "{} acknowledged appends missing, e.g. {:?}",
                lost.len(),
                first(&lost)
            ));
        }
        let twice: Vec<_> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .collect();
        if !twice.is_empty() {
            problems.push(format!(
                "{} appends present more than once, e.g. {:?}",
                twice.len(),
                first(&twice)
            ));
        }
        let ghost: Vec<_> = count.keys().filter(|k| failed.contains(k)).collect();
        if !ghost.is_empty() {
            problems.push(format!(
                "{} appends present that were refused as 'not applied', e.g. {:?}",
                ghost.len(),
                first(&ghost)
            ));
        }
        let unknown: Vec<_> = count
            .keys()
            .filter(|k| !acked.contains(k) && !maybe.contains(k) && !failed.contains(k))
            .collect();
        if !unknown.is_empty() {
            problems.push(format!(
                "{} rows nobody inserted, e.g. {:?}",
                unknown.len(),
                first(&unknown)
            ));
        }
        if !problems.is_empty() {
            errors.push(format!("node {id}: {}", problems.join("; ")));
        }
    }
    if errors.is_empty() {
        Ok(format!(
            "appends: {} acknowledged present exactly once on all {} nodes (rows per node {:?}; {} indeterminate, {} refused absent)",
            acked.len(),
            h.ids().len(),
            sizes,
            maybe.len(),
            failed.len()
        ))
    } else {
        Err(format!("appends: {}", errors.join(" | ")))
    }
}

fn first<T: std::fmt::Debug + Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v.truncate(5);
    v
}

/// Reads at `none` (and every checked read) may be stale, never invented: every value seen
/// must have been written to that key by an operation that was not refused for certain.
pub fn no_phantoms(history: &History, loose: &[LooseRead]) -> Result<String, String> {
    let mut written: HashMap<&str, HashSet<i64>> = HashMap::new();
    for op in &history.ops {
        if op.outcome == Outcome::Failed {
            continue;
        }
        let v = match op.call {
            Call::Write { value } => value,
            Call::Cas { new, .. } => new,
            Call::Read => continue,
        };
        written.entry(op.key.as_str()).or_default().insert(v);
    }
    let mut bad = Vec::new();
    for r in loose {
        if let Some(v) = r.value {
            if !written.get(r.key.as_str()).is_some_and(|s| s.contains(&v)) {
                bad.push(format!(
                    "client {} read {}={v} at {}",
                    r.client, r.key, r.level
                ));
            }
        }
    }
    for op in &history.ops {
        if let Outcome::Read { value: Some(v) } = op.outcome {
            if !written.get(op.key.as_str()).is_some_and(|s| s.contains(&v)) {
                bad.push(format!("{op}"));
            }
        }
    }
    if bad.is_empty() {
        Ok(format!(
            "no phantom values: {} `none` reads and every checked read saw only written values",
            loose.len()
        ))
    } else {
        bad.truncate(10);
        Err(format!(
            "reads saw values never written (or written by a refused write): {}",
            bad.join("; ")
        ))
    }
}

/// The register histories are linearizable.
pub fn linearizable(history: &History) -> Result<String, String> {
    let opts = CheckOptions {
        timeout: Duration::from_secs(600),
        threads: 2,
        ..CheckOptions::default()
    };
    let report = linearizability::check(history, &opts).map_err(|e| e.to_string())?;
    let line = format!(
        "{:?}: {} keys, {} operations checked in {:.1?}",
        report.verdict,
        report.keys.len(),
        report.keys.iter().map(|k| k.ops).sum::<usize>(),
        report.elapsed
    );
    if report.is_linearizable() {
        Ok(format!("linearizability: {line}"))
    } else {
        Err(format!("linearizability: {report}"))
    }
}

/// Every node's state digest is the same. Digests are compared at one applied index when
/// the nodes stand still there; entries that change no state (a new leader's no-op) may move
/// some nodes one index on between the polls, and equal digests then still prove the same
/// state. Different digests at one index fail at once; at different indexes they are polled
/// again (a node may still be applying). Polls are few and spaced: `?digest` hashes the
/// whole state on the node, which is not free.
pub fn digests(h: &Harness) -> Result<String, String> {
    let mut last = String::new();
    for attempt in 0..10 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        let got: Vec<Option<(u64, String)>> = h
            .ids()
            .iter()
            .map(|i| {
                let s = h.cluster.status_within(*i, true, Duration::from_secs(30))?;
                Some((
                    s["digest_applied_index"].as_u64()?,
                    s["state_digest"].as_str()?.to_string(),
                ))
            })
            .collect();
        if !got.iter().all(Option::is_some) {
            last = format!("not every node answered: {got:?}");
            continue;
        }
        let got: Vec<(u64, String)> = got.into_iter().flatten().collect();
        for a in &got {
            for b in &got {
                if a.0 == b.0 && a.1 != b.1 {
                    return Err(format!(
                        "state digests differ at applied index {}: {got:?}",
                        a.0
                    ));
                }
            }
        }
        if got.windows(2).all(|w| w[0].1 == w[1].1) {
            let indexes: std::collections::BTreeSet<u64> = got.iter().map(|g| g.0).collect();
            return Ok(format!(
                "state digests: all {} nodes {} (applied indexes {indexes:?})",
                got.len(),
                got[0].1
            ));
        }
        last = format!("{got:?}");
    }
    Err(format!("state digests never converged: {last}"))
}

/// Stops every node with SIGTERM; each must exit cleanly.
pub fn graceful_stop(h: &mut Harness) -> Result<String, String> {
    let mut errors = Vec::new();
    for id in h.ids() {
        h.resume(id);
        let Some(pid) = h.cluster.pid(id) else {
            errors.push(format!("node {id} was not running"));
            continue;
        };
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = h.cluster.reap(id) {
                if !st.success() {
                    errors.push(format!("node {id} exited with {st} on SIGTERM"));
                }
                break;
            }
            if Instant::now() > deadline {
                errors.push(format!("node {id} ignored SIGTERM for 20 s"));
                h.kill(id);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if errors.is_empty() {
        Ok(format!(
            "graceful stop: all {} nodes exited 0 on SIGTERM",
            h.ids().len()
        ))
    } else {
        Err(format!("graceful stop: {}", errors.join("; ")))
    }
}

/// `reef-logtool verify` is clean on every (stopped) node's raft dir.
pub fn logs_verify(h: &Harness) -> Result<String, String> {
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    for id in h.ids() {
        match reef_tools::logtool::verify(&h.raft_dir(id)) {
            Ok(s) => lines.push(format!("node {id}: {s}")),
            Err(e) => errors.push(format!("node {id}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(format!("logtool verify clean: {}", lines.join(" | ")))
    } else {
        Err(format!("logtool verify: {}", errors.join(" | ")))
    }
}
