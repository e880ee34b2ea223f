//! The contract node/ relies on: apply with indexes and idempotency, transactional batches,
//! parameters (positional, numbered, named with every prefix), prepare's rewriting and
//! classification, views read from other threads while apply continues, result shapes, and
//! the resource limits.

use std::collections::BTreeMap;

use reef_engine::{
    classify, prepare, prepare_with, CommandBatch, Engine, EngineConfig, Params, PrepareCache,
    PrepareOptions, QueryRunner, Statement, StatementKind, StatementResult, Value,
};

fn batch(sqls: &[&str]) -> CommandBatch {
    CommandBatch::new(sqls.iter().map(|s| Statement::new(*s)).collect())
}

fn rows(r: &StatementResult) -> Vec<Vec<Value>> {
    r.rows()
        .map(|x| x.values.clone())
        .unwrap_or_else(|| panic!("no rows in {r:?}"))
}

/// What is wrong with a query result's column names, if anything.
fn column_names_differ(sql: &str, r: &StatementResult, want: &[&str]) -> Option<String> {
    match r {
        StatementResult::Query(rows) => {
            let got: Vec<&str> = rows.columns.iter().map(|c| c.as_str()).collect();
            (got != want).then(|| format!("{sql}: got {got:?}, want {want:?}"))
        }
        other => Some(format!("{sql}: {other:?}")),
    }
}

fn json(r: &StatementResult) -> String {
    serde_json::to_string(r).expect("serialize")
}

#[test]
fn apply_records_index_and_results_are_rqlite_shaped() {
    let mut e = Engine::new(EngineConfig::default());
    let r = e.apply(
        5,
        2,
        &batch(&[
            "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB)",
            "INSERT INTO t(name, data) VALUES('a', x'010203')",
            "INSERT INTO t(name) VALUES('b'), ('c')",
        ]),
    );
    assert_eq!(e.applied_index(), 5);
    assert_eq!(e.applied_term(), 2);
    assert_eq!(json(&r[0]), r#"{"last_insert_id":0,"rows_affected":0}"#);
    assert_eq!(json(&r[1]), r#"{"last_insert_id":1,"rows_affected":1}"#);
    assert_eq!(json(&r[2]), r#"{"last_insert_id":3,"rows_affected":2}"#);
    let r = e.apply(
        6,
        2,
        &batch(&[
            "SELECT id, name, data, length(name) AS n FROM t ORDER BY id",
            "SELECT * FROM nope",
            "UPDATE t SET name = upper(name) WHERE id > 1",
        ]),
    );
    assert_eq!(
        json(&r[0]),
        r#"{"columns":["id","name","data","n"],"types":["integer","text","blob",""],"values":[[1,"a","AQID",1],[2,"b",null,1],[3,"c",null,1]]}"#
    );
    assert_eq!(json(&r[1]), r#"{"error":"no such table: nope"}"#);
    // Within a batch, last_insert_id persists after the insert as with one connection.
    assert_eq!(json(&r[2]), r#"{"last_insert_id":0,"rows_affected":2}"#);
}

#[test]
fn idempotent_by_client_and_seq() {
    let mut e = Engine::new(EngineConfig::default());
    e.apply(
        1,
        1,
        &batch(&["CREATE TABLE c(n INTEGER)", "INSERT INTO c VALUES(0)"]),
    );
    let mut inc = batch(&["UPDATE c SET n = n + 1", "SELECT n FROM c"]);
    inc.client_id = 42;
    inc.seq = 7;
    let first = e.apply(2, 1, &inc);
    let digest = e.state_digest();
    let again = e.apply(3, 1, &inc);
    assert_eq!(first, again, "a replay returns the recorded result");
    assert_eq!(rows(&again[1]), vec![vec![Value::Integer(1)]]);
    assert_eq!(e.state_digest(), digest, "a replay changes nothing");
    assert_eq!(
        e.applied_index(),
        3,
        "the replayed entry still counts as applied"
    );
    inc.seq = 8;
    let next = e.apply(4, 1, &inc);
    assert_eq!(rows(&next[1]), vec![vec![Value::Integer(2)]]);
    // client_id 0 means no deduplication.
    let mut anon = batch(&["UPDATE c SET n = n + 1"]);
    anon.seq = 8;
    e.apply(5, 1, &anon);
    e.apply(6, 1, &anon);
    let r = e.apply(7, 1, &batch(&["SELECT n FROM c"]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(4)]]);
}

#[test]
fn idempotency_table_is_bounded() {
    let mut e = Engine::new(EngineConfig {
        dedup_capacity: 3,
        ..Default::default()
    });
    e.apply(
        1,
        1,
        &batch(&["CREATE TABLE c(n INTEGER)", "INSERT INTO c VALUES(0)"]),
    );
    for seq in 1..=5u64 {
        let mut b = batch(&["UPDATE c SET n = n + 1"]);
        b.client_id = 9;
        b.seq = seq;
        e.apply(1 + seq, 1, &b);
    }
    // seq 1 was evicted: applying it again applies again.
    let mut b = batch(&["UPDATE c SET n = n + 1"]);
    b.client_id = 9;
    b.seq = 1;
    e.apply(10, 1, &b);
    // seq 5 is still remembered.
    b.seq = 5;
    e.apply(11, 1, &b);
    let r = e.apply(12, 1, &batch(&["SELECT n FROM c"]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(6)]]);
}

#[test]
fn transactional_batch_is_all_or_nothing() {
    let mut e = Engine::new(EngineConfig::default());
    e.apply(1, 1, &batch(&["CREATE TABLE t(a INTEGER PRIMARY KEY)"]));
    let mut b = batch(&[
        "INSERT INTO t VALUES(1)",
        "INSERT INTO t VALUES(2)",
        "INSERT INTO t VALUES(1)",
        "INSERT INTO t VALUES(3)",
    ]);
    b.transaction = true;
    let r = e.apply(2, 1, &b);
    assert_eq!(r.len(), 3, "a transactional batch stops at its first error");
    assert_eq!(r[2].error_message(), Some("UNIQUE constraint failed: t.a"));
    let r = e.apply(3, 1, &batch(&["SELECT count(*) FROM t"]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(0)]]);
    // Without the flag, statements are independent.
    b.transaction = false;
    let r = e.apply(4, 1, &b);
    assert_eq!(r.len(), 4);
    let r = e.apply(5, 1, &batch(&["SELECT count(*) FROM t"]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(3)]]);
    // BEGIN without COMMIT never leaks out of the batch.
    e.apply(6, 1, &batch(&["BEGIN", "INSERT INTO t VALUES(10)"]));
    let r = e.apply(7, 1, &batch(&["SELECT count(*) FROM t WHERE a = 10"]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(0)]]);
}

#[test]
fn parameters_positional_numbered_and_named() {
    let mut e = Engine::new(EngineConfig::default());
    e.apply(
        1,
        1,
        &batch(&["CREATE TABLE p(a INTEGER, b TEXT, c REAL, d BLOB)"]),
    );
    let mut named = BTreeMap::new();
    named.insert("a".to_string(), Value::Integer(3));
    named.insert("b".to_string(), Value::from("three"));
    named.insert("$c".to_string(), Value::Real(3.5));
    let b = CommandBatch::new(vec![
        Statement::with_params(
            "INSERT INTO p VALUES(?, ?, ?, ?)",
            vec![
                Value::Integer(1),
                Value::from("one"),
                Value::Real(1.5),
                Value::from(vec![1u8, 2]),
            ],
        ),
        Statement::with_params(
            "INSERT INTO p VALUES(?2, ?1, ?2 * 1.5, NULL)",
            vec![Value::from("two"), Value::Integer(2)],
        ),
        Statement::with_named("INSERT INTO p VALUES(:a, @b, $c, :missing)", named),
        Statement::with_params(
            "SELECT a, b, c, typeof(d) FROM p WHERE a >= ? ORDER BY a",
            vec![Value::Integer(2)],
        ),
        Statement::with_params("SELECT ?", vec![Value::Integer(1), Value::Integer(2)]),
        // Bare `?` are numbered in text order even where the plan evaluates WHERE first.
        Statement::with_params(
            "UPDATE p SET b = ? WHERE a = ?",
            vec![Value::from("uno"), Value::Integer(1)],
        ),
        Statement::new("SELECT b FROM p WHERE a = 1"),
    ]);
    let r = e.apply(2, 1, &b);
    assert_eq!(rows(&r[6]), vec![vec![Value::from("uno")]], "{r:?}");
    assert!(r[..3].iter().all(|x| !x.is_error()), "{r:?}");
    assert_eq!(
        rows(&r[3]),
        vec![
            vec![
                Value::Integer(2),
                Value::from("two"),
                Value::Real(3.0),
                Value::from("null")
            ],
            vec![
                Value::Integer(3),
                Value::from("three"),
                Value::Real(3.5),
                Value::from("null")
            ]
        ]
    );
    assert!(r[4].is_error(), "more values than placeholders is an error");
    // JSON parameters convert by rqlite's rules.
    let p = Params::from_json(&serde_json::json!([1, 2.5, "x", null, true])).unwrap();
    assert_eq!(
        p,
        Params::Positional(vec![
            Value::Integer(1),
            Value::Real(2.5),
            Value::from("x"),
            Value::Null,
            Value::Integer(1)
        ])
    );
    let p = Params::from_json(&serde_json::json!({"n": 7})).unwrap();
    let Params::Named(m) = p else { panic!("named") };
    assert_eq!(m["n"], Value::Integer(7));
}

#[test]
fn prepare_rewrites_nondeterminism_and_classifies() {
    let config = EngineConfig::default();
    let opts = PrepareOptions {
        client_id: 1,
        seq: 1,
        transaction: false,
        now_ms: 1_700_000_000_123,
        seed: 99,
    };
    let p = prepare(
        vec![
            Statement::new("INSERT INTO t VALUES(random(), randomblob(4), CURRENT_TIMESTAMP, date('now'), datetime('now', '+1 day'))"),
            Statement::new("SELECT * FROM t WHERE a > ?"),
            Statement::new("SELECT 1; DELETE FROM t"),
        ],
        opts,
        &config,
    )
    .unwrap();
    let sql = &p.batch.statements[0].sql;
    assert!(!sql.to_ascii_lowercase().contains("random"), "{sql}");
    assert!(!sql.contains("CURRENT_TIMESTAMP"), "{sql}");
    assert!(sql.contains("'2023-11-14 22:13:20'"), "{sql}");
    assert!(sql.contains("date('2023-11-14 22:13:20.123')"), "{sql}");
    assert!(
        sql.contains("X'"),
        "randomblob becomes a blob literal: {sql}"
    );
    assert_eq!(
        p.batch.statements[1].sql, "SELECT * FROM t WHERE a > ?",
        "untouched SQL keeps its text"
    );
    assert_eq!(
        p.kinds,
        vec![
            StatementKind::Write,
            StatementKind::Read,
            StatementKind::Write
        ]
    );
    assert!(!p.read_only());
    // The same inputs give the same batch.
    let again = prepare(vec![Statement::new("SELECT random()")], opts, &config).unwrap();
    let again2 = prepare(vec![Statement::new("SELECT random()")], opts, &config).unwrap();
    assert_eq!(again.batch, again2.batch);
    // Bad SQL is rejected before proposing, naming the statement.
    let err = prepare(
        vec![Statement::new("SELECT 1"), Statement::new("SELEC 2")],
        opts,
        &config,
    )
    .unwrap_err();
    assert_eq!(err.statement, 1);
    assert_eq!(err.error.to_string(), "near \"SELEC\": syntax error");
    assert_eq!(classify("SELECT 1").unwrap(), StatementKind::Read);
    assert_eq!(
        classify("EXPLAIN QUERY PLAN SELECT 1").unwrap(),
        StatementKind::Read
    );
    assert_eq!(
        classify("WITH x AS (SELECT 1) SELECT * FROM x").unwrap(),
        StatementKind::Read
    );
    assert_eq!(
        classify("INSERT INTO t VALUES(1)").unwrap(),
        StatementKind::Write
    );
    assert_eq!(classify("CREATE TABLE t(a)").unwrap(), StatementKind::Write);
    assert!(classify("SELEC").is_err());
    // The rewritten batch applies to the same result on every replica.
    let mut a = Engine::new(config.clone());
    let mut b = Engine::new(config.clone());
    let p = prepare(
        vec![
            Statement::new("CREATE TABLE t(a, b, c, d, e, f DEFAULT CURRENT_TIMESTAMP)"),
            Statement::new("INSERT INTO t(a, b, c, d, e) VALUES(random(), randomblob(4), CURRENT_TIMESTAMP, date('now'), random())"),
        ],
        opts,
        &config,
    )
    .unwrap();
    let bytes = p.batch.encode();
    let ra = a.apply(1, 1, &CommandBatch::decode(&bytes).unwrap());
    let rb = b.apply(1, 1, &CommandBatch::decode(&bytes).unwrap());
    assert_eq!(ra, rb);
    assert_eq!(a.state_digest(), b.state_digest());
    let r = a.apply(2, 1, &batch(&["SELECT c, d, f FROM t"]));
    assert_eq!(
        rows(&r[0]),
        vec![vec![
            Value::from("2023-11-14 22:13:20"),
            Value::from("2023-11-14"),
            Value::from("2023-11-14 22:13:20")
        ]]
    );
}

/// Defaults, view and trigger bodies run each time they are used, so `prepare` must not
/// freeze their calls into the literals of the CREATE statement's moment: every row gets its
/// own insert time and its own random value, and the schema keeps the text as written.
/// A shard's prepare cache changes no outcome: for every text, through the cache (first and
/// later calls, learned by `prepare_with` or by `classify`) and without it, with a new clock
/// and seed each time, the batches, kinds and errors are the same.
#[test]
fn the_prepare_cache_changes_no_batch_kind_or_error() {
    let config = EngineConfig::default();
    let long_select = format!("SELECT 1 WHERE 1 IN ({})", vec!["1"; 1500].join(", "));
    let texts = [
        "INSERT INTO t(a, b) VALUES(?, ?)",
        "SELECT * FROM t WHERE a = ?",
        "INSERT INTO t VALUES(random(), CURRENT_TIMESTAMP)",
        "SELECT date('now'), 1",
        "UPDATE t SET b = randomblob(8) WHERE a = 1",
        "CREATE TABLE d (a INTEGER, b TEXT DEFAULT CURRENT_TIMESTAMP)",
        "SELECT 1; DELETE FROM t",
        "SELECT 1; SELECT random()",
        "EXPLAIN QUERY PLAN SELECT * FROM t",
        "REINDEX",
        "SELEC 2",
        "",
        long_select.as_str(),
    ];
    let mut by_prepare = PrepareCache::new();
    let mut by_classify = PrepareCache::new();
    for (round, now_ms) in [1_700_000_000_000i64, 1_800_000_000_000, 1_900_000_000_000]
        .into_iter()
        .enumerate()
    {
        for (i, text) in texts.iter().enumerate() {
            let opts = PrepareOptions {
                client_id: 1,
                seq: i as u64,
                transaction: false,
                now_ms,
                seed: 7 + round as u64,
            };
            let stmts = || vec![Statement::with_params(*text, vec![Value::Integer(5)])];
            let want = prepare(stmts(), opts, &config);
            assert_eq!(
                cls_of(by_classify.classify(text)),
                cls_of(classify(text)),
                "classify {text:?}"
            );
            for cache in [&mut by_prepare, &mut by_classify] {
                let got = prepare_with(stmts(), opts, &config, cache);
                match (&got, &want) {
                    (Ok(g), Ok(w)) => {
                        assert_eq!(g.batch, w.batch, "round {round}: {text:?}");
                        assert_eq!(g.kinds, w.kinds, "round {round}: {text:?}");
                    }
                    (Err(g), Err(w)) => assert_eq!(g, w, "round {round}: {text:?}"),
                    _ => panic!("round {round}: {text:?}: {got:?} vs {want:?}"),
                }
            }
        }
    }
    // Valid texts are remembered, bad or long ones are not.
    let kept = texts
        .iter()
        .filter(|t| classify(t).is_ok() && t.len() <= PrepareCache::MAX_TEXT)
        .count();
    assert_eq!(by_prepare.len(), kept);
    assert_eq!(by_classify.len(), kept);
    // Bounded: a full cache starts over.
    let mut c = PrepareCache::new();
    for i in 0..PrepareCache::MAX_ENTRIES + 5 {
        c.classify(&format!("SELECT {i}")).unwrap();
    }
    assert_eq!(c.len(), 5);
}

fn cls_of(r: reef_engine::Result<StatementKind>) -> Result<StatementKind, String> {
    r.map_err(|e| e.to_string())
}

#[test]
fn prepare_keeps_calls_in_stored_definitions() {
    let config = EngineConfig::default();
    let opts = |now_ms, seed| PrepareOptions {
        client_id: 1,
        seq: seed,
        transaction: false,
        now_ms,
        seed,
    };
    let ddl = [
        "CREATE TABLE t(a, r DEFAULT (random()), at DEFAULT CURRENT_TIMESTAMP)",
        "CREATE TABLE h(x)",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO h VALUES(random()); END",
        "CREATE VIEW v AS SELECT random() AS r",
    ];
    let p = prepare(
        ddl.iter().map(|s| Statement::new(*s)).collect(),
        opts(1_700_000_000_000, 5),
        &config,
    )
    .unwrap();
    for (got, want) in p.batch.statements.iter().zip(ddl) {
        assert_eq!(got.sql, want, "a stored definition is proposed as written");
    }
    let mut e = Engine::new(config.clone());
    let r = e.apply(1, 1, &p.batch);
    assert!(
        r.iter().all(|r| !matches!(r, StatementResult::Error(_))),
        "{r:?}"
    );
    // Two inserts a day apart, each batch with its own time and seed.
    for (i, now_ms) in [(2, 1_700_000_000_000), (3, 1_700_086_400_000)] {
        let p = prepare(
            vec![Statement::new("INSERT INTO t(a) VALUES(1), (2)")],
            opts(now_ms, i),
            &config,
        )
        .unwrap();
        let r = e.apply(i, 1, &p.batch);
        assert!(!matches!(r[0], StatementResult::Error(_)), "{r:?}");
    }
    let r = e.apply(4, 1, &batch(&["SELECT r, at FROM t", "SELECT x FROM h"]));
    let t = rows(&r[0]);
    let at: Vec<&Value> = t.iter().map(|row| &row[1]).collect();
    assert_eq!(
        at,
        [
            &Value::from("2023-11-14 22:13:20"),
            &Value::from("2023-11-14 22:13:20"),
            &Value::from("2023-11-15 22:13:20"),
            &Value::from("2023-11-15 22:13:20")
        ],
        "DEFAULT CURRENT_TIMESTAMP is the insert time"
    );
    let distinct = |vals: Vec<Value>| {
        let n = vals.len();
        let set: Vec<String> = vals.iter().map(|v| format!("{v:?}")).collect();
        let mut dedup = set.clone();
        dedup.sort();
        dedup.dedup();
        assert!(
            vals.iter().all(|v| matches!(v, Value::Integer(_))),
            "{vals:?}"
        );
        dedup.len() == n
    };
    assert!(
        distinct(t.iter().map(|row| row[0].clone()).collect()),
        "DEFAULT (random()) draws per row: {t:?}"
    );
    let h = rows(&r[1]);
    assert_eq!(h.len(), 4);
    assert!(
        distinct(h.iter().map(|row| row[0].clone()).collect()),
        "the trigger draws per firing: {h:?}"
    );
    let r = e.apply(
        5,
        1,
        &batch(&["SELECT sql FROM sqlite_master WHERE name = 't'"]),
    );
    assert_eq!(rows(&r[0]), vec![vec![Value::from(ddl[0])]]);
}

#[test]
fn views_are_stable_snapshots_readable_from_other_threads() {
    let config = EngineConfig::default();
    let mut e = Engine::new(config.clone());
    e.apply(
        1,
        1,
        &batch(&[
            "CREATE TABLE t(a INTEGER PRIMARY KEY, b)",
            "INSERT INTO t VALUES(1, 'one')",
        ]),
    );
    let v1 = e.view();
    let handle = {
        let v = v1.clone();
        let config = config.clone();
        std::thread::spawn(move || {
            let mut q = QueryRunner::new(config);
            let mut seen = Vec::new();
            for _ in 0..200 {
                let r = q.query(&v, &[Statement::new("SELECT count(*), max(b) FROM t")]);
                seen.push(rows(&r[0]));
            }
            seen
        })
    };
    for i in 2..200 {
        e.apply(
            i,
            1,
            &CommandBatch::new(vec![Statement::with_params(
                "INSERT INTO t(b) VALUES(?)",
                vec![Value::Integer(i as i64)],
            )]),
        );
    }
    let seen = handle.join().expect("reader thread");
    assert!(
        seen.iter()
            .all(|r| r == &vec![vec![Value::Integer(1), Value::from("one")]]),
        "a view never changes"
    );
    assert_eq!(v1.applied_index(), 1);
    let v2 = e.view();
    assert_eq!(v2.applied_index(), 199);
    let mut q = QueryRunner::new(config.clone());
    let r = q.query(
        &v2,
        &[
            Statement::new("SELECT count(*) FROM t"),
            Statement::new("DELETE FROM t"),
        ],
    );
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(199)]]);
    assert_eq!(
        r[1].error_message(),
        Some("attempt to write a readonly database")
    );
    assert_ne!(v1.state_digest(), v2.state_digest());
    assert_eq!(v2.state_digest(), e.state_digest());
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<reef_engine::View>();
}

#[test]
fn strong_reads_go_through_apply() {
    let mut e = Engine::new(EngineConfig::default());
    let r = e.apply(
        1,
        1,
        &batch(&[
            "CREATE TABLE t(a)",
            "INSERT INTO t VALUES(1), (2)",
            "SELECT sum(a) FROM t",
        ]),
    );
    assert_eq!(rows(&r[2]), vec![vec![Value::Integer(3)]]);
}

#[test]
fn resource_limits_are_errors() {
    let config = EngineConfig {
        max_statement_bytes: 100,
        max_result_rows: 10,
        max_rows_visited: 10_000,
        max_value_bytes: 1000,
        ..Default::default()
    };
    let mut e = Engine::new(config);
    let long = format!("SELECT '{}'", "x".repeat(200));
    let r = e.apply(1, 1, &batch(&[&long]));
    assert!(
        r[0].error_message()
            .unwrap()
            .contains("over the limit of 100 bytes"),
        "{r:?}"
    );
    e.apply(
        2,
        1,
        &batch(&[
            "CREATE TABLE t(a)",
            "INSERT INTO t VALUES(1),(2),(3),(4),(5),(6),(7),(8),(9),(10),(11),(12)",
        ]),
    );
    let r = e.apply(3, 1, &batch(&["SELECT a FROM t"]));
    assert!(
        r[0].error_message().unwrap().contains("more than 10 rows"),
        "{r:?}"
    );
    let r = e.apply(4, 1, &batch(&["SELECT count(*) FROM t a, t b, t c, t d"]));
    assert!(
        r[0].error_message()
            .unwrap()
            .contains("visited more than 10000 rows"),
        "{r:?}"
    );
    let r = e.apply(5, 1, &batch(&["SELECT length(zeroblob(5000))"]));
    assert!(r[0].error_message().unwrap().contains("too big"), "{r:?}");
    let r = e.apply(6, 1, &batch(&["SELECT printf('%.2000d', 1)"]));
    assert!(r[0].is_error(), "{r:?}");
    let r = e.apply(7, 1, &batch(&["SELECT count(*) FROM t"]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(12)]]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut e = Engine::new(EngineConfig::default());
    let deep_expr = format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000));
    let ok_expr = format!("SELECT {}1{}", "(1 + ".repeat(120), ")".repeat(120));
    let deep_sub = format!("SELECT {}1{}", "(SELECT ".repeat(200), ")".repeat(200));
    let deep_not = format!("SELECT {}1", "NOT ".repeat(5000));
    let r = e.apply(1, 1, &batch(&[&deep_expr, &deep_sub, &deep_not, &ok_expr]));
    assert!(r[..3].iter().all(|x| x.is_error()), "{r:?}");
    assert_eq!(rows(&r[3]), vec![vec![Value::Integer(121)]]);
    // Views that refer to each other in a cycle are an error on use.
    let r = e.apply(
        2,
        1,
        &batch(&[
            "CREATE TABLE t(a)",
            "CREATE VIEW v1 AS SELECT a FROM t",
            "CREATE VIEW v2 AS SELECT a FROM v1",
            "DROP VIEW v1",
            "CREATE VIEW v1 AS SELECT a FROM v2",
            "SELECT * FROM v1",
        ]),
    );
    assert!(r[5].is_error(), "{r:?}");
    // A long chain of views and deeply nested subqueries work without exhausting the stack.
    let mut sql = vec!["CREATE VIEW c0 AS SELECT a FROM t".to_string()];
    for i in 1..60 {
        sql.push(format!(
            "CREATE VIEW c{i} AS SELECT a + 1 AS a FROM c{}",
            i - 1
        ));
    }
    sql.push("INSERT INTO t VALUES(0)".into());
    sql.push("SELECT a FROM c59".into());
    let refs: Vec<&str> = sql.iter().map(|s| s.as_str()).collect();
    let r = e.apply(3, 1, &batch(&refs));
    assert_eq!(rows(r.last().unwrap()), vec![vec![Value::Integer(59)]]);
    let nested = format!("SELECT {}1{}", "(SELECT ".repeat(40), ")".repeat(40));
    let r = e.apply(4, 1, &batch(&[&nested]));
    assert_eq!(rows(&r[0]), vec![vec![Value::Integer(1)]]);
}

#[test]
fn explain_query_plan_rows() {
    let mut e = Engine::new(EngineConfig::default());
    let r = e.apply(
        1,
        1,
        &batch(&[
            "CREATE TABLE t(id INTEGER PRIMARY KEY, a)",
            "CREATE INDEX ta ON t(a)",
            "EXPLAIN QUERY PLAN SELECT * FROM t WHERE a = 1",
        ]),
    );
    assert_eq!(
        json(&r[2]),
        r#"{"columns":["id","parent","notused","detail"],"types":["","","",""],"values":[[1,0,0,"SEARCH t USING INDEX ta (a=?)"]]}"#
    );
}

/// Result column names are what SQLite (and so `reefdb shell` and rqlite clients) show: the
/// expression's source text as written, a bare column's name, and `AS` aliases winning.
#[test]
fn result_column_names_follow_sqlite() {
    let mut e = Engine::new(EngineConfig::default());
    e.execute(&[
        "CREATE TABLE t(a INTEGER, b TEXT, v)",
        "INSERT INTO t VALUES(1, 'x', 2.5)",
    ]);
    let view = e.view();
    let cases: &[(&str, &[&str])] = &[
        ("SELECT count(*) FROM t", &["count(*)"]),
        ("SELECT COUNT(*) FROM t", &["COUNT(*)"]),
        (
            "SELECT typeof(v), a+b, a + 1 FROM t",
            &["typeof(v)", "a+b", "a + 1"],
        ),
        ("SELECT a AS x, b y, t.a, T.b FROM t", &["x", "y", "a", "b"]),
        ("SELECT *, 1 FROM t", &["a", "b", "v", "1"]),
        ("SELECT t.* FROM t", &["a", "b", "v"]),
        (
            "SELECT 'lit', NULL, -a, max(a, 2) FROM t",
            &["'lit'", "NULL", "-a", "max(a, 2)"],
        ),
        (
            "SELECT sum(a) AS s, upper(b) FROM t GROUP BY b",
            &["s", "upper(b)"],
        ),
        (
            "SELECT (SELECT 1), a IS NULL FROM t",
            &["(SELECT 1)", "a IS NULL"],
        ),
        ("SELECT name, type FROM sqlite_master", &["name", "type"]),
        ("SELECT count(*) AS n FROM sqlite_schema", &["n"]),
        ("SELECT x FROM (SELECT a AS x FROM t)", &["x"]),
    ];
    let mut wrong = Vec::new();
    for (sql, want) in cases {
        let r = view.query(&[Statement::new(*sql)], &EngineConfig::default());
        wrong.extend(column_names_differ(sql, &r[0], want));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A query through the log (`level=strong`) is rewritten before proposing (`random()` becomes
/// a literal), yet its columns must be named as the client wrote them, exactly as the same
/// query run locally names them.
#[test]
fn rewritten_queries_keep_their_column_names() {
    let config = EngineConfig::default();
    let opts = PrepareOptions {
        client_id: 1,
        seq: 1,
        transaction: false,
        now_ms: 1_700_000_000_000,
        seed: 9,
    };
    let mut e = Engine::new(config.clone());
    e.execute(&["CREATE TABLE t(a)", "INSERT INTO t VALUES(1)"]);
    let cases: &[(&str, &[&str])] = &[
        ("SELECT random()", &["random()"]),
        (
            "SELECT abs(random()) % 10, a, current_date AS d FROM t",
            &["abs(random()) % 10", "a", "d"],
        ),
        ("SELECT 1 + random() \"x\" FROM t", &["x"]),
        (
            "SELECT date('now'), 'say \"hi\"' || random()",
            &["date('now')", "'say \"hi\"' || random()"],
        ),
        ("SELECT random() UNION ALL SELECT 2", &["random()"]),
        ("SELECT * FROM (SELECT random() AS r)", &["r"]),
    ];
    let mut wrong = Vec::new();
    for (i, (sql, want)) in cases.iter().enumerate() {
        // A fresh sequence number each: a repeated one would return the first answer.
        let opts = PrepareOptions {
            seq: 1 + i as u64,
            ..opts
        };
        let p = prepare(vec![Statement::new(*sql)], opts, &config).unwrap();
        assert_ne!(p.batch.statements[0].sql, *sql, "{sql} was not rewritten");
        let r = e.apply(10 + i as u64, 1, &p.batch);
        wrong.extend(column_names_differ(sql, &r[0], want));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
