//! Decoding rqlite-style request bodies into statements with parameters.
//!
//! rqlite clients send a JSON array whose items are either a SQL string or an array of a SQL
//! string followed by positional parameters, or by a single object of named parameters:
//! `["SQL", ["SQL ?", 1, "x"], ["SQL :n", {"n": 1}]]`. A `text/plain` body is one statement.
//! Bodies are untrusted: every limit (statement count, statement size, nesting) is checked
//! here, before anything reaches the engine, and every refusal says what was wrong and where.

use serde_json::Value as Json;

/// A parameter value as the client sent it. Booleans become integers, as SQLite stores them.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    #[default]
    None,
    Positional(Vec<ParamValue>),
    Named(Vec<(String, ParamValue)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestStatement {
    pub sql: String,
    pub params: Params,
}

/// Limits a request body must respect.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_statements: usize,
    pub max_statement_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is not valid JSON: {0}")]
    Json(String),
    #[error("request body is not valid UTF-8")]
    Utf8,
    #[error("request body must be a JSON array of statements")]
    NotArray,
    #[error("request holds no statements")]
    Empty,
    #[error("request holds {count} statements; the limit is {limit}")]
    TooManyStatements { count: usize, limit: usize },
    #[error("statement {index}: {bytes} bytes of SQL; the limit is {limit}")]
    StatementTooLarge {
        index: usize,
        bytes: usize,
        limit: usize,
    },
    #[error("statement {index}: {message}")]
    BadStatement { index: usize, message: String },
}

/// Decodes a JSON body (`application/json`).
pub fn decode_json(body: &[u8], limits: BodyLimits) -> Result<Vec<RequestStatement>, BodyError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
    let items = match json {
        Json::Array(items) => items,
        // A bare string is one statement; rqlite's clients never send it, curl users do.
        Json::String(sql) => vec![Json::String(sql)],
        _ => return Err(BodyError::NotArray),
    };
    if items.is_empty() {
        return Err(BodyError::Empty);
    }
    if items.len() > limits.max_statements {
        return Err(BodyError::TooManyStatements {
            count: items.len(),
            limit: limits.max_statements,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| decode_statement(index, item, limits))
        .collect()
}

/// Decodes a `text/plain` body: exactly one statement with no parameters.
pub fn decode_text(body: &[u8], limits: BodyLimits) -> Result<Vec<RequestStatement>, BodyError> {
    let sql = std::str::from_utf8(body).map_err(|_| BodyError::Utf8)?;
    single(sql.to_string(), limits)
}

/// The `q=` form of `GET /db/query`.
pub fn single(sql: String, limits: BodyLimits) -> Result<Vec<RequestStatement>, BodyError> {
    if sql.trim().is_empty() {
        return Err(BodyError::Empty);
    }
    check_size(0, &sql, limits)?;
    Ok(vec![RequestStatement {
        sql,
        params: Params::None,
    }])
}

fn check_size(index: usize, sql: &str, limits: BodyLimits) -> Result<(), BodyError> {
    if sql.len() > limits.max_statement_bytes {
        return Err(BodyError::StatementTooLarge {
            index,
            bytes: sql.len(),
            limit: limits.max_statement_bytes,
        });
    }
    Ok(())
}

fn decode_statement(
    index: usize,
    item: Json,
    limits: BodyLimits,
) -> Result<RequestStatement, BodyError> {
    let bad = |message: String| BodyError::BadStatement { index, message };
    match item {
        Json::String(sql) => {
            check_size(index, &sql, limits)?;
            Ok(RequestStatement {
                sql,
                params: Params::None,
            })
        }
        Json::Array(parts) => {
            let mut parts = parts.into_iter();
            let sql = match parts.next() {
                Some(Json::String(sql)) => sql,
                Some(other) => {
                    return Err(bad(format!(
                        "the first item must be the SQL string, found {}",
                        kind(&other)
                    )))
                }
                None => return Err(bad("empty array; expected [\"SQL\", params...]".into())),
            };
            check_size(index, &sql, limits)?;
            let rest: Vec<Json> = parts.collect();
            let params = match rest.as_slice() {
                [] => Params::None,
                [Json::Object(map)] => {
                    let mut named = Vec::with_capacity(map.len());
                    for (name, v) in map {
                        let value =
                            param(v).map_err(|m| bad(format!("parameter {name:?}: {m}")))?;
                        named.push((name.clone(), value));
                    }
                    Params::Named(named)
                }
                values => {
                    let mut positional = Vec::with_capacity(values.len());
                    for (i, v) in values.iter().enumerate() {
                        let value =
                            param(v).map_err(|m| bad(format!("parameter {}: {m}", i + 1)))?;
                        positional.push(value);
                    }
                    Params::Positional(positional)
                }
            };
            Ok(RequestStatement { sql, params })
        }
        other => Err(bad(format!(
            "expected a SQL string or [\"SQL\", params...], found {}",
            kind(&other)
        ))),
    }
}

fn param(v: &Json) -> Result<ParamValue, String> {
    Ok(match v {
        Json::Null => ParamValue::Null,
        Json::Bool(b) => ParamValue::Integer(*b as i64),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ParamValue::Integer(i)
            } else if let Some(f) = n.as_f64() {
                ParamValue::Real(f)
            } else {
                return Err(format!("number {n} is out of range"));
            }
        }
        Json::String(s) => ParamValue::Text(s.clone()),
        Json::Array(_) | Json::Object(_) => {
            return Err(format!("{} is not a SQL value", kind(v)));
        }
    })
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_statements: 3,
        max_statement_bytes: 64,
    };

    fn ok(body: &str) -> Vec<RequestStatement> {
        decode_json(body.as_bytes(), LIMITS).unwrap()
    }

    #[test]
    fn decodes_the_three_rqlite_forms() {
        let got = ok(r#"["SELECT 1", ["SELECT ?, ?", 1, "x"], ["SELECT :n", {"n": 2.5}]]"#);
        assert_eq!(got[0].params, Params::None);
        assert_eq!(
            got[1].params,
            Params::Positional(vec![ParamValue::Integer(1), ParamValue::Text("x".into())])
        );
        assert_eq!(
            got[2].params,
            Params::Named(vec![("n".into(), ParamValue::Real(2.5))])
        );
    }

    #[test]
    fn booleans_and_nulls_map_like_sqlite() {
        let got = ok(r#"[["SELECT ?, ?, ?", true, false, null]]"#);
        assert_eq!(
            got[0].params,
            Params::Positional(vec![
                ParamValue::Integer(1),
                ParamValue::Integer(0),
                ParamValue::Null
            ])
        );
    }

    /// Every malformed body is refused with a message that says what was wrong.
    #[test]
    fn refuses_malformed_bodies() {
        let cases: &[(&str, &str)] = &[
            ("", "not valid JSON"),
            ("{", "not valid JSON"),
            ("{}", "JSON array"),
            ("42", "JSON array"),
            ("[]", "no statements"),
            ("[1]", "statement 0: expected a SQL string"),
            ("[[]]", "statement 0: empty array"),
            ("[[1, 2]]", "first item must be the SQL string"),
            (
                r#"[["SELECT ?", [1]]]"#,
                "parameter 1: an array is not a SQL value",
            ),
            (r#"[["SELECT :a", {"a": {}}]]"#, "parameter \"a\""),
            (r#"["a","b","c","d"]"#, "4 statements; the limit is 3"),
            (
                r#"["SELECT 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"]"#,
                "bytes of SQL; the limit is 64",
            ),
            (r#"[["SELECT ?", 1e999]]"#, "not valid JSON"),
        ];
        for (body, want) in cases {
            let err = decode_json(body.as_bytes(), LIMITS)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(want),
                "{body:?}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn text_plain_is_one_statement() {
        let got = decode_text(b"INSERT INTO t VALUES(1)", LIMITS).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(decode_text(b"\xff", LIMITS).unwrap_err(), BodyError::Utf8);
        assert_eq!(decode_text(b"  ", LIMITS).unwrap_err(), BodyError::Empty);
    }
}
