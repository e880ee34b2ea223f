//! AST expressions to compiled [`Expr`]s: names resolved to frame slots, literals parsed,
//! comparison affinity and collation decided, functions looked up, aggregates collected
//! into the enclosing SELECT, subqueries compiled with their correlation recorded.

use std::sync::Arc;

use sqlparser::ast::{self, Spanned};

use super::compile::{Compiler, Info, SubMark};
use super::{AggSpec, BinOp, CmpOp, Expr, LikeKind, RaiseKind, SubPlan, UnOp};
use crate::affinity::{comparison_coercion, Affinity, Coerce};
use crate::error::{Error, Result};
use crate::func::{self, Resolved, ScalarFn};
use crate::value::{Collation, Value};

/// Collation a comparison uses: an explicit COLLATE on either side wins (left first), then a
/// column's declared collation (left first), else BINARY.
pub(crate) fn cmp_collation(l: &Info, r: &Info) -> Collation {
    if l.explicit_coll {
        return l.coll.unwrap_or_default();
    }
    if r.explicit_coll {
        return r.coll.unwrap_or_default();
    }
    l.coll.or(r.coll).unwrap_or_default()
}

fn parse_number(s: &str) -> Result<Value> {
    let t: String = s.chars().filter(|&c| c != '_').collect();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(Value::Integer(i));
    }
    match t.parse::<f64>() {
        Ok(f) => Ok(Value::real(f)),
        Err(_) => Err(Error::Syntax(format!("unrecognized token: \"{s}\""))),
    }
}

fn hex_blob(s: &str) -> Result<Value> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Syntax(format!("unrecognized token: \"x'{s}'\"")));
    }
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect();
    Ok(Value::from(bytes))
}

fn hex_integer(s: &str) -> Result<Value> {
    if s.is_empty() || s.len() > 16 {
        return Err(Error::sql(format!("hex literal too big: 0x{s}")));
    }
    u64::from_str_radix(s, 16)
        .map(|v| Value::Integer(v as i64))
        .map_err(|_| Error::Syntax(format!("unrecognized token: \"0x{s}\"")))
}

impl<'a> Compiler<'a> {
    pub(crate) fn expr(&mut self, e: &ast::Expr) -> Result<Expr> {
        Ok(self.expr_info(e)?.0)
    }

    /// Source text of an expression, for result column names and messages.
    pub(crate) fn expr_text(&self, e: &ast::Expr) -> String {
        self.text
            .slice(e.span())
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| e.to_string())
    }

    pub(crate) fn subplan(&mut self, q: &ast::Query) -> Result<Arc<SubPlan>> {
        self.enter()?;
        self.subs.push(SubMark {
            base: self.scopes.len(),
            correlated: false,
            outer_mask: 0,
        });
        let plan = self.query(q);
        let mark = self.subs.pop().expect("pushed above");
        self.leave();
        let plan = plan?;
        // A correlated subquery also makes every enclosing subquery that it reaches past
        // correlated; `resolve` already marked those marks, which are still on the stack.
        Ok(Arc::new(SubPlan {
            plan,
            correlated: mark.correlated,
            outer_mask: mark.outer_mask,
        }))
    }

    pub(crate) fn expr_info(&mut self, e: &ast::Expr) -> Result<(Expr, Info)> {
        use ast::Expr as E;
        self.enter_expr()?;
        let r = stacker::maybe_grow(64 * 1024, 2 << 20, || self.expr_inner(e));
        self.leave_expr();
        let _ = E::Value;
        r
    }

    fn expr_inner(&mut self, e: &ast::Expr) -> Result<(Expr, Info)> {
        use ast::Expr as E;
        let none = Info::default();
        Ok(match e {
            E::Identifier(id) => match self.resolve(None, &id.value)? {
                Some(r) => r,
                None => {
                    if let Some(r) = self.alias(&id.value)? {
                        return Ok(r);
                    }
                    if id.quote_style == Some('"') {
                        (Expr::Lit(Value::text(&id.value)), none)
                    } else {
                        return Err(Error::NoSuchColumn(id.value.clone()));
                    }
                }
            },
            E::CompoundIdentifier(parts) => {
                let names: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                let (q, n) = match names.as_slice() {
                    [q, n] => (*q, *n),
                    [s, q, n]
                        if s.eq_ignore_ascii_case("main") || s.eq_ignore_ascii_case("temp") =>
                    {
                        (*q, *n)
                    }
                    _ => return Err(Error::NoSuchColumn(names.join("."))),
                };
                match self.resolve(Some(q), n)? {
                    Some(r) => r,
                    None => return Err(Error::NoSuchColumn(format!("{q}.{n}"))),
                }
            }
            E::Value(v) => (self.literal(v)?, none),
            E::TypedString(ts) => (self.literal(&ts.value)?, none),
            E::Nested(inner) => self.expr_info(inner)?,
            E::Collate { expr, collation } => {
                let (x, mut info) = self.expr_info(expr)?;
                let name = collation.to_string();
                let name = name.trim_matches('"');
                let c = Collation::from_name(name)
                    .ok_or_else(|| Error::sql(format!("no such collation sequence: {name}")))?;
                info.coll = Some(c);
                info.explicit_coll = true;
                info.decl = None;
                (x, info)
            }
            E::UnaryOp { op, expr } => {
                use ast::UnaryOperator as U;
                match op {
                    U::Minus => {
                        if let E::Value(v) = expr.as_ref() {
                            if let ast::Value::Number(n, _) = &v.value {
                                if n == "9223372036854775808" {
                                    return Ok((Expr::Lit(Value::Integer(i64::MIN)), none));
                                }
                                if let Value::Integer(i) = parse_number(n)? {
                                    return Ok((Expr::Lit(Value::Integer(-i)), none));
                                }
                            }
                        }
                        let (x, _) = self.expr_info(expr)?;
                        (Expr::Unary(UnOp::Neg, Box::new(x)), none)
                    }
                    U::Plus => {
                        let (x, i) = self.expr_info(expr)?;
                        // Unary plus keeps the value but drops column affinity.
                        (
                            x,
                            Info {
                                coll: i.coll,
                                explicit_coll: i.explicit_coll,
                                ..Default::default()
                            },
                        )
                    }
                    U::Not => (Expr::Unary(UnOp::Not, Box::new(self.expr(expr)?)), none),
                    U::BitwiseNot => (Expr::Unary(UnOp::BitNot, Box::new(self.expr(expr)?)), none),
                    other => return Err(Error::Syntax(format!("near \"{other}\": syntax error"))),
                }
            }
            E::BinaryOp { left, op, right } => self.binary(left, op, right)?,
            E::IsNull(x) => (Expr::IsNull(Box::new(self.expr(x)?), false), none),
            E::IsNotNull(x) => (Expr::IsNull(Box::new(self.expr(x)?), true), none),
            E::IsTrue(x) => (Expr::Truth(Box::new(self.expr(x)?), true, false), none),
            E::IsNotTrue(x) => (Expr::Truth(Box::new(self.expr(x)?), true, true), none),
            E::IsFalse(x) => (Expr::Truth(Box::new(self.expr(x)?), false, false), none),
            E::IsNotFalse(x) => (Expr::Truth(Box::new(self.expr(x)?), false, true), none),
            E::IsDistinctFrom(a, b) => self.comparison(a, CmpOp::IsNot, b)?,
            E::IsNotDistinctFrom(a, b) => self.comparison(a, CmpOp::Is, b)?,
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (x, xi) = self.expr_info(expr)?;
                let (lo, li) = self.expr_info(low)?;
                let (hi, hi_i) = self.expr_info(high)?;
                let coll = cmp_collation(&xi, &li);
                (
                    Expr::Between {
                        e: Box::new(x),
                        lo: Box::new(lo),
                        hi: Box::new(hi),
                        negated: *negated,
                        c_lo: comparison_coercion(xi.affinity, li.affinity),
                        c_hi: comparison_coercion(xi.affinity, hi_i.affinity),
                        coll,
                    },
                    none,
                )
            }
            E::In {
                expr,
                target,
                negated,
                ..
            } => self.in_expr(expr, target, *negated)?,
            E::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
                ..
            }
            | E::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any,
                ..
            } => {
                if *any {
                    return Err(Error::Unsupported("LIKE ANY".into()));
                }
                let esc = match escape_char {
                    Some(x) => Some(Box::new(self.expr(x)?)),
                    None => None,
                };
                (
                    Expr::Like {
                        e: Box::new(self.expr(expr)?),
                        pat: Box::new(self.expr(pattern)?),
                        esc,
                        negated: *negated,
                        kind: LikeKind::Like,
                    },
                    none,
                )
            }
            E::Cast {
                expr,
                data_type,
                kind,
                ..
            } => {
                if !matches!(kind, ast::CastKind::Cast) {
                    return Err(Error::Unsupported(format!("{kind:?} cast")));
                }
                let (x, _) = self.expr_info(expr)?;
                let tname = data_type.to_string();
                let aff = Affinity::from_decl_type(&tname);
                (
                    Expr::Cast(Box::new(x), aff),
                    Info {
                        affinity: Some(aff),
                        ..Default::default()
                    },
                )
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let (base, binfo) = match operand {
                    Some(o) => {
                        let (x, i) = self.expr_info(o)?;
                        (Some(Box::new(x)), i)
                    }
                    None => (None, Info::default()),
                };
                let mut whens = Vec::with_capacity(conditions.len());
                let mut cmp = Vec::with_capacity(conditions.len());
                for cw in conditions {
                    let (w, wi) = self.expr_info(&cw.condition)?;
                    // `CASE x WHEN y` compares like `x = y`.
                    cmp.push((
                        comparison_coercion(binfo.affinity, wi.affinity),
                        cmp_collation(&binfo, &wi),
                    ));
                    whens.push((w, self.expr(&cw.result)?));
                }
                let else_ = match else_result {
                    Some(x) => Some(Box::new(self.expr(x)?)),
                    None => None,
                };
                (
                    Expr::Case {
                        base,
                        whens,
                        else_,
                        cmp,
                    },
                    none,
                )
            }
            E::Exists { subquery, negated } => {
                let sub = self.subplan(subquery)?;
                (
                    Expr::Exists {
                        sub,
                        negated: *negated,
                    },
                    none,
                )
            }
            E::Subquery(q) => {
                let sub = self.subplan(q)?;
                if sub.plan.columns.len() != 1 {
                    return Err(Error::sql(format!(
                        "sub-select returns {} columns - expected 1",
                        sub.plan.columns.len()
                    )));
                }
                let c = &sub.plan.columns[0];
                let info = Info {
                    affinity: c.affinity,
                    coll: c.collation,
                    ..Default::default()
                };
                (Expr::Scalar(sub), info)
            }
            E::Function(f) => self.function(f)?,
            E::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => ScalarFn::LTrim,
                    Some(ast::TrimWhereField::Trailing) => ScalarFn::RTrim,
                    _ => ScalarFn::Trim,
                };
                let mut args = vec![self.expr(expr)?];
                if let Some(w) = trim_what {
                    args.push(self.expr(w)?);
                }
                if let Some(cs) = trim_characters {
                    for c in cs {
                        args.push(self.expr(c)?);
                    }
                }
                if args.len() > 2 {
                    return Err(Error::sql("wrong number of arguments to function trim()"));
                }
                (Expr::Func(f, args), none)
            }
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                if substring_from.is_none() {
                    return Err(Error::sql("wrong number of arguments to function substr()"));
                }
                let mut args = vec![self.expr(expr)?];
                args.push(match substring_from {
                    Some(x) => self.expr(x)?,
                    None => Expr::Lit(Value::Integer(1)),
                });
                if let Some(x) = substring_for {
                    args.push(self.expr(x)?);
                }
                (Expr::Func(ScalarFn::Substr, args), none)
            }
            E::Ceil { expr, .. } => (Expr::Func(ScalarFn::Ceil, vec![self.expr(expr)?]), none),
            E::Floor { expr, .. } => (Expr::Func(ScalarFn::Floor, vec![self.expr(expr)?]), none),
            E::Position { expr, r#in } => (
                Expr::Func(ScalarFn::Instr, vec![self.expr(r#in)?, self.expr(expr)?]),
                none,
            ),
            E::Tuple(_) => return Err(Error::sql("row value misused")),
            E::Wildcard(_) | E::QualifiedWildcard(..) => {
                return Err(Error::Syntax("near \"*\": syntax error".into()))
            }
            other => {
                let t = other.to_string();
                return Err(Error::Unsupported(format!(
                    "expression `{}`",
                    t.chars().take(60).collect::<String>()
                )));
            }
        })
    }

    /// A result-column alias of the SELECT being compiled.
    fn alias(&self, name: &str) -> Result<Option<(Expr, Info)>> {
        let Some(frame) = self.scopes.last() else {
            return Ok(None);
        };
        let lname = name.to_ascii_lowercase();
        let Some((_, e, agg)) = frame.aliases.iter().find(|(a, _, _)| *a == lname) else {
            return Ok(None);
        };
        if let Some(f) = agg {
            if frame.in_where || frame.aggs.is_none() || frame.in_agg_args {
                return Err(Error::sql(format!("misuse of aggregate: {f}()")));
            }
        }
        Ok(Some((e.clone(), Info::default())))
    }

    fn literal(&mut self, v: &ast::ValueWithSpan) -> Result<Expr> {
        use ast::Value as V;
        Ok(Expr::Lit(match &v.value {
            V::Number(n, _) => parse_number(n)?,
            V::SingleQuotedString(s)
            | V::DoubleQuotedString(s)
            | V::TripleSingleQuotedString(s)
            | V::TripleDoubleQuotedString(s)
            | V::EscapedStringLiteral(s)
            | V::UnicodeStringLiteral(s)
            | V::NationalStringLiteral(s)
            | V::SingleQuotedRawStringLiteral(s)
            | V::DoubleQuotedRawStringLiteral(s) => Value::text(s),
            V::HexStringLiteral(h) => {
                if self.text.is_hex_integer(v.span) {
                    hex_integer(h)?
                } else {
                    hex_blob(h)?
                }
            }
            V::SingleQuotedByteStringLiteral(s) | V::DoubleQuotedByteStringLiteral(s) => {
                Value::from(s.as_bytes().to_vec())
            }
            V::Boolean(b) => Value::Integer(*b as i64),
            V::Null => Value::Null,
            V::Placeholder(p) => return self.param(p),
            other => return Err(Error::Unsupported(format!("literal {other}"))),
        }))
    }

    fn comparison(&mut self, l: &ast::Expr, op: CmpOp, r: &ast::Expr) -> Result<(Expr, Info)> {
        let (le, li) = self.expr_info(l)?;
        let (re, ri) = self.expr_info(r)?;
        let coerce = comparison_coercion(li.affinity, ri.affinity);
        let coll = cmp_collation(&li, &ri);
        Ok((
            Expr::Cmp {
                op,
                l: Box::new(le),
                r: Box::new(re),
                coerce,
                coll,
            },
            Info::default(),
        ))
    }

    fn binary(
        &mut self,
        l: &ast::Expr,
        op: &ast::BinaryOperator,
        r: &ast::Expr,
    ) -> Result<(Expr, Info)> {
        use ast::BinaryOperator as B;
        let cmp = match op {
            B::Eq => Some(CmpOp::Eq),
            B::NotEq => Some(CmpOp::Ne),
            B::Lt => Some(CmpOp::Lt),
            B::LtEq => Some(CmpOp::Le),
            B::Gt => Some(CmpOp::Gt),
            B::GtEq => Some(CmpOp::Ge),
            B::Is => Some(CmpOp::Is),
            B::IsNot => Some(CmpOp::IsNot),
            _ => None,
        };
        if let Some(c) = cmp {
            return self.comparison(l, c, r);
        }
        let none = Info::default();
        match op {
            B::And => {
                return Ok((
                    Expr::And(Box::new(self.expr(l)?), Box::new(self.expr(r)?)),
                    none,
                ))
            }
            B::Or => {
                return Ok((
                    Expr::Or(Box::new(self.expr(l)?), Box::new(self.expr(r)?)),
                    none,
                ))
            }
            B::Glob => {
                return Ok((
                    Expr::Like {
                        e: Box::new(self.expr(l)?),
                        pat: Box::new(self.expr(r)?),
                        esc: None,
                        negated: false,
                        kind: LikeKind::Glob,
                    },
                    none,
                ))
            }
            B::Regexp => return Err(Error::NoSuchFunction("REGEXP".into())),
            B::Match => return Err(Error::Unsupported("MATCH".into())),
            _ => {}
        }
        let bop = match op {
            B::Plus => BinOp::Add,
            B::Minus => BinOp::Sub,
            B::Multiply => BinOp::Mul,
            B::Divide => BinOp::Div,
            B::Modulo => BinOp::Rem,
            B::StringConcat => BinOp::Concat,
            B::BitwiseAnd => BinOp::BitAnd,
            B::BitwiseOr => BinOp::BitOr,
            B::PGBitwiseShiftLeft => BinOp::Shl,
            B::PGBitwiseShiftRight => BinOp::Shr,
            other => return Err(Error::Syntax(format!("near \"{other}\": syntax error"))),
        };
        let (le, li) = self.expr_info(l)?;
        let (re, ri) = self.expr_info(r)?;
        let mut info = Info::default();
        if bop == BinOp::Concat {
            // `||` keeps the collation of its operands.
            info.coll = if li.explicit_coll {
                li.coll
            } else if ri.explicit_coll {
                ri.coll
            } else {
                None
            };
            info.explicit_coll = li.explicit_coll || ri.explicit_coll;
        }
        Ok((Expr::Binary(bop, Box::new(le), Box::new(re)), info))
    }

    fn in_expr(
        &mut self,
        expr: &ast::Expr,
        target: &ast::InTarget,
        negated: bool,
    ) -> Result<(Expr, Info)> {
        let (x, xi) = self.expr_info(expr)?;
        let none = Info::default();
        match target {
            ast::InTarget::List(items) => {
                let mut list = Vec::with_capacity(items.len());
                let mut coll = xi.coll.unwrap_or_default();
                for it in items {
                    let (ie, ii) = self.expr_info(it)?;
                    if !xi.explicit_coll && ii.explicit_coll {
                        coll = ii.coll.unwrap_or_default();
                    }
                    // An IN list compares with the left operand's affinity only.
                    let _ = ii.affinity;
                    list.push((ie, comparison_coercion(xi.affinity, None)));
                }
                Ok((
                    Expr::InList {
                        e: Box::new(x),
                        list,
                        negated,
                        coll,
                    },
                    none,
                ))
            }
            ast::InTarget::Subquery(q) => {
                let sub = self.subplan(q)?;
                if sub.plan.columns.len() != 1 {
                    return Err(Error::sql(format!(
                        "sub-select returns {} columns - expected 1",
                        sub.plan.columns.len()
                    )));
                }
                let c = &sub.plan.columns[0];
                let ri = Info {
                    affinity: c.affinity,
                    coll: c.collation,
                    ..Default::default()
                };
                let coerce = comparison_coercion(xi.affinity, ri.affinity);
                let coll = cmp_collation(&xi, &ri);
                Ok((
                    Expr::InSub {
                        e: Box::new(x),
                        sub,
                        negated,
                        coerce,
                        coll,
                    },
                    none,
                ))
            }
            ast::InTarget::Table { name, args: None } => {
                // `x IN t` means `x IN (SELECT * FROM t)`.
                let q = sqlparser::parser::Parser::new(&sqlparser::dialect::SQLiteDialect {})
                    .try_with_sql(&format!("SELECT * FROM {name}"))
                    .and_then(|mut p| p.parse_query())
                    .map_err(|e| Error::Syntax(e.to_string()))?;
                let sub = self.subplan(&q)?;
                if sub.plan.columns.len() != 1 {
                    return Err(Error::sql(format!(
                        "sub-select returns {} columns - expected 1",
                        sub.plan.columns.len()
                    )));
                }
                let c = &sub.plan.columns[0];
                let ri = Info {
                    affinity: c.affinity,
                    coll: c.collation,
                    ..Default::default()
                };
                let coerce = comparison_coercion(xi.affinity, ri.affinity);
                let coll = cmp_collation(&xi, &ri);
                Ok((
                    Expr::InSub {
                        e: Box::new(x),
                        sub,
                        negated,
                        coerce,
                        coll,
                    },
                    none,
                ))
            }
            _ => Err(Error::Unsupported("IN target".into())),
        }
    }

    fn function(&mut self, f: &ast::Function) -> Result<(Expr, Info)> {
        let name = match f.name.0.as_slice() {
            [ast::ObjectNamePart::Identifier(id)] => id.value.clone(),
            _ => return Err(Error::NoSuchFunction(f.name.to_string())),
        };
        let lname = name.to_ascii_lowercase();
        if f.over.is_some() {
            return Err(Error::Unsupported("window functions".into()));
        }
        let none = Info::default();
        let (args, distinct, star): (Vec<&ast::Expr>, bool, bool) = match &f.args {
            ast::FunctionArguments::None => {
                let fun = match lname.as_str() {
                    "current_timestamp" => ScalarFn::DateTime,
                    "current_date" => ScalarFn::Date,
                    "current_time" => ScalarFn::Time,
                    _ => return Err(Error::NoSuchColumn(name)),
                };
                return Ok((Expr::Func(fun, vec![]), none));
            }
            ast::FunctionArguments::Subquery(_) => {
                return Err(Error::Unsupported(
                    "subquery as a function argument list".into(),
                ))
            }
            ast::FunctionArguments::List(l) => {
                if !l.clauses.is_empty() {
                    return Err(Error::Unsupported(format!("clauses inside {name}()")));
                }
                let distinct = matches!(
                    l.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut args = Vec::new();
                let mut star = false;
                for a in &l.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => args.push(e),
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        _ => return Err(Error::Syntax(format!("near \"{a}\": syntax error"))),
                    }
                }
                (args, distinct, star)
            }
        };
        if lname == "raise" {
            return self.raise(&args);
        }
        match func::lookup(&name, args.len(), star)? {
            Resolved::Scalar(fun) => {
                if distinct {
                    return Err(Error::sql(format!(
                        "DISTINCT aggregates must have exactly one argument: {name}()"
                    )));
                }
                if f.filter.is_some() {
                    return Err(Error::sql(format!(
                        "FILTER may not be used with non-aggregate {name}()"
                    )));
                }
                let mut cargs = Vec::with_capacity(args.len());
                let mut info = Info::default();
                for (i, a) in args.iter().enumerate() {
                    let (x, ai) = self.expr_info(a)?;
                    // min()/max() and friends pass collation through from their first argument.
                    if i == 0 && ai.explicit_coll {
                        info.coll = ai.coll;
                        info.explicit_coll = true;
                    }
                    cargs.push(x);
                }
                Ok((Expr::Func(fun, cargs), info))
            }
            Resolved::Agg(kind) => {
                let Some(frame) = self.scopes.last() else {
                    return Err(Error::sql(format!("misuse of aggregate function {name}()")));
                };
                if frame.aggs.is_none() || frame.in_agg_args {
                    return Err(Error::sql(format!("misuse of aggregate function {name}()")));
                }
                if distinct && args.len() != 1 {
                    return Err(Error::sql(
                        "DISTINCT aggregates must have exactly one argument",
                    ));
                }
                let last = self.scopes.len() - 1;
                self.scopes[last].in_agg_args = true;
                let compiled: Result<Vec<(Expr, Info)>> =
                    args.iter().map(|a| self.expr_info(a)).collect();
                let filter = f.filter.as_ref().map(|x| self.expr(x));
                self.scopes[last].in_agg_args = false;
                let compiled = compiled?;
                let filter = filter.transpose()?;
                let info = match kind {
                    func::AggKind::Min | func::AggKind::Max => {
                        let i = &compiled[0].1;
                        Info {
                            coll: i.coll,
                            explicit_coll: i.explicit_coll,
                            ..Default::default()
                        }
                    }
                    _ => Info::default(),
                };
                let spec = AggSpec {
                    kind,
                    args: compiled.into_iter().map(|(e, _)| e).collect(),
                    distinct,
                    filter,
                };
                let aggs = self.scopes[last].aggs.as_mut().expect("checked above");
                aggs.push(spec);
                let idx =
                    u16::try_from(aggs.len() - 1).map_err(|_| Error::sql("too many aggregates"))?;
                Ok((Expr::Agg(idx), info))
            }
        }
    }

    fn raise(&mut self, args: &[&ast::Expr]) -> Result<(Expr, Info)> {
        let kind = match args.first() {
            Some(ast::Expr::Identifier(id)) => match id.value.to_ascii_lowercase().as_str() {
                "ignore" => RaiseKind::Ignore,
                "rollback" => RaiseKind::Rollback,
                "abort" => RaiseKind::Abort,
                "fail" => RaiseKind::Fail,
                _ => {
                    return Err(Error::Syntax(format!(
                        "near \"{}\": syntax error",
                        id.value
                    )))
                }
            },
            _ => return Err(Error::Syntax("near \"RAISE\": syntax error".into())),
        };
        let msg = match (kind, args.get(1)) {
            (RaiseKind::Ignore, None) => String::new(),
            (RaiseKind::Ignore, Some(_)) => {
                return Err(Error::Syntax("near \",\": syntax error".into()))
            }
            (_, Some(ast::Expr::Value(v))) => match &v.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                _ => {
                    return Err(Error::Syntax(
                        "RAISE message must be a string literal".into(),
                    ))
                }
            },
            _ => return Err(Error::Syntax("near \")\": syntax error".into())),
        };
        Ok((Expr::Raise(kind, msg), Info::default()))
    }

    /// Whether a compiled expression is a plain literal/parameter (used by constant checks).
    pub(crate) fn is_constant(e: &Expr) -> bool {
        let mut ok = true;
        e.walk(&mut |x| {
            if matches!(
                x,
                Expr::Col { .. }
                    | Expr::Agg(_)
                    | Expr::InSub { .. }
                    | Expr::Exists { .. }
                    | Expr::Scalar(_)
            ) {
                ok = false;
            }
        });
        ok
    }
}

/// The coercion that applies to a probe value when it is compared with an indexed column
/// (None when the comparison would convert the column side instead, so an index lookup by
/// the raw probe is not equivalent).
pub(crate) fn probe_for(coerce: Coerce, col_is_left: bool) -> Option<super::Probe> {
    use super::Probe;
    match (coerce, col_is_left) {
        (Coerce::None, _) => Some(Probe::AsIs),
        (Coerce::RightNumeric, true) | (Coerce::LeftNumeric, false) => Some(Probe::Numeric),
        (Coerce::RightText, true) | (Coerce::LeftText, false) => Some(Probe::Text),
        _ => None,
    }
}
