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
    /// Sum of the lengths of the texts in `map`.
    text_bytes: usize,
    /// The last text too long for `map`. A text's statements are planned one call at a time
    /// (each against the schema its predecessors left), so its parse must outlive one call,
    /// but one such text at a time is enough.
    long: Option<(Box<str>, Entry)>,
}

impl PlanCache {
    /// Longer texts are not kept beyond their own use: a statement may be up to
    /// `max_statement_bytes` (1 MiB by default), and its syntax tree several times that.
    pub(crate) const MAX_TEXT: usize = 8 << 10;
    /// Most text bytes kept in all; with `MAX_TEXT` it bounds the trees kept to a small
    /// multiple of this, whatever clients send.
    pub(crate) const MAX_TEXT_BYTES: usize = 1 << 20;

    pub(crate) fn new(capacity: usize) -> PlanCache {
        PlanCache {
            map: HashMap::default(),
            capacity: capacity.max(1),
            text_bytes: 0,
            long: None,
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
            return plan(e, sql, i, cat);
        }
        if let Some((t, e)) = &mut self.long {
            if &**t == sql {
                return plan(e, sql, i, cat);
            }
        }
        let parsed = Arc::new(parse(sql)?);
        let e = self.insert(sql, parsed);
        plan(e, sql, i, cat)
    }

    fn insert(&mut self, sql: &str, parsed: Arc<Vec<Parsed>>) -> &mut Entry {
        let entry = Entry {
            compiled: vec![None; parsed.len()],
            parsed,
        };
        if sql.len() > Self::MAX_TEXT {
            return &mut self.long.insert((sql.into(), entry)).1;
        }
        if self.map.len() >= self.capacity || self.text_bytes + sql.len() > Self::MAX_TEXT_BYTES {
            self.map.clear();
            self.text_bytes = 0;
        }
        self.text_bytes += sql.len();
        self.map.entry(sql.into()).or_insert(entry)
    }
}

/// Statement `i` of the text `e` holds, compiled for `cat` (reusing the plan built for the
/// same schema), and the text's statement count.
fn plan(
    e: &mut Entry,
    sql: &str,
    i: usize,
    cat: &Catalog,
) -> Result<(Option<Arc<Compiled>>, usize)> {
    let n = e.parsed.len();
    if i >= n {
        return Ok((None, n));
    }
    if let Some(c) = &e.compiled[i] {
        if c.schema_id == cat.schema_id() {
            return Ok((Some(c.clone()), n));
        }
    }
    let c = Arc::new(compile(cat, sql, &e.parsed[i])?);
    e.compiled[i] = Some(c.clone());
    Ok((Some(c), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory stays bounded whatever texts arrive: long texts take one slot, short ones a
    /// text budget; both still plan every statement they hold.
    #[test]
    fn long_texts_take_one_slot_and_short_ones_a_byte_budget() {
        let cat = Catalog::default();
        let mut c = PlanCache::new(1024);
        let pad = " ".repeat(PlanCache::MAX_TEXT);
        for k in 0..3 {
            let long = format!("SELECT {k};{pad}SELECT {k} + 1");
            assert_eq!(c.get(&long, 0, &cat).unwrap().1, 2);
            assert!(c.get(&long, 1, &cat).unwrap().0.is_some());
            assert!(c.get(&long, 2, &cat).unwrap().0.is_none());
            assert!(c.map.is_empty(), "a long text is not kept in the map");
        }
        let short_pad = " ".repeat(PlanCache::MAX_TEXT - 20);
        let fit = PlanCache::MAX_TEXT_BYTES / (PlanCache::MAX_TEXT - 10);
        for k in 0..fit + 3 {
            let t = format!("SELECT {k}{short_pad}");
            assert!(c.get(&t, 0, &cat).unwrap().0.is_some());
            assert!(c.text_bytes <= PlanCache::MAX_TEXT_BYTES);
        }
        assert!(c.map.len() < fit, "the budget started the map over");
    }
}
