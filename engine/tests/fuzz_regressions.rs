//! Fuzzing, in the normal suite: replays the committed cargo-fuzz corpus of the engine's
//! targets (SQL front end, command batch decoder, snapshot files) through the very harnesses cargo-fuzz runs
//! (included by path from `fuzz/`), and holds a test per crash the fuzzers found.
//!
//! Each crash's input is kept in `fuzz/regressions/<target>/` (replayed with the corpus) and
//! has a test of its own below that says what went wrong.

use reef_engine::{prepare, Engine, EngineConfig, PrepareOptions, Statement, StatementResult};

#[path = "../../fuzz/replay.rs"]
mod replay;

#[path = "../../fuzz/src/input.rs"]
mod input;

#[path = "../../fuzz/src/sql_frontend.rs"]
mod sql_frontend;

#[path = "../../fuzz/src/command_batch.rs"]
mod command_batch;

#[path = "../../fuzz/src/engine_snapshot_header.rs"]
mod engine_snapshot_header;

fn fuzz_dir() -> std::path::PathBuf {
    replay::fuzz_dir(env!("CARGO_MANIFEST_DIR"), 1)
}

#[test]
fn sql_frontend_corpus_replays_clean() {
    replay::replay_target(&fuzz_dir(), "sql_frontend", sql_frontend::run);
}

#[test]
fn command_batch_corpus_replays_clean() {
    replay::replay_target(&fuzz_dir(), "command_batch", command_batch::run);
}

#[test]
fn engine_snapshot_header_corpus_replays_clean() {
    replay::replay_target(
        &fuzz_dir(),
        "engine_snapshot_header",
        engine_snapshot_header::run,
    );
}

/// A small real snapshot: two tables (one with a constraint index, one with AUTOINCREMENT and
/// an ALTER TABLE fill value), a secondary index, a view, a trigger and an idempotency entry.
fn seed_snapshot(rows: i64) -> Vec<u8> {
    let mut e = Engine::new(EngineConfig::default());
    e.execute(&[
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT UNIQUE, c REAL)",
        "CREATE TABLE u(id INTEGER PRIMARY KEY AUTOINCREMENT, v BLOB)",
        "CREATE INDEX tc ON t(c)",
        "CREATE VIEW w AS SELECT a, b FROM t WHERE c > 1",
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN INSERT INTO u(v) VALUES (x'01'); END",
    ]);
    for i in 0..rows {
        let sql = format!("INSERT INTO t VALUES({i}, 'r{i}', {i}.5)");
        e.execute(&[&sql]);
    }
    e.execute(&["ALTER TABLE u ADD COLUMN d TEXT DEFAULT 'dflt'"]);
    let b = reef_engine::CommandBatch {
        client_id: 3,
        seq: 9,
        ..reef_engine::CommandBatch::new(vec![Statement::new("INSERT INTO u(v) VALUES (NULL)")])
    };
    let next = e.applied_index() + 1;
    e.apply(next, 2, &b);
    let mut file = Vec::new();
    reef_engine::snapshot::write(&e.view(), &mut |c| {
        file.extend_from_slice(c);
        Ok(())
    })
    .expect("writing a seed snapshot");
    file
}

/// The seeds restore: the harness's success path (restore, digest, queries) is exercised by
/// every replay, not only by the fuzzer, and the sealing helper leaves a valid file as it is.
#[test]
fn engine_snapshot_header_seed_restores() {
    let file = seed_snapshot(3);
    let mut sealed = file.clone();
    engine_snapshot_header::seal(&mut sealed, true);
    assert_eq!(sealed, file, "sealing a valid file changes nothing");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    std::fs::write(&path, &file).unwrap();
    let mut e = Engine::new(EngineConfig::default());
    e.restore(&path).expect("the seed restores");
    let r = e.execute(&["SELECT count(*) FROM t"]);
    assert!(
        matches!(&r[0], StatementResult::Query(q) if q.values[0][0] == reef_engine::Value::Integer(3)),
        "{r:?}"
    );
    engine_snapshot_header::run(&engine_snapshot_header::input_for(
        engine_snapshot_header::RAW,
        &file,
    ));
}

/// Found while writing the engine_snapshot_header harness (a sealed seed whose footer says
/// the body is `u64::MAX` bytes): `read_header` added header + body + footer lengths
/// unchecked, which overflowed (a panic in debug builds, where tests and the fuzzer run).
/// Lengths taken from the file are now summed with checked arithmetic: a clear error.
#[test]
fn engine_snapshot_header_body_len_overflow() {
    let data = replay::reproducer(&fuzz_dir(), "engine_snapshot_header", "body-len-overflow");
    engine_snapshot_header::run(&data);
    let mut file = data[1..].to_vec();
    engine_snapshot_header::seal(&mut file, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    std::fs::write(&path, &file).unwrap();
    let err = reef_engine::snapshot::read_header(&path).unwrap_err();
    assert!(
        matches!(err, reef_engine::snapshot::Error::Truncated { .. }),
        "{err}"
    );
    assert!(reef_engine::snapshot::Mapped::open(&path).is_err());
}

/// Writes the seed inputs of `engine_snapshot_header` into `fuzz/corpus/engine_snapshot_header/`:
/// real snapshots under each mode, and byte-flipped, truncated and extended variants (sealed,
/// so they reach rkyv's validation). Run by hand before a fuzzing session:
/// `cargo test -p reef-engine --test fuzz_regressions -- --ignored write_engine_snapshot_seeds`.
#[test]
#[ignore]
fn write_engine_snapshot_seeds() {
    use engine_snapshot_header::{input_for, FRAMED, RAW, SEALED};
    let dir = fuzz_dir().join("corpus").join("engine_snapshot_header");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds = Vec::new();
    for rows in [0, 3, 20] {
        let file = seed_snapshot(rows);
        for mode in [RAW, SEALED, FRAMED] {
            seeds.push(input_for(mode, &file));
        }
        // Flips through the header, the body and the footer.
        for (n, at) in (0..file.len()).step_by(file.len() / 24 + 1).enumerate() {
            let mut f = file.clone();
            f[at] ^= 1 << (n % 8);
            seeds.push(input_for(if n % 2 == 0 { SEALED } else { FRAMED }, &f));
        }
        seeds.push(input_for(FRAMED, &file[..file.len() / 2]));
        let mut longer = file.clone();
        longer.splice(file.len() - 32..file.len() - 32, [0u8; 16]);
        seeds.push(input_for(FRAMED, &longer));
    }
    for s in &seeds {
        let name = format!("seed-{:08x}", crc32c::crc32c(s));
        std::fs::write(dir.join(name), s).unwrap();
    }
}

fn opts() -> PrepareOptions {
    PrepareOptions {
        client_id: 7,
        seq: 1,
        transaction: false,
        now_ms: 1_700_000_000_000,
        seed: 42,
    }
}

/// Found by sql_frontend: `SELECT ESCAPE = -1 . random()` (a call as a step of a `.` chain).
/// `prepare` turned `random()` into a literal and printed `-1 . -4767286540954276203`, which
/// does not parse: the leader accepted a statement whose proposed text no replica could read.
/// Calls inside field-access chains now stay as written (the engine refuses such chains when
/// planning, on the leader's check and on every replica alike).
#[test]
fn sql_frontend_crash_db0ac16b_call_in_field_access_chain() {
    let data = replay::reproducer(
        &fuzz_dir(),
        "sql_frontend",
        "crash-db0ac16b56c7e01b5b59b3b31314defbf76e77a0",
    );
    sql_frontend::run(&data);

    let config = EngineConfig::default();
    for sql in [
        "SELECT ESCAPE = -1 . random()",
        "SELECT -1 . random()",
        // Rewritten, this printed as `SELECT -42.x`: a real number aliased x, a valid query
        // with another meaning than the refused original.
        "SELECT random().x",
        "SELECT randomblob(4).x",
    ] {
        let p = prepare(vec![Statement::new(sql)], opts(), &config).expect(sql);
        assert_eq!(p.batch.statements[0].sql, sql, "kept as written");
        let mut e = Engine::new(config.clone());
        let r = e.apply(1, 1, &p.batch);
        assert!(
            matches!(r[0], StatementResult::Error(_)),
            "{sql}: the engine refuses field access: {r:?}"
        );
    }
    // Outside a chain the rewrite still happens, and the text parses again.
    let p = prepare(
        vec![Statement::new("SELECT -random(), 1 - random()")],
        opts(),
        &config,
    )
    .unwrap();
    let sql = &p.batch.statements[0].sql;
    // The calls became literals; the original text survives only as quoted column names.
    let outside_quotes: String = sql.split('"').step_by(2).collect();
    assert!(!outside_quotes.contains("random"), "{sql}");
    assert!(sql.contains(r#"AS "-random()""#), "{sql}");
    prepare(p.batch.statements.clone(), opts(), &config).expect("rewritten text parses");
}
