//! The state machine: `Engine::apply` runs one committed [`CommandBatch`] deterministically
//! (no clock, no RNG: `'now'` and random seeds come from the batch), deduplicates by
//! `(client_id, seq)`, and records the applied index and term. `Engine::view` publishes an
//! immutable O(1) snapshot that readers on other threads query while apply continues.
//!
//! Atomicity uses the persistent state: a savepoint is a clone of the state (O(1)), and
//! rolling back is assigning it back. Every write statement runs under a savepoint (a failed
//! statement leaves no partial change), a transactional batch or an explicit BEGIN under
//! another.

use std::sync::Arc;

use crate::batch::{CommandBatch, Params, Statement};
use crate::cache::PlanCache;
use crate::digest::{digest, StateDigest};
use crate::error::{Error, Result};
use crate::exec::write::{self, Outcome};
use crate::exec::{self, ddl, Limits, Runtime};
use crate::func::FnEnv;
use crate::plan::{Compiled, CompiledStmt};
use crate::result::{BatchResult, ExecResult, Rows, StatementResult};
use crate::state::State;
use crate::view::View;

/// Limits and sizes. Every replica must use the same values (they decide which statements
/// fail and which idempotency entries are evicted).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Longest SQL text accepted for one statement.
    pub max_statement_bytes: usize,
    /// Most rows one statement may return.
    pub max_result_rows: usize,
    /// Most rows one statement may visit (scans, joins, sorts): bounds time and memory.
    pub max_rows_visited: u64,
    /// Largest TEXT or BLOB a function may build.
    pub max_value_bytes: usize,
    /// Batches remembered for idempotency.
    pub dedup_capacity: usize,
    /// Distinct SQL texts whose plans are cached.
    pub plan_cache_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_statement_bytes: 1 << 20,
            max_result_rows: 1_000_000,
            max_rows_visited: 100_000_000,
            max_value_bytes: 16 << 20,
            dedup_capacity: 10_000,
            plan_cache_capacity: 1024,
        }
    }
}

impl EngineConfig {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_result_rows: self.max_result_rows,
            max_rows_visited: self.max_rows_visited,
            max_value_bytes: self.max_value_bytes,
        }
    }
}

/// Whether a statement only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Read,
    Write,
}

pub struct Engine {
    state: State,
    config: EngineConfig,
    cache: PlanCache,
    /// Buffers lent to each statement's runtime (row encoding, undo log) so a small write
    /// allocates neither.
    spare_scratch: Vec<u8>,
    spare_undo: Vec<exec::write::UndoOp>,
}

pub(crate) fn rows_of(o: Outcome) -> Rows {
    match o.columns {
        Some(h) => Rows {
            columns: h.names,
            types: h.types,
            values: o.rows,
        },
        None => Rows {
            columns: Arc::from(Vec::new()),
            types: Arc::from(Vec::new()),
            values: o.rows,
        },
    }
}

/// Turn an outcome into the rqlite-shaped result.
pub(crate) fn to_result(c: &Compiled, o: Outcome, env: &FnEnv) -> StatementResult {
    match &c.stmt {
        CompiledStmt::Query(_) | CompiledStmt::Explain(_) => StatementResult::Query(rows_of(o)),
        _ => {
            let changes = o.changes;
            let returning = if o.columns.is_some() {
                Some(rows_of(o))
            } else {
                None
            };
            StatementResult::Exec(ExecResult {
                last_insert_id: env.last_insert_rowid.get(),
                rows_affected: changes,
                returning,
            })
        }
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        let cache = PlanCache::new(config.plan_cache_capacity);
        Engine {
            state: State::default(),
            config,
            cache,
            spare_scratch: Vec::new(),
            spare_undo: Vec::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Apply one committed log entry. Deterministic: the same batch applied to the same
    /// state gives the same results and state on every replica.
    pub fn apply(&mut self, index: u64, term: u64, batch: &CommandBatch) -> BatchResult {
        if batch.client_id != 0 {
            if let Some(r) = self.state.dedup.get(batch.client_id, batch.seq) {
                let r = r.result();
                self.set_applied(index, term);
                return r;
            }
        }
        let results = self.run_batch(batch);
        if batch.client_id != 0 {
            self.state.dedup.record(
                batch.client_id,
                batch.seq,
                &results,
                self.config.dedup_capacity,
            );
        }
        self.set_applied(index, term);
        results
    }

    fn set_applied(&mut self, index: u64, term: u64) {
        if index >= self.state.applied_index {
            self.state.applied_index = index;
            self.state.applied_term = term;
        }
    }

    pub fn applied_index(&self) -> u64 {
        self.state.applied_index
    }

    pub fn applied_term(&self) -> u64 {
        self.state.applied_term
    }

    /// An immutable handle on the current state (O(1); `Send + Sync + Clone`).
    pub fn view(&self) -> View {
        View::new(Arc::new(self.state.clone()))
    }

    pub fn state_digest(&self) -> StateDigest {
        digest(&self.state)
    }

    /// Opens the snapshot at `path` (memory-mapped), validates it once (header, version,
    /// crc32c, rkyv bytecheck, run offsets) and makes it the whole state: every table and
    /// index reads its base from the file, deltas start empty, and the applied index/term
    /// and idempotency table are the snapshot's. On any error the previous state stays
    /// intact and the error names the file.
    pub fn restore(&mut self, path: &std::path::Path) -> Result<(), crate::snapshot::Error> {
        let m = crate::snapshot::Mapped::open(path)?;
        self.restore_mapped(&m)
    }

    /// [`Engine::restore`] from a snapshot already opened (and so validated) with
    /// [`snapshot::Mapped::open`](crate::snapshot::Mapped::open), which can run on another
    /// thread: installing it only builds the table handles.
    pub fn restore_mapped(
        &mut self,
        m: &Arc<crate::snapshot::Mapped>,
    ) -> Result<(), crate::snapshot::Error> {
        let st = crate::snapshot::install::state_of(m, &self.config)?;
        self.state = st;
        Ok(())
    }

    /// After a snapshot of one of this engine's own views was written to `path`: serve the
    /// data it covers from the file and drop from each delta exactly the entries it covers;
    /// changes applied after the snapshot's index stay in the delta. The catalog, the
    /// idempotency table and the applied index are untouched. On any error nothing
    /// changes (the engine keeps serving from memory).
    pub fn rebase(&mut self, path: &std::path::Path) -> Result<(), crate::snapshot::Error> {
        let m = crate::snapshot::Mapped::open(path)?;
        self.rebase_mapped(&m)
    }

    /// [`Engine::rebase`] onto a snapshot already opened (and so validated) with
    /// [`snapshot::Mapped::open`](crate::snapshot::Mapped::open), which can run on another
    /// thread: the swap itself only walks the deltas.
    pub fn rebase_mapped(
        &mut self,
        m: &Arc<crate::snapshot::Mapped>,
    ) -> Result<(), crate::snapshot::Error> {
        let mut st = self.state.clone();
        crate::snapshot::install::rebase(&mut st, m)?;
        self.state = st;
        Ok(())
    }

    pub(crate) fn into_state(self) -> State {
        self.state
    }

    /// Replace the whole state (installing a snapshot).
    pub fn install(&mut self, view: &View) {
        self.state = view.state().clone();
    }

    fn run_batch(&mut self, b: &CommandBatch) -> BatchResult {
        let env = FnEnv::new(b.seed, Some(b.now_ms), self.config.max_value_bytes);
        let mut results = Vec::with_capacity(b.statements.len());
        let txn = if b.transaction {
            Some(self.state.clone())
        } else {
            None
        };
        let mut explicit: Option<State> = None;
        for s in &b.statements {
            match self.run_sql(&s.sql, &s.params, &env, &mut explicit, b.transaction) {
                Ok(r) => results.push(r),
                Err(e) => {
                    results.push(StatementResult::error(&e));
                    if let Some(t) = txn {
                        // A transactional batch is all or nothing and stops at its first error.
                        self.state = t;
                        return results;
                    }
                }
            }
        }
        if let Some(sp) = explicit {
            // A batch never leaves a transaction open: BEGIN without COMMIT rolls back.
            self.state = sp;
        }
        results
    }

    fn run_sql(
        &mut self,
        sql: &str,
        params: &Params,
        env: &FnEnv,
        explicit: &mut Option<State>,
        batch_txn: bool,
    ) -> Result<StatementResult> {
        if sql.len() > self.config.max_statement_bytes {
            return Err(Error::StatementTooLarge {
                len: sql.len(),
                limit: self.config.max_statement_bytes,
            });
        }
        let mut last = StatementResult::Exec(ExecResult {
            last_insert_id: env.last_insert_rowid.get(),
            rows_affected: 0,
            returning: None,
        });
        let mut i = 0;
        loop {
            let (c, n) = self.cache.get(sql, i, &self.state.catalog)?;
            let Some(c) = c else { break };
            last = self.exec(&c, sql, params, env, explicit, batch_txn)?;
            i += 1;
            if i >= n {
                break;
            }
        }
        Ok(last)
    }

    fn exec(
        &mut self,
        c: &Compiled,
        sql: &str,
        params: &Params,
        env: &FnEnv,
        explicit: &mut Option<State>,
        batch_txn: bool,
    ) -> Result<StatementResult> {
        let done = |env: &FnEnv| {
            StatementResult::Exec(ExecResult {
                last_insert_id: env.last_insert_rowid.get(),
                rows_affected: 0,
                returning: None,
            })
        };
        match &c.stmt {
            CompiledStmt::Begin => {
                if batch_txn || explicit.is_some() {
                    return Err(Error::sql(
                        "cannot start a transaction within a transaction",
                    ));
                }
                *explicit = Some(self.state.clone());
                return Ok(done(env));
            }
            CompiledStmt::Commit => {
                if explicit.take().is_none() && !batch_txn {
                    return Err(Error::sql("cannot commit - no transaction is active"));
                }
                return Ok(done(env));
            }
            CompiledStmt::Rollback => {
                match explicit.take() {
                    Some(sp) => self.state = sp,
                    None => return Err(Error::sql("cannot rollback - no transaction is active")),
                }
                return Ok(done(env));
            }
            _ => {}
        }
        let mut store = Vec::new();
        let bound = exec::params(&c.params, params, &mut store)?;
        let rt = Runtime::new(env, self.config.limits());
        let outcome = if c.read_only {
            write::read(&self.state, &rt, &c.stmt, bound, None)?
        } else {
            match &c.stmt {
                // Schema changes are rare: a savepoint is a clone of the whole state.
                CompiledStmt::Direct(_) | CompiledStmt::Reindex(_) => {
                    let savepoint = self.state.clone();
                    let r = match &c.stmt {
                        CompiledStmt::Direct(s) => ddl::execute(&mut self.state, &rt, s, sql),
                        CompiledStmt::Reindex(n) => ddl::reindex(&self.state, n),
                        _ => unreachable!("matched above"),
                    };
                    match r {
                        Ok(o) => o,
                        Err(e) => {
                            self.state = savepoint;
                            return Err(e);
                        }
                    }
                }
                // Row changes are undone from the statement's undo log, so a statement never
                // copies the maps it writes to just in case it fails.
                other => {
                    rt.scratch.replace(std::mem::take(&mut self.spare_scratch));
                    rt.undo.replace(std::mem::take(&mut self.spare_undo));
                    let max = self.config.max_result_rows;
                    let r = write::run(&mut self.state, &rt, other, bound, None).and_then(|o| {
                        if o.rows.len() > max {
                            Err(Error::TooManyRows { limit: max })
                        } else {
                            Ok(o)
                        }
                    });
                    let mut undo = rt.undo.take();
                    if let Err(e) = r {
                        write::rollback(&mut self.state, undo);
                        return Err(e);
                    }
                    undo.clear();
                    if undo.capacity() <= 4096 {
                        self.spare_undo = undo;
                    }
                    let scratch = rt.scratch.take();
                    if scratch.capacity() <= 1 << 16 {
                        self.spare_scratch = scratch;
                    }
                    r.expect("checked above")
                }
            }
        };
        if outcome.rows.len() > self.config.max_result_rows {
            return Err(Error::TooManyRows {
                limit: self.config.max_result_rows,
            });
        }
        if !c.read_only {
            env.changes.set(outcome.changes);
            env.total_changes
                .set(env.total_changes.get() + outcome.changes);
        }
        Ok(to_result(c, outcome, env))
    }

    /// Convenience for tests and tools: apply `sql` statements as one non-transactional
    /// batch at the next index.
    pub fn execute(&mut self, sql: &[&str]) -> BatchResult {
        let b = CommandBatch::new(sql.iter().map(|s| Statement::new(*s)).collect());
        let idx = self.state.applied_index + 1;
        self.apply(idx, self.state.applied_term, &b)
    }
}

/// Classify SQL text: read-only when every statement in it only reads.
pub fn classify(sql: &str) -> Result<StatementKind> {
    Ok(crate::prepare::kind_of(&crate::parse::parse(sql)?))
}
