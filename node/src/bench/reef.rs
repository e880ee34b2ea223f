//! ReefDB (rqlite API) requests: the bench table, its preload, and per-workload request
//! bodies and result checks.
//!
//! Bodies are written straight into a reused buffer (every interpolated string is
//! generated here and JSON-safe), and answers are decoded only as far as a check needs,
//! so the generator spends its CPU on the network, not on JSON.

use super::workload::{OpKind, Params};
use super::BenchError;
use crate::client::rqlite::{http_error, stmt};
use crate::client::{Endpoint, HttpConn, Response, RqliteClient};
use rand::Rng;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::fmt::Write as _;
use std::time::Duration;

/// Statements per request while preloading.
const PRELOAD_BATCH: u64 = 200;

/// The request target for `op` (reads carry the consistency level).
pub fn path(op: OpKind, params: &Params) -> String {
    match op {
        OpKind::Insert | OpKind::Update => "/db/execute".to_string(),
        OpKind::PointRead | OpKind::RangeRead => match &params.level {
            Some(l) => format!(
                "/db/query?level={}",
                crate::client::url::encode_query_component(l)
            ),
            None => "/db/query".to_string(),
        },
    }
}

/// Writes the JSON body of one request of `params.batch` statements.
pub fn build<R: Rng>(
    op: OpKind,
    params: &Params,
    client: usize,
    seq: u64,
    rng: &mut R,
    value: &mut String,
    body: &mut Vec<u8>,
) {
    body.clear();
    let mut s = String::with_capacity(64 * params.batch as usize);
    s.push('[');
    let t = &params.table;
    for j in 0..params.batch {
        if j > 0 {
            s.push(',');
        }
        match op {
            OpKind::Insert => {
                params.value(client, seq, value);
                let _ = write!(
                    s,
                    r#"["INSERT INTO {t}(k, v) VALUES(?, ?)","c{client}-{seq}-{j}","{value}"]"#
                );
            }
            OpKind::Update => {
                params.value(client, seq, value);
                let id = params.random_id(rng);
                let _ = write!(s, r#"["UPDATE {t} SET v = ? WHERE id = ?","{value}",{id}]"#);
            }
            OpKind::PointRead => {
                let id = params.random_id(rng);
                let _ = write!(s, r#"["SELECT k, v FROM {t} WHERE id = ?",{id}]"#);
            }
            OpKind::RangeRead => {
                let from = params.random_range_start(rng);
                let to = from + params.scan;
                let _ = write!(
                    s,
                    r#"["SELECT id, k, v FROM {t} WHERE id >= ? AND id < ?",{from},{to}]"#
                );
            }
        }
    }
    s.push(']');
    body.extend_from_slice(s.as_bytes());
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    error: Option<String>,
    rows_affected: Option<i64>,
    values: Option<Vec<IgnoredAny>>,
}

/// Statements that succeeded, or the kind of error to count.
pub fn check(op: OpKind, params: &Params, addr: &str, resp: &Response) -> Result<u64, String> {
    if !resp.is_success() {
        return Err(http_error(addr, resp).kind());
    }
    let answer: Answer = serde_json::from_slice(&resp.body).map_err(|_| "bad json".to_string())?;
    if let Some(e) = answer.error {
        return Err(format!("error: {}", crate::client::shorten(&e, 80)));
    }
    if answer.results.len() != params.batch as usize {
        return Err(format!(
            "{} results for {} statements",
            answer.results.len(),
            params.batch
        ));
    }
    for r in &answer.results {
        if let Some(e) = &r.error {
            return Err(format!("sql: {}", crate::client::shorten(e, 80)));
        }
        match op {
            OpKind::Insert if r.rows_affected != Some(1) => {
                return Err("insert affected no row".to_string())
            }
            OpKind::Update if r.rows_affected == Some(0) => {
                return Err("update matched no row".to_string())
            }
            OpKind::PointRead if r.values.as_ref().is_none_or(|v| v.is_empty()) => {
                return Err("row not found".to_string())
            }
            _ => {}
        }
    }
    Ok(u64::from(params.batch))
}

/// Creates the table and loads rows 1..=`params.rows` that are not there yet, from
/// `threads` connections. Returns the number of rows inserted.
pub fn setup(
    endpoint: &Endpoint,
    params: &Params,
    fresh: bool,
    threads: usize,
    timeout: Duration,
) -> Result<u64, BenchError> {
    let mut c = RqliteClient::with_conn(HttpConn::new(endpoint.clone(), timeout));
    let t = &params.table;
    let mut ddl = Vec::new();
    if fresh {
        ddl.push(stmt(&format!("DROP TABLE IF EXISTS {t}"), &[]));
    }
    ddl.push(stmt(
        &format!("CREATE TABLE IF NOT EXISTS {t}(id INTEGER PRIMARY KEY, k TEXT, v TEXT)"),
        &[],
    ));
    for r in c.execute(&ddl)?.results {
        if let Some(e) = r.error {
            return Err(BenchError::Setup(format!("creating table {t}: {e}")));
        }
    }
    if params.rows == 0 {
        return Ok(0);
    }
    let q = c.query(&[stmt(&format!("SELECT MAX(id) FROM {t}"), &[])], None)?;
    let have = q
        .results
        .first()
        .and_then(|r| {
            if let Some(e) = &r.error {
                return Some(Err(e.clone()));
            }
            r.values.first()?.first()?.as_u64().map(Ok)
        })
        .transpose()
        .map_err(|e| BenchError::Setup(format!("counting rows of {t}: {e}")))?
        .unwrap_or(0);
    if have >= params.rows {
        return Ok(0);
    }
    let first = have + 1;
    let todo = params.rows - have;
    let threads = threads.clamp(1, 8) as u64;
    let per = todo.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let lo = first + i * per;
                let hi = (lo + per).min(params.rows + 1);
                scope.spawn(move || preload_range(endpoint, params, lo, hi, timeout))
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| BenchError::Setup("a preload thread panicked".into()))??;
        }
        Ok::<(), BenchError>(())
    })?;
    Ok(todo)
}

fn preload_range(
    endpoint: &Endpoint,
    params: &Params,
    lo: u64,
    hi: u64,
    timeout: Duration,
) -> Result<(), BenchError> {
    let mut c = RqliteClient::with_conn(HttpConn::new(endpoint.clone(), timeout));
    let t = &params.table;
    let mut value = String::new();
    let mut id = lo;
    while id < hi {
        let end = (id + PRELOAD_BATCH).min(hi);
        let batch: Vec<_> = (id..end)
            .map(|i| {
                params.value(0, i, &mut value);
                stmt(
                    &format!("INSERT INTO {t}(id, k, v) VALUES(?, ?, ?)"),
                    &[i.into(), format!("row{i}").into(), value.clone().into()],
                )
            })
            .collect();
        for r in c.execute(&batch)?.results {
            if let Some(e) = r.error {
                return Err(BenchError::Setup(format!(
                    "preloading rows {id}..{end}: {e}"
                )));
            }
        }
        id = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::workload::Workload;
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn params(batch: u32) -> Params {
        Params {
            workload: Workload::Mixed,
            batch,
            rows: 50,
            value_size: 12,
            scan: 5,
            read_percent: 50,
            level: Some("weak".into()),
            table: "bench".into(),
        }
    }

    fn ok(body: &str) -> Response {
        Response {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn bodies_are_the_api_json() {
        let mut rng = StdRng::seed_from_u64(3);
        let (mut v, mut body) = (String::new(), Vec::new());
        for op in OpKind::ALL {
            build(op, &params(3), 7, 42, &mut rng, &mut v, &mut body);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let stmts = json.as_array().unwrap();
            assert_eq!(stmts.len(), 3, "{op:?}");
            let sql = stmts[0][0].as_str().unwrap();
            let placeholders = sql.matches('?').count();
            assert_eq!(
                stmts[0].as_array().unwrap().len(),
                1 + placeholders,
                "{sql}"
            );
        }
        build(
            OpKind::Insert,
            &params(1),
            7,
            42,
            &mut rng,
            &mut v,
            &mut body,
        );
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"[["INSERT INTO bench(k, v) VALUES(?, ?)","c7-42-0","c7s42-xxxxxx"]]"#
        );
        assert_eq!(path(OpKind::PointRead, &params(1)), "/db/query?level=weak");
        assert_eq!(path(OpKind::Update, &params(1)), "/db/execute");
    }

    #[test]
    fn checks_count_statements_and_name_errors() {
        let p = params(2);
        let two_rows =
            r#"{"results":[{"rows_affected":1,"last_insert_id":9},{"rows_affected":1}]}"#;
        assert_eq!(check(OpKind::Insert, &p, "a", &ok(two_rows)), Ok(2));
        let table: &[(OpKind, &str, &str)] = &[
            (
                OpKind::Insert,
                r#"{"results":[{"rows_affected":1}]}"#,
                "1 results for 2 statements",
            ),
            (
                OpKind::Insert,
                r#"{"results":[{"rows_affected":1},{"error":"no such table: bench"}]}"#,
                "sql: no such table: bench",
            ),
            (
                OpKind::Update,
                r#"{"results":[{"rows_affected":1},{"rows_affected":0}]}"#,
                "update matched no row",
            ),
            (
                OpKind::PointRead,
                r#"{"results":[{"columns":["k"],"values":[["a"]]},{"columns":["k"]}]}"#,
                "row not found",
            ),
            (
                OpKind::PointRead,
                r#"{"error":"not leader"}"#,
                "error: not leader",
            ),
            (OpKind::PointRead, "<html>", "bad json"),
        ];
        for (op, body, want) in table {
            assert_eq!(
                check(*op, &p, "a", &ok(body)),
                Err(want.to_string()),
                "{body}"
            );
        }
        let unavailable = Response {
            status: 503,
            headers: vec![],
            body: br#"{"error":"no leader"}"#.to_vec(),
        };
        assert_eq!(
            check(OpKind::Insert, &p, "a", &unavailable),
            Err("http 503: no leader".to_string())
        );
        let reads = r#"{"results":[{"columns":["k","v"],"types":["text","text"],"values":[["a","b"]]},{"values":[["c","d"]]}]}"#;
        assert_eq!(check(OpKind::PointRead, &p, "a", &ok(reads)), Ok(2));
    }
}
