//! Expression evaluation with SQLite's semantics: three-valued logic, integer arithmetic that
//! overflows into REAL, division by zero giving NULL, comparison affinity and collation, and
//! subqueries (uncorrelated ones evaluated once per statement and cached).

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::Arc;

use super::{Frame, Reader, SubResult};
use crate::affinity::{numeric_for_compare, text_for_compare, Affinity, Coerce};
use crate::error::{Error, Result};
use crate::func::{self, like, ScalarFn};
use crate::num::{self, Num};
use crate::plan::{BinOp, CmpOp, Expr, LikeKind, RaiseKind, SubPlan, UnOp, ROWID};
use crate::value::{Collation, Value};

pub(crate) fn coerce_pair(l: Value, r: Value, c: Coerce) -> (Value, Value) {
    match c {
        Coerce::None => (l, r),
        Coerce::LeftNumeric => (numeric_for_compare(l), r),
        Coerce::RightNumeric => (l, numeric_for_compare(r)),
        Coerce::LeftText => (text_for_compare(l), r),
        Coerce::RightText => (l, text_for_compare(r)),
    }
}

fn compare(l: Value, r: Value, c: Coerce, coll: Collation) -> Option<Ordering> {
    let (l, r) = coerce_pair(l, r, c);
    l.sql_cmp(&r, coll)
}

fn bool_val(b: Option<bool>) -> Value {
    match b {
        Some(b) => Value::Integer(b as i64),
        None => Value::Null,
    }
}

pub(crate) fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    let (Some(x), Some(y)) = (a.to_num(), b.to_num()) else {
        return Value::Null;
    };
    match (x, y) {
        (Num::Int(i), Num::Int(j)) => match op {
            BinOp::Add => i
                .checked_add(j)
                .map(Value::Integer)
                .unwrap_or_else(|| Value::real(i as f64 + j as f64)),
            BinOp::Sub => i
                .checked_sub(j)
                .map(Value::Integer)
                .unwrap_or_else(|| Value::real(i as f64 - j as f64)),
            BinOp::Mul => i
                .checked_mul(j)
                .map(Value::Integer)
                .unwrap_or_else(|| Value::real(i as f64 * j as f64)),
            BinOp::Div => {
                if j == 0 {
                    Value::Null
                } else if i == i64::MIN && j == -1 {
                    Value::Real(crate::num::TWO_63)
                } else {
                    Value::Integer(i / j)
                }
            }
            BinOp::Rem => {
                if j == 0 {
                    Value::Null
                } else if j == -1 {
                    Value::Integer(0)
                } else {
                    Value::Integer(i % j)
                }
            }
            _ => Value::Null,
        },
        (x, y) => {
            let (f, g) = (crate::value::num_to_f64(x), crate::value::num_to_f64(y));
            match op {
                BinOp::Add => Value::real(f + g),
                BinOp::Sub => Value::real(f - g),
                BinOp::Mul => Value::real(f * g),
                BinOp::Div => {
                    if g == 0.0 {
                        Value::Null
                    } else {
                        Value::real(f / g)
                    }
                }
                BinOp::Rem => {
                    // sqlite3VdbeIntValue: text contributes its integer prefix ('1e3' is 1).
                    let _ = (f, g);
                    let (fi, gi) = (a.to_i64(), b.to_i64());
                    if gi == 0 {
                        Value::Null
                    } else if gi == -1 {
                        Value::Real(0.0)
                    } else {
                        Value::real((fi % gi) as f64)
                    }
                }
                _ => Value::Null,
            }
        }
    }
}

/// Operand of a bitwise operator: `sqlite3VdbeIntValue`, so text contributes only its
/// integer prefix (`'1e3' & 7` is 1).
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Null => None,
        other => Some(other.to_i64()),
    }
}

fn shift(a: i64, b: i64, left: bool) -> i64 {
    let (left, b) = if b < 0 {
        (!left, b.checked_neg().unwrap_or(i64::MAX))
    } else {
        (left, b)
    };
    if b >= 64 {
        return if !left && a < 0 { -1 } else { 0 };
    }
    if left {
        ((a as u64) << b) as i64
    } else {
        a >> b
    }
}

/// `CAST(v AS <affinity>)`.
pub(crate) fn cast(v: Value, aff: Affinity) -> Value {
    if v.is_null() {
        return v;
    }
    match aff {
        Affinity::Integer => match v {
            Value::Integer(_) => v,
            Value::Real(f) => Value::Integer(num::real_to_i64(f)),
            other => Value::Integer(other.to_i64()),
        },
        Affinity::Real => Value::real(v.to_f64()),
        Affinity::Text => match v {
            Value::Text(_) => v,
            other => {
                let mut s = String::new();
                other.write_text(&mut s);
                Value::Text(Arc::from(s))
            }
        },
        Affinity::Blob => match v {
            Value::Blob(_) => v,
            other => {
                let mut s = String::new();
                other.write_text(&mut s);
                Value::Blob(Arc::from(s.into_bytes()))
            }
        },
        Affinity::Numeric => match v {
            Value::Integer(_) | Value::Real(_) => v,
            other => {
                let bytes: Vec<u8> = match &other {
                    Value::Text(t) => t.as_bytes().to_vec(),
                    Value::Blob(b) => b.to_vec(),
                    _ => Vec::new(),
                };
                match num::scan(&bytes).num {
                    Num::Int(i) => Value::Integer(i),
                    Num::Real(f) => match num::real_as_exact_int(f) {
                        Some(i) if f.abs() < 9_007_199_254_740_992.0 => Value::Integer(i),
                        _ => Value::real(f),
                    },
                }
            }
        },
    }
}

impl<'a> Reader<'a> {
    #[inline]
    fn column(&self, frame: &Frame<'_>, up: u8, src: u16, col: u16) -> Value {
        let mut f = frame;
        for _ in 0..up {
            match f.parent {
                Some(p) => f = p,
                None => return Value::Null,
            }
        }
        let Some(row) = f.rows.get(src as usize) else {
            return Value::Null;
        };
        if col == ROWID {
            return row.rowid.map(Value::Integer).unwrap_or(Value::Null);
        }
        row.vals.get(col as usize).cloned().unwrap_or(Value::Null)
    }

    /// Evaluate as a condition (NULL is None). AND/OR short-circuit here, as SQLite's jumps
    /// do; as values (`eval`) both operands are evaluated, as SQLite's OP_And/OP_Or do.
    pub(crate) fn truth(&self, e: &Expr, frame: &Frame<'_>) -> Result<Option<bool>> {
        match e {
            Expr::And(l, r) => {
                let a = self.truth(l, frame)?;
                if a == Some(false) {
                    return Ok(Some(false));
                }
                Ok(match (a, self.truth(r, frame)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Expr::Or(l, r) => {
                let a = self.truth(l, frame)?;
                if a == Some(true) {
                    return Ok(Some(true));
                }
                Ok(match (a, self.truth(r, frame)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            _ => Ok(self.eval(e, frame)?.truth()),
        }
    }

    pub(crate) fn eval(&self, e: &Expr, frame: &Frame<'_>) -> Result<Value> {
        Ok(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Param(i) => self.params.get(*i),
            Expr::Col { up, src, col } => self.column(frame, *up, *src, *col),
            Expr::Agg(i) => frame.aggs.get(*i as usize).cloned().unwrap_or(Value::Null),
            Expr::Unary(op, x) => {
                let v = self.eval(x, frame)?;
                match op {
                    UnOp::Not => bool_val(v.truth().map(|b| !b)),
                    UnOp::Neg => match v {
                        Value::Null => Value::Null,
                        Value::Integer(i) => i
                            .checked_neg()
                            .map(Value::Integer)
                            .unwrap_or(Value::Real(crate::num::TWO_63)),
                        Value::Real(f) => Value::Real(-f),
                        other => match other.to_num() {
                            Some(Num::Int(i)) => i
                                .checked_neg()
                                .map(Value::Integer)
                                .unwrap_or(Value::Real(crate::num::TWO_63)),
                            Some(Num::Real(f)) => Value::real(-f),
                            None => Value::Null,
                        },
                    },
                    UnOp::BitNot => match int_of(&v) {
                        Some(i) => Value::Integer(!i),
                        None => Value::Null,
                    },
                }
            }
            Expr::Binary(op, l, r) => {
                let a = self.eval(l, frame)?;
                let b = self.eval(r, frame)?;
                match op {
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                        arith(*op, &a, &b)
                    }
                    BinOp::BitAnd | BinOp::BitOr | BinOp::Shl | BinOp::Shr => {
                        match (int_of(&a), int_of(&b)) {
                            (Some(x), Some(y)) => Value::Integer(match op {
                                BinOp::BitAnd => x & y,
                                BinOp::BitOr => x | y,
                                BinOp::Shl => shift(x, y, true),
                                _ => shift(x, y, false),
                            }),
                            _ => Value::Null,
                        }
                    }
                    BinOp::Concat => {
                        if a.is_null() || b.is_null() {
                            Value::Null
                        } else {
                            let mut s = String::with_capacity(a.byte_len() + b.byte_len());
                            a.write_text(&mut s);
                            b.write_text(&mut s);
                            if s.len() > self.rt.limits.max_value_bytes {
                                return Err(Error::TooBig {
                                    limit: self.rt.limits.max_value_bytes,
                                });
                            }
                            Value::Text(Arc::from(s))
                        }
                    }
                }
            }
            Expr::Cmp {
                op,
                l,
                r,
                coerce,
                coll,
            } => {
                let a = self.eval(l, frame)?;
                let b = self.eval(r, frame)?;
                match op {
                    CmpOp::Is | CmpOp::IsNot => {
                        let eq = match (a.is_null(), b.is_null()) {
                            (true, true) => true,
                            (true, false) | (false, true) => false,
                            _ => compare(a, b, *coerce, *coll) == Some(Ordering::Equal),
                        };
                        Value::from_bool(eq == (*op == CmpOp::Is))
                    }
                    _ => bool_val(compare(a, b, *coerce, *coll).map(|o| match op {
                        CmpOp::Eq => o == Ordering::Equal,
                        CmpOp::Ne => o != Ordering::Equal,
                        CmpOp::Lt => o == Ordering::Less,
                        CmpOp::Le => o != Ordering::Greater,
                        CmpOp::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    })),
                }
            }
            Expr::And(l, r) => {
                let a = self.eval(l, frame)?.truth();
                let b = self.eval(r, frame)?.truth();
                bool_val(match (a, b) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Expr::Or(l, r) => {
                let a = self.eval(l, frame)?.truth();
                let b = self.eval(r, frame)?.truth();
                bool_val(match (a, b) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Expr::IsNull(x, negated) => {
                Value::from_bool(self.eval(x, frame)?.is_null() != *negated)
            }
            Expr::Truth(x, want, negated) => {
                let t = self.truth(x, frame)?;
                Value::from_bool((t == Some(*want)) != *negated)
            }
            Expr::Between {
                e,
                lo,
                hi,
                negated,
                c_lo,
                c_hi,
                coll,
            } => {
                let v = self.eval(e, frame)?;
                let l = self.eval(lo, frame)?;
                let h = self.eval(hi, frame)?;
                let ge = compare(v.clone(), l, *c_lo, *coll).map(|o| o != Ordering::Less);
                let le = compare(v, h, *c_hi, *coll).map(|o| o != Ordering::Greater);
                let r = match (ge, le) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                bool_val(if *negated { r.map(|b| !b) } else { r })
            }
            Expr::InList {
                e,
                list,
                negated,
                coll,
            } => {
                if list.is_empty() {
                    return Ok(Value::from_bool(*negated));
                }
                let v = self.eval(e, frame)?;
                if v.is_null() {
                    // SQLite still evaluates the list (its errors surface).
                    for (x, _) in list {
                        self.eval(x, frame)?;
                    }
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                let mut found = false;
                for (x, c) in list {
                    let w = self.eval(x, frame)?;
                    match compare(v.clone(), w, *c, *coll) {
                        Some(Ordering::Equal) => {
                            found = true;
                            break;
                        }
                        None => saw_null = true,
                        _ => {}
                    }
                }
                let r = if found {
                    Some(true)
                } else if saw_null {
                    None
                } else {
                    Some(false)
                };
                bool_val(if *negated { r.map(|b| !b) } else { r })
            }
            Expr::InSub {
                e,
                sub,
                negated,
                coerce,
                coll,
            } => {
                let v = self.eval(e, frame)?;
                let set = self.sub_set(sub, frame, *coerce, *coll)?;
                let r = if set.is_empty() {
                    Some(false)
                } else if v.is_null() {
                    None
                } else {
                    let probe = match coerce {
                        Coerce::LeftNumeric => numeric_for_compare(v),
                        Coerce::LeftText => text_for_compare(v),
                        _ => v,
                    };
                    if set.contains(&probe) {
                        Some(true)
                    } else if set.has_null {
                        None
                    } else {
                        Some(false)
                    }
                };
                bool_val(if *negated { r.map(|b| !b) } else { r })
            }
            Expr::Exists { sub, negated } => {
                let found = self.sub_exists(sub, frame)?;
                Value::from_bool(found != *negated)
            }
            Expr::Scalar(sub) => self.sub_scalar(sub, frame)?,
            Expr::Case {
                base,
                whens,
                else_,
                cmp,
            } => {
                match base {
                    Some(b) => {
                        let bv = self.eval(b, frame)?;
                        for ((w, t), (c, coll)) in whens.iter().zip(cmp) {
                            let wv = self.eval(w, frame)?;
                            if compare(bv.clone(), wv, *c, *coll) == Some(Ordering::Equal) {
                                return self.eval(t, frame);
                            }
                        }
                    }
                    None => {
                        for (w, t) in whens {
                            if self.truth(w, frame)? == Some(true) {
                                return self.eval(t, frame);
                            }
                        }
                    }
                }
                match else_ {
                    Some(x) => self.eval(x, frame)?,
                    None => Value::Null,
                }
            }
            Expr::Cast(x, aff) => cast(self.eval(x, frame)?, *aff),
            Expr::Like {
                e,
                pat,
                esc,
                negated,
                kind,
            } => {
                let v = self.eval(e, frame)?;
                let p = self.eval(pat, frame)?;
                let esc_c = match esc {
                    None => None,
                    Some(x) => match self.eval(x, frame)? {
                        Value::Null => return Ok(Value::Null),
                        other => {
                            let t = other.to_text().unwrap_or_default().into_owned();
                            let mut it = t.chars();
                            match (it.next(), it.next()) {
                                (Some(c), None) => Some(c),
                                _ => {
                                    return Err(Error::sql(
                                        "ESCAPE expression must be a single character",
                                    ))
                                }
                            }
                        }
                    },
                };
                let (Some(vt), Some(pt)) = (v.to_text(), p.to_text()) else {
                    return Ok(Value::Null);
                };
                let (pt, vt) = (func::c_str(&pt), func::c_str(&vt));
                let m = match kind {
                    LikeKind::Like => like::like(pt, vt, esc_c),
                    LikeKind::Glob => like::glob(pt, vt),
                };
                Value::from_bool(m != *negated)
            }
            Expr::Func(f, args) => self.call(*f, args, frame)?,
            Expr::Raise(kind, msg) => {
                return Err(match kind {
                    RaiseKind::Ignore => Error::RaiseIgnore,
                    _ => Error::Raise(msg.clone()),
                })
            }
        })
    }

    fn call(&self, f: ScalarFn, args: &[Expr], frame: &Frame<'_>) -> Result<Value> {
        if f.is_lazy() {
            return match f {
                ScalarFn::Iif => {
                    if self.truth(&args[0], frame)? == Some(true) {
                        self.eval(&args[1], frame)
                    } else {
                        self.eval(&args[2], frame)
                    }
                }
                _ => {
                    for a in args {
                        let v = self.eval(a, frame)?;
                        if !v.is_null() {
                            return Ok(v);
                        }
                    }
                    Ok(Value::Null)
                }
            };
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a, frame)?);
        }
        func::call(f, &vals, self.rt.env)
    }

    fn sub_key(sub: &Arc<SubPlan>) -> usize {
        Arc::as_ptr(sub) as usize
    }

    /// Rows of a subquery (cached when uncorrelated).
    pub(crate) fn sub_rows(
        &self,
        sub: &Arc<SubPlan>,
        frame: &Frame<'_>,
    ) -> Result<Rc<Vec<Vec<Value>>>> {
        if !sub.correlated {
            if let Some(SubResult::Rows(r)) = self.cache.borrow().get(&Self::sub_key(sub)) {
                return Ok(r.clone());
            }
        }
        let mut rows = Vec::new();
        self.run_query(&sub.plan, Some(frame), &mut |r| {
            rows.push(r);
            Ok(true)
        })?;
        let rows = Rc::new(rows);
        if !sub.correlated {
            self.cache
                .borrow_mut()
                .insert(Self::sub_key(sub), SubResult::Rows(rows.clone()));
        }
        Ok(rows)
    }

    fn sub_scalar(&self, sub: &Arc<SubPlan>, frame: &Frame<'_>) -> Result<Value> {
        if !sub.correlated {
            if let Some(SubResult::Scalar(v)) = self.cache.borrow().get(&Self::sub_key(sub)) {
                return Ok(v.clone());
            }
        }
        let mut out = Value::Null;
        self.run_query(&sub.plan, Some(frame), &mut |r| {
            out = r.into_iter().next().unwrap_or(Value::Null);
            Ok(false)
        })?;
        if !sub.correlated {
            self.cache
                .borrow_mut()
                .insert(Self::sub_key(sub), SubResult::Scalar(out.clone()));
        }
        Ok(out)
    }

    fn sub_exists(&self, sub: &Arc<SubPlan>, frame: &Frame<'_>) -> Result<bool> {
        if !sub.correlated {
            if let Some(SubResult::Exists(b)) = self.cache.borrow().get(&Self::sub_key(sub)) {
                return Ok(*b);
            }
        }
        let mut found = false;
        self.run_query(&sub.plan, Some(frame), &mut |_| {
            found = true;
            Ok(false)
        })?;
        if !sub.correlated {
            self.cache
                .borrow_mut()
                .insert(Self::sub_key(sub), SubResult::Exists(found));
        }
        Ok(found)
    }

    fn sub_set(
        &self,
        sub: &Arc<SubPlan>,
        frame: &Frame<'_>,
        coerce: Coerce,
        coll: Collation,
    ) -> Result<Rc<super::query::ValueSet>> {
        if !sub.correlated {
            if let Some(SubResult::Set(s)) = self.cache.borrow().get(&Self::sub_key(sub)) {
                return Ok(s.clone());
            }
        }
        let mut set = super::query::ValueSet::new(coll);
        self.run_query(&sub.plan, Some(frame), &mut |r| {
            let v = r.into_iter().next().unwrap_or(Value::Null);
            let v = match coerce {
                Coerce::RightNumeric => numeric_for_compare(v),
                Coerce::RightText => text_for_compare(v),
                _ => v,
            };
            set.insert(v);
            Ok(true)
        })?;
        let set = Rc::new(set);
        if !sub.correlated {
            self.cache
                .borrow_mut()
                .insert(Self::sub_key(sub), SubResult::Set(set.clone()));
        }
        Ok(set)
    }
}
