//! Statement results shaped like rqlite's JSON, so `node/` serializes them as they are:
//! `{"last_insert_id": N, "rows_affected": N}` for writes (plus `columns`/`types`/`values`
//! for RETURNING), `{"columns": [...], "types": [...], "values": [[...]]}` for queries and
//! `{"error": "..."}` for failures.

use std::sync::Arc;

use serde::Serialize;

use crate::error::Error;
use crate::value::Value;

/// Rows returned by a query or a RETURNING clause.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Rows {
    /// Shared with the compiled statement: no per-query copies of the names.
    pub columns: Arc<[String]>,
    /// Declared column types, lower-cased as rqlite reports them ("" for expressions).
    pub types: Arc<[String]>,
    /// Omitted from JSON when empty, as rqlite does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecResult {
    pub last_insert_id: i64,
    pub rows_affected: i64,
    /// Rows produced by `RETURNING`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub returning: Option<Rows>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorResult {
    pub error: String,
}

/// The result of one statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StatementResult {
    Exec(ExecResult),
    Query(Rows),
    Error(ErrorResult),
}

/// Results of a batch, one per statement (a transactional batch stops at its first error).
pub type BatchResult = Vec<StatementResult>;

impl StatementResult {
    pub fn error(e: &Error) -> StatementResult {
        StatementResult::Error(ErrorResult {
            error: e.to_string(),
        })
    }

    pub fn is_error(&self) -> bool {
        matches!(self, StatementResult::Error(_))
    }

    /// The rows, for a query or a write with RETURNING.
    pub fn rows(&self) -> Option<&Rows> {
        match self {
            StatementResult::Query(r) => Some(r),
            StatementResult::Exec(e) => e.returning.as_ref(),
            StatementResult::Error(_) => None,
        }
    }

    pub fn error_message(&self) -> Option<&str> {
        match self {
            StatementResult::Error(e) => Some(&e.error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_match_rqlite() {
        let e = StatementResult::Exec(ExecResult {
            last_insert_id: 3,
            rows_affected: 1,
            returning: None,
        });
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"last_insert_id":3,"rows_affected":1}"#
        );
        let q = StatementResult::Query(Rows {
            columns: Arc::from(vec!["a".to_string()]),
            types: Arc::from(vec!["integer".to_string()]),
            values: vec![vec![Value::Integer(1)]],
        });
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"columns":["a"],"types":["integer"],"values":[[1]]}"#
        );
        let empty = StatementResult::Query(Rows {
            columns: Arc::from(vec!["a".to_string()]),
            types: Arc::from(vec!["".to_string()]),
            values: vec![],
        });
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"columns":["a"],"types":[""]}"#
        );
        let err = StatementResult::error(&Error::NoSuchTable("t2".into()));
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"error":"no such table: t2"}"#
        );
        let ret = StatementResult::Exec(ExecResult {
            last_insert_id: 1,
            rows_affected: 1,
            returning: Some(Rows {
                columns: Arc::from(vec!["id".to_string()]),
                types: Arc::from(vec!["integer".to_string()]),
                values: vec![vec![Value::Integer(1)]],
            }),
        });
        assert_eq!(
            serde_json::to_string(&ret).unwrap(),
            r#"{"last_insert_id":1,"rows_affected":1,"columns":["id"],"types":["integer"],"values":[[1]]}"#
        );
    }
}
