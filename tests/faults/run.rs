//! One seeded run: build the cluster, run the workload under the nemeses, heal, check,
//! summarise. The summary is printed and written to
//! `<target>/reef-faults/<name>-seed<seed>/summary.txt`; on failure the full history
//! (`history.json`, replayable with the `replay` test), the append logs, the fault log and
//! the node logs are saved beside it.

use crate::checks;
use crate::client::{Conns, Tally};
use crate::harness::{ClusterSpec, Harness};
use crate::nemesis::{FaultRecord, Kind, Nemesis, NemesisSpec};
use crate::workload::{self, AppendLog, LooseRead, WorkloadSpec, FINAL_READ_CLIENT};
use reefdb::linearizability::{Call, Clock, History, Recorder};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RunSpec {
    pub name: String,
    pub seed: u64,
    pub duration: Duration,
    pub cluster: ClusterSpec,
    pub workload: WorkloadSpec,
    pub nemesis: NemesisSpec,
}

pub struct RunResult {
    pub passed: bool,
    pub summary: String,
    pub dir: PathBuf,
}

/// Where results go: `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn results_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")))
        .join("reef-faults")
}

pub fn run(mut spec: RunSpec) -> RunResult {
    let began = Instant::now();
    let mut h = Harness::new(&spec.cluster);
    if h.net.is_none() {
        spec.nemesis.kinds.retain(|k| !k.is_partition());
    }
    if h.disks.is_empty() {
        spec.nemesis.kinds.retain(|k| *k != Kind::DiskFull);
    }
    h.start_all();
    h.wait_leader(Duration::from_secs(60))
        .expect("the fresh cluster elects a leader within 60 s");
    let urls = h.urls();
    workload::create_schema(&urls, Duration::from_secs(30)).expect("schema");

    let clock = Clock::start();
    let stop = Arc::new(AtomicBool::new(false));
    let registers =
        workload::start_registers(&spec.workload, &urls, clock, spec.seed, stop.clone());
    let appends = workload::start_appends(&spec.workload, &urls, spec.seed, stop.clone());
    let mut nemesis = Nemesis::new(spec.nemesis.clone(), spec.seed, &urls, clock);
    nemesis.run(&mut h, spec.duration);
    stop.store(true, Ordering::Relaxed);
    let registers: Vec<_> = registers
        .into_iter()
        .map(|t| t.join().expect("register client"))
        .collect();
    let mut append_logs: Vec<AppendLog> = appends
        .into_iter()
        .map(|t| t.join().expect("append client"))
        .collect();
    append_logs.append(&mut nemesis.ballast_logs);
    let workload_secs = began.elapsed().as_secs_f64();

    // Recovery: every fault is over, every node runs again.
    h.heal_all();
    for id in h.ids() {
        if !h.running(id) {
            h.start(id);
        }
    }
    let mut results: Vec<Result<String, String>> = Vec::new();
    let healed = Instant::now();
    let leader = h.wait_leader(Duration::from_secs(90));
    let converged = checks::wait_converged(&h, Duration::from_secs(180));
    results.push(stamp(
        healed,
        match (&leader, &converged) {
            (Some(l), Ok(idx)) => Ok(format!(
                "recovery: leader {l}, all nodes applied through index {idx}"
            )),
            (_, Err(e)) => Err(format!("recovery: {e}")),
            (None, _) => Err("recovery: no leader within 90 s after healing".into()),
        },
    ));

    // One last linearizable read of every key closes each register's history.
    let mut tally = Tally::default();
    let mut loose: Vec<LooseRead> = Vec::new();
    let mut anomalies: Vec<String> = Vec::new();
    let mut recorders: Vec<Recorder> = Vec::new();
    for r in registers {
        tally.merge(&r.tally);
        loose.extend(r.loose);
        anomalies.extend(r.anomalies);
        recorders.push(r.recorder);
    }
    for a in &append_logs {
        tally.merge(&a.tally);
        anomalies.extend(a.anomalies.iter().cloned());
    }
    let probes = std::mem::replace(
        &mut nemesis.probes.recorder,
        Recorder::new(workload::PROBE_CLIENT, clock),
    );
    tally.merge(&nemesis.probes.tally);
    loose.extend(nemesis.probes.loose.iter().cloned());
    anomalies.extend(nemesis.probes.anomalies.iter().cloned());
    let keys: BTreeSet<String> = recorders
        .iter()
        .chain(std::iter::once(&probes))
        .flat_map(|r| r.ops().iter().map(|o| o.key.clone()))
        .collect();
    recorders.push(probes);
    let t = Instant::now();
    if let Some(l) = leader {
        let mut final_reads = Recorder::new(FINAL_READ_CLIENT, clock);
        let mut conns = Conns::new(&urls, Duration::from_secs(10));
        let mut final_tally = Tally::default();
        for key in &keys {
            workload::read(
                &mut conns,
                (l - 1) as usize,
                &mut final_reads,
                &mut Vec::new(),
                &mut final_tally,
                &mut anomalies,
                key,
                "linearizable",
            );
        }
        let [ok, failed, unknown] = final_tally.totals();
        results.push(stamp(
            t,
            if failed + unknown > 0 {
                Err(format!(
                    "final reads: {failed} failed and {unknown} indeterminate of {} after healing: {:?}",
                    keys.len(),
                    final_tally.reasons
                ))
            } else {
                Ok(format!("final reads: {ok} keys read linearizably"))
            },
        ));
        recorders.push(final_reads);
    }
    let history = History::from_recorders(recorders);

    if anomalies.is_empty() {
        results.push(Ok(
            "API answers consistent (no write acknowledged with the wrong rows_affected)".into(),
        ));
    } else {
        results.push(Err(format!(
            "API anomalies ({}): {}",
            anomalies.len(),
            anomalies
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let t = Instant::now();
    results.push(stamp(t, checks::appends(&h, &append_logs)));
    let t = Instant::now();
    results.push(stamp(t, checks::no_phantoms(&history, &loose)));
    let t = Instant::now();
    results.push(stamp(t, checks::digests(&h)));
    let t = Instant::now();
    results.push(stamp(t, checks::linearizable(&history)));
    if nemesis.problems.is_empty() {
        results.push(Ok("every fault behaved as expected".into()));
    } else {
        results.push(Err(format!(
            "fault expectations failed: {}",
            nemesis.problems.join(" || ")
        )));
    }
    let t = Instant::now();
    results.push(stamp(t, checks::graceful_stop(&mut h)));
    let t = Instant::now();
    results.push(stamp(t, checks::logs_verify(&h)));
    let panics = h.panics();
    results.push(if panics.is_empty() {
        Ok("no node panicked".into())
    } else {
        Err(format!("node panics: {panics:?}"))
    });

    let passed = results.iter().all(Result::is_ok);
    let summary = summarise(
        &spec,
        &h,
        &nemesis,
        &tally,
        &history,
        &results,
        passed,
        workload_secs,
        began.elapsed().as_secs_f64(),
    );
    let dir = results_root().join(format!("{}-seed{}", spec.name, spec.seed));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("summary.txt"), &summary);
    let _ = std::fs::write(dir.join("faults.json"), to_json(&nemesis.log));
    if !passed {
        let _ = history.save(&dir.join("history.json"));
        let _ = std::fs::write(dir.join("appends.json"), to_json(&append_logs));
        let _ = std::fs::write(dir.join("loose-reads.json"), to_json(&loose));
        for id in h.ids() {
            let _ = std::fs::copy(&h.cluster.node(id).log, dir.join(format!("node{id}.log")));
        }
    }
    RunResult {
        passed,
        summary,
        dir,
    }
}

/// Appends how long a check took to its line.
fn stamp(since: Instant, r: Result<String, String>) -> Result<String, String> {
    let took = format!(" [{:.1?}]", since.elapsed());
    r.map(|l| l + &took).map_err(|e| e + &took)
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    spec: &RunSpec,
    h: &Harness,
    nemesis: &Nemesis,
    tally: &Tally,
    history: &History,
    results: &[Result<String, String>],
    passed: bool,
    workload_secs: f64,
    total_secs: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "reef faults `{}`: seed {}, {} nodes, {:.0} s of faults ({:.0} s with recovery and checks)",
        spec.name, spec.seed, h.n, workload_secs, total_secs
    );
    let net = match (&h.net, &h.net_unavailable) {
        (Some(n), _) => n.describe(),
        (None, Some(why)) => format!("loopback (namespaces unavailable: {why})"),
        (None, None) => "loopback".into(),
    };
    let _ = writeln!(s, "network: {net}");
    if let Some(why) = &h.disk_unavailable {
        let _ = writeln!(s, "small data disk unavailable: {why}");
    }
    let _ = writeln!(
        s,
        "nemeses: {}",
        spec.nemesis
            .kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let counts = nemesis.counts();
    let _ = writeln!(
        s,
        "faults injected: {} ({}); liveness checks with every fault healed: {}",
        counts.values().sum::<u64>(),
        counts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        nemesis.liveness_checks()
    );
    let [ok, failed, unknown] = tally.totals();
    let _ = writeln!(
        s,
        "operations: {} (acknowledged {ok}, failed {failed}, indeterminate {unknown})",
        ok + failed + unknown
    );
    for (op, [o, f, u]) in &tally.ops {
        let _ = writeln!(
            s,
            "  {op:<18} ok {o:>7}  failed {f:>6}  indeterminate {u:>6}"
        );
    }
    let mut reasons: Vec<(&String, &u64)> = tally.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (why, n) in reasons.iter().take(8) {
        let _ = writeln!(s, "  {n:>7} x {why}");
    }
    let writes = history
        .ops
        .iter()
        .filter(|o| !matches!(o.call, Call::Read))
        .count();
    let _ = writeln!(
        s,
        "history: {} register operations checked for linearizability ({} writes/swaps)",
        history.ops.len(),
        writes,
    );
    let _ = writeln!(s, "checks:");
    for r in results {
        match r {
            Ok(line) => {
                let _ = writeln!(s, "  ok    {line}");
            }
            Err(e) => {
                let _ = writeln!(s, "  FAIL  {e}");
            }
        }
    }
    let _ = writeln!(s, "fault log:");
    for FaultRecord {
        kind,
        start_s,
        end_s,
        detail,
    } in &nemesis.log
    {
        let _ = writeln!(s, "  {start_s:>7.1}s..{end_s:>7.1}s {kind:<17} {detail}");
    }
    let _ = writeln!(s, "verdict: {}", if passed { "PASS" } else { "FAIL" });
    s
}
