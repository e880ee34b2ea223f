//! etcd v3 requests through its JSON gateway, the same load shapes as the ReefDB ones:
//! a put of a new key for an insert, a put of a preloaded key for an update, and a
//! linearizable (or, with `--level serializable|none|weak`, serializable) range for reads.
//! Batches go in one `txn`. Keys are zero-padded so that id ranges are key ranges.

use super::workload::{OpKind, Params};
use super::BenchError;
use crate::client::rqlite::http_error;
use crate::client::{Endpoint, HttpConn, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::Rng;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::fmt::Write as _;
use std::time::Duration;

/// Puts per preload txn (etcd refuses more than 128 operations per txn by default).
const PRELOAD_BATCH: u64 = 100;

pub fn row_key(id: u64) -> String {
    format!("bench/row/{id:010}")
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// Whether reads skip the quorum round (etcd's serializable reads).
fn serializable(params: &Params) -> bool {
    matches!(
        params.level.as_deref(),
        Some("serializable" | "none" | "weak")
    )
}

pub fn path(op: OpKind, params: &Params) -> &'static str {
    if params.batch > 1 {
        return "/v3/kv/txn";
    }
    match op {
        OpKind::Insert | OpKind::Update => "/v3/kv/put",
        OpKind::PointRead | OpKind::RangeRead => "/v3/kv/range",
    }
}

/// One operation's JSON object (a PutRequest or RangeRequest); the slot is (client,
/// request sequence number, position in the batch, the batch's first update id).
fn op_json<R: Rng>(
    op: OpKind,
    params: &Params,
    (client, seq, j, base): (usize, u64, u32, u64),
    rng: &mut R,
    value: &mut String,
    out: &mut String,
) {
    match op {
        OpKind::Insert | OpKind::Update => {
            let key = if op == OpKind::Insert {
                format!("bench/ins/{client:04}/{seq:012}/{j}")
            } else {
                // Consecutive ids within a batch: etcd refuses a txn that puts one key twice.
                row_key((base - 1 + u64::from(j)) % params.rows.max(1) + 1)
            };
            params.value(client, seq, value);
            let _ = write!(out, r#"{{"key":"{}","value":"{}"}}"#, b64(&key), b64(value));
        }
        OpKind::PointRead => {
            let key = row_key(params.random_id(rng));
            let _ = write!(out, r#"{{"key":"{}""#, b64(&key));
            if serializable(params) {
                out.push_str(r#","serializable":true"#);
            }
            out.push('}');
        }
        OpKind::RangeRead => {
            let from = params.random_range_start(rng);
            let _ = write!(
                out,
                r#"{{"key":"{}","range_end":"{}""#,
                b64(&row_key(from)),
                b64(&row_key(from + params.scan))
            );
            if serializable(params) {
                out.push_str(r#","serializable":true"#);
            }
            out.push('}');
        }
    }
}

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
    let mut s = String::with_capacity(128 * params.batch as usize);
    let base = params.random_id(rng);
    if params.batch <= 1 {
        op_json(op, params, (client, seq, 0, base), rng, value, &mut s);
    } else {
        let field = match op {
            OpKind::Insert | OpKind::Update => "request_put",
            OpKind::PointRead | OpKind::RangeRead => "request_range",
        };
        s.push_str(r#"{"success":["#);
        for j in 0..params.batch {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(s, r#"{{"{field}":"#);
            op_json(op, params, (client, seq, j, base), rng, value, &mut s);
            s.push('}');
        }
        s.push_str("]}");
    }
    body.extend_from_slice(s.as_bytes());
}

#[derive(Deserialize)]
struct RangeAnswer {
    #[serde(default)]
    kvs: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct TxnAnswer {
    #[serde(default)]
    responses: Vec<IgnoredAny>,
}

pub fn check(op: OpKind, params: &Params, addr: &str, resp: &Response) -> Result<u64, String> {
    if !resp.is_success() {
        return Err(http_error(addr, resp).kind());
    }
    if params.batch > 1 {
        let t: TxnAnswer =
            serde_json::from_slice(&resp.body).map_err(|_| "bad json".to_string())?;
        if t.responses.len() != params.batch as usize {
            return Err(format!(
                "{} txn responses for {} operations",
                t.responses.len(),
                params.batch
            ));
        }
        return Ok(u64::from(params.batch));
    }
    match op {
        OpKind::Insert | OpKind::Update => {
            serde_json::from_slice::<IgnoredAny>(&resp.body).map_err(|_| "bad json".to_string())?;
        }
        OpKind::PointRead | OpKind::RangeRead => {
            let r: RangeAnswer =
                serde_json::from_slice(&resp.body).map_err(|_| "bad json".to_string())?;
            if r.kvs.is_empty() {
                return Err("key not found".to_string());
            }
        }
    }
    Ok(1)
}

fn post(conn: &mut HttpConn, path: &str, body: &str) -> Result<serde_json::Value, BenchError> {
    let resp = conn.request("POST", path, Some("application/json"), body.as_bytes())?;
    if !resp.is_success() {
        return Err(http_error(&conn.endpoint().authority(), &resp).into());
    }
    serde_json::from_slice(&resp.body)
        .map_err(|e| BenchError::Setup(format!("etcd answered {path} with bad JSON: {e}")))
}

/// Deletes old bench keys when `fresh`, then puts rows 1..=`params.rows` unless they are
/// all there. Returns the number of keys written.
pub fn setup(
    endpoint: &Endpoint,
    params: &Params,
    fresh: bool,
    threads: usize,
    timeout: Duration,
) -> Result<u64, BenchError> {
    let mut conn = HttpConn::new(endpoint.clone(), timeout);
    if fresh {
        let body = format!(
            r#"{{"key":"{}","range_end":"{}"}}"#,
            b64("bench/"),
            b64("bench0")
        );
        post(&mut conn, "/v3/kv/deleterange", &body)?;
    }
    if params.rows == 0 {
        return Ok(0);
    }
    let body = format!(
        r#"{{"key":"{}","range_end":"{}","count_only":true}}"#,
        b64("bench/row/"),
        b64("bench/row0")
    );
    let count = post(&mut conn, "/v3/kv/range", &body)?
        .get("count")
        .and_then(|c| match c {
            serde_json::Value::String(s) => s.parse::<u64>().ok(),
            other => other.as_u64(),
        })
        .unwrap_or(0);
    if count >= params.rows {
        return Ok(0);
    }
    let threads = threads.clamp(1, 8) as u64;
    let per = params.rows.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let lo = 1 + i * per;
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
    Ok(params.rows)
}

fn preload_range(
    endpoint: &Endpoint,
    params: &Params,
    lo: u64,
    hi: u64,
    timeout: Duration,
) -> Result<(), BenchError> {
    let mut conn = HttpConn::new(endpoint.clone(), timeout);
    let mut value = String::new();
    let mut id = lo;
    while id < hi {
        let end = (id + PRELOAD_BATCH).min(hi);
        let mut body = String::from(r#"{"success":["#);
        for i in id..end {
            if i > id {
                body.push(',');
            }
            params.value(0, i, &mut value);
            let _ = write!(
                body,
                r#"{{"request_put":{{"key":"{}","value":"{}"}}}}"#,
                b64(&row_key(i)),
                b64(&value)
            );
        }
        body.push_str("]}");
        post(&mut conn, "/v3/kv/txn", &body)?;
        id = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::workload::Workload;
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn params(batch: u32, level: Option<&str>) -> Params {
        Params {
            workload: Workload::Mixed,
            batch,
            rows: 50,
            value_size: 8,
            scan: 5,
            read_percent: 50,
            level: level.map(str::to_string),
            table: "bench".into(),
        }
    }

    fn decode(v: &serde_json::Value) -> String {
        String::from_utf8(B64.decode(v.as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn single_operations_are_gateway_json_with_base64_keys() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut v, mut body) = (String::new(), Vec::new());
        build(
            OpKind::Insert,
            &params(1, None),
            3,
            9,
            &mut rng,
            &mut v,
            &mut body,
        );
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(decode(&j["key"]), "bench/ins/0003/000000000009/0");
        assert_eq!(decode(&j["value"]), "c3s9-xxx");
        build(
            OpKind::PointRead,
            &params(1, None),
            3,
            9,
            &mut rng,
            &mut v,
            &mut body,
        );
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(decode(&j["key"]).starts_with("bench/row/00000000"));
        assert!(j.get("serializable").is_none());
        build(
            OpKind::RangeRead,
            &params(1, Some("none")),
            3,
            9,
            &mut rng,
            &mut v,
            &mut body,
        );
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(j["serializable"], true);
        assert!(decode(&j["key"]) < decode(&j["range_end"]));
        assert_eq!(path(OpKind::Update, &params(1, None)), "/v3/kv/put");
        assert_eq!(path(OpKind::RangeRead, &params(1, None)), "/v3/kv/range");
    }

    #[test]
    fn batches_become_one_txn() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut v, mut body) = (String::new(), Vec::new());
        build(
            OpKind::Update,
            &params(4, None),
            0,
            1,
            &mut rng,
            &mut v,
            &mut body,
        );
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let ops = j["success"].as_array().unwrap();
        assert_eq!(ops.len(), 4);
        let keys: std::collections::HashSet<String> = ops
            .iter()
            .map(|o| decode(&o["request_put"]["key"]))
            .collect();
        assert_eq!(keys.len(), 4, "a txn must not put one key twice");
        assert_eq!(path(OpKind::PointRead, &params(4, None)), "/v3/kv/txn");
    }

    #[test]
    fn checks() {
        let ok = |b: &str| Response {
            status: 200,
            headers: vec![],
            body: b.as_bytes().to_vec(),
        };
        let p = params(1, None);
        assert_eq!(
            check(
                OpKind::Insert,
                &p,
                "e",
                &ok(r#"{"header":{"revision":"5"}}"#)
            ),
            Ok(1)
        );
        assert_eq!(
            check(
                OpKind::PointRead,
                &p,
                "e",
                &ok(r#"{"header":{},"kvs":[{"key":"YQ=="}],"count":"1"}"#)
            ),
            Ok(1)
        );
        assert_eq!(
            check(OpKind::PointRead, &p, "e", &ok(r#"{"header":{}}"#)),
            Err("key not found".into())
        );
        let busy = Response {
            status: 503,
            headers: vec![],
            body: br#"{"error":"etcdserver: leader changed","code":14,"message":"etcdserver: leader changed"}"#.to_vec(),
        };
        assert_eq!(
            check(OpKind::Update, &p, "e", &busy),
            Err("http 503: etcdserver: leader changed".into())
        );
        let p4 = params(4, None);
        assert_eq!(
            check(
                OpKind::Update,
                &p4,
                "e",
                &ok(r#"{"succeeded":true,"responses":[{},{},{},{}]}"#)
            ),
            Ok(4)
        );
    }
}
