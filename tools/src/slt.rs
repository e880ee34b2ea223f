//! A sqllogictest runner for reef-engine, following SQLite's original runner: records
//! `statement ok|error`, `query <types> [nosort|rowsort|valuesort] [label]`, `hash-threshold`,
//! `onlyif`/`skipif <engine>`, `halt`. Query values are rendered per column type the way the
//! SQLite driver does (`I` as a 64-bit integer, `R` as `%.3f`, `T` as text with `(empty)` and
//! unprintable bytes as `@`), sorted per the sort mode, and compared either value by value or,
//! above the hash threshold, as "N values hashing to MD5".
//!
//! Extensions for hand-written files: `statement error <text>` also requires the error
//! message to contain `<text>`, and expected query output may list one row per line with
//! values separated by single spaces.
//!
//! This file is also compiled into reef-engine's integration tests (by `#[path]`), so it
//! depends on nothing but `reef_engine` and `md5`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use reef_engine::{CommandBatch, Engine, EngineConfig, Statement, StatementResult, Value};

#[derive(Debug, Clone)]
pub struct Options {
    /// Engine names matched by `onlyif` / `skipif` (the shared corpus uses `sqlite`; the
    /// engine's own files also use `reef` for records that show reef-specific output).
    pub engine_names: Vec<String>,
    /// Print every failure (otherwise the first few of each file).
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine_names: vec!["sqlite".into()],
            verbose: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub line: usize,
    pub sql: String,
    pub expected: String,
    pub actual: String,
}

#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub path: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<Failure>,
}

impl FileReport {
    pub fn summary(&self) -> String {
        format!(
            "{}: {} passed, {} failed, {} skipped",
            self.path, self.passed, self.failed, self.skipped
        )
    }
}

enum Expect {
    Ok,
    Error(Option<String>),
}

/// Render one value as SQLite's sqllogictest driver does for column type `t`.
pub fn render(v: &Value, t: char) -> String {
    if v.is_null() {
        return "NULL".into();
    }
    match t {
        'I' => v.to_i64().to_string(),
        'R' => render_real(v.to_f64()),
        _ => {
            let s = match v {
                Value::Text(s) => s.to_string(),
                Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                Value::Integer(i) => i.to_string(),
                Value::Real(f) => reef_engine::format_real(*f),
                Value::Null => unreachable!("handled above"),
            };
            if s.is_empty() {
                "(empty)".into()
            } else {
                s.chars()
                    .map(|c| if (' '..='~').contains(&c) { c } else { '@' })
                    .collect()
            }
        }
    }
}

/// `sqlite3_snprintf("%.3f")`: SQLite's printf produces at most 16 significant digits and
/// pads the rest with zeros (so `-9223372036854775808.0` prints as
/// `-9223372036854776000.000`).
fn render_real(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "Inf".into() } else { "-Inf".into() };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    if f.abs() < 1e13 {
        return format!("{f:.3}");
    }
    let s = format!("{:.15e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: usize = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut int = String::new();
    for i in 0..=exp {
        int.push(digits.as_bytes().get(i).map(|b| *b as char).unwrap_or('0'));
    }
    format!("{}{int}.000", if f < 0.0 { "-" } else { "" })
}

fn md5_hex(values: &[String]) -> String {
    let mut h = Md5::new();
    for v in values {
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    let d = h.finalize();
    let mut s = String::with_capacity(32);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

struct Runner<'o> {
    engine: Engine,
    opts: &'o Options,
    hash_threshold: usize,
}

impl Runner<'_> {
    fn exec(&mut self, sql: &str) -> StatementResult {
        let idx = self.engine.applied_index() + 1;
        let b = CommandBatch::new(vec![Statement::new(sql)]);
        let mut r = self.engine.apply(idx, 1, &b);
        r.pop()
            .unwrap_or_else(|| StatementResult::error(&reef_engine::Error::Sql("no result".into())))
    }
}

fn describe(r: &StatementResult) -> String {
    match r {
        StatementResult::Error(e) => format!("error: {}", e.error),
        StatementResult::Exec(e) => format!("ok (rows_affected {})", e.rows_affected),
        StatementResult::Query(q) => format!("{} rows", q.values.len()),
    }
}

/// Run the records of one file's text.
pub fn run_text(name: &str, text: &str, opts: &Options) -> FileReport {
    let mut rep = FileReport {
        path: name.to_string(),
        ..Default::default()
    };
    let mut r = Runner {
        engine: Engine::new(EngineConfig::default()),
        opts,
        hash_threshold: 0,
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut skip_next = false;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let lineno = i + 1;
        i += 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(&first) = words.first() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        match first {
            "onlyif" => {
                if !words
                    .get(1)
                    .is_some_and(|w| r.opts.engine_names.iter().any(|n| n == w))
                {
                    skip_next = true;
                }
                continue;
            }
            "skipif" => {
                if words
                    .get(1)
                    .is_some_and(|w| r.opts.engine_names.iter().any(|n| n == w))
                {
                    skip_next = true;
                }
                continue;
            }
            "hash-threshold" => {
                r.hash_threshold = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0);
                continue;
            }
            "halt" => {
                if skip_next {
                    skip_next = false;
                    continue;
                }
                break;
            }
            "statement" | "query" => {}
            _ => continue,
        }
        // The record's SQL runs until a blank line (statement) or "----" (query).
        let mut sql_lines = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim_end() != "----" {
            sql_lines.push(lines[i]);
            i += 1;
        }
        let sql = sql_lines.join("\n");
        let mut expected: Vec<String> = Vec::new();
        let mut has_results = false;
        if first == "query" && i < lines.len() && lines[i].trim_end() == "----" {
            has_results = true;
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() {
                expected.push(lines[i].trim_end().to_string());
                i += 1;
            }
        }
        if std::mem::take(&mut skip_next) {
            rep.skipped += 1;
            continue;
        }
        let fail = |rep: &mut FileReport, expected: String, actual: String| {
            rep.failed += 1;
            rep.failures.push(Failure {
                line: lineno,
                sql: sql.clone(),
                expected,
                actual,
            });
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.exec(&sql)));
        let result = match result {
            Ok(x) => x,
            Err(_) => {
                fail(&mut rep, "no panic".into(), "PANIC".into());
                r.engine = Engine::new(EngineConfig::default());
                continue;
            }
        };
        if first == "statement" {
            let expect = match words.get(1).copied() {
                Some("ok") => Expect::Ok,
                Some("error") => Expect::Error(if words.len() > 2 {
                    Some(line.splitn(3, ' ').nth(2).unwrap_or("").trim().to_string())
                } else {
                    None
                }),
                _ => Expect::Ok,
            };
            match (expect, &result) {
                (Expect::Ok, StatementResult::Error(e)) => {
                    fail(&mut rep, "ok".into(), format!("error: {}", e.error))
                }
                (Expect::Ok, _) => rep.passed += 1,
                (Expect::Error(None), StatementResult::Error(_)) => rep.passed += 1,
                (Expect::Error(Some(m)), StatementResult::Error(e)) => {
                    if e.error.contains(&m) {
                        rep.passed += 1
                    } else {
                        fail(
                            &mut rep,
                            format!("error containing {m:?}"),
                            format!("error: {}", e.error),
                        )
                    }
                }
                (Expect::Error(_), other) => fail(&mut rep, "an error".into(), describe(other)),
            }
            continue;
        }
        // query <types> [sortmode] [label]
        let types: Vec<char> = words
            .get(1)
            .map(|t| t.chars().collect())
            .unwrap_or_default();
        let sort = words.get(2).copied().unwrap_or("nosort");
        if words.get(1).copied() == Some("error") {
            match &result {
                StatementResult::Error(_) => rep.passed += 1,
                other => fail(&mut rep, "an error".into(), describe(other)),
            }
            continue;
        }
        let rows = match &result {
            // SQLite's driver stops reading rows at a step error and compares what it got;
            // only errors preparing the statement fail the record.
            StatementResult::Error(e) if !is_prepare_error(&e.error) => Vec::new(),
            StatementResult::Error(e) => {
                fail(&mut rep, expected.join("\n"), format!("error: {}", e.error));
                continue;
            }
            other => other.rows().map(|r| r.values.clone()).unwrap_or_default(),
        };
        if rows.iter().any(|row| row.len() != types.len()) {
            fail(
                &mut rep,
                format!("{} columns", types.len()),
                format!("{} columns", rows.first().map(|r| r.len()).unwrap_or(0)),
            );
            continue;
        }
        let mut rendered: Vec<Vec<String>> = rows
            .iter()
            .map(|row| row.iter().zip(&types).map(|(v, t)| render(v, *t)).collect())
            .collect();
        let mut values: Vec<String> = match sort {
            "rowsort" => {
                rendered.sort();
                rendered.iter().flatten().cloned().collect()
            }
            "valuesort" => {
                let mut v: Vec<String> = rendered.iter().flatten().cloned().collect();
                v.sort();
                v
            }
            _ => rendered.iter().flatten().cloned().collect(),
        };
        let ok = if let Some((n, h)) = expected
            .first()
            .and_then(|l| parse_hash_line(l))
            .filter(|_| expected.len() == 1)
        {
            n == values.len() && h == md5_hex(&values)
        } else if r.hash_threshold > 0 && values.len() > r.hash_threshold && has_results {
            // Expected values listed although above the threshold: compare directly.
            expected == values
        } else {
            let row_lines: Vec<String> = rendered.iter().map(|r| r.join(" ")).collect();
            expected == values || (sort != "valuesort" && expected == row_lines)
        };
        if ok {
            rep.passed += 1;
        } else {
            let actual = if r.hash_threshold > 0 && values.len() > r.hash_threshold {
                format!(
                    "{} values hashing to {}\n{}",
                    values.len(),
                    md5_hex(&values),
                    values.join("\n")
                )
            } else {
                std::mem::take(&mut values).join("\n")
            };
            fail(&mut rep, expected.join("\n"), actual);
        }
    }
    rep
}

fn is_prepare_error(msg: &str) -> bool {
    [
        "near ",
        "incomplete input",
        "no such ",
        "unrecognized token",
        "misuse of",
        "ambiguous column",
        "wrong number of arguments",
        "not supported",
        "sub-select returns",
        "ORDER BY term",
        "GROUP BY term",
        "SELECTs to the left",
    ]
    .iter()
    .any(|p| msg.contains(p))
}

fn parse_hash_line(l: &str) -> Option<(usize, String)> {
    let mut it = l.split_whitespace();
    let n: usize = it.next()?.parse().ok()?;
    if it.next()? != "values" || it.next()? != "hashing" || it.next()? != "to" {
        return None;
    }
    let h = it.next()?.to_ascii_lowercase();
    if h.len() != 32 || it.next().is_some() {
        return None;
    }
    Some((n, h))
}

pub fn run_file(path: &Path, opts: &Options) -> std::io::Result<FileReport> {
    let text = std::fs::read_to_string(path)?;
    Ok(run_text(&path.display().to_string(), &text, opts))
}

/// Test files under `root` (itself if it is a file), sorted: `*.test` and `*.slt`.
pub fn collect(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("test" | "slt")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Human-readable failure listing (SQL, expected, actual), truncated per value.
pub fn format_failure(f: &Failure) -> String {
    fn clip(s: &str) -> String {
        const MAX: usize = 600;
        if s.len() > MAX {
            let mut end = MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}... ({} bytes)", &s[..end], s.len())
        } else {
            s.to_string()
        }
    }
    format!(
        "  line {}:\n    sql:      {}\n    expected: {}\n    actual:   {}",
        f.line,
        clip(&f.sql).replace('\n', "\n              "),
        clip(&f.expected).replace('\n', "\n              "),
        clip(&f.actual).replace('\n', "\n              ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_follows_the_sqlite_driver() {
        assert_eq!(render(&Value::Real(2.7), 'I'), "2");
        assert_eq!(render(&Value::from("12abc"), 'I'), "12");
        assert_eq!(render(&Value::Integer(3), 'R'), "3.000");
        assert_eq!(render(&Value::from(""), 'T'), "(empty)");
        assert_eq!(render(&Value::from("a\tb"), 'T'), "a@b");
        assert_eq!(render(&Value::Null, 'I'), "NULL");
        assert_eq!(md5_hex(&[]), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            render(&Value::Real(i64::MIN as f64), 'R'),
            "-9223372036854776000.000"
        );
        assert_eq!(
            render(&Value::Real(-18446744073709551616.0), 'R'),
            "-18446744073709550000.000"
        );
        assert_eq!(render(&Value::Real(-1.5), 'R'), "-1.500");
    }

    #[test]
    fn records_pass_and_fail() {
        let text = "statement ok\nCREATE TABLE t(a INTEGER)\n\nstatement ok\nINSERT INTO t VALUES(1),(2)\n\nquery I rowsort\nSELECT a FROM t\n----\n1\n2\n\nquery I nosort\nSELECT a FROM t\n----\n3\n\nstatement error no such table\nSELECT * FROM nope\n\nskipif sqlite\nquery I nosort\nSELECT 1\n----\n2\n";
        let rep = run_text("inline", text, &Options::default());
        assert_eq!(
            (rep.passed, rep.failed, rep.skipped),
            (4, 1, 1),
            "{:?}",
            rep.failures
        );
    }
}
