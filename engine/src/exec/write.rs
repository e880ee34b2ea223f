//! INSERT / UPDATE / DELETE. Each statement first reads (source rows, or the rows to change
//! and their new values) against the current state, then applies row by row: affinity,
//! BEFORE triggers, NOT NULL and CHECK, uniqueness with the statement's conflict policy or
//! upsert, the row and index writes (one persistent-map insert per table and index), AFTER
//! triggers. Atomicity of the statement is the caller's savepoint.

use std::sync::Arc;

use super::trigger::{self, Event};
use super::{Frame, ParamRef, Reader, RowBuf, Runtime};
use crate::catalog::{IndexDef, TableDef, TriggerTiming};
use crate::codec::key::{decode_rowid, push_value, rowid_key};
use crate::codec::row;
use crate::error::{Error, Result};
use crate::plan::{
    CompiledStmt, DeletePlan, Header, InsertPlan, InsertSource, OnConflict, TableProgram,
    UpdatePlan, Upsert,
};
use crate::state::{State, TableData};
use crate::store::{Key, RowKey, Undo};
use crate::value::Value;

/// What a statement did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub changes: i64,
    pub last_rowid: Option<i64>,
    /// Result columns and rows for queries and RETURNING.
    pub columns: Option<Header>,
    pub rows: Vec<Vec<Value>>,
}

/// Run a read-only statement (a query or EXPLAIN).
pub(crate) fn read(
    st: &State,
    rt: &Runtime<'_>,
    c: &CompiledStmt,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
) -> Result<Outcome> {
    match c {
        CompiledStmt::Query(q) => {
            let reader = Reader::new(st, rt, params);
            let mut rows = Vec::new();
            let max = rt.limits.max_result_rows;
            reader.run_query(q, parent, &mut |r| {
                if rows.len() >= max {
                    return Err(Error::TooManyRows { limit: max });
                }
                rows.push(r);
                Ok(true)
            })?;
            Ok(Outcome {
                columns: Some(Header::of(&q.columns, &q.header)),
                rows,
                ..Default::default()
            })
        }
        CompiledStmt::Explain(rows) => Ok(Outcome {
            columns: Some(Header {
                names: ["id", "parent", "notused", "detail"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .into(),
                types: ["", "", "", ""]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .into(),
            }),
            rows: rows
                .iter()
                .map(|(id, parent, d)| {
                    vec![
                        Value::Integer(*id),
                        Value::Integer(*parent),
                        Value::Integer(0),
                        Value::from(d.as_str()),
                    ]
                })
                .collect(),
            ..Default::default()
        }),
        _ => Err(Error::sql("attempt to write a readonly database")),
    }
}

/// Run any compiled statement that does not need the engine (no DDL, no transaction
/// control): the body of a trigger or one statement of a batch.
pub(crate) fn run(
    st: &mut State,
    rt: &Runtime<'_>,
    c: &CompiledStmt,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
) -> Result<Outcome> {
    match c {
        CompiledStmt::Query(_) | CompiledStmt::Explain(_) => read(st, rt, c, params, parent),
        CompiledStmt::Insert(p) => insert(st, rt, p, params, parent),
        CompiledStmt::Update(p) => update(st, rt, p, params, parent),
        CompiledStmt::Delete(p) => delete(st, rt, p, params, parent),
        _ => Err(Error::sql("this statement cannot run here")),
    }
}

fn table_name_col(def: &TableDef, col: Option<usize>) -> String {
    match col {
        Some(c) => format!("{}.{}", def.name, def.columns[c].name),
        None => format!("{}.rowid", def.name),
    }
}

/// Index key of a row: column encodings then the rowid.
pub(crate) fn index_key(ix: &IndexDef, vals: &[Value], rowid: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(ix.columns.len() * 12 + 8);
    for c in &ix.columns {
        push_value(&mut k, &vals[c.column], c.desc, c.collation);
    }
    k.extend_from_slice(&rowid_key(rowid));
    k
}

/// The unique part of an index key, or None when a NULL makes it exempt from uniqueness.
fn unique_prefix(ix: &IndexDef, vals: &[Value]) -> Option<Vec<u8>> {
    let mut k = Vec::with_capacity(ix.columns.len() * 12);
    for c in &ix.columns {
        let v = &vals[c.column];
        if v.is_null() {
            return None;
        }
        push_value(&mut k, v, c.desc, c.collation);
    }
    Some(k)
}

/// Encode a row for storage into `buf` (cleared first).
pub(crate) fn encode_row(def: &TableDef, vals: &[Value], buf: &mut Vec<u8>) {
    buf.clear();
    // The rowid alias lives in the key only, as in SQLite.
    row::encode_skip(vals, def.rowid_alias.unwrap_or(usize::MAX), buf);
}

/// Full decode of a stored row.
pub(crate) fn read_row(td: &TableData, def: &TableDef, rowid: i64) -> Result<Option<Vec<Value>>> {
    let kb = rowid_key(rowid);
    let Some(bytes) = td.rows.get(&kb) else {
        return Ok(None);
    };
    let mut buf = RowBuf::new(def.columns.len());
    Reader::load(def, &kb, bytes, &[], &mut buf)?;
    Ok(Some(buf.vals))
}

fn table_mut<'s>(st: &'s mut State, key: &str) -> Result<&'s mut TableData> {
    st.tables
        .get_mut(key)
        .ok_or_else(|| Error::NoSuchTable(key.to_string()))
}

fn table_ref<'s>(st: &'s State, key: &str) -> Result<&'s TableData> {
    st.tables
        .get(key)
        .ok_or_else(|| Error::NoSuchTable(key.to_string()))
}

/// One change to undo if the statement fails.
#[derive(Debug)]
pub(crate) enum UndoOp {
    Row {
        table: Arc<str>,
        undo: Undo<RowKey>,
    },
    Index {
        table: Arc<str>,
        index: Arc<str>,
        undo: Undo<Key>,
    },
    AutoInc {
        table: Arc<str>,
        prev: i64,
    },
}

/// Reverse a failed statement's changes, newest first.
pub(crate) fn rollback(st: &mut State, ops: Vec<UndoOp>) {
    for op in ops.into_iter().rev() {
        match op {
            UndoOp::Row { table, undo } => {
                if let Some(td) = st.tables.get_mut(table.as_ref()) {
                    td.rows.undo(undo);
                }
            }
            UndoOp::Index { table, index, undo } => {
                if let Some(store) = st
                    .tables
                    .get_mut(table.as_ref())
                    .and_then(|td| td.indexes.get_mut(index.as_ref()))
                {
                    store.undo(undo);
                }
            }
            UndoOp::AutoInc { table, prev } => {
                if let Some(td) = st.tables.get_mut(table.as_ref()) {
                    td.autoinc_seq = prev;
                }
            }
        }
    }
}

fn log_row(rt: &Runtime<'_>, prog: &TableProgram, undo: Undo<RowKey>) {
    rt.undo.borrow_mut().push(UndoOp::Row {
        table: prog.key.clone(),
        undo,
    });
}

fn index_put(
    rt: &Runtime<'_>,
    td: &mut TableData,
    prog: &TableProgram,
    ix: &IndexDef,
    ikey: &Arc<str>,
    vals: &[Value],
    rowid: i64,
) {
    if let Some(store) = td.indexes.get_mut(ikey.as_ref()) {
        let (_, undo) = store.put(&index_key(ix, vals, rowid), &[]);
        rt.undo.borrow_mut().push(UndoOp::Index {
            table: prog.key.clone(),
            index: ikey.clone(),
            undo,
        });
    }
}

fn index_delete(
    rt: &Runtime<'_>,
    td: &mut TableData,
    prog: &TableProgram,
    ix: &IndexDef,
    ikey: &Arc<str>,
    vals: &[Value],
    rowid: i64,
) {
    if let Some(store) = td.indexes.get_mut(ikey.as_ref()) {
        if let (_, Some(undo)) = store.delete(&index_key(ix, vals, rowid)) {
            rt.undo.borrow_mut().push(UndoOp::Index {
                table: prog.key.clone(),
                index: ikey.clone(),
                undo,
            });
        }
    }
}

fn set_autoinc(rt: &Runtime<'_>, td: &mut TableData, prog: &TableProgram, rowid: i64) {
    if prog.def.autoincrement && rowid > td.autoinc_seq {
        rt.undo.borrow_mut().push(UndoOp::AutoInc {
            table: prog.key.clone(),
            prev: td.autoinc_seq,
        });
        td.autoinc_seq = rowid;
    }
}

fn put_row(rt: &Runtime<'_>, td: &mut TableData, prog: &TableProgram, rowid: i64, vals: &[Value]) {
    let mut buf = rt.scratch.take();
    encode_row(&prog.def, vals, &mut buf);
    let (_, undo) = td.rows.put(&rowid_key(rowid), &buf);
    rt.scratch.replace(buf);
    log_row(rt, prog, undo);
    for (ix, key) in &prog.indexes {
        index_put(rt, td, prog, ix, key, vals, rowid);
    }
}

fn remove_row(
    rt: &Runtime<'_>,
    td: &mut TableData,
    prog: &TableProgram,
    rowid: i64,
    vals: &[Value],
) {
    if let (_, Some(undo)) = td.rows.delete(&rowid_key(rowid)) {
        log_row(rt, prog, undo);
    }
    for (ix, key) in &prog.indexes {
        index_delete(rt, td, prog, ix, key, vals, rowid);
    }
}

#[derive(Debug, Clone, Copy)]
enum Conflict {
    Rowid(i64),
    /// Position in `prog.indexes`, conflicting rowid.
    Index(usize, i64),
}

impl Conflict {
    fn rowid(self) -> i64 {
        match self {
            Conflict::Rowid(r) | Conflict::Index(_, r) => r,
        }
    }
}

/// Uniqueness conflicts of a row about to be stored under `rowid` (`self_rowid` is the row
/// being updated, which never conflicts with itself).
fn conflicts(
    td: &TableData,
    prog: &TableProgram,
    vals: &[Value],
    rowid: i64,
    self_rowid: Option<i64>,
    out: &mut Vec<Conflict>,
) -> Result<()> {
    out.clear();
    if Some(rowid) != self_rowid && td.rows.contains(&rowid_key(rowid)) {
        out.push(Conflict::Rowid(rowid));
    }
    for (pos, (ix, key)) in prog.indexes.iter().enumerate() {
        if !ix.unique {
            continue;
        }
        let Some(prefix) = unique_prefix(ix, vals) else {
            continue;
        };
        let Some(store) = td.indexes.get(key.as_ref()) else {
            continue;
        };
        for (k, _) in store.prefix(&prefix, false) {
            if k.len() != prefix.len() + 8 {
                continue;
            }
            let other = decode_rowid(k)
                .ok_or_else(|| Error::sql("database disk image is malformed (bad index key)"))?;
            if Some(other) != self_rowid {
                out.push(Conflict::Index(pos, other));
                break;
            }
        }
    }
    Ok(())
}

fn conflict_error(prog: &TableProgram, c: Conflict) -> Error {
    let def = &prog.def;
    match c {
        Conflict::Rowid(_) => Error::Constraint(format!(
            "UNIQUE constraint failed: {}",
            table_name_col(def, def.rowid_alias)
        )),
        Conflict::Index(pos, _) => {
            let ix = &prog.indexes[pos].0;
            let cols: Vec<String> = ix
                .columns
                .iter()
                .map(|c| format!("{}.{}", def.name, def.columns[c.column].name))
                .collect();
            Error::Constraint(format!("UNIQUE constraint failed: {}", cols.join(", ")))
        }
    }
}

/// NOT NULL and CHECK. Returns false when the row must be skipped (OR IGNORE).
fn check_row(
    st: &State,
    rt: &Runtime<'_>,
    prog: &TableProgram,
    vals: &mut [Value],
    rowid: Option<i64>,
    or: OnConflict,
    params: ParamRef<'_>,
) -> Result<bool> {
    let def = &prog.def;
    for (i, c) in def.columns.iter().enumerate() {
        if c.not_null && vals[i].is_null() && Some(i) != def.rowid_alias {
            match or {
                OnConflict::Ignore => return Ok(false),
                OnConflict::Replace if prog.defaults[i].is_some() => {
                    let r = Reader::new(st, rt, params);
                    let d = r.eval(
                        prog.defaults[i].as_ref().expect("checked"),
                        &Frame::new(None),
                    )?;
                    vals[i] = c.affinity.apply(d);
                    if vals[i].is_null() {
                        return Err(Error::Constraint(format!(
                            "NOT NULL constraint failed: {}.{}",
                            def.name, c.name
                        )));
                    }
                }
                _ => {
                    return Err(Error::Constraint(format!(
                        "NOT NULL constraint failed: {}.{}",
                        def.name, c.name
                    )))
                }
            }
        }
    }
    if !prog.checks.is_empty() {
        let r = Reader::new(st, rt, params);
        let frame = Frame::with_rows(
            vec![RowBuf {
                vals: vals.to_vec(),
                rowid,
            }],
            None,
        );
        for (e, name) in &prog.checks {
            if r.truth(e, &frame)? == Some(false) {
                if or == OnConflict::Ignore {
                    return Ok(false);
                }
                return Err(Error::Constraint(format!(
                    "CHECK constraint failed: {name}"
                )));
            }
        }
    }
    Ok(true)
}

fn new_rowid(td: &TableData, def: &TableDef) -> Result<i64> {
    let max = match td.rows.last_key() {
        Some(k) => decode_rowid(k).unwrap_or(0),
        None => 0,
    };
    let base = if def.autoincrement {
        max.max(td.autoinc_seq)
    } else {
        max
    };
    base.checked_add(1)
        .ok_or_else(|| Error::sql("database or disk is full (rowid space exhausted)"))
}

fn rowid_from(v: Value) -> Result<Option<i64>> {
    match crate::affinity::Affinity::Integer.apply(v) {
        Value::Null => Ok(None),
        Value::Integer(i) => Ok(Some(i)),
        _ => Err(Error::sql("datatype mismatch")),
    }
}

fn returning_row(
    st: &State,
    rt: &Runtime<'_>,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
    exprs: &[crate::plan::Expr],
    vals: &[Value],
    rowid: i64,
) -> Result<Vec<Value>> {
    let r = Reader::new(st, rt, params);
    let frame = Frame::with_rows(
        vec![RowBuf {
            vals: vals.to_vec(),
            rowid: Some(rowid),
        }],
        parent,
    );
    exprs.iter().map(|e| r.eval(e, &frame)).collect()
}

pub(crate) fn insert(
    st: &mut State,
    rt: &Runtime<'_>,
    p: &InsertPlan,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
) -> Result<Outcome> {
    let def = p.table.def.clone();
    let ncols = def.columns.len();
    // Read phase: the rows to insert.
    let source: Vec<Vec<Value>> = {
        let r = Reader::new(st, rt, params);
        match &p.source {
            InsertSource::Defaults => vec![Vec::new()],
            InsertSource::Values(rows) => {
                let frame = Frame::new(parent);
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut vals = Vec::with_capacity(row.len());
                    for e in row {
                        vals.push(r.eval(e, &frame)?);
                    }
                    out.push(vals);
                }
                out
            }
            InsertSource::Query(q) => {
                let mut out = Vec::new();
                r.run_query(q, parent, &mut |row| {
                    out.push(row);
                    Ok(true)
                })?;
                out
            }
        }
    };
    let mut outcome = Outcome::default();
    if p.returning.is_some() {
        outcome.columns = p
            .returning
            .as_ref()
            .map(|r| Header::of(&r.columns, &r.header));
    }
    let has_triggers = trigger::any(st, &p.table.key);
    let mut scratch = Vec::new();
    // Values listed for every column in table order are the row as they are.
    let identity =
        p.targets.len() == ncols && p.targets.iter().enumerate().all(|(i, t)| *t == Some(i));
    for src in source {
        rt.tick()?;
        let (mut vals, given, rowid) = if identity && src.len() == ncols {
            (src, None, None)
        } else {
            let mut vals = vec![Value::Null; ncols];
            let mut given = vec![false; ncols];
            let mut rowid: Option<Value> = None;
            for (pos, v) in src.into_iter().enumerate() {
                match p.targets.get(pos).copied().flatten() {
                    Some(ci) => {
                        vals[ci] = v;
                        given[ci] = true;
                    }
                    None => rowid = Some(v),
                }
            }
            (vals, Some(given), rowid)
        };
        if let Some(given) = given.filter(|g| g.iter().any(|g| !g)) {
            let r = Reader::new(st, rt, params);
            let empty = Frame::new(None);
            for i in 0..ncols {
                if !given[i] {
                    if let Some(d) = &p.table.defaults[i] {
                        vals[i] = r.eval(d, &empty)?;
                    }
                }
            }
        }
        for (i, c) in def.columns.iter().enumerate() {
            if Some(i) != def.rowid_alias {
                vals[i] = c.affinity.apply(std::mem::take(&mut vals[i]));
            }
        }
        let mut explicit = match def.rowid_alias {
            Some(a) => rowid_from(std::mem::take(&mut vals[a]))?,
            None => None,
        };
        if let Some(v) = rowid {
            if let Some(r) = rowid_from(v)? {
                explicit = Some(r);
            }
        }
        if let Some(r) = insert_row(
            st,
            rt,
            p,
            params,
            parent,
            vals,
            explicit,
            has_triggers,
            &mut scratch,
            &mut outcome,
        )? {
            outcome.changes += 1;
            outcome.last_rowid = Some(r);
            rt.env.last_insert_rowid.set(r);
        }
    }
    Ok(outcome)
}

/// Insert one row; returns its rowid, or None if it was skipped or became an upsert update
/// (upsert updates count as changes through `outcome`).
#[allow(clippy::too_many_arguments)]
fn insert_row(
    st: &mut State,
    rt: &Runtime<'_>,
    p: &InsertPlan,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
    mut vals: Vec<Value>,
    explicit: Option<i64>,
    has_triggers: bool,
    scratch: &mut Vec<Conflict>,
    outcome: &mut Outcome,
) -> Result<Option<i64>> {
    let prog = &p.table;
    let def = &prog.def;
    let key: &str = &prog.key;
    if has_triggers {
        let provisional = explicit.unwrap_or(-1);
        if let Some(a) = def.rowid_alias {
            vals[a] = explicit.map(Value::Integer).unwrap_or(Value::Null);
        }
        let new = RowBuf {
            vals: vals.clone(),
            rowid: Some(provisional),
        };
        match trigger::fire(
            st,
            rt,
            key,
            def,
            TriggerTiming::Before,
            Event::Insert,
            Some(&new),
            None,
        ) {
            Err(Error::RaiseIgnore) => return Ok(None),
            r => r?,
        }
    }
    if !check_row(st, rt, prog, &mut vals, explicit, p.or, params)? {
        return Ok(None);
    }
    let rowid = match explicit {
        Some(r) => r,
        None => new_rowid(table_ref(st, key)?, def)?,
    };
    if let Some(a) = def.rowid_alias {
        vals[a] = Value::Integer(rowid);
    }
    conflicts(table_ref(st, key)?, prog, &vals, rowid, None, scratch)?;
    if !scratch.is_empty() {
        // Upsert clauses first, then the statement's conflict policy.
        for u in &p.upsert {
            let hit = scratch
                .iter()
                .copied()
                .find(|c| upsert_targets(u, def, prog, *c));
            let Some(c) = hit else { continue };
            let Some(set) = &u.set else { return Ok(None) };
            let other = c.rowid();
            let td = table_ref(st, key)?;
            let Some(old) = read_row(td, def, other)? else {
                return Ok(None);
            };
            let (new_vals, new_rowid) = {
                let r = Reader::new(st, rt, params);
                let frame = Frame::with_rows(
                    vec![
                        RowBuf {
                            vals: old.clone(),
                            rowid: Some(other),
                        },
                        RowBuf {
                            vals: vals.clone(),
                            rowid: Some(rowid),
                        },
                    ],
                    parent,
                );
                if let Some(w) = &u.where_ {
                    if r.truth(w, &frame)? != Some(true) {
                        return Ok(None);
                    }
                }
                let mut nv = old.clone();
                for (ci, e) in set {
                    nv[*ci] = def.columns[*ci].affinity.apply(r.eval(e, &frame)?);
                }
                let nr = match &u.rowid_set {
                    Some(e) => rowid_from(r.eval(e, &frame)?)?.unwrap_or(other),
                    None => other,
                };
                (nv, nr)
            };
            let changed: Vec<usize> = set.iter().map(|(c, _)| *c).collect();
            if update_row(
                st,
                rt,
                prog,
                params,
                other,
                old,
                new_vals,
                new_rowid,
                OnConflict::Abort,
                &changed,
                scratch,
            )? {
                outcome.changes += 1;
                if let Some(ret) = &p.returning {
                    let td = table_ref(st, key)?;
                    if let Some(now) = read_row(td, def, new_rowid)? {
                        outcome.rows.push(returning_row(
                            st, rt, params, parent, &ret.exprs, &now, new_rowid,
                        )?);
                    }
                }
            }
            return Ok(None);
        }
        match p.or {
            OnConflict::Ignore => return Ok(None),
            OnConflict::Replace => {
                let mut victims: Vec<i64> = scratch.iter().map(|c| c.rowid()).collect();
                victims.sort_unstable();
                victims.dedup();
                for v in victims {
                    let td = table_ref(st, key)?;
                    if let Some(old) = read_row(td, def, v)? {
                        remove_row(rt, table_mut(st, key)?, prog, v, &old);
                    }
                }
            }
            _ => return Err(conflict_error(prog, scratch[0])),
        }
    }
    let td = table_mut(st, key)?;
    put_row(rt, td, prog, rowid, &vals);
    set_autoinc(rt, td, prog, rowid);
    if let Some(ret) = &p.returning {
        outcome.rows.push(returning_row(
            st, rt, params, parent, &ret.exprs, &vals, rowid,
        )?);
    }
    if has_triggers {
        let new = RowBuf {
            vals,
            rowid: Some(rowid),
        };
        match trigger::fire(
            st,
            rt,
            key,
            def,
            TriggerTiming::After,
            Event::Insert,
            Some(&new),
            None,
        ) {
            Err(Error::RaiseIgnore) => {}
            r => r?,
        }
    }
    Ok(Some(rowid))
}

fn upsert_targets(u: &Upsert, def: &TableDef, prog: &TableProgram, c: Conflict) -> bool {
    let Some(target) = &u.target else { return true };
    let mut t = target.clone();
    t.sort_unstable();
    match c {
        Conflict::Rowid(_) => def.rowid_alias.is_some_and(|a| t == [a]),
        Conflict::Index(pos, _) => {
            let mut ic: Vec<usize> = prog.indexes[pos]
                .0
                .columns
                .iter()
                .map(|c| c.column)
                .collect();
            ic.sort_unstable();
            ic == t
        }
    }
}

/// Apply one row update; returns false if it was skipped (OR IGNORE / RAISE(IGNORE)).
#[allow(clippy::too_many_arguments)]
fn update_row(
    st: &mut State,
    rt: &Runtime<'_>,
    prog: &TableProgram,
    params: ParamRef<'_>,
    rowid: i64,
    old: Vec<Value>,
    mut new: Vec<Value>,
    new_rowid: i64,
    or: OnConflict,
    changed: &[usize],
    scratch: &mut Vec<Conflict>,
) -> Result<bool> {
    let def = &prog.def;
    let key: &str = &prog.key;
    let has_triggers = trigger::any(st, key);
    if let Some(a) = def.rowid_alias {
        new[a] = Value::Integer(new_rowid);
    }
    if has_triggers {
        let n = RowBuf {
            vals: new.clone(),
            rowid: Some(new_rowid),
        };
        let o = RowBuf {
            vals: old.clone(),
            rowid: Some(rowid),
        };
        match trigger::fire(
            st,
            rt,
            key,
            def,
            TriggerTiming::Before,
            Event::Update(changed),
            Some(&n),
            Some(&o),
        ) {
            Err(Error::RaiseIgnore) => return Ok(false),
            r => r?,
        }
    }
    if !check_row(st, rt, prog, &mut new, Some(new_rowid), or, params)? {
        return Ok(false);
    }
    conflicts(
        table_ref(st, key)?,
        prog,
        &new,
        new_rowid,
        Some(rowid),
        scratch,
    )?;
    if !scratch.is_empty() {
        match or {
            OnConflict::Ignore => return Ok(false),
            OnConflict::Replace => {
                let mut victims: Vec<i64> = scratch
                    .iter()
                    .map(|c| c.rowid())
                    .filter(|r| *r != rowid)
                    .collect();
                victims.sort_unstable();
                victims.dedup();
                for v in victims {
                    let td = table_ref(st, key)?;
                    if let Some(o) = read_row(td, def, v)? {
                        remove_row(rt, table_mut(st, key)?, prog, v, &o);
                    }
                }
            }
            _ => return Err(conflict_error(prog, scratch[0])),
        }
    }
    let td = table_mut(st, key)?;
    if new_rowid != rowid {
        remove_row(rt, td, prog, rowid, &old);
        put_row(rt, td, prog, new_rowid, &new);
    } else {
        let mut buf = rt.scratch.take();
        encode_row(def, &new, &mut buf);
        let (_, undo) = td.rows.put(&rowid_key(rowid), &buf);
        rt.scratch.replace(buf);
        log_row(rt, prog, undo);
        for (ix, ikey) in &prog.indexes {
            let touched = ix.columns.iter().any(|c| {
                old[c.column].cmp_with(&new[c.column], c.collation).is_ne()
                    || old[c.column].type_name() != new[c.column].type_name()
            });
            if touched {
                index_delete(rt, td, prog, ix, ikey, &old, rowid);
                index_put(rt, td, prog, ix, ikey, &new, rowid);
            }
        }
    }
    set_autoinc(rt, td, prog, new_rowid);
    if has_triggers {
        let n = RowBuf {
            vals: new,
            rowid: Some(new_rowid),
        };
        let o = RowBuf {
            vals: old,
            rowid: Some(rowid),
        };
        match trigger::fire(
            st,
            rt,
            key,
            def,
            TriggerTiming::After,
            Event::Update(changed),
            Some(&n),
            Some(&o),
        ) {
            Err(Error::RaiseIgnore) => {}
            r => r?,
        }
    }
    Ok(true)
}

pub(crate) fn update(
    st: &mut State,
    rt: &Runtime<'_>,
    p: &UpdatePlan,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
) -> Result<Outcome> {
    let def = p.table.def.clone();
    let ncols = def.columns.len();
    let mut targets: Vec<(i64, Vec<Value>, Vec<Value>, i64)> = Vec::new();
    {
        let r = Reader::new(st, rt, params);
        let mut frame = Frame::with_rows(vec![RowBuf::new(ncols)], parent);
        r.join_rows(&p.scan, &mut frame, &mut |fr| {
            let row = &fr.rows[0];
            let rowid = row.rowid.unwrap_or(0);
            let old = row.vals.clone();
            let mut new = old.clone();
            for (ci, e) in &p.sets {
                new[*ci] = def.columns[*ci].affinity.apply(r.eval(e, fr)?);
            }
            let new_rowid = match &p.rowid_set {
                Some(e) => match rowid_from(r.eval(e, fr)?)? {
                    Some(x) => x,
                    None => {
                        return Err(Error::Constraint(format!(
                            "NOT NULL constraint failed: {}",
                            table_name_col(&def, def.rowid_alias)
                        )))
                    }
                },
                None => rowid,
            };
            targets.push((rowid, old, new, new_rowid));
            Ok(true)
        })?;
    }
    let mut changed: Vec<usize> = p.sets.iter().map(|(c, _)| *c).collect();
    if p.rowid_set.is_some() {
        if let Some(a) = def.rowid_alias {
            changed.push(a);
        }
    }
    let mut outcome = Outcome {
        columns: p
            .returning
            .as_ref()
            .map(|r| Header::of(&r.columns, &r.header)),
        ..Default::default()
    };
    let mut scratch = Vec::new();
    for (rowid, old, new, new_rowid) in targets {
        rt.tick()?;
        if update_row(
            st,
            rt,
            &p.table,
            params,
            rowid,
            old,
            new,
            new_rowid,
            p.or,
            &changed,
            &mut scratch,
        )? {
            outcome.changes += 1;
            if let Some(ret) = &p.returning {
                let td = table_ref(st, &p.table.key)?;
                if let Some(now) = read_row(td, &def, new_rowid)? {
                    outcome.rows.push(returning_row(
                        st, rt, params, parent, &ret.exprs, &now, new_rowid,
                    )?);
                }
            }
        }
    }
    Ok(outcome)
}

pub(crate) fn delete(
    st: &mut State,
    rt: &Runtime<'_>,
    p: &DeletePlan,
    params: ParamRef<'_>,
    parent: Option<&Frame<'_>>,
) -> Result<Outcome> {
    let def = p.table.def.clone();
    let ncols = def.columns.len();
    let mut targets: Vec<(i64, Vec<Value>)> = Vec::new();
    {
        let r = Reader::new(st, rt, params);
        let mut frame = Frame::with_rows(vec![RowBuf::new(ncols)], parent);
        r.join_rows(&p.scan, &mut frame, &mut |fr| {
            let row = &fr.rows[0];
            targets.push((row.rowid.unwrap_or(0), row.vals.clone()));
            Ok(true)
        })?;
    }
    let key: &str = &p.table.key;
    let has_triggers = trigger::any(st, key);
    let mut outcome = Outcome {
        columns: p
            .returning
            .as_ref()
            .map(|r| Header::of(&r.columns, &r.header)),
        ..Default::default()
    };
    for (rowid, vals) in targets {
        rt.tick()?;
        let old = RowBuf {
            vals,
            rowid: Some(rowid),
        };
        if has_triggers {
            match trigger::fire(
                st,
                rt,
                key,
                &def,
                TriggerTiming::Before,
                Event::Delete,
                None,
                Some(&old),
            ) {
                Err(Error::RaiseIgnore) => continue,
                r => r?,
            }
        }
        // A BEFORE trigger may already have removed or changed the row.
        let Some(current) = read_row(table_ref(st, key)?, &def, rowid)? else {
            continue;
        };
        if let Some(ret) = &p.returning {
            outcome.rows.push(returning_row(
                st, rt, params, parent, &ret.exprs, &current, rowid,
            )?);
        }
        remove_row(rt, table_mut(st, key)?, &p.table, rowid, &current);
        outcome.changes += 1;
        if has_triggers {
            let o = RowBuf {
                vals: current,
                rowid: Some(rowid),
            };
            match trigger::fire(
                st,
                rt,
                key,
                &def,
                TriggerTiming::After,
                Event::Delete,
                None,
                Some(&o),
            ) {
                Err(Error::RaiseIgnore) => {}
                r => r?,
            }
        }
    }
    Ok(outcome)
}
