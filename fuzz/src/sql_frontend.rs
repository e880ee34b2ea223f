//! SQL front end: `reef_engine::prepare` and `reef_engine::classify` on hostile text.
//!
//! The first byte picks the mode: raw text (lossy UTF-8), or a soup of SQL tokens chosen by
//! the following bytes, which reaches deep into the grammar far faster than raw bytes do.
//! Beyond "no panic", it checks what the leader relies on: `classify` agrees with `prepare`
//! on read versus write, and the text `prepare` rewrote (what every replica will parse)
//! parses again to the same kinds, and the batch survives its own encoding.

use reef_engine::{classify, prepare, CommandBatch, EngineConfig, PrepareOptions, Statement};

use super::input::Input;

const TOKENS: &[&str] = &[
    "SELECT",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "FROM",
    "WHERE",
    "CREATE",
    "TABLE",
    "INDEX",
    "VIEW",
    "TRIGGER",
    "DROP",
    "IF",
    "NOT",
    "EXISTS",
    "ALTER",
    "ADD",
    "COLUMN",
    "RENAME",
    "TO",
    "PRIMARY",
    "KEY",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "REFERENCES",
    "AUTOINCREMENT",
    "INTEGER",
    "TEXT",
    "REAL",
    "BLOB",
    "NULL",
    "AND",
    "OR",
    "IS",
    "IN",
    "LIKE",
    "GLOB",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "AS",
    "JOIN",
    "LEFT",
    "INNER",
    "CROSS",
    "ON",
    "USING",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "ASC",
    "DESC",
    "LIMIT",
    "OFFSET",
    "UNION",
    "ALL",
    "INTERSECT",
    "EXCEPT",
    "DISTINCT",
    "WITH",
    "RECURSIVE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "EXPLAIN",
    "QUERY",
    "PLAN",
    "PRAGMA",
    "REINDEX",
    "VACUUM",
    "RETURNING",
    "CONFLICT",
    "REPLACE",
    "IGNORE",
    "OVER",
    "PARTITION",
    "COLLATE",
    "NOCASE",
    "ESCAPE",
    "UPSERT",
    "DO",
    "NOTHING",
    "random()",
    "randomblob(",
    "datetime(",
    "date(",
    "time(",
    "julianday(",
    "unixepoch(",
    "strftime(",
    "'now'",
    "count(",
    "sum(",
    "max(",
    "min(",
    "abs(",
    "length(",
    "substr(",
    "coalesce(",
    "ifnull(",
    "hex(",
    "upper(",
    "lower(",
    "json(",
    "(",
    ")",
    ",",
    ";",
    "*",
    "+",
    "-",
    "/",
    "%",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "||",
    "<<",
    ">>",
    "&",
    "|",
    "~",
    ".",
    "?",
    "?1",
    "?999999999999",
    ":n",
    "@a",
    "$x",
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "1.5e308",
    "1e999",
    "0x7f",
    "'x'",
    "'it''s'",
    "X'00ff'",
    "x'0'",
    "\"q\"",
    "`b`",
    "[c]",
    "t",
    "u",
    "a",
    "b",
    "c",
    "rowid",
    "-- c\n",
    "/* c */",
    "\n",
    "\0",
];

fn token_soup(bytes: &[u8]) -> String {
    let mut sql = String::new();
    for b in bytes {
        sql.push_str(TOKENS[*b as usize % TOKENS.len()]);
        sql.push(' ');
    }
    sql
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let sql = match input.byte() % 2 {
        0 => String::from_utf8_lossy(input.rest()).into_owned(),
        _ => token_soup(input.rest()),
    };
    check(&sql);
}

fn check(sql: &str) {
    let config = EngineConfig {
        max_statement_bytes: 16 << 10,
        max_value_bytes: 64 << 10,
        ..EngineConfig::default()
    };
    let opts = PrepareOptions {
        client_id: 7,
        seq: 1,
        transaction: false,
        now_ms: 1_700_000_000_000,
        seed: 42,
    };
    if sql.len() > config.max_statement_bytes {
        assert!(prepare(vec![Statement::new(sql)], opts, &config).is_err());
        return;
    }
    let kind = classify(sql);
    let prepared = match prepare(vec![Statement::new(sql)], opts, &config) {
        Ok(p) => p,
        Err(_) => {
            assert!(
                kind.is_err(),
                "prepare refused what classify accepted: {sql:?}"
            );
            return;
        }
    };
    assert_eq!(
        kind.as_ref().ok(),
        Some(&prepared.kinds[0]),
        "classify and prepare disagree on {sql:?}"
    );
    let rewritten = &prepared.batch.statements[0].sql;
    if rewritten != sql {
        // Rewrites may lengthen the text (randomblob's literal); replicas do not re-check size.
        let unlimited = EngineConfig {
            max_statement_bytes: usize::MAX,
            ..config
        };
        let again =
            prepare(prepared.batch.statements.clone(), opts, &unlimited).unwrap_or_else(|e| {
                panic!("rewritten SQL {rewritten:?} of {sql:?} does not parse: {e}")
            });
        assert_eq!(
            again.kinds, prepared.kinds,
            "rewrite of {sql:?} changed its kind"
        );
    }
    let bytes = prepared.batch.encode();
    let decoded = CommandBatch::decode(&bytes).expect("a prepared batch decodes");
    assert_eq!(decoded, prepared.batch);
}
