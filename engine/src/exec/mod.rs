//! Running compiled plans. `Reader` evaluates expressions and queries against an immutable
//! `&State`; the write executors (`write`) alternate read phases (find rows, compute new
//! values) with mutations of `&mut State`. Row frames mirror the compiler's scope frames, so
//! a column reference is an index walk, never a name lookup.

pub(crate) mod ddl;
pub(crate) mod eval;
pub(crate) mod query;
pub(crate) mod trigger;
pub(crate) mod write;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::func::FnEnv;
use crate::state::State;
use crate::value::Value;

/// Resource limits a statement runs under (from [`crate::EngineConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_result_rows: usize,
    pub max_rows_visited: u64,
    pub max_value_bytes: usize,
}

/// One source's current row.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowBuf {
    pub vals: Vec<Value>,
    /// None for a NULL-extended LEFT JOIN row or a derived-table row.
    pub rowid: Option<i64>,
}

impl RowBuf {
    pub(crate) fn new(n: usize) -> RowBuf {
        RowBuf {
            vals: vec![Value::Null; n],
            rowid: None,
        }
    }

    pub(crate) fn set_null(&mut self) {
        for v in &mut self.vals {
            *v = Value::Null;
        }
        self.rowid = None;
    }
}

/// The rows bound at one query level, plus the enclosing level's frame.
pub(crate) struct Frame<'p> {
    pub rows: Vec<RowBuf>,
    pub aggs: Vec<Value>,
    pub parent: Option<&'p Frame<'p>>,
}

impl<'p> Frame<'p> {
    pub(crate) fn new(parent: Option<&'p Frame<'p>>) -> Frame<'p> {
        Frame {
            rows: Vec::new(),
            aggs: Vec::new(),
            parent,
        }
    }

    pub(crate) fn with_rows(rows: Vec<RowBuf>, parent: Option<&'p Frame<'p>>) -> Frame<'p> {
        Frame {
            rows,
            aggs: Vec::new(),
            parent,
        }
    }
}

/// Cached result of an uncorrelated subquery within one statement execution.
pub(crate) enum SubResult {
    Rows(Rc<Vec<Vec<Value>>>),
    Scalar(Value),
    Exists(bool),
    Set(Rc<query::ValueSet>),
}

/// Per-statement execution context shared by reads and writes.
pub(crate) struct Runtime<'r> {
    pub env: &'r FnEnv,
    pub limits: Limits,
    pub visited: Cell<u64>,
    /// Compiled trigger programs by trigger name (valid for this statement's schema).
    pub triggers: RefCell<HashMap<String, Rc<trigger::Program>>>,
    /// Triggers currently firing (a trigger never fires itself recursively).
    pub active: RefCell<Vec<String>>,
    /// How to undo this statement's changes (statement atomicity without copying state).
    pub undo: RefCell<Vec<write::UndoOp>>,
    /// Reused buffer for encoding rows.
    pub scratch: RefCell<Vec<u8>>,
}

impl<'r> Runtime<'r> {
    pub(crate) fn new(env: &'r FnEnv, limits: Limits) -> Runtime<'r> {
        Runtime {
            env,
            limits,
            visited: Cell::new(0),
            triggers: RefCell::new(HashMap::new()),
            active: RefCell::new(Vec::new()),
            undo: RefCell::new(Vec::new()),
            scratch: RefCell::new(Vec::new()),
        }
    }

    /// Count one row visit against the work limit.
    #[inline]
    pub(crate) fn tick(&self) -> Result<()> {
        let v = self.visited.get() + 1;
        self.visited.set(v);
        if v > self.limits.max_rows_visited {
            return Err(Error::WorkLimit {
                limit: self.limits.max_rows_visited,
            });
        }
        Ok(())
    }
}

/// Parameter values of a statement: the request's positional list as it came (slot N is
/// element N-1, no copy), or values bound to slots by name.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ParamRef<'a> {
    Positional(&'a [Value]),
    Bound(&'a [Value]),
}

impl<'a> ParamRef<'a> {
    pub(crate) const NONE: ParamRef<'static> = ParamRef::Bound(&[]);

    #[inline]
    pub(crate) fn get(&self, slot: usize) -> Value {
        let v = match self {
            ParamRef::Positional(v) => slot.checked_sub(1).and_then(|i| v.get(i)),
            ParamRef::Bound(v) => v.get(slot),
        };
        v.cloned().unwrap_or(Value::Null)
    }
}

/// Reads against one state snapshot.
pub(crate) struct Reader<'a> {
    pub st: &'a State,
    pub rt: &'a Runtime<'a>,
    pub params: ParamRef<'a>,
    pub cache: RefCell<HashMap<usize, SubResult>>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(st: &'a State, rt: &'a Runtime<'a>, params: ParamRef<'a>) -> Reader<'a> {
        Reader {
            st,
            rt,
            params,
            cache: RefCell::new(HashMap::new()),
        }
    }
}

/// The parameter values a statement runs with: positional lists are used in place, named
/// ones are bound to slots (missing ones are NULL, as in SQLite). `store` holds bound values.
pub(crate) fn params<'p>(
    slots: &[Option<String>],
    params: &'p crate::batch::Params,
    store: &'p mut Vec<Value>,
) -> Result<ParamRef<'p>> {
    use crate::batch::Params;
    match params {
        Params::Positional(v) => {
            if v.len() > slots.len().saturating_sub(1) {
                return Err(Error::sql(format!(
                    "too many parameters: statement has {} placeholders, got {} values",
                    slots.len() - 1,
                    v.len()
                )));
            }
            Ok(ParamRef::Positional(v))
        }
        Params::None => Ok(ParamRef::NONE),
        other => {
            *store = bind(slots, other)?;
            Ok(ParamRef::Bound(store))
        }
    }
}

/// Bind request parameters to a plan's slots (1-based; missing ones are NULL as in SQLite).
pub(crate) fn bind(slots: &[Option<String>], params: &crate::batch::Params) -> Result<Vec<Value>> {
    use crate::batch::Params;
    let mut out = vec![Value::Null; slots.len()];
    match params {
        Params::None => {}
        Params::Positional(vals) => {
            if vals.len() > slots.len().saturating_sub(1) {
                return Err(Error::sql(format!(
                    "too many parameters: statement has {} placeholders, got {} values",
                    slots.len() - 1,
                    vals.len()
                )));
            }
            for (i, v) in vals.iter().enumerate() {
                out[i + 1] = v.clone();
            }
        }
        Params::Named(map) => {
            for (i, s) in slots.iter().enumerate().skip(1) {
                if let Some(name) = s {
                    if let Some(v) = map.get(name.as_str()).or_else(|| {
                        map.iter()
                            .find(|(k, _)| k.trim_start_matches([':', '@', '$']) == name)
                            .map(|(_, v)| v)
                    }) {
                        out[i] = v.clone();
                    }
                }
            }
        }
    }
    Ok(out)
}
