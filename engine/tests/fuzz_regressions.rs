//! Fuzzing, in the normal suite: replays the committed cargo-fuzz corpus of the engine's
//! targets (SQL front end, command batch decoder) through the very harnesses cargo-fuzz runs
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
    assert!(!sql.contains("random"), "{sql}");
    prepare(p.batch.statements.clone(), opts(), &config).expect("rewritten text parses");
}
