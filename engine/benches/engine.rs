//! `cargo bench --bench engine`: reef-engine against SQLite (rusqlite, bundled, in-memory,
//! prepared statements) in the same run, on the same data.
//!
//! - insert: one single-row INSERT per `Engine::apply` (the replicated write path, with an
//!   idempotency key), against one prepared INSERT per autocommit transaction;
//! - insert+view: the same, publishing a read view after every entry as node/ does;
//! - point: SELECT of one row by primary key through `QueryRunner::query` on a view;
//! - range100: SELECT of 100 consecutive rows by primary-key range;
//! - join3: orders JOIN users JOIN regions for one user (about 10 rows), via an index on
//!   orders(user_id) and the two primary keys.
//!
//! Every operation produces owned results on both sides (values copied out of SQLite).
//! Rounds alternate between the engines; the figure is the median round's throughput, and
//! per-operation latency goes to hdrhistogram. Summary: `<target>/reef-bench/engine.json`.
//! `REEF_BENCH_ONLY=<workload>` runs just one workload, for profiling.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reef_engine::{
    CommandBatch, Engine, EngineConfig, QueryRunner, Statement, StatementResult, Value,
};
use rusqlite::params;

const ROWS: i64 = 100_000;
const USERS: i64 = 10_000;
const ORDERS_PER_USER: i64 = 10;
const REGIONS: i64 = 50;
const ROUNDS: usize = 5;

struct Measure {
    ops_per_sec: Vec<f64>,
    hist: Histogram<u64>,
}

impl Measure {
    fn new() -> Measure {
        Measure {
            ops_per_sec: Vec::new(),
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram"),
        }
    }

    /// Run `n` operations, timing each one and the whole round.
    fn round(&mut self, n: u64, mut op: impl FnMut(u64)) {
        let start = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            op(i);
            let _ = self.hist.record(t.elapsed().as_nanos().max(1) as u64);
        }
        self.ops_per_sec
            .push(n as f64 / start.elapsed().as_secs_f64());
    }

    fn median(&self) -> f64 {
        let mut v = self.ops_per_sec.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

struct Outcome {
    name: &'static str,
    reef: Measure,
    sqlite: Measure,
}

fn setup_reef() -> (Engine, u64) {
    let mut e = Engine::new(EngineConfig::default());
    let mut idx = 1;
    let ddl = [
        "CREATE TABLE kv(id INTEGER PRIMARY KEY, name TEXT, val INTEGER)",
        "CREATE TABLE ins(id INTEGER PRIMARY KEY, name TEXT, val INTEGER)",
        "CREATE TABLE regions(id INTEGER PRIMARY KEY, name TEXT)",
        "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, region_id INTEGER)",
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER)",
        "CREATE INDEX orders_user ON orders(user_id)",
    ];
    let r = e.apply(
        idx,
        1,
        &CommandBatch::new(ddl.iter().map(|s| Statement::new(*s)).collect()),
    );
    assert!(r.iter().all(|x| !x.is_error()), "{r:?}");
    idx += 1;
    let mut load = |sql: &str, rows: Vec<Vec<Value>>, e: &mut Engine| {
        for chunk in rows.chunks(1000) {
            let b = CommandBatch::new(
                chunk
                    .iter()
                    .map(|p| Statement::with_params(sql, p.clone()))
                    .collect(),
            );
            let r = e.apply(idx, 1, &b);
            assert!(
                r.iter().all(|x| !x.is_error()),
                "{:?}",
                r.iter().find(|x| x.is_error())
            );
            idx += 1;
        }
    };
    load(
        "INSERT INTO kv VALUES(?, ?, ?)",
        (1..=ROWS)
            .map(|i| {
                vec![
                    Value::Integer(i),
                    Value::from(format!("name-{i}")),
                    Value::Integer(i * 7 % 1000),
                ]
            })
            .collect(),
        &mut e,
    );
    load(
        "INSERT INTO regions VALUES(?, ?)",
        (1..=REGIONS)
            .map(|i| vec![Value::Integer(i), Value::from(format!("region-{i}"))])
            .collect(),
        &mut e,
    );
    load(
        "INSERT INTO users VALUES(?, ?, ?)",
        (1..=USERS)
            .map(|i| {
                vec![
                    Value::Integer(i),
                    Value::from(format!("user-{i}")),
                    Value::Integer(i % REGIONS + 1),
                ]
            })
            .collect(),
        &mut e,
    );
    load(
        "INSERT INTO orders VALUES(?, ?, ?)",
        (1..=USERS * ORDERS_PER_USER)
            .map(|i| {
                vec![
                    Value::Integer(i),
                    Value::Integer((i * 7919) % USERS + 1),
                    Value::Integer(i % 500),
                ]
            })
            .collect(),
        &mut e,
    );
    (e, idx)
}

fn setup_sqlite() -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().expect("sqlite");
    db.execute_batch(
        "CREATE TABLE kv(id INTEGER PRIMARY KEY, name TEXT, val INTEGER);
         CREATE TABLE ins(id INTEGER PRIMARY KEY, name TEXT, val INTEGER);
         CREATE TABLE regions(id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, region_id INTEGER);
         CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER);
         CREATE INDEX orders_user ON orders(user_id);",
    )
    .expect("schema");
    let tx = db.unchecked_transaction().expect("tx");
    {
        let mut s = tx.prepare("INSERT INTO kv VALUES(?, ?, ?)").unwrap();
        for i in 1..=ROWS {
            s.execute(params![i, format!("name-{i}"), i * 7 % 1000])
                .unwrap();
        }
        let mut s = tx.prepare("INSERT INTO regions VALUES(?, ?)").unwrap();
        for i in 1..=REGIONS {
            s.execute(params![i, format!("region-{i}")]).unwrap();
        }
        let mut s = tx.prepare("INSERT INTO users VALUES(?, ?, ?)").unwrap();
        for i in 1..=USERS {
            s.execute(params![i, format!("user-{i}"), i % REGIONS + 1])
                .unwrap();
        }
        let mut s = tx.prepare("INSERT INTO orders VALUES(?, ?, ?)").unwrap();
        for i in 1..=USERS * ORDERS_PER_USER {
            s.execute(params![i, (i * 7919) % USERS + 1, i % 500])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    db
}

fn rows_of(r: &[StatementResult]) -> usize {
    match &r[0] {
        StatementResult::Query(q) => q.values.len(),
        other => panic!("query failed: {other:?}"),
    }
}

/// Cheap deterministic scrambling so lookups are not sequential.
fn pick(i: u64, n: i64) -> i64 {
    (i.wrapping_mul(2_654_435_761) % n as u64) as i64 + 1
}

fn main() {
    // `cargo bench` passes --bench; accept and ignore harness arguments.
    let quick =
        std::env::args().any(|a| a == "--quick") || std::env::var("REEF_BENCH_QUICK").is_ok();
    let scale: u64 = if quick { 10 } else { 1 };
    eprintln!(
        "loading {ROWS} kv rows, {USERS} users, {} orders into both engines ...",
        USERS * ORDERS_PER_USER
    );
    let (mut engine, mut idx) = setup_reef();
    let db = setup_sqlite();
    let config = EngineConfig::default();
    let mut runner = QueryRunner::new(config.clone());
    let mut outcomes = Vec::new();
    // `REEF_BENCH_ONLY=point` runs one workload (for profiling it alone).
    let only = std::env::var("REEF_BENCH_ONLY").ok();
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);

    // Single-row INSERT.
    if want("insert") {
        let mut o = Outcome {
            name: "insert",
            reef: Measure::new(),
            sqlite: Measure::new(),
        };
        let n = 40_000 / scale;
        let mut next_reef = 1i64;
        let mut next_sql = 1i64;
        let mut ins = db
            .prepare_cached("INSERT INTO ins VALUES(?, ?, ?)")
            .unwrap();
        for _ in 0..ROUNDS {
            o.reef.round(n, |i| {
                let mut b = CommandBatch::new(vec![Statement::with_params(
                    "INSERT INTO ins VALUES(?, ?, ?)",
                    vec![
                        Value::Integer(next_reef),
                        Value::from("some name"),
                        Value::Integer(i as i64),
                    ],
                )]);
                b.client_id = 7;
                b.seq = next_reef as u64;
                let r = engine.apply(idx, 1, &b);
                debug_assert!(!r[0].is_error());
                idx += 1;
                next_reef += 1;
            });
            o.sqlite.round(n, |i| {
                ins.execute(params![next_sql, "some name", i as i64])
                    .unwrap();
                next_sql += 1;
            });
        }
        outcomes.push(o);
    }
    // Single-row INSERT, publishing a view after each entry.
    if want("insert+view") {
        let mut o = Outcome {
            name: "insert+view",
            reef: Measure::new(),
            sqlite: Measure::new(),
        };
        let n = 40_000 / scale;
        let base = 10_000_000i64;
        let mut next_reef = base;
        let mut next_sql = base;
        let mut ins = db
            .prepare_cached("INSERT INTO ins VALUES(?, ?, ?)")
            .unwrap();
        let mut published = engine.view();
        for _ in 0..ROUNDS {
            o.reef.round(n, |i| {
                let mut b = CommandBatch::new(vec![Statement::with_params(
                    "INSERT INTO ins VALUES(?, ?, ?)",
                    vec![
                        Value::Integer(next_reef),
                        Value::from("some name"),
                        Value::Integer(i as i64),
                    ],
                )]);
                b.client_id = 8;
                b.seq = next_reef as u64;
                engine.apply(idx, 1, &b);
                published = engine.view();
                idx += 1;
                next_reef += 1;
            });
            o.sqlite.round(n, |i| {
                ins.execute(params![next_sql, "some name", i as i64])
                    .unwrap();
                next_sql += 1;
            });
        }
        drop(published);
        outcomes.push(o);
    }
    let view = engine.view();
    // Point SELECT by primary key.
    if want("point") {
        let mut o = Outcome {
            name: "point",
            reef: Measure::new(),
            sqlite: Measure::new(),
        };
        let n = 200_000 / scale;
        let mut q = db
            .prepare_cached("SELECT id, name, val FROM kv WHERE id = ?")
            .unwrap();
        for _ in 0..ROUNDS {
            o.reef.round(n, |i| {
                let r = runner.query(
                    &view,
                    &[Statement::with_params(
                        "SELECT id, name, val FROM kv WHERE id = ?",
                        vec![Value::Integer(pick(i, ROWS))],
                    )],
                );
                debug_assert_eq!(rows_of(&r), 1);
                std::hint::black_box(r);
            });
            o.sqlite.round(n, |i| {
                let row: (i64, String, i64) = q
                    .query_row(params![pick(i, ROWS)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .unwrap();
                std::hint::black_box(row);
            });
        }
        outcomes.push(o);
    }
    // Range scan of 100 rows.
    if want("range100") {
        let mut o = Outcome {
            name: "range100",
            reef: Measure::new(),
            sqlite: Measure::new(),
        };
        let n = 10_000 / scale;
        let mut q = db
            .prepare_cached("SELECT id, name, val FROM kv WHERE id >= ? AND id < ?")
            .unwrap();
        for _ in 0..ROUNDS {
            o.reef.round(n, |i| {
                let lo = pick(i, ROWS - 100);
                let r = runner.query(
                    &view,
                    &[Statement::with_params(
                        "SELECT id, name, val FROM kv WHERE id >= ? AND id < ?",
                        vec![Value::Integer(lo), Value::Integer(lo + 100)],
                    )],
                );
                debug_assert_eq!(rows_of(&r), 100);
                std::hint::black_box(r);
            });
            o.sqlite.round(n, |i| {
                let lo = pick(i, ROWS - 100);
                let rows: Vec<(i64, String, i64)> = q
                    .query_map(params![lo, lo + 100], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                debug_assert_eq!(rows.len(), 100);
                std::hint::black_box(rows);
            });
        }
        outcomes.push(o);
    }
    // Three-table join.
    if want("join3") {
        let mut o = Outcome {
            name: "join3",
            reef: Measure::new(),
            sqlite: Measure::new(),
        };
        let n = 20_000 / scale;
        let sql = "SELECT u.name, r.name, o.amount FROM orders o JOIN users u ON u.id = o.user_id JOIN regions r ON r.id = u.region_id WHERE o.user_id = ?";
        let mut q = db.prepare_cached(sql).unwrap();
        for _ in 0..ROUNDS {
            o.reef.round(n, |i| {
                let r = runner.query(
                    &view,
                    &[Statement::with_params(
                        sql,
                        vec![Value::Integer(pick(i, USERS))],
                    )],
                );
                debug_assert!(rows_of(&r) > 0);
                std::hint::black_box(r);
            });
            o.sqlite.round(n, |i| {
                let rows: Vec<(String, String, i64)> = q
                    .query_map(params![pick(i, USERS)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                std::hint::black_box(rows);
            });
        }
        outcomes.push(o);
    }
    // Same answers: the join returns the same number of rows in both engines.
    for u in [1, 77, 9999] {
        let sql = "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id JOIN regions r ON r.id = u.region_id WHERE o.user_id = ?";
        let r = runner.query(
            &view,
            &[Statement::with_params(sql, vec![Value::Integer(u)])],
        );
        let mine = r[0].rows().map(|x| x.values[0][0].clone()).unwrap();
        let theirs: i64 = db.query_row(sql, params![u], |r| r.get(0)).unwrap();
        assert_eq!(
            mine,
            Value::Integer(theirs),
            "join results differ for user {u}"
        );
    }

    println!(
        "\n{:<12} {:>14} {:>14} {:>8}   {:>9} {:>9}   {:>9} {:>9}",
        "workload",
        "reef ops/s",
        "sqlite ops/s",
        "ratio",
        "reef p50",
        "reef p99",
        "sql p50",
        "sql p99"
    );
    let mut json = Vec::new();
    for o in &outcomes {
        let (r, s) = (o.reef.median(), o.sqlite.median());
        let ratio = r / s;
        let ns = |h: &Histogram<u64>, q: f64| Duration::from_nanos(h.value_at_quantile(q));
        println!(
            "{:<12} {:>14.0} {:>14.0} {:>7.2}x   {:>9.2?} {:>9.2?}   {:>9.2?} {:>9.2?}",
            o.name,
            r,
            s,
            ratio,
            ns(&o.reef.hist, 0.5),
            ns(&o.reef.hist, 0.99),
            ns(&o.sqlite.hist, 0.5),
            ns(&o.sqlite.hist, 0.99)
        );
        json.push(serde_json::json!({
            "name": o.name,
            "reef_ops_per_sec": r.round(),
            "sqlite_ops_per_sec": s.round(),
            "ratio_reef_over_sqlite": (ratio * 1000.0).round() / 1000.0,
            "reef_p50_ns": o.reef.hist.value_at_quantile(0.5),
            "reef_p99_ns": o.reef.hist.value_at_quantile(0.99),
            "sqlite_p50_ns": o.sqlite.hist.value_at_quantile(0.5),
            "sqlite_p99_ns": o.sqlite.hist.value_at_quantile(0.99),
        }));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("reef-bench");
    std::fs::create_dir_all(&dir).expect("create reef-bench dir");
    let summary = serde_json::json!({
        "benchmark": "engine",
        "baseline": "SQLite (rusqlite bundled, in-memory, prepared statements), same run",
        "rounds": ROUNDS,
        "quick": quick,
        "results": json,
    });
    let path = dir.join("engine.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap()).expect("write summary");
    println!("\nsummary written to {}", path.display());
}
