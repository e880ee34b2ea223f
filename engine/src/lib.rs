//! reef-engine: ReefDB's SQL state machine, speaking SQLite's dialect.
//!
//! Every node applies committed log entries to an [`Engine`]. The engine knows nothing of
//! Raft or the network: it turns a [`CommandBatch`] into [`StatementResult`]s, publishes
//! immutable [`View`]s for readers, and can digest its whole state for tests.
//!
//! # How node/ uses it
//!
//! ```
//! use reef_engine::{prepare, CommandBatch, Engine, EngineConfig, PrepareOptions, QueryRunner, Statement, Value};
//!
//! let config = EngineConfig::default();
//! let mut engine = Engine::new(config.clone());
//! // Leader, HTTP shard: parse, classify, rewrite non-determinism, encode, propose.
//! let req = vec![
//!     Statement::new("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, at TEXT)"),
//!     Statement::with_params("INSERT INTO t(name, at) VALUES(?, CURRENT_TIMESTAMP)", vec![Value::from("fiona")]),
//! ];
//! let opts = PrepareOptions { client_id: 7, seq: 1, transaction: true, now_ms: 1_700_000_000_000, seed: 42 };
//! let prepared = prepare(req, opts, &config).unwrap();
//! let bytes = prepared.batch.encode();
//! // Every replica, shard 0: decode the committed entry and apply it.
//! let batch = CommandBatch::decode(&bytes).unwrap();
//! let results = engine.apply(1, 1, &batch);
//! assert!(!results[1].is_error());
//! // Any shard: read from a published view while apply goes on.
//! let view = engine.view();
//! let mut reader = QueryRunner::new(config);
//! let rows = reader.query(&view, &[Statement::new("SELECT name, at FROM t")]);
//! assert_eq!(serde_json::to_string(&rows[0]).unwrap(),
//!     r#"{"columns":["name","at"],"types":["text","text"],"values":[["fiona","2023-11-14 22:13:20"]]}"#);
//! ```
//!
//! # Storage: the seam for the snapshot base layer
//!
//! Each table is an ordered map from a memcomparable key (the rowid, 8 bytes big-endian with
//! the sign flipped; an `INTEGER PRIMARY KEY` column is the rowid) to an encoded row record
//! (`codec::row`, SQLite-like serial types). Each index is an ordered map whose keys are the
//! index columns' memcomparable encoding followed by the rowid (`codec::key`), with empty
//! values. A declared non-integer PRIMARY KEY or UNIQUE constraint is such an index, marked
//! unique.
//!
//! Every one of those maps is a [`store::Layered`]: a read-only **base** ([`store::BaseLayer`],
//! point `get` and ordered `range` over `&[u8]` keys returning `&[u8]` values) under a
//! **delta** ([`pmap::PMap`], a persistent copy-on-write B+tree, from key to
//! [`store::Slot`]: a new value or a tombstone; rows are keyed by [`store::RowKey`], index
//! entries by [`store::Key`]). Reads merge the two in key order, the delta shadowing the
//! base; writes touch only the delta; a delete of a key that exists only in the delta removes
//! it, a delete of a base key writes a tombstone. A store that never had a snapshot sits on
//! [`store::EmptyBase`]; after [`Engine::restore`] or [`Engine::rebase`] its base is a
//! [`snapshot::RunBase`]: one sorted run of a memory-mapped rkyv snapshot, searched and
//! sliced in place (nothing is decoded until a column is read). Nothing above `store` knows
//! which base is underneath. [`snapshot`] describes the file format and how a build, a
//! restore and a rebase work.
//!
//! The whole replicated state (`state::State`: catalog, table stores, the idempotency table,
//! applied index/term) is made of persistent structures and `Arc`s, so cloning it is O(1). A
//! [`View`] is such a clone, and so is the savepoint a transaction batch rolls back to (a
//! single statement rolls back through an undo log of its own changes instead).
//!
//! # SQL
//!
//! SQL is parsed by `sqlparser` (SQLite dialect), compiled once per SQL text into a plan
//! (`plan`) that resolves names, affinities, collations and access paths, cached by text,
//! and executed by `exec`. Semantics follow SQLite: type affinity, comparisons across storage
//! classes, three-valued logic, integer overflow to REAL, integer division, NULL ordering,
//! rowid and INTEGER PRIMARY KEY, and its error messages.

mod affinity;
mod batch;
mod cache;
pub mod catalog;
pub(crate) mod codec;
mod dedup;
mod digest;
mod engine;
mod error;
mod exec;
pub(crate) mod func;
mod num;
mod parse;
pub(crate) mod plan;
pub mod pmap;
mod prepare;
mod result;
pub mod snapshot;
pub mod state;
pub mod store;
mod value;
mod view;

pub use affinity::Affinity;
pub use batch::{CommandBatch, Params, Statement};
pub use dedup::{DedupTable, Recorded};
pub use digest::StateDigest;
pub use engine::{classify, Engine, EngineConfig, StatementKind};
pub use error::{DecodeError, Error, Result};
pub use num::format_real;
pub use prepare::{prepare, prepare_with, PrepareCache, PrepareError, PrepareOptions, Prepared};
pub use result::{BatchResult, ErrorResult, ExecResult, Rows, StatementResult};
pub use value::{base64, Collation, Value};
pub use view::{QueryRunner, View};
