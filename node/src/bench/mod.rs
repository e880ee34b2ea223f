//! `reefdb bench`: a load generator for ReefDB's HTTP API (and, for comparison, etcd's
//! JSON gateway) that reports latency people can trust.
//!
//! Plain threads, one keep-alive connection each (the shared client in `crate::client`),
//! because a blocking request/response loop per client costs two syscalls and no runtime,
//! and the report includes the generator's own CPU use to show it was not the bottleneck.
//! Closed loop by default; with `--rate` open loop, where latency counts from each
//! request's due time (coordinated omission). Latencies go into HdrHistograms; `--out`
//! writes `.hgrm`, a JSON summary and an SVG chart. Modules: [`workload`] (what to send),
//! [`reef`] and [`etcd`] (request bodies and checks per target), [`schedule`] (open-loop
//! times), [`worker`] (one client), [`tally`] (counts), [`summary`] (JSON and report),
//! [`hgrm`], [`svg`] and [`plot`] (outputs), [`rusage`] (own CPU), [`units`].

pub mod etcd;
pub mod hgrm;
pub mod plot;
pub mod reef;
pub mod rusage;
pub mod schedule;
pub mod summary;
pub mod svg;
pub mod tally;
pub mod units;
pub mod worker;
pub mod workload;

pub use plot::{plot, PlotArgs};
pub use summary::Summary;
pub use workload::{OpKind, Workload};

use crate::client::{ClientError, Endpoint};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tally::Tally;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Args(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What is being measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// ReefDB (or rqlite): /db/execute and /db/query.
    Reefdb,
    /// etcd v3 through its JSON gateway: /v3/kv/put and /v3/kv/range.
    Etcd,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Reefdb => "reefdb",
            TargetKind::Etcd => "etcd",
        }
    }
}

/// `reefdb bench ...` (a run) or `reefdb bench plot ...`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// Compare runs: one SVG chart from several .hgrm files.
    Plot(PlotArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Base URL(s) of the target; clients are spread over them round-robin.
    #[arg(long, required = true, value_delimiter = ',')]
    pub url: Vec<String>,
    #[arg(long, value_enum, default_value = "reefdb")]
    pub target: TargetKind,
    #[arg(long, value_enum, default_value = "insert")]
    pub workload: Workload,
    /// Concurrent clients (threads, one connection each).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Measured time (30s, 2m, 500ms).
    #[arg(long, default_value = "30s", value_parser = units::parse_duration)]
    pub duration: Duration,
    /// Unmeasured time before it.
    #[arg(long, default_value = "0s", value_parser = units::parse_duration)]
    pub warmup: Duration,
    /// Open loop: total requests per second over all clients.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Read consistency level (ReefDB: linearizable|weak|none|strong; etcd:
    /// linearizable, or serializable/none/weak for serializable reads).
    #[arg(long)]
    pub level: Option<String>,
    /// Statements per request (etcd: operations per txn).
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// Rows (keys) to preload for update and read workloads [default: 10000 for those].
    #[arg(long)]
    pub rows: Option<u64>,
    /// Bytes per value.
    #[arg(long, default_value_t = 32)]
    pub value_size: usize,
    /// Rows per range read.
    #[arg(long, default_value_t = 10)]
    pub scan: u64,
    /// Percentage of point reads in the mixed workload (the rest are updates).
    #[arg(long, default_value_t = 90)]
    pub read_percent: u32,
    /// Table name (ReefDB).
    #[arg(long, default_value = "bench")]
    pub table: String,
    /// Drop the table (delete the bench keys) before starting.
    #[arg(long)]
    pub fresh: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = units::parse_duration)]
    pub timeout: Duration,
    /// Directory for <label>.hgrm, <label>.json and <label>.svg.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of this run in files and charts [default: <target>-<workload>[-<level>]].
    #[arg(long)]
    pub label: Option<String>,
    /// Random seed (key choice); runs with the same seed send the same keys.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No live progress line even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

/// Entry point of `reefdb bench`.
pub fn run(args: BenchArgs) -> Result<(), BenchError> {
    match &args.command {
        Some(BenchCommand::Plot(p)) => plot(p),
        None => run_load(&args.run).map(|_| ()),
    }
}

fn validate(a: &RunArgs) -> Result<(Vec<Endpoint>, workload::Params), BenchError> {
    let bad = |m: &str| Err(BenchError::Args(m.to_string()));
    if a.clients == 0 || a.clients > 10_000 {
        return bad("--clients must be between 1 and 10000");
    }
    if a.batch == 0 || a.batch > 10_000 {
        return bad("--batch must be between 1 and 10000");
    }
    if a.duration.is_zero() {
        return bad("--duration must be positive");
    }
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return bad("--rate must be a positive number of requests per second");
        }
    }
    if a.read_percent > 100 {
        return bad("--read-percent must be 0..=100");
    }
    if a.value_size == 0 || a.value_size > 1 << 20 {
        return bad("--value-size must be between 1 and 1048576");
    }
    let ident_ok = a
        .table
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && a.table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident_ok {
        return bad("--table must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)");
    }
    if let Some(l) = &a.level {
        if !l
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad("--level must be a word such as linearizable, weak, none, strong");
        }
    }
    let endpoints = a
        .url
        .iter()
        .map(|u| Endpoint::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.is_empty() {
        return bad("give at least one --url");
    }
    let rows = a
        .rows
        .unwrap_or(if a.workload.needs_rows() { 10_000 } else { 0 });
    if a.workload.needs_rows() && rows == 0 {
        return bad("this workload reads or updates preloaded rows: --rows must be > 0");
    }
    if a.workload == Workload::RangeRead && a.scan == 0 {
        return bad("--scan must be > 0");
    }
    Ok((
        endpoints,
        workload::Params {
            workload: a.workload,
            batch: a.batch,
            rows,
            value_size: a.value_size,
            scan: a.scan,
            read_percent: a.read_percent,
            level: a.level.clone(),
            table: a.table.clone(),
        },
    ))
}

/// Label of a run when none is given.
pub fn default_label(a: &RunArgs) -> String {
    let mut l = format!("{}-{}", a.target.name(), a.workload.name());
    if let Some(level) = &a.level {
        l.push('-');
        l.push_str(level);
    }
    l
}

/// Runs the load and returns its summary (also printed, and written under `--out`).
pub fn run_load(a: &RunArgs) -> Result<Summary, BenchError> {
    let (endpoints, params) = validate(a)?;
    let label = a.label.clone().unwrap_or_else(|| default_label(a));
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let setup_started = Instant::now();
    let loaded = match a.target {
        TargetKind::Reefdb => reef::setup(&endpoints[0], &params, a.fresh, a.clients, a.timeout)?,
        TargetKind::Etcd => etcd::setup(&endpoints[0], &params, a.fresh, a.clients, a.timeout)?,
    };
    if loaded > 0 {
        eprintln!(
            "setup: loaded {loaded} rows into {} in {:.1?}",
            endpoints[0],
            setup_started.elapsed()
        );
    }
    let params = Arc::new(params);
    let kinds = params.kinds();
    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let cpu_before = rusage::CpuTime::now();
    // A short lead so every thread is up before the first request falls due.
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + a.warmup;
    let deadline = measure_from + a.duration;
    let (tx, rx) = mpsc::channel::<Tally>();
    let mut handles = Vec::with_capacity(a.clients);
    for id in 0..a.clients {
        let spec = worker::WorkerSpec {
            id,
            endpoint: endpoints[id % endpoints.len()].clone(),
            timeout: a.timeout,
            target: a.target,
            params: Arc::clone(&params),
            schedule: a
                .rate
                .map(|r| schedule::Schedule::new(start, r, a.clients as u64, id as u64)),
            measure_from,
            deadline,
            seed: a
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(id as u64),
        };
        let tx = tx.clone();
        let h = std::thread::Builder::new()
            .name(format!("bench-{id}"))
            .spawn(move || worker::run(spec, tx))
            .map_err(|e| BenchError::Setup(format!("cannot start client thread {id}: {e}")))?;
        handles.push(h);
    }
    drop(tx);
    let total = collect(&rx, a, start, measure_from, deadline);
    for h in handles {
        let _ = h.join();
    }
    let wall = start.elapsed();
    let cpu = rusage::CpuTime::now().since(&cpu_before);
    let config = summary::RunConfig {
        label: label.clone(),
        target: a.target.name().to_string(),
        urls: endpoints.iter().map(Endpoint::url).collect(),
        workload: a.workload.name().to_string(),
        mode: if a.rate.is_some() {
            "open-loop"
        } else {
            "closed-loop"
        }
        .to_string(),
        clients: a.clients,
        rate: a.rate,
        duration_s: a.duration.as_secs_f64(),
        warmup_s: a.warmup.as_secs_f64(),
        level: a.level.clone(),
        batch: a.batch,
        rows: params.rows,
        value_size: a.value_size,
    };
    let summary = Summary::new(
        config,
        started_unix_s,
        &total,
        &kinds,
        a.duration,
        cpu,
        wall,
    );
    print!("{}", summary.report());
    if let Some(dir) = &a.out {
        write_outputs(dir, &label, &summary, &total, &kinds)?;
    }
    Ok(summary)
}

/// Adds up worker tallies until every worker is done, with a live line on a terminal.
fn collect(
    rx: &mpsc::Receiver<Tally>,
    a: &RunArgs,
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
) -> Tally {
    let live = !a.quiet && std::io::stdout().is_terminal();
    let mut total = Tally::default();
    let mut window_requests = 0u64;
    let mut last_print = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(t) => {
                window_requests += t.total_requests();
                total.add(&t);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if live && last_print.elapsed() >= Duration::from_secs(1) {
            let now = Instant::now();
            let phase = if now < measure_from {
                "warm-up"
            } else if now < deadline {
                "running"
            } else {
                "draining"
            };
            let merged = total.merged();
            let p99 = if merged.is_empty() {
                0.0
            } else {
                merged.value_at_quantile(0.99) as f64 / hgrm::SCALE
            };
            let rate = window_requests as f64 / last_print.elapsed().as_secs_f64();
            print!(
                "\r\x1b[2K  {:>6.1}s {phase}  {rate:>10.0} req/s  p99 {p99:.3} ms  errors {}",
                now.duration_since(start).as_secs_f64(),
                total.total_errors()
            );
            let _ = std::io::stdout().flush();
            window_requests = 0;
            last_print = now;
        }
    }
    if live {
        print!("\r\x1b[2K");
        let _ = std::io::stdout().flush();
    }
    total
}

fn write_file(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_outputs(
    dir: &Path,
    label: &str,
    summary: &Summary,
    total: &Tally,
    kinds: &[OpKind],
) -> Result<(), BenchError> {
    let merged = total.merged();
    write_file(&dir.join(format!("{label}.hgrm")), &hgrm::write(&merged))?;
    write_file(&dir.join(format!("{label}.json")), &summary.to_json())?;
    let mut series = vec![hgrm::Series::from_histogram(label, &merged)];
    if kinds.len() > 1 {
        series.clear();
        for k in kinds {
            let name = format!("{label}-{}", k.name());
            write_file(
                &dir.join(format!("{name}.hgrm")),
                &hgrm::write(total.kind(*k)),
            )?;
            series.push(hgrm::Series::from_histogram(&name, total.kind(*k)));
        }
    }
    let title = format!(
        "{label}: {} clients, {:.0} req/s",
        summary.config.clients, summary.requests_per_s
    );
    write_file(
        &dir.join(format!("{label}.svg")),
        &svg::render(&title, &series),
    )?;
    println!("  wrote        {}/{label}.{{hgrm,json,svg}}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn command_line_forms() {
        let cli = Cli::try_parse_from([
            "bench",
            "--url",
            "http://a:1,http://b:2",
            "--workload",
            "point-read",
            "--clients",
            "64",
            "--duration",
            "10s",
            "--rate",
            "5000",
            "--level",
            "weak",
            "--batch",
            "4",
            "--rows",
            "1000",
            "--out",
            "/tmp/x",
        ])
        .unwrap();
        assert!(cli.bench.command.is_none());
        let r = &cli.bench.run;
        assert_eq!(r.url, ["http://a:1", "http://b:2"]);
        assert_eq!((r.clients, r.batch, r.rows), (64, 4, Some(1000)));
        assert_eq!(r.duration, Duration::from_secs(10));
        assert_eq!(default_label(r), "reefdb-point-read-weak");
        let (eps, params) = validate(r).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(params.rows, 1000);

        let cli =
            Cli::try_parse_from(["bench", "plot", "a.hgrm", "b.hgrm", "-o", "c.svg"]).unwrap();
        match cli.bench.command {
            Some(BenchCommand::Plot(p)) => {
                assert_eq!(p.files.len(), 2);
                assert_eq!(p.output, PathBuf::from("c.svg"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Cli::try_parse_from(["bench", "--clients", "3"]).is_err(),
            "--url is required"
        );
    }

    #[test]
    fn bad_arguments_are_refused_with_the_flag_named() {
        let parse = |extra: &[&str]| {
            let mut v = vec!["bench", "--url", "http://a:1"];
            v.extend_from_slice(extra);
            validate(&Cli::try_parse_from(v).unwrap().bench.run)
        };
        for (extra, flag) in [
            (&["--clients", "0"][..], "--clients"),
            (&["--rate", "0"][..], "--rate"),
            (&["--table", "x; DROP"][..], "--table"),
            (&["--workload", "update", "--rows", "0"][..], "--rows"),
            (&["--read-percent", "101"][..], "--read-percent"),
            (&["--level", "a&b"][..], "--level"),
        ] {
            let e = parse(extra).unwrap_err().to_string();
            assert!(e.contains(flag), "{extra:?}: {e}");
        }
        assert!(
            parse(&["--workload", "update"]).is_ok(),
            "rows default to 10000"
        );
    }

    #[test]
    fn plot_writes_a_chart_of_several_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (i, name) in ["a", "b"].iter().enumerate() {
            let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
            for v in 1..1000u64 {
                h.record(v * (i as u64 + 1)).unwrap();
            }
            let f = dir.path().join(format!("{name}.hgrm"));
            std::fs::write(&f, hgrm::write(&h)).unwrap();
            files.push(f);
        }
        let output = dir.path().join("chart.svg");
        plot(&PlotArgs {
            files: files.clone(),
            output: output.clone(),
            title: "t".into(),
        })
        .unwrap();
        let doc = std::fs::read_to_string(&output).unwrap();
        let xml = roxmltree::Document::parse(&doc).unwrap();
        assert_eq!(
            xml.descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .count(),
            2
        );
        files.push(dir.path().join("missing.hgrm"));
        let e = plot(&PlotArgs {
            files,
            output,
            title: "t".into(),
        })
        .unwrap_err();
        assert!(e.to_string().contains("missing.hgrm"), "{e}");
    }
}
