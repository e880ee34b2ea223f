//! Parsed and compiled statements cached by SQL text, so a statement repeated with new
//! parameters skips the parser and the planner (as a SQLite prepared statement does). A
//! compiled plan is reused only while the schema it was built for is current. Bounded: when
//! full, the cache starts over (cheap, and a workload of unique SQL gains nothing from it).

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::parse::{parse, Parsed};
use crate::plan::compile::compile;
use crate::plan::Compiled;

struct Entry {
    parsed: Arc<Vec<Parsed>>,
    compiled: Vec<Option<Arc<Compiled>>>,
}

pub(crate) struct PlanCache {
    map: HashMap<Box<str>, Entry>,
    capacity: usize,
}

impl PlanCache {
    pub(crate) fn new(capacity: usize) -> PlanCache {
        PlanCache {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The statements in `sql` (parsed once).
    pub(crate) fn parsed(&mut self, sql: &str) -> Result<Arc<Vec<Parsed>>> {
        if let Some(e) = self.map.get(sql) {
            return Ok(e.parsed.clone());
        }
        let parsed = Arc::new(parse(sql)?);
        if self.map.len() >= self.capacity {
            self.map.clear();
        }
        let n = parsed.len();
        self.map.insert(
            sql.into(),
            Entry {
                parsed: parsed.clone(),
                compiled: vec![None; n],
            },
        );
        Ok(parsed)
    }

    /// Statement `i` of `sql`, compiled for the schema `cat`.
    pub(crate) fn compiled(&mut self, sql: &str, i: usize, cat: &Catalog) -> Result<Arc<Compiled>> {
        let parsed = self.parsed(sql)?;
        if let Some(e) = self.map.get(sql) {
            if let Some(Some(c)) = e.compiled.get(i) {
                if c.schema_id == cat.schema_id() {
                    return Ok(c.clone());
                }
            }
        }
        let c = Arc::new(compile(cat, sql, &parsed[i])?);
        if let Some(e) = self.map.get_mut(sql) {
            if let Some(slot) = e.compiled.get_mut(i) {
                *slot = Some(c.clone());
            }
        }
        Ok(c)
    }
}
