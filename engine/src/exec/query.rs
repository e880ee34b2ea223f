//! Query execution: nested-loop joins over the chosen access paths, grouping and aggregates,
//! DISTINCT, compound operators, sorting and LIMIT/OFFSET. Rows stream to a sink that can
//! stop early (EXISTS, scalar subqueries, LIMIT without ORDER BY); sorted or grouped output
//! is buffered, bounded by the statement's row-visit limit.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound as RB;

use super::{Frame, Reader, RowBuf};
use crate::affinity::{numeric_for_compare, text_for_compare};
use crate::catalog::TableDef;
use crate::codec::key::{self, decode_rowid, push_value, rowid_key};
use crate::codec::row::RowReader;
use crate::error::{Error, Result};
use crate::func::agg::Acc;
use crate::plan::{
    Access, Bound, Expr, JoinKind, KeySrc, OrderTerm, OutCol, Probe, QueryBody, QueryPlan,
    SelectPlan, SetOp, Source, SourceKind,
};
use crate::state::TableData;
use crate::value::{Collation, Value};

/// Encode values as one comparable key (SQL equality = byte equality, order = SQL order).
pub(crate) fn row_key(vals: &[Value], colls: &[Collation]) -> Vec<u8> {
    let mut k = Vec::with_capacity(vals.len() * 10);
    for (i, v) in vals.iter().enumerate() {
        push_value(&mut k, v, false, colls.get(i).copied().unwrap_or_default());
    }
    k
}

/// The right-hand side of `x IN (subquery)`.
pub(crate) struct ValueSet {
    keys: BTreeSet<Vec<u8>>,
    pub has_null: bool,
    coll: Collation,
    len: usize,
}

impl ValueSet {
    pub(crate) fn new(coll: Collation) -> ValueSet {
        ValueSet {
            keys: BTreeSet::new(),
            has_null: false,
            coll,
            len: 0,
        }
    }
    pub(crate) fn insert(&mut self, v: Value) {
        self.len += 1;
        if v.is_null() {
            self.has_null = true;
        } else {
            self.keys
                .insert(row_key(std::slice::from_ref(&v), &[self.coll]));
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn contains(&self, v: &Value) -> bool {
        self.keys
            .contains(&row_key(std::slice::from_ref(v), &[self.coll]))
    }
}

fn probe(v: Value, p: Probe) -> Value {
    match p {
        Probe::AsIs => v,
        Probe::Numeric => numeric_for_compare(v),
        Probe::Text => text_for_compare(v),
    }
}

fn as_rowid(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Real(f) => crate::num::real_as_exact_int(*f),
        _ => None,
    }
}

enum RowidBound {
    Empty,
    Unbounded,
    At(i64),
}

/// The first (`lower`) or last rowid that satisfies `rowid > v` / `rowid >= v` (or `<`,
/// `<=`), `v` already converted as the comparison converts it. Exact for every value, which
/// is what lets the planner drop the conjunct from the per-row filters: integers compare with
/// integers, with reals exactly (as `num::cmp_int_real`), and are less than any text or blob;
/// NULL satisfies nothing.
fn rowid_bound(v: &Value, lower: bool, inclusive: bool) -> RowidBound {
    let at = |i: Option<i64>| i.map_or(RowidBound::Empty, RowidBound::At);
    match v {
        Value::Null => RowidBound::Empty,
        Value::Integer(i) => match (lower, inclusive) {
            (_, true) => RowidBound::At(*i),
            (true, false) => at(i.checked_add(1)),
            (false, false) => at(i.checked_sub(1)),
        },
        Value::Real(f) if f.is_nan() => RowidBound::Empty,
        Value::Real(f) => {
            let f = *f;
            if f >= crate::num::TWO_63 {
                return if lower {
                    RowidBound::Empty
                } else {
                    RowidBound::Unbounded
                };
            }
            if f < -crate::num::TWO_63 {
                return if lower {
                    RowidBound::Unbounded
                } else {
                    RowidBound::Empty
                };
            }
            // In range, so floor and ceil are integers an i64 holds exactly.
            let (floor, ceil) = (f.floor() as i64, f.ceil() as i64);
            match (lower, inclusive) {
                (true, true) => RowidBound::At(ceil),
                (true, false) => at(floor.checked_add(1)),
                (false, true) => RowidBound::At(floor),
                (false, false) => at(ceil.checked_sub(1)),
            }
        }
        // Every integer is less than any text or blob.
        _ => {
            if lower {
                RowidBound::Empty
            } else {
                RowidBound::Unbounded
            }
        }
    }
}

fn cmp_terms(a: &[Value], b: &[Value], order: &[OrderTerm], ncols: usize) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for t in order {
        let i = match t.src {
            KeySrc::Out(i) => i,
            KeySrc::Extra(i) => ncols + i,
        };
        let (x, y) = (&a[i], &b[i]);
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if t.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if t.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = x.cmp_with(y, t.coll);
                if t.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

type Sink<'s> = dyn FnMut(Vec<Value>) -> Result<bool> + 's;

struct Group {
    /// GROUP BY values of the group's first row.
    key: Vec<Value>,
    accs: Vec<Acc>,
    seen: Vec<Option<BTreeSet<Vec<u8>>>>,
    rows: Option<Vec<RowBuf>>,
}

impl<'a> Reader<'a> {
    fn limit_value(&self, e: &Option<Expr>, frame: &Frame<'_>, what: &str) -> Result<Option<i64>> {
        let Some(e) = e else { return Ok(None) };
        match numeric_for_compare(self.eval(e, frame)?) {
            Value::Integer(i) => Ok(Some(i)),
            Value::Real(f) if crate::num::real_as_exact_int(f).is_some() => {
                Ok(crate::num::real_as_exact_int(f))
            }
            _ => Err(Error::sql(format!("datatype mismatch in {what}"))),
        }
    }

    /// Run a query, passing each output row to `sink` until it returns false.
    pub(crate) fn run_query(
        &self,
        plan: &QueryPlan,
        parent: Option<&Frame<'_>>,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        // Subqueries and views nest through here; see `Compiler::query`.
        stacker::maybe_grow(128 * 1024, 4 << 20, || {
            self.run_query_impl(plan, parent, sink)
        })
    }

    /// A primary-key point lookup: probe, fetch, decode the requested columns.
    fn point(
        &self,
        p: &crate::plan::PointLookup,
        parent: Option<&Frame<'_>>,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let frame = Frame::new(parent);
        let v = probe(self.eval(&p.probe, &frame)?, p.conv);
        let Some(r) = as_rowid(&v) else { return Ok(()) };
        let td: &TableData = self
            .st
            .table_data(&p.key)
            .ok_or_else(|| Error::NoSuchTable(p.def.name.clone()))?;
        let kb = rowid_key(r);
        let Some(bytes) = td.rows.get(&kb) else {
            return Ok(());
        };
        self.rt.tick()?;
        let reader = RowReader::new(bytes)?;
        let mut out = Vec::with_capacity(p.cols.len());
        for &c in &p.cols {
            out.push(
                if c == crate::plan::ROWID || Some(c as usize) == p.def.rowid_alias {
                    Value::Integer(r)
                } else {
                    match reader.get(c as usize)? {
                        Some(v) => v,
                        None => p
                            .def
                            .columns
                            .get(c as usize)
                            .map(|d| d.fill.clone())
                            .unwrap_or(Value::Null),
                    }
                },
            );
        }
        sink(out)?;
        Ok(())
    }

    fn run_query_impl(
        &self,
        plan: &QueryPlan,
        parent: Option<&Frame<'_>>,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let empty = Frame::new(parent);
        let limit = self
            .limit_value(&plan.limit, &empty, "LIMIT")?
            .filter(|l| *l >= 0);
        let offset = self
            .limit_value(&plan.offset, &empty, "OFFSET")?
            .unwrap_or(0)
            .max(0);
        if limit == Some(0) {
            return Ok(());
        }
        if let Some(p) = &plan.point {
            return self.point(p, parent, sink);
        }
        let ncols = plan.columns.len();
        if plan.order.is_empty() || plan.presorted {
            let mut skip = offset;
            let mut left = limit;
            return self.produce(plan, parent, &mut |mut row| {
                if skip > 0 {
                    skip -= 1;
                    return Ok(true);
                }
                row.truncate(ncols);
                if !sink(row)? {
                    return Ok(false);
                }
                if let Some(l) = &mut left {
                    *l -= 1;
                    if *l == 0 {
                        return Ok(false);
                    }
                }
                Ok(true)
            });
        }
        let mut rows = Vec::new();
        self.produce(plan, parent, &mut |row| {
            rows.push(row);
            Ok(true)
        })?;
        rows.sort_by(|a, b| cmp_terms(a, b, &plan.order, ncols));
        let start = (offset as usize).min(rows.len());
        let end = match limit {
            Some(l) => start.saturating_add(l as usize).min(rows.len()),
            None => rows.len(),
        };
        for mut row in rows.drain(start..end) {
            row.truncate(ncols);
            if !sink(row)? {
                break;
            }
        }
        Ok(())
    }

    /// Rows of the query body (output columns, then any extra ORDER BY values).
    fn produce(
        &self,
        plan: &QueryPlan,
        parent: Option<&Frame<'_>>,
        f: &mut Sink<'_>,
    ) -> Result<()> {
        match &plan.body {
            QueryBody::Select(sp) => self.select_rows(sp, &plan.columns, parent, f),
            QueryBody::Values(rows) => {
                let frame = Frame::new(parent);
                for r in rows {
                    self.rt.tick()?;
                    let mut out = Vec::with_capacity(r.len());
                    for e in r {
                        out.push(self.eval(e, &frame)?);
                    }
                    if !f(out)? {
                        break;
                    }
                }
                Ok(())
            }
            QueryBody::Compound(op, l, r) => self.compound(*op, l, r, &plan.columns, parent, f),
        }
    }

    fn compound(
        &self,
        op: SetOp,
        l: &QueryPlan,
        r: &QueryPlan,
        cols: &[OutCol],
        parent: Option<&Frame<'_>>,
        f: &mut Sink<'_>,
    ) -> Result<()> {
        let colls: Vec<Collation> = cols
            .iter()
            .map(|c| c.collation.unwrap_or_default())
            .collect();
        if op == SetOp::UnionAll {
            let mut go = true;
            self.run_query(l, parent, &mut |row| {
                go = f(row)?;
                Ok(go)
            })?;
            if go {
                self.run_query(r, parent, f)?;
            }
            return Ok(());
        }
        let mut left: BTreeMap<Vec<u8>, Vec<Value>> = BTreeMap::new();
        self.run_query(l, parent, &mut |row| {
            left.entry(row_key(&row, &colls)).or_insert(row);
            Ok(true)
        })?;
        match op {
            SetOp::Union => {
                self.run_query(r, parent, &mut |row| {
                    left.entry(row_key(&row, &colls)).or_insert(row);
                    Ok(true)
                })?;
            }
            SetOp::Intersect => {
                let mut keep = BTreeMap::new();
                self.run_query(r, parent, &mut |row| {
                    let k = row_key(&row, &colls);
                    if let Some(v) = left.remove(&k) {
                        keep.insert(k, v);
                    }
                    Ok(true)
                })?;
                left = keep;
            }
            SetOp::Except => {
                self.run_query(r, parent, &mut |row| {
                    left.remove(&row_key(&row, &colls));
                    Ok(true)
                })?;
            }
            SetOp::UnionAll => {}
        }
        for (_, row) in left {
            if !f(row)? {
                break;
            }
        }
        Ok(())
    }

    fn select_rows(
        &self,
        sp: &SelectPlan,
        cols: &[OutCol],
        parent: Option<&Frame<'_>>,
        f: &mut Sink<'_>,
    ) -> Result<()> {
        let mut frame = Frame::with_rows(
            sp.sources.iter().map(|s| RowBuf::new(s.ncols)).collect(),
            parent,
        );
        let mut pass = true;
        for c in &sp.pre {
            if self.truth(c, &frame)? != Some(true) {
                pass = false;
                break;
            }
        }
        let colls: Vec<Collation> = cols
            .iter()
            .map(|c| c.collation.unwrap_or_default())
            .collect();
        let nproj = sp.proj.len();
        let mut seen: Option<BTreeSet<Vec<u8>>> = if sp.distinct {
            Some(BTreeSet::new())
        } else {
            None
        };
        let mut emit = |fr: &Frame<'_>, f: &mut Sink<'_>| -> Result<bool> {
            let mut out = Vec::with_capacity(nproj + sp.extra.len());
            for e in &sp.proj {
                out.push(self.eval(e, fr)?);
            }
            if let Some(seen) = &mut seen {
                if !seen.insert(row_key(&out, &colls)) {
                    return Ok(true);
                }
            }
            for e in &sp.extra {
                out.push(self.eval(e, fr)?);
            }
            f(out)
        };
        let Some(agg) = &sp.agg else {
            if !pass {
                return Ok(());
            }
            self.join(sp, 0, &mut frame, &mut |fr| emit(fr, f))?;
            return Ok(());
        };
        let gcolls: Vec<Collation> = agg.group_by.iter().map(|(_, c)| *c).collect();
        let mut index: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let mut groups: Vec<Group> = Vec::new();
        let new_group = |key: Vec<Value>| Group {
            key,
            accs: agg.aggs.iter().map(|a| Acc::new(a.kind)).collect(),
            seen: agg
                .aggs
                .iter()
                .map(|a| {
                    if a.distinct {
                        Some(BTreeSet::new())
                    } else {
                        None
                    }
                })
                .collect(),
            rows: None,
        };
        let max_bytes = self.rt.limits.max_value_bytes;
        if pass {
            let mut gkey = Vec::with_capacity(agg.group_by.len());
            self.join(sp, 0, &mut frame, &mut |fr| {
                gkey.clear();
                for (e, _) in &agg.group_by {
                    gkey.push(self.eval(e, fr)?);
                }
                let k = row_key(&gkey, &gcolls);
                let gi = match index.get(&k) {
                    Some(i) => *i,
                    None => {
                        groups.push(new_group(gkey.clone()));
                        index.insert(k, groups.len() - 1);
                        groups.len() - 1
                    }
                };
                let g = &mut groups[gi];
                for (ai, spec) in agg.aggs.iter().enumerate() {
                    if let Some(filt) = &spec.filter {
                        if self.truth(filt, fr)? != Some(true) {
                            continue;
                        }
                    }
                    let mut args = Vec::with_capacity(spec.args.len());
                    for a in &spec.args {
                        args.push(self.eval(a, fr)?);
                    }
                    if let Some(seen) = &mut g.seen[ai] {
                        if args[0].is_null()
                            || !seen.insert(row_key(&args[..1], &[Collation::Binary]))
                        {
                            continue;
                        }
                    }
                    g.accs[ai].step(spec.kind, &args, Collation::Binary, max_bytes)?;
                }
                if agg.keeps_rows {
                    g.rows = Some(fr.rows.clone());
                }
                Ok(true)
            })?;
        }
        if groups.is_empty() && agg.group_by.is_empty() {
            groups.push(new_group(Vec::new()));
            index.insert(Vec::new(), 0);
        }
        let null_rows: Vec<RowBuf> = sp.sources.iter().map(|s| RowBuf::new(s.ncols)).collect();
        for (_, gi) in index {
            let g = &mut groups[gi];
            frame.rows = g.rows.take().unwrap_or_else(|| null_rows.clone());
            frame.aggs.clear();
            for (ai, spec) in agg.aggs.iter().enumerate() {
                frame.aggs.push(g.accs[ai].finish(spec.kind)?);
            }
            frame.aggs.append(&mut g.key);
            if let Some(h) = &agg.having {
                if self.truth(h, &frame)? != Some(true) {
                    continue;
                }
            }
            if !emit(&frame, f)? {
                break;
            }
        }
        Ok(())
    }

    /// All rows of a single-level plan's join (used by UPDATE and DELETE to find targets).
    pub(crate) fn join_rows(
        &self,
        sp: &SelectPlan,
        frame: &mut Frame<'_>,
        f: &mut dyn FnMut(&Frame<'_>) -> Result<bool>,
    ) -> Result<()> {
        for c in &sp.pre {
            if self.truth(c, frame)? != Some(true) {
                return Ok(());
            }
        }
        self.join(sp, 0, frame, f).map(|_| ())
    }

    /// Nested-loop join from level `k`: bind each candidate row of source k, apply its
    /// conditions, recurse; `f` sees complete rows. Returns false when the sink stopped.
    fn join(
        &self,
        sp: &SelectPlan,
        k: usize,
        frame: &mut Frame<'_>,
        f: &mut dyn FnMut(&Frame<'_>) -> Result<bool>,
    ) -> Result<bool> {
        if k == sp.sources.len() {
            return f(frame);
        }
        let s = &sp.sources[k];
        let mut matched = false;
        let mut stopped = false;
        self.scan(s, k, frame, &mut |fr| {
            for c in &s.on {
                if self.truth(c, fr)? != Some(true) {
                    return Ok(true);
                }
            }
            matched = true;
            for c in &s.filters {
                if self.truth(c, fr)? != Some(true) {
                    return Ok(true);
                }
            }
            if !self.join(sp, k + 1, fr, f)? {
                stopped = true;
                return Ok(false);
            }
            Ok(true)
        })?;
        if stopped {
            return Ok(false);
        }
        if s.join == JoinKind::Left && !matched {
            frame.rows[k].set_null();
            for c in &s.filters {
                if self.truth(c, frame)? != Some(true) {
                    return Ok(true);
                }
            }
            return self.join(sp, k + 1, frame, f);
        }
        Ok(true)
    }

    /// Decode a stored row into `buf` (only the needed columns).
    pub(crate) fn load(
        def: &TableDef,
        key: &[u8],
        bytes: &[u8],
        needed: &[bool],
        buf: &mut RowBuf,
    ) -> Result<()> {
        let rowid = decode_rowid(key)
            .ok_or_else(|| Error::sql("database disk image is malformed (bad rowid key)"))?;
        buf.rowid = Some(rowid);
        let r = RowReader::new(bytes)?;
        let n = def.columns.len().min(buf.vals.len());
        for i in 0..n {
            if !needed.is_empty() && !needed.get(i).copied().unwrap_or(true) {
                continue;
            }
            buf.vals[i] = if Some(i) == def.rowid_alias {
                Value::Integer(rowid)
            } else {
                match r.get(i)? {
                    Some(v) => v,
                    None => def.columns[i].fill.clone(),
                }
            };
        }
        Ok(())
    }

    fn probe_eval(&self, e: &Expr, p: Probe, frame: &Frame<'_>) -> Result<Value> {
        Ok(probe(self.eval(e, frame)?, p))
    }

    /// Candidate rows of source `k`, each bound into `frame.rows[k]` before calling `cb`.
    fn scan(
        &self,
        s: &Source,
        k: usize,
        frame: &mut Frame<'_>,
        cb: &mut dyn FnMut(&mut Frame<'_>) -> Result<bool>,
    ) -> Result<bool> {
        let (def, key) = match &s.kind {
            SourceKind::Derived(sub) => {
                let rows = self.sub_rows(sub, frame)?;
                for r in rows.iter() {
                    self.rt.tick()?;
                    let buf = &mut frame.rows[k];
                    buf.vals.clone_from(r);
                    buf.rowid = None;
                    if !cb(frame)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            SourceKind::Table { def, key } => (def, key),
        };
        let td: &TableData = self
            .st
            .table_data(key)
            .ok_or_else(|| Error::NoSuchTable(def.name.clone()))?;
        let needed = &s.needed;
        macro_rules! visit {
            ($k:expr, $v:expr) => {{
                self.rt.tick()?;
                Self::load(def, $k, $v, needed, &mut frame.rows[k])?;
                if !cb(frame)? {
                    return Ok(false);
                }
            }};
        }
        match &s.access {
            Access::Scan { reverse } => {
                for (kb, v) in td.rows.iter(*reverse) {
                    visit!(kb, v);
                }
            }
            Access::RowidEq(e, p) => {
                let v = self.probe_eval(e, *p, frame)?;
                if let Some(r) = as_rowid(&v) {
                    if frame.rows[k].rowid == Some(r) {
                        // The row this source bound last time is the one asked for again (a
                        // join's inner side often is: every order of one user looks up the
                        // same user). A Reader's state cannot change and only this scan
                        // writes this buffer, so the row is still there, decoded.
                        self.rt.tick()?;
                        if !cb(frame)? {
                            return Ok(false);
                        }
                    } else {
                        let kb = rowid_key(r);
                        if let Some(row) = td.rows.get(&kb) {
                            visit!(&kb, row);
                        }
                    }
                }
            }
            Access::RowidIn(list) => {
                let mut ids = Vec::with_capacity(list.len());
                for (e, p) in list {
                    if let Some(r) = as_rowid(&self.probe_eval(e, *p, frame)?) {
                        ids.push(r);
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                for r in ids {
                    let kb = rowid_key(r);
                    if let Some(row) = td.rows.get(&kb) {
                        visit!(&kb, row);
                    }
                }
            }
            Access::RowidRange { lo, hi, reverse } => {
                let lo_b = match lo {
                    Some(b) => rowid_bound(
                        &self.probe_eval(&b.expr, b.probe, frame)?,
                        true,
                        b.inclusive,
                    ),
                    None => RowidBound::Unbounded,
                };
                let hi_b = match hi {
                    Some(b) => rowid_bound(
                        &self.probe_eval(&b.expr, b.probe, frame)?,
                        false,
                        b.inclusive,
                    ),
                    None => RowidBound::Unbounded,
                };
                let (lk, hk);
                let lo_r = match lo_b {
                    RowidBound::Empty => return Ok(true),
                    RowidBound::Unbounded => RB::Unbounded,
                    RowidBound::At(i) => {
                        lk = rowid_key(i);
                        RB::Included(&lk[..])
                    }
                };
                let hi_r = match hi_b {
                    RowidBound::Empty => return Ok(true),
                    RowidBound::Unbounded => RB::Unbounded,
                    RowidBound::At(i) => {
                        hk = rowid_key(i);
                        RB::Included(&hk[..])
                    }
                };
                if let (RB::Included(a), RB::Included(b)) = (lo_r, hi_r) {
                    if a > b {
                        return Ok(true);
                    }
                }
                for (kb, v) in td.rows.range(lo_r, hi_r, *reverse) {
                    visit!(kb, v);
                }
            }
            Access::Index {
                index,
                key: ikey,
                eq,
                lo,
                hi,
                reverse,
            } => {
                let Some(store) = td.indexes.get(ikey.as_str()) else {
                    return Err(Error::sql(format!("no such index: {}", index.name)));
                };
                let mut prefix = Vec::with_capacity(16 * (eq.len() + 1));
                for (i, (e, p)) in eq.iter().enumerate() {
                    let v = self.probe_eval(e, *p, frame)?;
                    if v.is_null() {
                        return Ok(true);
                    }
                    let ic = index.columns[i];
                    push_value(&mut prefix, &v, ic.desc, ic.collation);
                }
                let next = index.columns.get(eq.len()).copied();
                let bound_key =
                    |b: &Option<Bound>, frame: &Frame<'_>| -> Result<Option<Option<Vec<u8>>>> {
                        let Some(b) = b else { return Ok(Some(None)) };
                        let v = self.probe_eval(&b.expr, b.probe, frame)?;
                        if v.is_null() {
                            return Ok(None);
                        }
                        let mut kb = prefix.clone();
                        let ic = next.expect("range bounds only exist for an index column");
                        push_value(&mut kb, &v, ic.desc, ic.collation);
                        Ok(Some(Some(kb)))
                    };
                let Some(lo_k) = bound_key(lo, frame)? else {
                    return Ok(true);
                };
                let Some(hi_k) = bound_key(hi, frame)? else {
                    return Ok(true);
                };
                let lower = lo_k.unwrap_or_else(|| prefix.clone());
                let upper = match hi_k {
                    Some(h) => key::prefix_successor(&h),
                    None => key::prefix_successor(&prefix),
                };
                if upper.as_ref().is_some_and(|u| *u <= lower) {
                    return Ok(true);
                }
                let hi_r = match &upper {
                    Some(u) => RB::Excluded(&u[..]),
                    None => RB::Unbounded,
                };
                for (ik, _) in store.range(RB::Included(&lower[..]), hi_r, *reverse) {
                    let r = decode_rowid(ik).ok_or_else(|| {
                        Error::sql("database disk image is malformed (bad index key)")
                    })?;
                    let kb = rowid_key(r);
                    if let Some(row) = td.rows.get(&kb) {
                        visit!(&kb, row);
                    }
                }
            }
            Access::IndexIn {
                index,
                key: ikey,
                list,
            } => {
                let Some(store) = td.indexes.get(ikey.as_str()) else {
                    return Err(Error::sql(format!("no such index: {}", index.name)));
                };
                let ic = index.columns[0];
                let mut keys = Vec::with_capacity(list.len());
                for (e, p) in list {
                    let v = self.probe_eval(e, *p, frame)?;
                    if v.is_null() {
                        continue;
                    }
                    let mut kb = Vec::new();
                    push_value(&mut kb, &v, ic.desc, ic.collation);
                    keys.push(kb);
                }
                keys.sort();
                keys.dedup();
                for kb in &keys {
                    for (ik, _) in store.prefix(kb, false) {
                        let r = decode_rowid(ik).ok_or_else(|| {
                            Error::sql("database disk image is malformed (bad index key)")
                        })?;
                        let rk = rowid_key(r);
                        if let Some(row) = td.rows.get(&rk) {
                            visit!(&rk, row);
                        }
                    }
                }
            }
        }
        Ok(true)
    }
}
