//! Fuzz-style robustness: random bytes and random token soups as SQL, and random bytes as
//! log entries, must produce results or errors, never a panic, and finish promptly (a
//! small work limit bounds any accidental cross join).

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reef_engine::{prepare, CommandBatch, Engine, EngineConfig, PrepareOptions, Statement};

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "CREATE",
    "TABLE",
    "INDEX",
    "VIEW",
    "TRIGGER",
    "DROP",
    "ALTER",
    "ADD",
    "COLUMN",
    "RENAME",
    "TO",
    "ON",
    "JOIN",
    "LEFT",
    "CROSS",
    "USING",
    "NATURAL",
    "AS",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "IS",
    "IN",
    "BETWEEN",
    "LIKE",
    "GLOB",
    "ESCAPE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "DISTINCT",
    "ALL",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "WITH",
    "RECURSIVE",
    "EXISTS",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "PRIMARY",
    "KEY",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "REPLACE",
    "IGNORE",
    "CONFLICT",
    "DO",
    "NOTHING",
    "RETURNING",
    "INTEGER",
    "TEXT",
    "REAL",
    "BLOB",
    "COLLATE",
    "NOCASE",
    "ASC",
    "DESC",
    "EXPLAIN",
    "QUERY",
    "PLAN",
    "INDEXED",
    "RAISE",
    "ABORT",
    "FOR",
    "EACH",
    "ROW",
    "AFTER",
    "BEFORE",
    "t",
    "u",
    "a",
    "b",
    "c",
    "x",
    "rowid",
    "t.a",
    "u.b",
    "excluded.a",
    "new.a",
    "old.b",
    "count(*)",
    "sum(a)",
    "max(b)",
    "group_concat(c)",
    "abs(",
    "substr(",
    "printf(",
    "coalesce(",
    "random()",
    "zeroblob(",
    "length(",
    "(",
    ")",
    ",",
    ";",
    "*",
    "+",
    "-",
    "/",
    "%",
    "||",
    "=",
    "==",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&",
    "|",
    "<<",
    ">>",
    "~",
    "?",
    "?1",
    ":n",
    "@p",
    "$v",
    "0",
    "1",
    "-1",
    "42",
    "9223372036854775807",
    "1e308",
    "0.5",
    "'x'",
    "''",
    "'%'",
    "x'00'",
    "X'FF'",
    "NULL",
    "\"q\"",
    "[b]",
    "`c`",
    "/*",
    "*/",
    "--",
    "\n",
];

fn engine() -> Engine {
    let config = EngineConfig {
        max_rows_visited: 200_000,
        max_result_rows: 10_000,
        max_value_bytes: 1 << 20,
        ..Default::default()
    };
    let mut e = Engine::new(config);
    let setup = [
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL UNIQUE)",
        "CREATE TABLE u(a, b TEXT COLLATE NOCASE, c BLOB)",
        "CREATE INDEX ub ON u(b, a)",
        "INSERT INTO t(b, c) VALUES('x', 1.5), ('y', NULL), (NULL, -3), ('z', 99)",
        "INSERT INTO u VALUES(1, 'X', x'00'), (2, 'y', NULL), (NULL, NULL, 'blob')",
        "CREATE TRIGGER tt AFTER INSERT ON t BEGIN INSERT INTO u VALUES(new.a, new.b, NULL); END",
        "CREATE VIEW v AS SELECT a, b FROM t WHERE a > 1",
    ];
    let r = e.execute(&setup);
    assert!(r.iter().all(|x| !x.is_error()), "{r:?}");
    e
}

/// Runs every input; returns how many ran without error.
fn run_all(inputs: Vec<String>) -> usize {
    let mut e = engine();
    let mut panics = Vec::new();
    let mut ok = 0;
    for sql in inputs {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let r = e.execute(&[&sql]);
            let _ = prepare(
                vec![Statement::new(sql.clone())],
                PrepareOptions::default(),
                &EngineConfig::default(),
            );
            !r[0].is_error()
        }));
        match r {
            Ok(true) => ok += 1,
            Ok(false) => {}
            Err(_) => {
                panics.push(sql);
                e = engine();
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{} inputs panicked, e.g.:\n{}",
        panics.len(),
        panics
            .iter()
            .take(5)
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    ok
}

const EXPR: &[&str] = &[
    "a",
    "b",
    "c",
    "t.a",
    "u.b",
    "1",
    "-1",
    "0.5",
    "'x'",
    "NULL",
    "?",
    "x'00'",
    "9223372036854775807",
    "(SELECT max(a) FROM u)",
    "count(*)",
    "sum(a)",
    "abs(a)",
    "substr(b, a, 2)",
    "coalesce(c, b)",
    "CASE WHEN a THEN b ELSE c END",
    "CAST(b AS INTEGER)",
    "a IN (1, 2)",
    "b LIKE '%'",
    "a BETWEEN 1 AND c",
    "EXISTS (SELECT 1 FROM u WHERE u.a = t.a)",
    "printf('%d', a)",
    "random()",
    "zeroblob(3)",
    "group_concat(b)",
];
const OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "AND", "OR", "IS", "IS NOT", "&", "<<",
];

fn expr(rng: &mut StdRng, depth: u32) -> String {
    if depth == 0 || rng.random_bool(0.4) {
        return EXPR[rng.random_range(0..EXPR.len())].to_string();
    }
    match rng.random_range(0..4) {
        0 => format!(
            "({} {} {})",
            expr(rng, depth - 1),
            OPS[rng.random_range(0..OPS.len())],
            expr(rng, depth - 1)
        ),
        1 => format!("NOT {}", expr(rng, depth - 1)),
        2 => format!(
            "{} {} {}",
            expr(rng, depth - 1),
            OPS[rng.random_range(0..OPS.len())],
            TOKENS[rng.random_range(0..TOKENS.len())]
        ),
        _ => format!("-{}", expr(rng, depth - 1)),
    }
}

/// Statements that mostly parse, with random tokens spliced in: they reach the planner and
/// executor instead of stopping at the parser.
fn near_sql(rng: &mut StdRng) -> String {
    let e = |rng: &mut StdRng| expr(rng, 3);
    let mut s = match rng.random_range(0..9) {
        0 => format!("SELECT {}, {} FROM t WHERE {}", e(rng), e(rng), e(rng)),
        1 => format!(
            "SELECT {} FROM t LEFT JOIN u ON {} GROUP BY {} HAVING {} ORDER BY {} LIMIT {}",
            e(rng),
            e(rng),
            e(rng),
            e(rng),
            e(rng),
            e(rng)
        ),
        2 => format!(
            "INSERT INTO t(b, c) VALUES({}, {}) ON CONFLICT(c) DO UPDATE SET b = {} RETURNING {}",
            e(rng),
            e(rng),
            e(rng),
            e(rng)
        ),
        3 => format!(
            "UPDATE t SET b = {}, c = {} WHERE {}",
            e(rng),
            e(rng),
            e(rng)
        ),
        4 => format!("DELETE FROM u WHERE {} RETURNING {}", e(rng), e(rng)),
        5 => format!(
            "WITH w(x) AS (SELECT {} FROM t) SELECT x, {} FROM w, v WHERE {}",
            e(rng),
            e(rng),
            e(rng)
        ),
        6 => format!(
            "SELECT {} FROM t UNION SELECT {} FROM u ORDER BY 1",
            e(rng),
            e(rng)
        ),
        7 => format!(
            "INSERT INTO u SELECT {}, {}, {} FROM t WHERE {}",
            e(rng),
            e(rng),
            e(rng),
            e(rng)
        ),
        _ => format!("SELECT * FROM t WHERE a = {} AND b > {}", e(rng), e(rng)),
    };
    if rng.random_bool(0.3) {
        let at = rng.random_range(0..=s.len());
        if s.is_char_boundary(at) {
            s.insert_str(
                at,
                &format!(" {} ", TOKENS[rng.random_range(0..TOKENS.len())]),
            );
        }
    }
    s
}

#[test]
fn token_soups_never_panic() {
    let mut rng = StdRng::seed_from_u64(1);
    let inputs = (0..3000)
        .map(|_| {
            let n = rng.random_range(1..30);
            let mut s = String::new();
            if rng.random_bool(0.7) {
                s.push_str(
                    [
                        "SELECT ",
                        "INSERT INTO t ",
                        "UPDATE t SET ",
                        "DELETE FROM ",
                        "CREATE ",
                        "WITH ",
                    ][rng.random_range(0..6)],
                );
            }
            for _ in 0..n {
                s.push_str(TOKENS[rng.random_range(0..TOKENS.len())]);
                s.push(' ');
            }
            s
        })
        .collect();
    run_all(inputs);
    let inputs = (0..6000).map(|_| near_sql(&mut rng)).collect();
    let ok = run_all(inputs);
    assert!(
        ok > 600,
        "only {ok} of 6000 near-valid statements ran; the generator no longer reaches the executor"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(2);
    let inputs = (0..3000)
        .map(|_| {
            let n = rng.random_range(0..80);
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.6) {
                        rng.random_range(0x20..0x7f)
                    } else {
                        rng.random()
                    }
                })
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect();
    run_all(inputs);
}

#[test]
fn random_log_entries_never_panic() {
    let mut rng = StdRng::seed_from_u64(3);
    let valid = CommandBatch::new(vec![
        Statement::new("SELECT 1"),
        Statement::with_params("SELECT ?", vec![1.into()]),
    ])
    .encode();
    for _ in 0..20000 {
        let mut b: Vec<u8> = if rng.random_bool(0.5) {
            (0..rng.random_range(0..64)).map(|_| rng.random()).collect()
        } else {
            valid.clone()
        };
        if !b.is_empty() {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        let _ = CommandBatch::decode(&b);
    }
}
