//! Published views and the read path. A [`View`] is the state at one applied index behind an
//! `Arc`: O(1) to publish, immutable, `Send + Sync + Clone`, so HTTP shards on other threads
//! run queries against it while apply continues. [`QueryRunner`] is a per-shard reader with
//! its own plan cache.

use std::sync::Arc;

use crate::batch::{Params, Statement};
use crate::cache::PlanCache;
use crate::catalog::Catalog;
use crate::digest::{digest, StateDigest};
use crate::engine::{to_result, EngineConfig};
use crate::error::{Error, Result};
use crate::exec::{self, write, Runtime};
use crate::func::FnEnv;
use crate::result::{BatchResult, StatementResult};
use crate::state::State;

#[derive(Clone)]
pub struct View {
    state: Arc<State>,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("applied_index", &self.state.applied_index)
            .field("applied_term", &self.state.applied_term)
            .finish()
    }
}

impl View {
    pub(crate) fn new(state: Arc<State>) -> View {
        View { state }
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub fn applied_index(&self) -> u64 {
        self.state.applied_index
    }

    pub fn applied_term(&self) -> u64 {
        self.state.applied_term
    }

    pub fn catalog(&self) -> &Catalog {
        &self.state.catalog
    }

    pub fn state_digest(&self) -> StateDigest {
        digest(&self.state)
    }

    /// Entries (values and tombstones) held in memory above the tables' and indexes' base
    /// layers: what changed since the last snapshot the engine serves from.
    pub fn delta_entries(&self) -> u64 {
        self.state
            .tables
            .values()
            .map(|t| {
                t.rows.delta().len() as u64
                    + t.indexes
                        .values()
                        .map(|i| i.delta().len() as u64)
                        .sum::<u64>()
            })
            .sum()
    }

    /// Run read-only statements against this view (no plan cache; see [`QueryRunner`]).
    pub fn query(&self, statements: &[Statement], config: &EngineConfig) -> BatchResult {
        QueryRunner::new(config.clone()).query(self, statements)
    }
}

/// Runs read-only statements against views, caching plans by SQL text. One per thread.
pub struct QueryRunner {
    config: EngineConfig,
    cache: PlanCache,
}

impl QueryRunner {
    pub fn new(config: EngineConfig) -> QueryRunner {
        let cache = PlanCache::new(config.plan_cache_capacity);
        QueryRunner { config, cache }
    }

    /// Queries where `'now'` is an error and `random()` is seeded with 0.
    pub fn query(&mut self, view: &View, statements: &[Statement]) -> BatchResult {
        self.query_at(view, statements, None, 0)
    }

    /// Queries with `'now'` = `now_ms` (unix milliseconds) and `random()` seeded by `seed`.
    pub fn query_at(
        &mut self,
        view: &View,
        statements: &[Statement],
        now_ms: Option<i64>,
        seed: u64,
    ) -> BatchResult {
        let env = FnEnv::new(seed, now_ms, self.config.max_value_bytes);
        statements
            .iter()
            .map(|s| match self.one(view, s, &env) {
                Ok(r) => r,
                Err(e) => StatementResult::error(&e),
            })
            .collect()
    }

    /// One statement from borrowed SQL text and parameters (no request structures to
    /// build), with `'now'` an error and `random()` seeded with 0.
    pub fn query_one(&mut self, view: &View, sql: &str, params: &Params) -> StatementResult {
        let env = FnEnv::new(0, None, self.config.max_value_bytes);
        match self.run(view, sql, params, &env) {
            Ok(r) => r,
            Err(e) => StatementResult::error(&e),
        }
    }

    fn one(&mut self, view: &View, s: &Statement, env: &FnEnv) -> Result<StatementResult> {
        self.run(view, &s.sql, &s.params, env)
    }

    fn run(
        &mut self,
        view: &View,
        sql: &str,
        params: &Params,
        env: &FnEnv,
    ) -> Result<StatementResult> {
        if sql.len() > self.config.max_statement_bytes {
            return Err(Error::StatementTooLarge {
                len: sql.len(),
                limit: self.config.max_statement_bytes,
            });
        }
        let st = view.state();
        let mut last = None;
        let mut i = 0;
        loop {
            let (c, n) = self.cache.get(sql, i, &st.catalog)?;
            let Some(c) = c else { break };
            if !c.read_only {
                return Err(Error::sql("attempt to write a readonly database"));
            }
            let rt = Runtime::new(env, self.config.limits());
            let mut store = Vec::new();
            let bound = exec::params(&c.params, params, &mut store)?;
            let o = write::read(st, &rt, &c.stmt, bound, None)?;
            last = Some(to_result(&c, o, env));
            i += 1;
            if i >= n {
                break;
            }
        }
        last.ok_or_else(|| Error::sql("empty statement"))
    }
}
