//! Parsed and compiled statements cached by SQL text, so a statement repeated with new
//! parameters skips the parser and the planner (as a SQLite prepared statement does). A
//! compiled plan is reused only while the schema it was built for is current. Bounded: when
//! full, the cache starts over (cheap, and a workload of unique SQL gains nothing from it).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::parse::{parse, Parsed};
use crate::plan::compile::compile;
use crate::plan::Compiled;

/// A fast multiplicative hash for SQL text keys (the cache is bounded, so a crafted
/// collision can only slow one shard's lookups, never grow memory).
#[derive(Default)]
pub(crate) struct TextHasher(u64);

impl Hasher for TextHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        self.0 = h;
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Entry {
    parsed: Arc<Vec<Parsed>>,
    compiled: Vec<Option<Arc<Compiled>>>,
}

pub(crate) struct PlanCache {
    map: HashMap<Box<str>, Entry, BuildHasherDefault<TextHasher>>,
    capacity: usize,
}

impl PlanCache {
    pub(crate) fn new(capacity: usize) -> PlanCache {
        PlanCache {
            map: HashMap::default(),
            capacity: capacity.max(1),
        }
    }

    /// Statement `i` of `sql`, compiled for the schema `cat`, and how many statements the
    /// text holds (0 for empty text, when the plan is None).
    pub(crate) fn get(
        &mut self,
        sql: &str,
        i: usize,
        cat: &Catalog,
    ) -> Result<(Option<Arc<Compiled>>, usize)> {
        if let Some(e) = self.map.get_mut(sql) {
            let n = e.parsed.len();
            if let Some(Some(c)) = e.compiled.get(i) {
                if c.schema_id == cat.schema_id() {
                    return Ok((Some(c.clone()), n));
                }
            }
            if i >= n {
                return Ok((None, n));
            }
            let c = Arc::new(compile(cat, sql, &e.parsed[i])?);
            e.compiled[i] = Some(c.clone());
            return Ok((Some(c), n));
        }
        let parsed = Arc::new(parse(sql)?);
        let n = parsed.len();
        if self.map.len() >= self.capacity {
            self.map.clear();
        }
        self.map.insert(
            sql.into(),
            Entry {
                parsed,
                compiled: vec![None; n],
            },
        );
        if n == 0 {
            return Ok((None, 0));
        }
        self.get(sql, i, cat)
    }
}
