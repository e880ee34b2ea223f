//! The engine's error type. Messages follow SQLite's wording ("no such table: t2",
//! "UNIQUE constraint failed: t1.a", "near \"SELEC\": syntax error") because clients moving
//! from rqlite match on them and people recognise them.

use thiserror::Error;

/// Everything a statement can fail with. Every variant renders as the message a client sees
/// in `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// The SQL text does not parse (`near "X": syntax error`, `incomplete input`).
    #[error("{0}")]
    Syntax(String),
    /// A name that does not resolve.
    #[error("no such table: {0}")]
    NoSuchTable(String),
    #[error("no such column: {0}")]
    NoSuchColumn(String),
    #[error("no such function: {0}")]
    NoSuchFunction(String),
    /// NOT NULL / UNIQUE / CHECK violations, worded as SQLite words them.
    #[error("{0}")]
    Constraint(String),
    /// Any other error SQLite would report while preparing or running a statement.
    #[error("{0}")]
    Sql(String),
    /// SQL this engine deliberately does not implement (named, so nobody mistakes it for a bug).
    #[error("not supported by reef-engine: {0}")]
    Unsupported(String),
    /// `RAISE(ABORT|FAIL|ROLLBACK, msg)` from a trigger.
    #[error("{0}")]
    Raise(String),
    /// Resource guards from [`crate::EngineConfig`].
    #[error("statement is {len} bytes, over the limit of {limit} bytes (EngineConfig::max_statement_bytes)")]
    StatementTooLarge { len: usize, limit: usize },
    #[error("result has more than {limit} rows (EngineConfig::max_result_rows)")]
    TooManyRows { limit: usize },
    #[error("statement visited more than {limit} rows (EngineConfig::max_rows_visited)")]
    WorkLimit { limit: u64 },
    #[error("string or blob too big (limit {limit} bytes, EngineConfig::max_value_bytes)")]
    TooBig { limit: usize },
    #[error("parser stack overflow: expression or query nested too deeply")]
    TooDeep,
    /// Internal control flow for `RAISE(IGNORE)`: the current row's trigger program stops and
    /// the row is skipped. Never reaches a client.
    #[error("RAISE(IGNORE) outside of a trigger")]
    RaiseIgnore,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn sql(msg: impl Into<String>) -> Error {
        Error::Sql(msg.into())
    }
}

/// Decoding a [`crate::CommandBatch`] from log bytes failed. The bytes come from disk or a
/// peer, so every way they can be wrong has a variant naming where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("command batch is empty (0 bytes)")]
    Empty,
    #[error("command batch has format version {found}, this build reads version {supported}")]
    UnknownVersion { found: u8, supported: u8 },
    #[error("command batch truncated: {field} at byte {offset} needs {needed} more bytes")]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
    },
    #[error("command batch invalid: {field} at byte {offset}: {reason}")]
    Invalid {
        field: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("command batch has {extra} unexpected trailing bytes at byte {offset}")]
    TrailingBytes { offset: usize, extra: usize },
}
