//! The run's results: a JSON summary (for scripts and the README's tables) and the
//! human report printed at the end.

use super::hgrm::SCALE;
use super::rusage::CpuTime;
use super::tally::Tally;
use super::workload::OpKind;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let q = |x: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.highest_equivalent(h.value_at_quantile(x)) as f64 / SCALE
            }
        };
        Latency {
            count: h.len(),
            mean: if h.is_empty() { 0.0 } else { h.mean() / SCALE },
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: if h.is_empty() {
                0.0
            } else {
                h.max() as f64 / SCALE
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    pub requests: u64,
    pub requests_per_s: f64,
    pub latency_ms: Latency,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuSummary {
    pub user_s: f64,
    pub system_s: f64,
    /// 100 = one core busy for the whole run.
    pub percent_of_one_core: f64,
    pub cores: usize,
}

/// What a run was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub label: String,
    pub target: String,
    pub urls: Vec<String>,
    pub workload: String,
    pub mode: String,
    pub clients: usize,
    pub rate: Option<f64>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub level: Option<String>,
    pub batch: u32,
    pub rows: u64,
    pub value_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub tool: String,
    pub format_version: u32,
    pub config: RunConfig,
    pub started_unix_s: f64,
    pub requests: u64,
    pub statements: u64,
    pub requests_per_s: f64,
    pub statements_per_s: f64,
    pub errors_total: u64,
    pub errors: BTreeMap<String, u64>,
    pub not_sent: u64,
    pub latency_ms: Latency,
    pub by_op: BTreeMap<String, OpSummary>,
    pub bench_cpu: CpuSummary,
}

impl Summary {
    pub fn new(
        config: RunConfig,
        started_unix_s: f64,
        tally: &Tally,
        kinds: &[OpKind],
        measured: Duration,
        cpu: CpuTime,
        wall: Duration,
    ) -> Summary {
        let secs = measured.as_secs_f64().max(1e-9);
        let by_op = kinds
            .iter()
            .map(|k| {
                let n = tally.requests[k.index()];
                (
                    k.name().to_string(),
                    OpSummary {
                        requests: n,
                        requests_per_s: n as f64 / secs,
                        latency_ms: Latency::of(tally.kind(*k)),
                    },
                )
            })
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Summary {
            tool: "reefdb bench".to_string(),
            format_version: 1,
            config,
            started_unix_s,
            requests: tally.total_requests(),
            statements: tally.statements,
            requests_per_s: tally.total_requests() as f64 / secs,
            statements_per_s: tally.statements as f64 / secs,
            errors_total: tally.total_errors(),
            errors: tally.errors.clone(),
            not_sent: tally.not_sent,
            latency_ms: Latency::of(&tally.merged()),
            by_op,
            bench_cpu: CpuSummary {
                user_s: cpu.user.as_secs_f64(),
                system_s: cpu.system.as_secs_f64(),
                percent_of_one_core: 100.0 * cpu.total().as_secs_f64()
                    / wall.as_secs_f64().max(1e-9),
                cores,
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report printed at the end of a run.
    pub fn report(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let rate = match c.rate {
            Some(r) => format!("open-loop at {r}/s"),
            None => "closed-loop".to_string(),
        };
        let level = c
            .level
            .as_deref()
            .map(|l| format!(", level {l}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{} {} against {} {} ({} clients, {rate}, {}s{}, batch {}{level})",
            c.label,
            c.workload,
            c.target,
            c.urls.join(","),
            c.clients,
            c.duration_s,
            if c.warmup_s > 0.0 {
                format!(" after {}s warm-up", c.warmup_s)
            } else {
                String::new()
            },
            c.batch
        );
        let _ = writeln!(
            s,
            "  throughput   {:.1} requests/s, {:.1} statements/s ({} requests)",
            self.requests_per_s, self.statements_per_s, self.requests
        );
        if self.errors_total == 0 {
            let _ = writeln!(s, "  errors       none");
        } else {
            let _ = writeln!(s, "  errors       {}", self.errors_total);
            for (k, n) in &self.errors {
                let _ = writeln!(s, "    {n:>10}  {k}");
            }
        }
        if self.not_sent > 0 {
            let _ = writeln!(
                s,
                "  NOT SENT     {} requests fell due but were never sent: the target did not keep up with the rate",
                self.not_sent
            );
        }
        let _ = writeln!(
            s,
            "  latency ms   {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
        );
        let mut row = |name: &str, l: &Latency| {
            let _ = writeln!(
                s,
                "  {name:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max, l.mean
            );
        };
        if self.by_op.len() > 1 {
            for (name, op) in &self.by_op {
                row(name, &op.latency_ms);
            }
        }
        row("all", &self.latency_ms);
        let cpu = &self.bench_cpu;
        let _ = writeln!(
            s,
            "  bench CPU    {:.0}% of one core (user {:.2}s, system {:.2}s; {} cores here)",
            cpu.percent_of_one_core, cpu.user_s, cpu.system_s, cpu.cores
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        RunConfig {
            label: "t".into(),
            target: "reefdb".into(),
            urls: vec!["http://127.0.0.1:4001".into()],
            workload: "mixed".into(),
            mode: "closed-loop".into(),
            clients: 4,
            rate: None,
            duration_s: 2.0,
            warmup_s: 0.0,
            level: None,
            batch: 1,
            rows: 10,
            value_size: 8,
        }
    }

    #[test]
    fn summary_numbers_and_json_round_trip() {
        let mut t = Tally::default();
        for us in 1..=1000 {
            t.record(OpKind::PointRead, us * 10, 1); // 10 µs .. 10 ms
        }
        t.record(OpKind::Update, 20_000, 1);
        t.error("timeout");
        let cpu = CpuTime {
            user: Duration::from_millis(300),
            system: Duration::from_millis(100),
        };
        let s = Summary::new(
            config(),
            1.0,
            &t,
            &[OpKind::Update, OpKind::PointRead],
            Duration::from_secs(2),
            cpu,
            Duration::from_secs(2),
        );
        assert_eq!(s.requests, 1001);
        assert!((s.requests_per_s - 500.5).abs() < 1e-9);
        assert_eq!(s.errors_total, 1);
        assert!((s.bench_cpu.percent_of_one_core - 20.0).abs() < 1e-9);
        let reads = &s.by_op["point-read"].latency_ms;
        assert!((reads.p50 - 5.0).abs() < 0.01, "{reads:?}");
        assert!((reads.p99 - 9.9).abs() < 0.02, "{reads:?}");
        assert!(reads.p50 <= reads.p90 && reads.p90 <= reads.p99 && reads.p99 <= reads.max);
        assert!((s.latency_ms.max - 20.0).abs() < 0.05);
        let back: Summary = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(back, s);
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        for key in [
            "requests_per_s",
            "errors",
            "latency_ms",
            "bench_cpu",
            "by_op",
            "config",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        let report = s.report();
        assert!(report.contains("500.5 requests/s"), "{report}");
        assert!(report.contains("timeout"), "{report}");
        assert!(report.contains("point-read"), "{report}");
        assert!(report.contains("20% of one core"), "{report}");
    }
}
