//! `cargo bench --bench snapshot`: the snapshot layer against same-run baselines.
//!
//! 1. Build: `snapshot::write` of a view of about `REEF_SNAP_MIB` MiB of rows (default 1024)
//!    into a file on the target directory's disk, fsync included, in MiB/s, against a raw
//!    sequential write of the same number of bytes in 1 MiB chunks to the same disk with the
//!    same fsync, measured right after it.
//! 2. Open: `Engine::restore` of that file (map + full validation) and the first query,
//!    with the process's resident memory (VmRSS) before and after. The file was just
//!    written, so it is in the page cache: this is a warm open (the bench does not drop the
//!    machine's caches, which other users of the machine depend on).
//! 3. Point lookups: the same `SELECT ... WHERE id = ?` through a `QueryRunner` on the
//!    restored engine (rows in the mapped base layer) and on the original engine (all rows
//!    in memory), alternating rounds, random ids, per-lookup latency in hdrhistogram.
//!
//! Summary: `<target>/reef-bench/snapshot.json`.

use std::io::Write as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reef_engine::{CommandBatch, Engine, EngineConfig, QueryRunner, Statement, Value, View};

const ROW_BYTES: usize = 1000;
const ROUNDS: usize = 5;
const LOOKUPS: usize = 20_000;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn build_state(rows: u64) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    e.execute(&[
        "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, payload BLOB)",
        "CREATE INDEX t_k ON t(k)",
    ]);
    let mut rng = StdRng::seed_from_u64(1);
    let per_batch = 200u64;
    let mut index = e.applied_index();
    let mut id = 0u64;
    while id < rows {
        let n = per_batch.min(rows - id);
        let mut sql = String::from("INSERT INTO t VALUES ");
        let mut params = Vec::with_capacity(n as usize * 3);
        for j in 0..n {
            if j > 0 {
                sql.push(',');
            }
            sql.push_str("(?, ?, ?)");
            params.push(Value::Integer((id + j) as i64));
            params.push(Value::Integer(rng.random_range(0..1_000_000)));
            let blob: Vec<u8> = (0..ROW_BYTES).map(|_| rng.random()).collect();
            params.push(Value::Blob(blob.into()));
        }
        index += 1;
        let r = e.apply(
            index,
            1,
            &CommandBatch::new(vec![Statement::with_params(sql, params)]),
        );
        assert!(!r[0].is_error(), "{:?}", r[0]);
        id += n;
    }
    e
}

fn write_snapshot(view: &View, path: &std::path::Path) -> (u64, Duration) {
    let start = Instant::now();
    let mut f = std::fs::File::create(path).expect("create snapshot file");
    let info = reef_engine::snapshot::write(view, &mut |c| f.write_all(c)).expect("write snapshot");
    f.sync_all().expect("fsync");
    (info.size, start.elapsed())
}

fn raw_write(path: &std::path::Path, bytes: u64) -> Duration {
    let chunk = vec![0x5Au8; 1 << 20];
    let start = Instant::now();
    let mut f = std::fs::File::create(path).expect("create raw file");
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).expect("raw write");
        left -= n as u64;
    }
    f.sync_all().expect("fsync");
    start.elapsed()
}

/// The floor under an open: read the whole file once (pread, 1 MiB at a time) and
/// checksum it, single-threaded.
fn raw_read_crc(path: &std::path::Path) -> Duration {
    use std::os::unix::fs::FileExt as _;
    let start = Instant::now();
    let f = std::fs::File::open(path).expect("open");
    let len = f.metadata().expect("metadata").len();
    let mut buf = vec![0u8; 1 << 20];
    let (mut at, mut crc) = (0u64, 0u32);
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], at).expect("pread");
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        at += n as u64;
    }
    std::hint::black_box(crc);
    start.elapsed()
}

fn lookups(e: &Engine, rows: u64, seed: u64, h: &mut Histogram<u64>) -> f64 {
    let view = e.view();
    let mut q = QueryRunner::new(EngineConfig::default());
    let mut rng = StdRng::seed_from_u64(seed);
    let sql = "SELECT k, length(payload) FROM t WHERE id = ?";
    let start = Instant::now();
    for _ in 0..LOOKUPS {
        let id = rng.random_range(0..rows) as i64;
        let t = Instant::now();
        let r = q.query_one(
            &view,
            sql,
            &reef_engine::Params::Positional(vec![Value::Integer(id)]),
        );
        h.record(t.elapsed().as_nanos() as u64).ok();
        std::hint::black_box(r);
    }
    LOOKUPS as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let target_mib: u64 = std::env::var("REEF_SNAP_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let rows = target_mib * (1 << 20) / (ROW_BYTES as u64 + 40);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&target).expect("target dir");
    let dir = tempfile::tempdir_in(&target).expect("temp dir on the target disk");

    eprintln!("building a state of {rows} rows (~{target_mib} MiB)...");
    let t = Instant::now();
    let memory = build_state(rows);
    eprintln!("  applied in {:.1}s", t.elapsed().as_secs_f64());

    // 1. Build vs raw sequential write, alternating, best of three each.
    let snap = dir.path().join("data");
    let raw = dir.path().join("raw");
    let mut build_best = f64::MAX;
    let mut raw_best = f64::MAX;
    let mut size = 0;
    for round in 0..3 {
        let (s, d) = write_snapshot(&memory.view(), &snap);
        size = s;
        build_best = build_best.min(d.as_secs_f64());
        let d = raw_write(&raw, size);
        raw_best = raw_best.min(d.as_secs_f64());
        eprintln!(
            "  round {round}: build {:.0} MiB/s, raw {:.0} MiB/s",
            mib(size) / build_best,
            mib(size) / raw_best
        );
    }
    std::fs::remove_file(&raw).ok();
    let build_mibs = mib(size) / build_best;
    let raw_mibs = mib(size) / raw_best;
    println!("build: {:.0} MiB in {:.2}s = {build_mibs:.0} MiB/s; raw sequential write {raw_mibs:.0} MiB/s; ratio {:.2}", mib(size), build_best, build_mibs / raw_mibs);

    // 2. Open + first query, with resident memory around it; the floor (read + checksum
    // the file) and the validation alone (map + checksum + bytecheck + offsets) beside it.
    let mut floor = Duration::MAX;
    let mut validate = Duration::MAX;
    for _ in 0..3 {
        floor = floor.min(raw_read_crc(&snap));
        let t = Instant::now();
        let m = reef_engine::snapshot::Mapped::open(&snap).expect("open");
        validate = validate.min(t.elapsed());
        drop(m);
    }
    println!(
        "open floor: read + crc32c of the file {:.1} ms (1 thread); Mapped::open (checksum, bytecheck, offsets) {:.1} ms (best of 3)",
        floor.as_secs_f64() * 1e3,
        validate.as_secs_f64() * 1e3
    );
    let rss_before = rss_kib();
    let t = Instant::now();
    let mut restored = Engine::new(EngineConfig::default());
    restored.restore(&snap).expect("restore");
    let open = t.elapsed();
    let r = restored.view().query(
        &[Statement::new(format!(
            "SELECT k FROM t WHERE id = {}",
            rows / 2
        ))],
        &EngineConfig::default(),
    );
    let open_query = t.elapsed();
    assert!(!r[0].is_error());
    let rss_after = rss_kib();
    assert_eq!(
        restored.state_digest(),
        memory.state_digest(),
        "restored state differs"
    );
    let rss_after_digest = rss_kib();
    println!(
        "open: {:.1} ms (restore), {:.1} ms with the first query; VmRSS {} MiB -> {} MiB (+{} MiB for a {:.0} MiB file; {} MiB after a full scan)",
        open.as_secs_f64() * 1e3,
        open_query.as_secs_f64() * 1e3,
        rss_before / 1024,
        rss_after / 1024,
        rss_after.saturating_sub(rss_before) / 1024,
        mib(size),
        rss_after_digest / 1024,
    );

    // 3. Point lookups, base layer vs in memory, alternating rounds.
    let mut h_base = Histogram::<u64>::new(3).expect("histogram");
    let mut h_mem = Histogram::<u64>::new(3).expect("histogram");
    let (mut base_ops, mut mem_ops) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        base_ops.push(lookups(&restored, rows, round as u64, &mut h_base));
        mem_ops.push(lookups(&memory, rows, round as u64, &mut h_mem));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (b, m) = (median(&mut base_ops), median(&mut mem_ops));
    println!(
        "point SELECT by id: base layer {b:.0} ops/s (p50 {} ns, p99 {} ns), in memory {m:.0} ops/s (p50 {} ns, p99 {} ns); in-memory/base time ratio {:.2}",
        h_base.value_at_quantile(0.5),
        h_base.value_at_quantile(0.99),
        h_mem.value_at_quantile(0.5),
        h_mem.value_at_quantile(0.99),
        m / b,
    );

    let out = target.join("reef-bench");
    std::fs::create_dir_all(&out).expect("reef-bench dir");
    let summary = serde_json::json!({
        "benchmark": "snapshot",
        "rows": rows,
        "snapshot_bytes": size,
        "build": {"mib_per_s": build_mibs, "baseline": "raw sequential 1 MiB writes + fsync, same disk, same run", "baseline_mib_per_s": raw_mibs, "ratio": build_mibs / raw_mibs},
        "open": {"baseline_read_and_crc_ms": floor.as_secs_f64() * 1e3, "mapped_open_best_of_3_ms": validate.as_secs_f64() * 1e3, "restore_ms": open.as_secs_f64() * 1e3, "restore_and_first_query_ms": open_query.as_secs_f64() * 1e3, "page_cache": "warm", "rss_before_kib": rss_before, "rss_after_kib": rss_after, "rss_after_full_scan_kib": rss_after_digest},
        "point_lookup": {"base_ops_per_s": b, "in_memory_ops_per_s": m, "base_p50_ns": h_base.value_at_quantile(0.5), "in_memory_p50_ns": h_mem.value_at_quantile(0.5), "slowdown": m / b, "baseline": "same SELECT on the all-in-memory engine, same run"},
    });
    let path = out.join("snapshot.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary).expect("json"))
        .expect("write summary");
    println!("summary: {}", path.display());
}
