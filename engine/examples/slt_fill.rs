//! Authoring aid for `engine/tests/slt/*.slt`: runs every record of a sqllogictest file
//! against real SQLite (rusqlite, bundled) and rewrites the expected output of each `query`
//! with SQLite's answer, so the hand-written files assert SQLite's behaviour rather than
//! ours. Statements whose ok/error outcome disagrees with SQLite are reported.
//!
//! `cargo run -p reef-engine --example slt_fill -- FILE.slt [--write]`
//!
//! Records marked `skipif sqlite` (deliberate differences) are left untouched.

use std::fmt::Write as _;

use rusqlite::types::ValueRef;

/// SQLite's own text for a REAL (what `sqlite3_column_text` returns).
fn sqlite_text(db: &rusqlite::Connection, f: f64) -> String {
    db.query_row("SELECT CAST(?1 AS TEXT)", [f], |r| r.get(0))
        .unwrap_or_default()
}

fn render(db: &rusqlite::Connection, v: ValueRef<'_>, t: char) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => match t {
            'I' => i.to_string(),
            'R' => real(i as f64),
            _ => i.to_string(),
        },
        ValueRef::Real(f) => match t {
            'I' => {
                if f.is_nan() {
                    "0".into()
                } else {
                    (f.clamp(i64::MIN as f64, i64::MAX as f64) as i64).to_string()
                }
            }
            'R' => real(f),
            _ => sqlite_text(db, f),
        },
        ValueRef::Text(b) | ValueRef::Blob(b) => {
            let s = String::from_utf8_lossy(b).into_owned();
            match t {
                'I' => reef_engine::Value::from(s.as_str()).to_i64().to_string(),
                'R' => real(reef_engine::Value::from(s.as_str()).to_f64()),
                _ if s.is_empty() => "(empty)".into(),
                _ => s
                    .chars()
                    .map(|c| if (' '..='~').contains(&c) { c } else { '@' })
                    .collect(),
            }
        }
    }
}

fn real(f: f64) -> String {
    if f.abs() < 1e13 {
        return format!("{f:.3}");
    }
    let s = format!("{:.15e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: usize = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let int: String = (0..=exp)
        .map(|i| digits.as_bytes().get(i).map(|b| *b as char).unwrap_or('0'))
        .collect();
    format!("{}{int}.000", if f < 0.0 { "-" } else { "" })
}

fn md5_hex(values: &[String]) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for v in values {
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    let mut s = String::new();
    for b in h.finalize() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: slt_fill FILE.slt [--write]");
    let write = args.iter().any(|a| a == "--write");
    let text = std::fs::read_to_string(path).expect("read file");
    let db = rusqlite::Connection::open_in_memory().expect("open sqlite");
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let mut hash_threshold = 0usize;
    let mut skip = false;
    let mut problems = 0;
    while i < lines.len() {
        let line = lines[i];
        let words: Vec<&str> = line.split_whitespace().collect();
        i += 1;
        match words.first().copied() {
            Some("skipif") if words.get(1) == Some(&"sqlite") => {
                skip = true;
                out.push(line.into());
                continue;
            }
            Some("onlyif") if words.get(1) != Some(&"sqlite") => {
                skip = true;
                out.push(line.into());
                continue;
            }
            Some("hash-threshold") => {
                hash_threshold = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0);
                out.push(line.into());
                continue;
            }
            Some("statement") | Some("query") => {}
            _ => {
                out.push(line.into());
                continue;
            }
        }
        out.push(line.into());
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim_end() != "----" {
            sql.push(lines[i]);
            out.push(lines[i].into());
            i += 1;
        }
        let sql = sql.join("\n");
        let mut old = Vec::new();
        let had_sep = i < lines.len() && lines[i].trim_end() == "----";
        if had_sep {
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() {
                old.push(lines[i].to_string());
                i += 1;
            }
        }
        if std::mem::take(&mut skip) {
            if had_sep {
                out.push("----".into());
                out.extend(old);
            }
            continue;
        }
        if words[0] == "statement" {
            let r = db.execute_batch(&sql);
            let want_ok = words.get(1) == Some(&"ok");
            if r.is_ok() != want_ok {
                problems += 1;
                eprintln!(
                    "{path}:{}: statement {} but SQLite says {:?}\n  {sql}",
                    i,
                    words[1],
                    r.err()
                );
            } else if let (Err(e), Some(msg)) = (&r, line.splitn(3, ' ').nth(2)) {
                let got = match e {
                    rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
                    other => other.to_string(),
                };
                if !got.contains(msg.trim()) {
                    eprintln!(
                        "{path}:{}: note: SQLite's message is {got:?}, the record expects {:?}",
                        i,
                        msg.trim()
                    );
                }
            }
            continue;
        }
        let types: Vec<char> = words
            .get(1)
            .map(|t| t.chars().collect())
            .unwrap_or_default();
        let sort = words.get(2).copied().unwrap_or("nosort");
        let mut rows: Vec<Vec<String>> = Vec::new();
        let res = (|| -> rusqlite::Result<()> {
            let mut st = db.prepare(&sql)?;
            let n = st.column_count();
            let mut q = st.query([])?;
            while let Some(r) = q.next()? {
                let mut row = Vec::new();
                for c in 0..n {
                    row.push(render(
                        &db,
                        r.get_ref(c)?,
                        types.get(c).copied().unwrap_or('T'),
                    ));
                }
                rows.push(row);
            }
            Ok(())
        })();
        if let Err(e) = res {
            if words.get(1) != Some(&"error") {
                problems += 1;
                eprintln!("{path}:{}: query fails in SQLite: {e}\n  {sql}", i);
            }
            if had_sep {
                out.push("----".into());
                out.extend(old);
            }
            continue;
        }
        if rows.first().is_some_and(|r| r.len() != types.len()) {
            problems += 1;
            eprintln!(
                "{path}:{}: query has {} columns, type string has {}",
                i,
                rows[0].len(),
                types.len()
            );
        }
        let values: Vec<String> = match sort {
            "rowsort" => {
                let mut r = rows.clone();
                r.sort();
                r.into_iter().flatten().collect()
            }
            "valuesort" => {
                let mut v: Vec<String> = rows.iter().flatten().cloned().collect();
                v.sort();
                v
            }
            _ => rows.iter().flatten().cloned().collect(),
        };
        out.push("----".into());
        if hash_threshold > 0 && values.len() > hash_threshold {
            out.push(format!(
                "{} values hashing to {}",
                values.len(),
                md5_hex(&values)
            ));
        } else {
            out.extend(values.iter().cloned());
        }
        if !old.is_empty() && old != values {
            eprintln!("{path}:{}: expected output changed", i);
        }
    }
    let mut text_out = out.join("\n");
    text_out.push('\n');
    if write {
        std::fs::write(path, text_out).expect("write file");
    } else {
        print!("{text_out}");
    }
    if problems > 0 {
        eprintln!("{problems} records disagree with SQLite");
        std::process::exit(1);
    }
}
