//! The node's bridge to the engine: rqlite request statements in, rqlite JSON results out.
//!
//! Two rules live here. First, everything non-deterministic about a write (the clock, random
//! numbers) is fixed on the leader by `reef_engine::prepare` before the batch is proposed,
//! so every replica applies the same bytes to the same result. Second, the engine config
//! that governs *apply* is the same on every node — [`apply_config`] ignores the node's
//! limits — because a per-node limit that changed an apply result would make replicas
//! diverge. Node limits only bound what this node does alone: local reads and request sizes.

use crate::config::Config;
use crate::http::body::{ParamValue, Params, RequestStatement};
use reef_engine::{BatchResult, EngineConfig, PrepareCache, PrepareOptions, Statement, Value};
use std::collections::BTreeMap;

/// The config every replica applies with. Never derived from a node's own config.
pub fn apply_config() -> EngineConfig {
    EngineConfig::default()
}

/// The config for this node's local reads: its own result-row and statement-size limits.
pub fn read_config(config: &Config) -> EngineConfig {
    EngineConfig {
        max_result_rows: config.limits.max_result_rows,
        max_statement_bytes: config.limits.max_statement_bytes,
        ..EngineConfig::default()
    }
}

fn value(p: &ParamValue) -> Value {
    match p {
        ParamValue::Null => Value::Null,
        ParamValue::Integer(i) => Value::Integer(*i),
        ParamValue::Real(f) => Value::Real(*f),
        ParamValue::Text(s) => Value::Text(s.as_str().into()),
    }
}

/// Converts decoded request statements to engine statements.
pub fn statements(stmts: &[RequestStatement]) -> Vec<Statement> {
    stmts
        .iter()
        .map(|s| match &s.params {
            Params::None => Statement::new(s.sql.clone()),
            Params::Positional(v) => {
                Statement::with_params(s.sql.clone(), v.iter().map(value).collect())
            }
            Params::Named(v) => {
                let map: BTreeMap<String, Value> =
                    v.iter().map(|(k, p)| (k.clone(), value(p))).collect();
                Statement::with_named(s.sql.clone(), map)
            }
        })
        .collect()
}

/// Parses, validates and fixes the non-deterministic parts of a write batch (leader only).
/// `cache` is the shard's memory of texts that need no rewrite.
pub fn prepare_batch(
    stmts: &[RequestStatement],
    transaction: bool,
    idempotency: Option<(u64, u64)>,
    cache: &mut PrepareCache,
) -> Result<reef_engine::Prepared, String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (client_id, seq) = idempotency.unwrap_or((0, 0));
    let opts = PrepareOptions {
        client_id,
        seq,
        transaction,
        now_ms,
        seed: rand::random(),
    };
    reef_engine::prepare_with(statements(stmts), opts, &apply_config(), cache)
        .map_err(|e| e.to_string())
}

/// Maps an `Idempotency-Key` header to the engine's `(client_id, seq)` dedup key. The key is
/// hashed with a fixed function (FNV-1a), so every node derives the same ids.
pub fn idempotency_ids(key: &str) -> (u64, u64) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Client id 0 means "no idempotency" to the engine.
    (h.max(1), 1)
}

/// Refuses a request that would write: `/db/query` never changes data.
pub fn check_read_only(stmts: &[RequestStatement], cache: &mut PrepareCache) -> Result<(), String> {
    for (i, s) in stmts.iter().enumerate() {
        match cache.classify(&s.sql) {
            Ok(reef_engine::StatementKind::Read) => {}
            Ok(_) => {
                return Err(format!(
                    "statement {i} is not a read; send writes to /db/execute or /db/request"
                ))
            }
            Err(e) => return Err(format!("statement {i}: {e}")),
        }
    }
    Ok(())
}

/// rqlite's result array, optionally in its associative form (rows as objects).
pub fn batch_json(result: &BatchResult, associative: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(result)
        .unwrap_or_else(|e| serde_json::json!([{ "error": format!("encoding results: {e}") }]));
    if associative {
        if let Some(items) = v.as_array_mut() {
            for item in items {
                associate(item);
            }
        }
    }
    v
}

/// Turns `{"columns": [..], "values": [[..]]}` into `{"rows": [{col: val}], "types": {col: t}}`.
fn associate(item: &mut serde_json::Value) {
    let Some(obj) = item.as_object_mut() else {
        return;
    };
    let (Some(cols), Some(values)) = (obj.get("columns").cloned(), obj.remove("values")) else {
        return;
    };
    let cols: Vec<String> = cols
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<serde_json::Value> = values
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let mut m = serde_json::Map::new();
                    for (c, v) in cols.iter().zip(r.as_array().into_iter().flatten()) {
                        m.insert(c.clone(), v.clone());
                    }
                    serde_json::Value::Object(m)
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(types) = obj.remove("types") {
        let mut m = serde_json::Map::new();
        for (c, t) in cols.iter().zip(types.as_array().into_iter().flatten()) {
            m.insert(c.clone(), t.clone());
        }
        obj.insert("types".into(), serde_json::Value::Object(m));
    }
    obj.remove("columns");
    obj.insert("rows".into(), serde_json::Value::Array(rows));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn associative_form_matches_rqlite() {
        let mut v = serde_json::json!({"columns": ["id", "name"], "types": ["integer", "text"], "values": [[1, "a"], [2, "b"]]});
        associate(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"types": {"id": "integer", "name": "text"}, "rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]})
        );
    }
}
