//! `cargo bench --bench raftlog`: durable-append latency of the log against raw O_DIRECT writes
//! on the same disk, measured in the same run (hdrhistogram; harness = false).
//!
//! (a) one appender, 1 KiB entries, each append flushed: per-append latency.
//! (b) 64 concurrent appenders on one executor, 1 KiB entries, each awaiting its own append's
//!     durability: throughput and latency, in 8 rounds, each preceded by a burst of raw 64 KiB
//!     write + fdatasync whose p50 gives that round's bound (64 entries per raw write).
//!     Steady state: one unmeasured round first, and the log compacted to its last index
//!     after every round, as a node does after each snapshot.
//! (c) raw 4 KiB write + fdatasync (and with O_DSYNC; into zero-filled and into fallocated
//!     blocks), and raw 64 KiB write + fdatasync measured alone.
//! Writes `<target>/reef-bench/raftlog.json` and prints the ratios against the targets
//! (single p50 within 1.3x raw p50; group >= 70% of the raw bound, overall and per round).
//! (b) is compared two ways: with the bound from the raw writes' p50 (64 entries per p50),
//! and with the raw bursts' own throughput (64 entries per write, writes per second of the
//! burst). The second compares like with like: both are back-to-back durable writes whose
//! slow ones count; the p50 bound leaves out the raw writes' slow half.
//!
//! `--group-only N` runs only (b) with N appends per task (for callgrind: see `SPIN_US`).
//! Environment: `SETTLE_MS` (wait before (b), default 1000), `CACHE_MB` ((b)'s cache budget),
//! `SYNC=fdatasync` ((b)'s sync mode), `PRE_RAW` (with `--group-only`: raw writes first, as
//! the full run does), `SPIN_US`,
//! `CPU_SPLIT` (print user/system CPU).
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default)]

use glommio::io::{DmaFile, OpenOptions};
use hdrhistogram::Histogram;
use raft::eraftpb::Entry;
use reef_raftlog::{LogConfig, RaftLog, SyncMode};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

const SINGLE_N: u64 = 4000;
const TASKS: u64 = 64;
const EACH: u64 = 400;
const RAW_N: u64 = 4000;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn line(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<44} n={:<6} p50={:>6}us p90={:>6}us p99={:>6}us p99.9={:>6}us max={:>7}us",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

thread_local! {
    /// The 1 KiB payloads, made once. Raft hands the log entries whose data already exists;
    /// allocating a fresh payload per append would charge the caller's allocation (and this
    /// allocator's heap growth, 15% of (b)'s CPU under perf) to the log.
    static PAYLOADS: Vec<bytes::Bytes> =
        (0..251u8).map(|b| bytes::Bytes::from(vec![b; 1024])).collect();
}

fn entry(index: u64) -> Entry {
    let mut e = Entry::default();
    e.index = index;
    e.term = 1;
    e.data = PAYLOADS.with(|p| p[(index % 251) as usize].clone());
    e
}

async fn single(dir: &Path, mode: SyncMode) -> Histogram<u64> {
    let cfg = LogConfig {
        sync_mode: mode,
        ..LogConfig::default()
    };
    let mut log = RaftLog::open(dir, cfg).await.unwrap();
    let mut h = hist();
    for i in 1..=SINGLE_N + 200 {
        let t = Instant::now();
        log.append(&[entry(i)]).unwrap();
        log.flush().await.unwrap();
        if i > 200 {
            h.record(t.elapsed().as_micros() as u64).unwrap();
        }
    }
    log.close().await.unwrap();
    h
}

/// What (b) measured.
struct Group {
    hist: Histogram<u64>,
    entries_per_s: f64,
    avg_batch: f64,
    /// Mean time a flush spent writing and syncing (the device's share of a round), in us.
    avg_sync_us: f64,
    /// CPU time (user + system) of the executor thread per append, in microseconds.
    cpu_us_per_append: f64,
    /// glommio scheduler runs (task-queue selections) and task polls per flush.
    sched_runs_per_flush: f64,
    tasks_per_flush: f64,
    /// Raw 64 KiB write + fdatasync, measured in bursts between (b)'s rounds.
    raw64: Histogram<u64>,
    /// Per round: (b)'s throughput over the bound from the raw burst just before it.
    round_ratios: Vec<f64>,
    /// Entries/s the raw bursts achieved back to back (64 per write): the same quantity as
    /// (b)'s throughput, where the p50 bound above ignores the slow writes of the burst.
    raw_burst_bound: f64,
    /// Per round: (b)'s throughput over the raw burst's own throughput.
    round_ratios_tput: Vec<f64>,
}

/// (b)'s log configuration: the default, with the entry cache budget from `CACHE_MB` and
/// `SYNC=fdatasync` for plain writes + fdatasync instead of O_DSYNC.
fn group_cfg() -> LogConfig {
    let mut cfg = LogConfig::default();
    if std::env::var("SYNC").is_ok_and(|v| v == "fdatasync") {
        cfg.sync_mode = SyncMode::Fdatasync;
    }
    if let Some(mb) = std::env::var("CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        cfg.cache_bytes = mb << 20;
    }
    cfg
}

fn thread_cpu_us() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    if std::env::var_os("CPU_SPLIT").is_some() {
        println!("user {:.0} sys {:.0}", us(ru.ru_utime), us(ru.ru_stime));
    }
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// Rounds of (b); each is preceded by a burst of raw 64 KiB writes, so every ratio compares
/// two measurements taken moments apart (this machine's disk is shared and its latency drifts
/// by 10x within seconds).
const ROUNDS: u64 = 8;
/// Raw 64 KiB write + fdatasync per round.
const RAW_PER_ROUND: u64 = 60;

/// `TASKS` concurrent appenders of `n` appends each, every one awaiting its own durability;
/// per-append latencies go to `h` if given.
async fn appenders(log: &Rc<RefCell<RaftLog>>, n: u64, h: Option<&Rc<RefCell<Histogram<u64>>>>) {
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let log = log.clone();
        let h = h.cloned();
        tasks.push(glommio::spawn_local(async move {
            for _ in 0..n {
                let t = Instant::now();
                let durable = {
                    let mut l = log.borrow_mut();
                    let idx = raft::Storage::last_index(&*l).unwrap() + 1;
                    l.append(&[entry(idx)]).unwrap();
                    l.flush()
                };
                durable.await.unwrap();
                if let Some(h) = &h {
                    h.borrow_mut()
                        .record(t.elapsed().as_micros() as u64)
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

/// Compacts the log to its last index and waits until that is durable.
async fn compact_all(log: &Rc<RefCell<RaftLog>>) {
    let durable = {
        let mut l = log.borrow_mut();
        let last = raft::Storage::last_index(&*l).unwrap();
        l.compact(last).unwrap();
        l.flush()
    };
    durable.await.unwrap();
}

/// (b): 64 appenders, `each` appends each, in `ROUNDS` rounds interleaved with raw bursts.
async fn group(dir: &Path, each: u64) -> Group {
    let log = Rc::new(RefCell::new(RaftLog::open(dir, group_cfg()).await.unwrap()));
    let batches = Rc::new(RefCell::new(Vec::new()));
    let b2 = batches.clone();
    log.borrow_mut()
        .on_flush(Box::new(move |r| {
            b2.borrow_mut().push((r.waiters, r.sync_micros))
        }))
        .unwrap();
    let raw_path = dir.with_extension("raw64");
    let raw_file = raw_file(
        &raw_path,
        65536 * (ROUNDS * RAW_PER_ROUND + 10),
        true,
        false,
    )
    .await;
    // A fresh log zero-fills its first spare segment (64 MiB) in the background; measuring
    // while that competes for the disk would make (b) a measure of the fill, which a running
    // node pays once per 64 MiB of log (and never when segments are recycled). Wait for it.
    let settle = std::env::var("SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    glommio::timer::sleep(std::time::Duration::from_millis(settle)).await;
    let h = Rc::new(RefCell::new(hist()));
    let mut raw64 = hist();
    let mut round_ratios = Vec::new();
    let mut round_ratios_tput = Vec::new();
    let mut raw_burst_secs = 0.0;
    let (mut secs, mut cpu) = (0.0, 0.0);
    let per_round = each.div_ceil(ROUNDS);
    // One unmeasured round first, and after every round the log is compacted to its last
    // index, as a node does after each snapshot: the index and the entry cache then reuse
    // the memory of earlier rounds. Without this, every round of a fresh log first-touched
    // ~9 KiB of new index and cache memory per flush, ~2.3 page faults of ~3 us each on
    // this VM: a cost of a log's first minutes, not of the steady state measured here.
    appenders(&log, per_round, None).await;
    compact_all(&log).await;
    batches.borrow_mut().clear();
    let _ = glommio::executor().executor_stats();
    for round in 0..ROUNDS {
        let mut raw_round = hist();
        let raw_start = Instant::now();
        raw_writes(
            &raw_file,
            65536,
            false,
            round * RAW_PER_ROUND,
            RAW_PER_ROUND,
            &mut raw_round,
        )
        .await;
        let raw_secs = raw_start.elapsed().as_secs_f64();
        raw_burst_secs += raw_secs;
        raw64.add(&raw_round).unwrap();
        let cpu0 = thread_cpu_us();
        let start = Instant::now();
        appenders(&log, per_round, Some(&h)).await;
        let s = start.elapsed().as_secs_f64();
        secs += s;
        cpu += thread_cpu_us() - cpu0;
        let bound = TASKS as f64 * 1e6 / raw_round.value_at_quantile(0.5) as f64;
        round_ratios.push((TASKS * per_round) as f64 / s / bound);
        let burst_bound = (TASKS * RAW_PER_ROUND) as f64 / raw_secs;
        round_ratios_tput.push((TASKS * per_round) as f64 / s / burst_bound);
        let flushes = batches.borrow().len();
        compact_all(&log).await;
        batches.borrow_mut().truncate(flushes);
    }
    let stats = glommio::executor().executor_stats();
    let n = (TASKS * per_round * ROUNDS) as f64;
    let (avg_batch, avg_sync_us, flushes) = {
        let b = batches.borrow();
        let flushes = b.len().max(1) as f64;
        (
            b.iter().map(|&(w, _)| w as f64).sum::<f64>() / flushes,
            b.iter().map(|&(_, us)| us as f64).sum::<f64>() / flushes,
            flushes,
        )
    };
    raw_file.close().await.unwrap();
    let _ = std::fs::remove_file(&raw_path);
    let l = Rc::try_unwrap(log).ok().unwrap().into_inner();
    l.close().await.unwrap();
    let hist = h.borrow().clone();
    Group {
        hist,
        entries_per_s: n / secs,
        avg_batch,
        avg_sync_us,
        cpu_us_per_append: cpu / n,
        sched_runs_per_flush: stats.scheduler_runs() as f64 / flushes,
        tasks_per_flush: stats.tasks_executed() as f64 / flushes,
        raw64,
        round_ratios,
        raw_burst_bound: (TASKS * RAW_PER_ROUND * ROUNDS) as f64 / raw_burst_secs,
        round_ratios_tput,
    }
}

fn group_summary(g: &Group) {
    println!(
        "(b) throughput {:.0} entries/s, {:.1} appends per flush, {:.2} us CPU per append, \
         {:.1} scheduler runs and {:.1} task polls per flush\n\
         (b) per flush: {:.0} us writing + syncing, {:.0} us between flushes",
        g.entries_per_s,
        g.avg_batch,
        g.cpu_us_per_append,
        g.sched_runs_per_flush,
        g.tasks_per_flush,
        g.avg_sync_us,
        (g.avg_batch * 1e6 / g.entries_per_s - g.avg_sync_us).max(0.0)
    );
}

/// A file of `total` bytes whose blocks are written (`zero_fill`) or only allocated, opened
/// for O_DIRECT writes (with O_DSYNC if `dsync`).
async fn raw_file(path: &Path, total: u64, zero_fill: bool, dsync: bool) -> DmaFile {
    let _ = std::fs::remove_file(path);
    {
        let f = DmaFile::create(path).await.unwrap();
        if zero_fill {
            let mut b = f.alloc_dma_buffer(1 << 20);
            b.as_bytes_mut().fill(0);
            let b = Rc::new(b);
            let mut off = 0;
            while off < total {
                off += f.write_rc_at(b.clone(), off).await.unwrap() as u64;
            }
        } else {
            f.pre_allocate(total, false).await.unwrap();
        }
        f.fdatasync().await.unwrap();
        f.close().await.unwrap();
    }
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if dsync {
        o.custom_flags(libc::O_DSYNC);
    }
    o.dma_open(path).await.unwrap()
}

/// `n` writes of `size` bytes at increasing offsets from write number `from`, each made durable
/// by fdatasync (or by the file's O_DSYNC).
async fn raw_writes(
    f: &DmaFile,
    size: usize,
    dsync: bool,
    from: u64,
    n: u64,
    h: &mut Histogram<u64>,
) {
    for i in from..from + n {
        let mut b = f.alloc_dma_buffer(size);
        b.as_bytes_mut().fill((i % 251) as u8);
        let t = Instant::now();
        f.write_at(b, i * size as u64).await.unwrap();
        if !dsync {
            f.fdatasync().await.unwrap();
        }
        h.record(t.elapsed().as_micros() as u64).unwrap();
    }
}

/// Raw O_DIRECT writes of `size` bytes at increasing offsets of a fresh file, each made
/// durable by fdatasync or O_DSYNC.
async fn raw(path: &Path, size: usize, dsync: bool, zero_fill: bool, n: u64) -> Histogram<u64> {
    let f = raw_file(path, (n + 10) * size as u64, zero_fill, dsync).await;
    let mut h = hist();
    raw_writes(&f, size, dsync, 0, n, &mut h).await;
    f.close().await.unwrap();
    let _ = std::fs::remove_file(path);
    h
}

fn main() {
    // `--group-only N`: just (b) with N appends per task, for instruction counting under
    // callgrind (run twice with different N; the difference divided by 64 * dN is per append).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--group-only") {
        let each: u64 = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(EACH);
        let work = target_dir().join("reef-bench").join("raftlog-group-only");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let w = work.clone();
        let mut builder = glommio::LocalExecutorBuilder::default();
        // valgrind 3.19 runs io_uring_enter holding its big lock: an executor parked in it
        // starves glommio's blocking-pool thread (rename) and deadlocks. Spinning instead of
        // parking lets valgrind switch threads (it adds a little polling to the counts).
        // glommio only spins on an executor bound to a CPU.
        if let Some(us) = std::env::var("SPIN_US").ok().and_then(|v| v.parse().ok()) {
            builder = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(0))
                .spin_before_park(std::time::Duration::from_micros(us));
        }
        let g = builder
            .spawn(move || async move {
                if std::env::var_os("PRE_SINGLE").is_some() {
                    let _ = single(&w.join("pre"), SyncMode::Dsync).await;
                }
                if let Some(n) = std::env::var("PRE_RAW").ok().and_then(|v| v.parse().ok()) {
                    let _ = raw(&w.join("raw"), 4096, false, true, n).await;
                }
                group(&w.join("group"), each).await
            })
            .unwrap()
            .join()
            .unwrap();
        line("(b) log 64 appenders 1KiB, per append", &g.hist);
        line("raw 64KiB write+fdatasync, between (b) rounds", &g.raw64);
        group_summary(&g);
        let bound = TASKS as f64 * 1e6 / g.raw64.value_at_quantile(0.5) as f64;
        println!(
            "ratio group / raw bound = {:.2}; per round: {:?}",
            g.entries_per_s / bound,
            g.round_ratios
                .iter()
                .map(|r| (r * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
        println!(
            "ratio group / raw bursts' throughput = {:.2}; per round: {:?}",
            g.entries_per_s / g.raw_burst_bound,
            g.round_ratios_tput
                .iter()
                .map(|r| (r * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    let target = target_dir();
    let work = target.join("reef-bench").join("raftlog-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let w = work.clone();
    let out = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let raw4 = raw(&w.join("raw4"), 4096, false, true, RAW_N).await;
            let raw4_dsync = raw(&w.join("raw4d"), 4096, true, true, RAW_N).await;
            let raw4_dsync_falloc = raw(&w.join("raw4df"), 4096, true, false, RAW_N / 4).await;
            let raw4_falloc = raw(&w.join("raw4f"), 4096, false, false, RAW_N / 4).await;
            let raw64 = raw(&w.join("raw64"), 65536, false, true, RAW_N / 4).await;
            let raw64_dsync = raw(&w.join("raw64d"), 65536, true, true, RAW_N / 4).await;
            let single_dsync = single(&w.join("single-dsync"), SyncMode::Dsync).await;
            let single_fdatasync = single(&w.join("single-fdatasync"), SyncMode::Fdatasync).await;
            let grp = group(&w.join("group"), EACH).await;
            (
                raw4,
                raw4_dsync,
                raw4_dsync_falloc,
                raw4_falloc,
                raw64,
                raw64_dsync,
                single_dsync,
                single_fdatasync,
                grp,
            )
        })
        .unwrap()
        .join()
        .unwrap();
    let (raw4, raw4d, raw4df, raw4f, raw64, raw64d, single_d, single_f, g) = out;
    let (grp, eps) = (&g.hist, g.entries_per_s);
    line("raw 4KiB write+fdatasync (zero-filled)", &raw4);
    line("raw 4KiB O_DSYNC write (zero-filled)", &raw4d);
    line("raw 4KiB O_DSYNC write (fallocated)", &raw4df);
    line("raw 4KiB write+fdatasync (fallocated)", &raw4f);
    line("raw 64KiB write+fdatasync (zero-filled)", &raw64);
    line("raw 64KiB O_DSYNC write (zero-filled)", &raw64d);
    line("(a) log single appender 1KiB, O_DSYNC", &single_d);
    line("(a) log single appender 1KiB, fdatasync", &single_f);
    line("(b) log 64 appenders 1KiB, per append", grp);
    line("raw 64KiB write+fdatasync, between (b) rounds", &g.raw64);
    let raw_p50 = raw4.value_at_quantile(0.5) as f64;
    let bound_alone = TASKS as f64 * 1e6 / raw64.value_at_quantile(0.5) as f64;
    let bound = TASKS as f64 * 1e6 / g.raw64.value_at_quantile(0.5) as f64;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let round_median = median(&g.round_ratios);
    let round_median_tput = median(&g.round_ratios_tput);
    let bound_dsync = TASKS as f64 * 1e6 / raw64d.value_at_quantile(0.5) as f64;
    let single_p50 = single_d.value_at_quantile(0.5) as f64;
    group_summary(&g);
    println!(
        "raw bound for (b) (64 x 1KiB per 64KiB write+fdatasync, bursts between its rounds): \
         {bound:.0} entries/s (measured alone before: {bound_alone:.0}; O_DSYNC: {bound_dsync:.0})"
    );
    println!(
        "ratio single p50 / raw p50 = {:.2} (target <= 1.3); vs raw O_DSYNC p50 = {:.2}",
        single_p50 / raw_p50,
        single_p50 / raw4d.value_at_quantile(0.5) as f64
    );
    println!(
        "ratio group / raw bound = {:.2} (target >= 0.70); per round: median {round_median:.2}, {}",
        eps / bound,
        g.round_ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "ratio group / raw bursts' own throughput ({:.0} entries/s, back to back) = {:.2}; \
         per round: median {round_median_tput:.2}, {}",
        g.raw_burst_bound,
        eps / g.raw_burst_bound,
        g.round_ratios_tput
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let json = serde_json::json!({
        "single_p50_us": single_d.value_at_quantile(0.5),
        "single_p90_us": single_d.value_at_quantile(0.9),
        "single_p99_us": single_d.value_at_quantile(0.99),
        "single_p999_us": single_d.value_at_quantile(0.999),
        "single_max_us": single_d.max(),
        "single_fdatasync_p50_us": single_f.value_at_quantile(0.5),
        "single_fdatasync_p99_us": single_f.value_at_quantile(0.99),
        "raw_p50_us": raw4.value_at_quantile(0.5),
        "raw_p99_us": raw4.value_at_quantile(0.99),
        "raw_dsync_p50_us": raw4d.value_at_quantile(0.5),
        "raw_dsync_fallocated_p50_us": raw4df.value_at_quantile(0.5),
        "raw_fdatasync_fallocated_p50_us": raw4f.value_at_quantile(0.5),
        "raw64_p50_us": raw64.value_at_quantile(0.5),
        "raw64_dsync_p50_us": raw64d.value_at_quantile(0.5),
        "group_entries_per_s": eps,
        "group_p50_us": grp.value_at_quantile(0.5),
        "group_p99_us": grp.value_at_quantile(0.99),
        "group_p999_us": grp.value_at_quantile(0.999),
        "group_max_us": grp.max(),
        "group_avg_appends_per_flush": g.avg_batch,
        "group_avg_sync_us": g.avg_sync_us,
        "group_cpu_us_per_append": g.cpu_us_per_append,
        "group_scheduler_runs_per_flush": g.sched_runs_per_flush,
        "group_task_polls_per_flush": g.tasks_per_flush,
        "raw_group_bound_entries_per_s": bound,
        "raw_group_bound_alone_entries_per_s": bound_alone,
        "raw64_between_rounds_p50_us": g.raw64.value_at_quantile(0.5),
        "ratio_group_to_raw_bound_rounds": g.round_ratios,
        "ratio_group_to_raw_bound_median_round": round_median,
        "raw_group_bound_dsync_entries_per_s": bound_dsync,
        "ratio_single_p50_to_raw_p50": single_p50 / raw_p50,
        "ratio_group_to_raw_bound": eps / bound,
        "raw_group_bursts_entries_per_s": g.raw_burst_bound,
        "ratio_group_to_raw_bursts": eps / g.raw_burst_bound,
        "ratio_group_to_raw_bursts_rounds": g.round_ratios_tput,
        "ratio_group_to_raw_bursts_median_round": round_median_tput,
    });
    let path = target.join("reef-bench").join("raftlog.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("wrote {}", path.display());
    let _ = std::fs::remove_dir_all(&work);
}
