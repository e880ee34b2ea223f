//! Query planning: FROM sources (tables, views, CTEs, subqueries) joined by nested loops in
//! FROM order, WHERE/ON conjuncts placed at the first loop level where all they read is
//! bound, and per table the cheapest access path the conjuncts allow (rowid lookup, unique
//! index lookup, index prefix/range scan, IN-list lookups, full scan). Conjuncts used for an
//! access path stay as filters, so an access path only has to return a superset of the rows:
//! that keeps index bounds simple and provably safe. ORDER BY is satisfied by the access
//! path when its order matches, else rows are sorted.

use std::sync::Arc;

use sqlparser::ast;

use super::compile::{Compiler, CteDef, Info};
use super::scope::{table_source, ScopeCol, ScopeFrame, ScopeSource};
use super::{
    Access, AggPlan, Bound, CmpOp, CompiledStmt, Expr, JoinKind, KeySrc, OrderTerm, OutCol, Probe,
    QueryBody, QueryPlan, SelectPlan, SetOp, Source, SourceKind, SubPlan, ROWID,
};
use crate::affinity::comparison_coercion;
use crate::catalog::{norm, IndexDef, TableDef};
use crate::error::{Error, Result};
use crate::value::{Collation, Value};

fn unsupported(what: &str) -> Error {
    Error::Unsupported(what.to_string())
}

/// Split an AST boolean expression on top-level AND.
pub(crate) fn split_and<'e>(e: &'e ast::Expr, out: &mut Vec<&'e ast::Expr>) {
    match e {
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        ast::Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                ast::Expr::BinaryOp {
                    op: ast::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(inner, out)
        }
        other => out.push(other),
    }
}

fn ordinal(e: &ast::Expr) -> Option<i64> {
    if let ast::Expr::Value(v) = e {
        if let ast::Value::Number(n, _) = &v.value {
            return n.parse::<i64>().ok();
        }
    }
    None
}

fn nth(i: usize) -> &'static str {
    match i {
        1 => "1st",
        2 => "2nd",
        3 => "3rd",
        _ => "th",
    }
}

/// A FROM item before it joins the scope.
struct Pending {
    kind: SourceKind,
    scope: ScopeSource,
    join: JoinKind,
    constraint: Option<ast::JoinConstraint>,
    not_indexed: bool,
    indexed_by: Option<String>,
}

pub(crate) fn object_name(n: &ast::ObjectName) -> Result<String> {
    let parts: Vec<String> =
        n.0.iter()
            .map(|p| match p {
                ast::ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
                _ => Err(unsupported("computed object names")),
            })
            .collect::<Result<_>>()?;
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        [s, n] if s.eq_ignore_ascii_case("main") || s.eq_ignore_ascii_case("temp") => Ok(n.clone()),
        [s, _] => Err(Error::sql(format!("unknown database {s}"))),
        _ => Err(Error::sql(format!("no such table: {n}"))),
    }
}
pub(crate) use object_name as plain_name;

/// A FROM item served by a subplan (CTE, view, `sqlite_master`).
fn derived_source(
    alias: &str,
    sub: Arc<SubPlan>,
    columns: &[String],
    join: JoinKind,
    constraint: Option<ast::JoinConstraint>,
    not_indexed: bool,
) -> Pending {
    Pending {
        scope: derived_scope(alias, &sub.plan, columns),
        kind: SourceKind::Derived(sub),
        join,
        constraint,
        not_indexed,
        indexed_by: None,
    }
}

fn derived_scope(name: &str, plan: &QueryPlan, columns: &[String]) -> ScopeSource {
    ScopeSource {
        name: name.to_ascii_lowercase(),
        cols: plan
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = columns.get(i).cloned().unwrap_or_else(|| c.name.clone());
                ScopeCol {
                    name: n.to_ascii_lowercase(),
                    display: n,
                    decl_type: c.decl_type.clone(),
                    affinity: c.affinity,
                    coll: c.collation.unwrap_or_default(),
                    hidden: false,
                }
            })
            .collect(),
        table: None,
    }
}

impl<'a> Compiler<'a> {
    pub(crate) fn query(&mut self, q: &ast::Query) -> Result<QueryPlan> {
        // Nested queries, views and CTEs recurse through here; grow the stack rather than
        // overflow it (depth itself is bounded by `enter`).
        stacker::maybe_grow(128 * 1024, 4 << 20, || self.query_impl(q))
    }

    fn query_impl(&mut self, q: &ast::Query) -> Result<QueryPlan> {
        if q.fetch.is_some()
            || !q.locks.is_empty()
            || q.for_clause.is_some()
            || q.settings.is_some()
            || q.format_clause.is_some()
            || !q.pipe_operators.is_empty()
        {
            return Err(unsupported("query clause"));
        }
        let ncte = self.ctes.len();
        if let Some(with) = &q.with {
            if with.recursive {
                return Err(unsupported("WITH RECURSIVE"));
            }
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_ascii_lowercase();
                self.ctes.push(CteDef {
                    name,
                    columns: cte
                        .alias
                        .columns
                        .iter()
                        .map(|c| c.name.value.clone())
                        .collect(),
                    query: Arc::new((*cte.query).clone()),
                });
            }
        }
        let r = self.query_body(q);
        self.ctes.truncate(ncte);
        r
    }

    fn query_body(&mut self, q: &ast::Query) -> Result<QueryPlan> {
        let order: Vec<ast::OrderByExpr> = match &q.order_by {
            None => Vec::new(),
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(v) => v.clone(),
                ast::OrderByKind::All(_) => return Err(unsupported("ORDER BY ALL")),
            },
        };
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return Err(unsupported("LIMIT BY"));
                }
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit), Some(offset))
            }
        };
        if let ast::SetExpr::Select(sel) = q.body.as_ref() {
            return self.select(sel, &order, limit, offset);
        }
        let mut plan = self.set_expr(&q.body)?;
        if !order.is_empty() || limit.is_some() {
            if !plan.order.is_empty() || plan.limit.is_some() {
                plan = wrap(plan);
            }
            plan.order = self.output_order(&plan.columns, &order)?;
            let (l, o) = self.limits(limit, offset)?;
            plan.limit = l;
            plan.offset = o;
        }
        Ok(plan)
    }

    fn set_expr(&mut self, s: &ast::SetExpr) -> Result<QueryPlan> {
        match s {
            ast::SetExpr::Select(sel) => self.select(sel, &[], None, None),
            ast::SetExpr::Query(q) => self.query(q),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let l = self.set_expr(left)?;
                let r = self.set_expr(right)?;
                let name = match op {
                    ast::SetOperator::Union => "UNION",
                    ast::SetOperator::Intersect => "INTERSECT",
                    _ => "EXCEPT",
                };
                if l.columns.len() != r.columns.len() {
                    return Err(Error::sql(format!("SELECTs to the left and right of {name} do not have the same number of result columns")));
                }
                let all = matches!(set_quantifier, ast::SetQuantifier::All);
                let op = match op {
                    ast::SetOperator::Union if all => SetOp::UnionAll,
                    ast::SetOperator::Union => SetOp::Union,
                    _ if all => return Err(unsupported(&format!("{name} ALL"))),
                    ast::SetOperator::Intersect => SetOp::Intersect,
                    _ => SetOp::Except,
                };
                let columns = l.columns.clone();
                Ok(QueryPlan {
                    body: QueryBody::Compound(op, Box::new(l), Box::new(r)),
                    columns,
                    order: vec![],
                    presorted: false,
                    limit: None,
                    offset: None,
                    header: Default::default(),
                    point: None,
                })
            }
            ast::SetExpr::Values(v) => self.values(v),
            _ => Err(unsupported("query body")),
        }
    }

    pub(crate) fn values(&mut self, v: &ast::Values) -> Result<QueryPlan> {
        self.scopes.push(ScopeFrame::new(true));
        let r = (|| {
            let mut rows = Vec::with_capacity(v.rows.len());
            let mut width = None;
            for row in &v.rows {
                if *width.get_or_insert(row.content.len()) != row.content.len() {
                    return Err(Error::sql("all VALUES must have the same number of terms"));
                }
                rows.push(
                    row.content
                        .iter()
                        .map(|e| self.expr(e))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            let n = width.unwrap_or(0);
            let columns = (1..=n)
                .map(|i| OutCol {
                    name: format!("column{i}"),
                    decl_type: String::new(),
                    affinity: None,
                    collation: None,
                })
                .collect();
            Ok(QueryPlan {
                body: QueryBody::Values(rows),
                columns,
                order: vec![],
                presorted: false,
                limit: None,
                offset: None,
                header: Default::default(),
                point: None,
            })
        })();
        self.scopes.pop();
        r
    }

    /// ORDER BY against output columns (compound queries, VALUES, parenthesized queries).
    fn output_order(
        &mut self,
        cols: &[OutCol],
        order: &[ast::OrderByExpr],
    ) -> Result<Vec<OrderTerm>> {
        let mut out = Vec::new();
        for (i, o) in order.iter().enumerate() {
            let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            let nulls_first = o.options.nulls_first.unwrap_or(!desc);
            let (e, coll) = match &o.expr {
                ast::Expr::Collate { expr, collation } => {
                    let c = Collation::from_name(&collation.to_string()).ok_or_else(|| {
                        Error::sql(format!("no such collation sequence: {collation}"))
                    })?;
                    (expr.as_ref(), Some(c))
                }
                e => (e, None),
            };
            let idx = if let Some(k) = ordinal(e) {
                if k < 1 || k as usize > cols.len() {
                    return Err(Error::sql(format!(
                        "{}{} ORDER BY term out of range - should be between 1 and {}",
                        i + 1,
                        nth(i + 1).trim_start_matches(char::is_numeric),
                        cols.len()
                    )));
                }
                k as usize - 1
            } else {
                let name = match e {
                    ast::Expr::Identifier(id) => id.value.clone(),
                    ast::Expr::CompoundIdentifier(p) => {
                        p.last().map(|x| x.value.clone()).unwrap_or_default()
                    }
                    other => self.expr_text(other),
                };
                match cols.iter().position(|c| c.name.eq_ignore_ascii_case(&name)) {
                    Some(p) => p,
                    None => {
                        return Err(Error::sql(format!(
                            "{}{} ORDER BY term does not match any column in the result set",
                            i + 1,
                            nth(i + 1).trim_start_matches(char::is_numeric)
                        )))
                    }
                }
            };
            out.push(OrderTerm {
                src: KeySrc::Out(idx),
                desc,
                nulls_first,
                coll: coll.or(cols[idx].collation).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Compile LIMIT/OFFSET in an empty frame (they see no columns of the query).
    fn limits(
        &mut self,
        limit: Option<&ast::Expr>,
        offset: Option<&ast::Expr>,
    ) -> Result<(Option<Expr>, Option<Expr>)> {
        self.scopes.push(ScopeFrame::new(true));
        let l = limit.map(|e| self.expr(e)).transpose();
        let o = offset.map(|e| self.expr(e)).transpose();
        self.scopes.pop();
        Ok((l?, o?))
    }

    /// Resolve one FROM relation.
    fn relation(
        &mut self,
        tf: &ast::TableFactor,
        join: JoinKind,
        constraint: Option<ast::JoinConstraint>,
        out: &mut Vec<Pending>,
    ) -> Result<()> {
        match tf {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                partitions,
                json_path,
                sample,
                index_directives,
                ..
            } => {
                if args.is_some()
                    || !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                {
                    return Err(unsupported("table-valued functions and table hints"));
                }
                if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
                    return Err(unsupported("column aliases on a table"));
                }
                let tname = object_name(name)?;
                let alias_name = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| tname.clone());
                let mut not_indexed = false;
                let mut indexed_by = None;
                for d in index_directives {
                    match d {
                        ast::TableIndexDirective::NotIndexed => not_indexed = true,
                        ast::TableIndexDirective::IndexedBy(i) => {
                            indexed_by = Some(i.value.to_ascii_lowercase())
                        }
                        _ => return Err(unsupported("index hints")),
                    }
                }
                let ltname = norm(&tname);
                // CTEs shadow tables; a CTE sees only the CTEs defined before it.
                if let Some(pos) = self.ctes.iter().rposition(|c| c.name == ltname) {
                    let cte = self.ctes[pos].clone();
                    let saved: Vec<CteDef> = self.ctes.drain(pos..).collect();
                    let sub = self.subplan(&cte.query);
                    self.ctes.extend(saved);
                    let sub = sub?;
                    if !cte.columns.is_empty() && cte.columns.len() != sub.plan.columns.len() {
                        return Err(Error::sql(format!(
                            "table {} has {} values for {} columns",
                            cte.name,
                            sub.plan.columns.len(),
                            cte.columns.len()
                        )));
                    }
                    out.push(derived_source(
                        &alias_name,
                        sub,
                        &cte.columns,
                        join,
                        constraint,
                        not_indexed,
                    ));
                    return Ok(());
                }
                if let Some(def) = self.cat.table(&tname) {
                    let def = def.clone();
                    if let Some(ib) = &indexed_by {
                        match self.cat.index(ib) {
                            Some(ix) if ix.table == ltname => {}
                            _ => return Err(Error::sql(format!("no such index: {ib}"))),
                        }
                    }
                    let scope = table_source(&def, &alias_name);
                    out.push(Pending {
                        kind: SourceKind::Table { key: ltname, def },
                        scope,
                        join,
                        constraint,
                        not_indexed,
                        indexed_by,
                    });
                    return Ok(());
                }
                if let Some(view) = self.cat.view(&tname) {
                    let view = view.clone();
                    let sub = self.view_plan(&view)?;
                    out.push(derived_source(
                        &alias_name,
                        sub,
                        &view.columns,
                        join,
                        constraint,
                        not_indexed,
                    ));
                    return Ok(());
                }
                if ltname == "sqlite_master" || ltname == "sqlite_schema" {
                    let sub = Arc::new(SubPlan {
                        plan: schema_table(self.cat),
                        correlated: false,
                        outer_mask: 0,
                    });
                    out.push(derived_source(
                        &alias_name,
                        sub,
                        &[],
                        join,
                        constraint,
                        not_indexed,
                    ));
                    return Ok(());
                }
                Err(Error::NoSuchTable(tname))
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                sample,
            } => {
                if *lateral || sample.is_some() {
                    return Err(unsupported("LATERAL"));
                }
                let sub = self.subplan(subquery)?;
                let alias_name = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| format!("(subquery-{})", out.len() + 1));
                let cols: Vec<String> = alias
                    .as_ref()
                    .map(|a| a.columns.iter().map(|c| c.name.value.clone()).collect())
                    .unwrap_or_default();
                let scope = derived_scope(&alias_name, &sub.plan, &cols);
                out.push(Pending {
                    kind: SourceKind::Derived(sub),
                    scope,
                    join,
                    constraint,
                    not_indexed: false,
                    indexed_by: None,
                });
                Ok(())
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(unsupported("alias on a parenthesized join"));
                }
                self.relation(&table_with_joins.relation, join, constraint, out)?;
                for j in &table_with_joins.joins {
                    let (k, c) = join_kind(&j.join_operator)?;
                    self.relation(&j.relation, k, c, out)?;
                }
                Ok(())
            }
            _ => Err(unsupported("this kind of FROM item")),
        }
    }

    /// A view's query, compiled on its own (a view cannot see the query that uses it).
    pub(crate) fn view_plan(&mut self, view: &crate::catalog::ViewDef) -> Result<Arc<SubPlan>> {
        if self
            .views
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&view.name))
        {
            return Err(Error::sql(format!(
                "view {} is circularly defined",
                view.name
            )));
        }
        self.enter()?;
        let mut c = Compiler::new(self.cat, &view.sql);
        c.nesting = self.nesting;
        c.views = self.views.clone();
        c.views.push(view.name.clone());
        let plan = c.query(&view.query);
        self.leave();
        let plan = plan.map_err(|e| match e {
            Error::NoSuchTable(t) if !t.starts_with("main.") => {
                Error::NoSuchTable(format!("main.{t}"))
            }
            Error::TooDeep => Error::sql(format!(
                "view {} is circularly defined or nested too deeply",
                view.name
            )),
            other => other,
        })?;
        if !view.columns.is_empty() && view.columns.len() != plan.columns.len() {
            return Err(Error::sql(format!(
                "expected {} columns for '{}' but got {}",
                view.columns.len(),
                view.name,
                plan.columns.len()
            )));
        }
        Ok(Arc::new(SubPlan {
            plan,
            correlated: false,
            outer_mask: 0,
        }))
    }

    pub(crate) fn select(
        &mut self,
        sel: &ast::Select,
        order: &[ast::OrderByExpr],
        limit: Option<&ast::Expr>,
        offset: Option<&ast::Expr>,
    ) -> Result<QueryPlan> {
        if sel.top.is_some()
            || sel.into.is_some()
            || !sel.lateral_views.is_empty()
            || sel.prewhere.is_some()
            || !sel.connect_by.is_empty()
            || !sel.cluster_by.is_empty()
            || !sel.distribute_by.is_empty()
            || !sel.sort_by.is_empty()
            || !sel.named_window.is_empty()
            || sel.qualify.is_some()
            || sel.value_table_mode.is_some()
            || sel.exclude.is_some()
        {
            return Err(unsupported("SELECT clause"));
        }
        self.scopes.push(ScopeFrame::new(false));
        let r = self.select_inner(sel, order);
        let frame = self.scopes.pop().expect("pushed above");
        let mut plan = r?;
        if let QueryBody::Select(sp) = &mut plan.body {
            for (s, n) in sp.sources.iter_mut().zip(frame.needed) {
                s.needed = n;
            }
        }
        let (l, o) = self.limits(limit, offset)?;
        plan.limit = l;
        plan.offset = o;
        if plan.limit.is_some() {
            if let QueryBody::Select(sp) = &mut plan.body {
                self.try_index_order(sp, &plan.order, &mut plan.presorted);
            }
        }
        plan.point = point_lookup(&plan);
        Ok(plan)
    }

    fn select_inner(&mut self, sel: &ast::Select, order: &[ast::OrderByExpr]) -> Result<QueryPlan> {
        let distinct = match &sel.distinct {
            None | Some(ast::Distinct::All) => false,
            Some(ast::Distinct::Distinct) => true,
            Some(ast::Distinct::On(_)) => return Err(unsupported("DISTINCT ON")),
        };
        // FROM (compiled while this frame is invisible: FROM subqueries cannot see siblings).
        let mut pending = Vec::new();
        for twj in &sel.from {
            self.relation(&twj.relation, JoinKind::Inner, None, &mut pending)?;
            for j in &twj.joins {
                let (k, c) = join_kind(&j.join_operator)?;
                self.relation(&j.relation, k, c, &mut pending)?;
            }
        }
        if pending.len() > 63 {
            return Err(Error::sql("at most 64 tables in a join"));
        }
        let last = self.scopes.len() - 1;
        self.scopes[last].visible = true;
        let mut kinds = Vec::new();
        let mut joins = Vec::new();
        let mut constraints = Vec::new();
        let mut hints = Vec::new();
        for p in pending {
            self.scopes[last].add_source(p.scope);
            kinds.push(p.kind);
            joins.push(p.join);
            constraints.push(p.constraint);
            hints.push((p.not_indexed, p.indexed_by));
        }
        let n = kinds.len();
        let mut pool: Vec<Expr> = Vec::new();
        let mut left_on: Vec<Vec<Expr>> = (0..n).map(|_| Vec::new()).collect();
        // USING / NATURAL first: they hide right-hand columns from unqualified lookup.
        for k in 0..n {
            let names: Vec<String> = match &constraints[k] {
                Some(ast::JoinConstraint::Using(cols)) => cols
                    .iter()
                    .map(|c| object_name(c).map(|s| s.to_ascii_lowercase()))
                    .collect::<Result<_>>()?,
                Some(ast::JoinConstraint::Natural) => {
                    let frame = &self.scopes[last];
                    frame.sources[k]
                        .cols
                        .iter()
                        .filter(|c| {
                            (0..k).any(|j| {
                                frame.sources[j]
                                    .cols
                                    .iter()
                                    .any(|d| d.name == c.name && !d.hidden)
                            })
                        })
                        .map(|c| c.name.clone())
                        .collect()
                }
                _ => continue,
            };
            for name in names {
                let frame = &self.scopes[last];
                let right = frame.sources[k].cols.iter().position(|c| c.name == name);
                let left = (0..k).find_map(|j| {
                    frame.sources[j]
                        .cols
                        .iter()
                        .position(|c| c.name == name && !c.hidden)
                        .map(|ci| (j, ci))
                });
                let (Some(rc), Some((lj, lc))) = (right, left) else {
                    return Err(Error::sql(format!(
                        "cannot join using column {name} - column not present in both tables"
                    )));
                };
                let (la, ra) = (
                    frame.sources[lj].cols[lc].affinity,
                    frame.sources[k].cols[rc].affinity,
                );
                let coll = frame.sources[lj].cols[lc].coll;
                self.scopes[last].mark(lj, lc as u16);
                self.scopes[last].mark(k, rc as u16);
                self.scopes[last].sources[k].cols[rc].hidden = true;
                let eq = Expr::Cmp {
                    op: CmpOp::Eq,
                    l: Box::new(Expr::Col {
                        up: 0,
                        src: lj as u16,
                        col: lc as u16,
                    }),
                    r: Box::new(Expr::Col {
                        up: 0,
                        src: k as u16,
                        col: rc as u16,
                    }),
                    coerce: comparison_coercion(la, ra),
                    coll,
                };
                if joins[k] == JoinKind::Left {
                    left_on[k].push(eq);
                } else {
                    pool.push(eq);
                }
            }
        }
        // Aggregate query?
        let group_exprs: Vec<ast::Expr> = match &sel.group_by {
            ast::GroupByExpr::Expressions(v, mods) if mods.is_empty() => v.clone(),
            _ => return Err(unsupported("GROUP BY modifiers")),
        };
        // Aggregates are collected while compiling the projection, HAVING and ORDER BY; the
        // query is an aggregate query if any appear, or it has GROUP BY / HAVING.
        self.scopes[last].aggs = Some(Vec::new());
        // Projection.
        let mut proj = Vec::new();
        let mut cols = Vec::new();
        let mut aliases: Vec<Option<String>> = Vec::new();
        let item_texts = self
            .text
            .select_items(sel.select_token.0.span.end)
            .filter(|t| t.len() == sel.projection.len());
        for (item_no, item) in sel.projection.iter().enumerate() {
            match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let (x, info) = self.expr_info(e)?;
                    let bare = matches!(
                        e,
                        ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
                    );
                    let alias = match item {
                        ast::SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        _ => None,
                    };
                    let name = alias.clone().unwrap_or_else(|| {
                        let text = || match &item_texts {
                            Some(t) if !t[item_no].is_empty() => t[item_no].to_string(),
                            _ => self.expr_text(e),
                        };
                        if bare {
                            info.col_name.clone().unwrap_or_else(text)
                        } else {
                            text()
                        }
                    });
                    cols.push(OutCol {
                        name,
                        decl_type: if bare {
                            info.decl.clone().unwrap_or_default()
                        } else {
                            String::new()
                        },
                        affinity: info.affinity,
                        collation: info.coll,
                    });
                    aliases.push(alias);
                    proj.push(x);
                }
                ast::SelectItem::Wildcard(opts) => {
                    if opts.opt_ilike.is_some()
                        || opts.opt_exclude.is_some()
                        || opts.opt_except.is_some()
                        || opts.opt_replace.is_some()
                        || opts.opt_rename.is_some()
                    {
                        return Err(unsupported("wildcard options"));
                    }
                    if n == 0 {
                        return Err(Error::sql("no tables specified"));
                    }
                    for si in 0..n {
                        self.star(last, si, true, &mut proj, &mut cols, &mut aliases);
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let qn = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(o) => object_name(o)?,
                        _ => return Err(unsupported("expression wildcard")),
                    };
                    let lq = qn.to_ascii_lowercase();
                    let si = self.scopes[last]
                        .sources
                        .iter()
                        .position(|s| s.name == lq)
                        .ok_or_else(|| Error::sql(format!("no such table: {qn}")))?;
                    self.star(last, si, false, &mut proj, &mut cols, &mut aliases);
                }
                _ => return Err(unsupported("select item")),
            }
        }
        // Result-column aliases are visible to WHERE, HAVING and GROUP BY when no column
        // of that name exists, as in SQLite.
        let alias_list: Vec<(String, Expr, Option<&'static str>)> = aliases
            .iter()
            .zip(&proj)
            .filter_map(|(a, e)| {
                a.as_ref().map(|a| {
                    let mut agg = None;
                    e.walk(&mut |x| {
                        if let (Expr::Agg(i), None) = (x, agg) {
                            agg = self.scopes[last]
                                .aggs
                                .as_ref()
                                .and_then(|v| v.get(*i as usize))
                                .map(|s| s.kind.name());
                        }
                    });
                    (a.to_ascii_lowercase(), e.clone(), agg)
                })
            })
            .collect();
        self.scopes[last].aliases = alias_list;
        for k in 0..n {
            if let Some(ast::JoinConstraint::On(e)) = &constraints[k] {
                let mut parts = Vec::new();
                split_and(e, &mut parts);
                for p in parts {
                    let x = self.expr(p)?;
                    if joins[k] == JoinKind::Left {
                        left_on[k].push(x);
                    } else {
                        pool.push(x);
                    }
                }
            }
        }
        if let Some(w) = &sel.selection {
            let mut parts = Vec::new();
            split_and(w, &mut parts);
            // No aggregates in WHERE: compiling one there is "misuse of aggregate".
            let saved = self.scopes[last].aggs.take();
            self.scopes[last].in_where = true;
            let r: Result<Vec<Expr>> = parts.iter().map(|p| self.expr(p)).collect();
            self.scopes[last].in_where = false;
            self.scopes[last].aggs = saved;
            pool.extend(r?);
        }
        // GROUP BY (aggregates not allowed; ordinals and aliases refer to the projection).
        let mut group_by = Vec::new();
        if !group_exprs.is_empty() {
            let saved = self.scopes[last].aggs.take();
            let r: Result<()> = (|| {
                for g in &group_exprs {
                    if let Some(k) = ordinal(g) {
                        if k < 1 || k as usize > proj.len() {
                            return Err(Error::sql(format!(
                                "GROUP BY term out of range - should be between 1 and {}",
                                proj.len()
                            )));
                        }
                        let x: &Expr = &proj[k as usize - 1];
                        let mut has_agg = false;
                        x.walk(&mut |e| has_agg |= matches!(e, Expr::Agg(_)));
                        if has_agg {
                            return Err(Error::sql(
                                "aggregate functions are not allowed in the GROUP BY clause",
                            ));
                        }
                        group_by.push((
                            x.clone(),
                            cols[k as usize - 1].collation.unwrap_or_default(),
                        ));
                        continue;
                    }
                    match self.expr_info(g) {
                        Ok((x, info)) => group_by.push((x, info.coll.unwrap_or_default())),
                        Err(Error::NoSuchColumn(c)) => {
                            let alias_hit = match g {
                                ast::Expr::Identifier(id) => aliases.iter().position(|a| {
                                    a.as_ref()
                                        .is_some_and(|a| a.eq_ignore_ascii_case(&id.value))
                                }),
                                _ => None,
                            };
                            match alias_hit {
                                Some(i) => group_by
                                    .push((proj[i].clone(), cols[i].collation.unwrap_or_default())),
                                None => return Err(Error::NoSuchColumn(c)),
                            }
                        }
                        Err(e) => {
                            if let Error::Sql(m) = &e {
                                if m.starts_with("misuse of aggregate") {
                                    return Err(Error::sql("aggregate functions are not allowed in the GROUP BY clause"));
                                }
                            }
                            return Err(e);
                        }
                    }
                }
                Ok(())
            })();
            self.scopes[last].aggs = saved;
            r?;
        }
        let mut having = match &sel.having {
            Some(h) => Some(self.expr(h)?),
            None => None,
        };
        // ORDER BY.
        let mut order_terms = Vec::new();
        let mut extra = Vec::new();
        for (i, o) in order.iter().enumerate() {
            let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            let nulls_first = o.options.nulls_first.unwrap_or(!desc);
            if let Some(k) = ordinal(&o.expr) {
                if k < 1 || k as usize > proj.len() {
                    return Err(Error::sql(format!(
                        "{}{} ORDER BY term out of range - should be between 1 and {}",
                        i + 1,
                        nth(i + 1).trim_start_matches(char::is_numeric),
                        proj.len()
                    )));
                }
                let idx = k as usize - 1;
                order_terms.push(OrderTerm {
                    src: KeySrc::Out(idx),
                    desc,
                    nulls_first,
                    coll: cols[idx].collation.unwrap_or_default(),
                });
                continue;
            }
            let alias_hit = match &o.expr {
                ast::Expr::Identifier(id) => aliases.iter().position(|a| {
                    a.as_ref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(&id.value))
                }),
                _ => None,
            };
            if let Some(idx) = alias_hit {
                order_terms.push(OrderTerm {
                    src: KeySrc::Out(idx),
                    desc,
                    nulls_first,
                    coll: cols[idx].collation.unwrap_or_default(),
                });
                continue;
            }
            let (x, info) = self.expr_info(&o.expr)?;
            extra.push(x);
            order_terms.push(OrderTerm {
                src: KeySrc::Extra(extra.len() - 1),
                desc,
                nulls_first,
                coll: info.coll.unwrap_or_default(),
            });
        }
        let aggs = self.scopes[last]
            .aggs
            .take()
            .filter(|a| !a.is_empty() || !group_by.is_empty() || having.is_some());
        let agg = match aggs {
            Some(aggs) => {
                // An expression equal to a GROUP BY term reads the group's key, which (as in
                // SQLite) is the value from the group's first row.
                // Compared structurally through their Debug text; subqueries are never keys.
                let keys: Vec<String> = group_by
                    .iter()
                    .map(|(e, _)| {
                        if has_sub(e) {
                            String::new()
                        } else {
                            format!("{e:?}")
                        }
                    })
                    .collect();
                let base = aggs.len();
                for e in proj
                    .iter_mut()
                    .chain(extra.iter_mut())
                    .chain(having.iter_mut())
                {
                    e.replace(&mut |x| {
                        if has_sub(x) {
                            return None;
                        }
                        let d = format!("{x:?}");
                        keys.iter()
                            .position(|k| *k == d)
                            .map(|i| Expr::Agg((base + i) as u16))
                    });
                }
                let mut keeps_rows = false;
                for e in proj.iter().chain(extra.iter()).chain(having.iter()) {
                    if e.source_mask() != 0 {
                        keeps_rows = true;
                    }
                }
                Some(AggPlan {
                    group_by,
                    aggs,
                    having,
                    keeps_rows,
                })
            }
            None => None,
        };
        // Sources, access paths and filter placement.
        let mut sources = Vec::with_capacity(n);
        for (k, kind) in kinds.into_iter().enumerate() {
            let ncols = self.scopes[last].sources[k].cols.len();
            let name = self.scopes[last].sources[k].name.clone();
            sources.push(Source {
                kind,
                name,
                ncols,
                join: joins[k],
                access: Access::Scan { reverse: false },
                on: std::mem::take(&mut left_on[k]),
                filters: Vec::new(),
                needed: Vec::new(),
            });
        }
        let mut pre = Vec::new();
        let mut placed: Vec<Vec<Expr>> = (0..n).map(|_| Vec::new()).collect();
        for c in pool {
            let mask = c.source_mask();
            let mut volatile = false;
            c.walk(&mut |e| {
                if let Expr::Func(f, _) = e {
                    volatile |= !f.deterministic_const();
                }
            });
            if (mask == 0 && !volatile) || n == 0 {
                pre.push(c);
            } else {
                let level = if volatile {
                    n - 1
                } else {
                    63 - mask.leading_zeros() as usize
                };
                placed[level.min(n - 1)].push(c);
            }
        }
        for k in 0..n {
            if let SourceKind::Table { def, .. } = &sources[k].kind {
                let def = def.clone();
                let (not_indexed, indexed_by) = &hints[k];
                let cands: Vec<&Expr> = if sources[k].join == JoinKind::Left {
                    sources[k].on.iter().collect()
                } else {
                    placed[k].iter().collect()
                };
                let (access, consumed) =
                    self.choose_access(k, &def, &cands, *not_indexed, indexed_by.as_deref())?;
                sources[k].access = access;
                remove_consumed(
                    if sources[k].join == JoinKind::Left {
                        &mut sources[k].on
                    } else {
                        &mut placed[k]
                    },
                    consumed,
                );
            }
            sources[k].filters = std::mem::take(&mut placed[k]);
        }
        let mut presorted = false;
        if !order_terms.is_empty() && agg.is_none() && !distinct {
            presorted = order_from_access(&mut sources, &order_terms, &proj, &extra);
        }
        let plan = SelectPlan {
            sources,
            pre,
            proj,
            extra,
            agg,
            distinct,
        };
        Ok(QueryPlan {
            body: QueryBody::Select(Box::new(plan)),
            columns: cols,
            order: order_terms,
            presorted,
            limit: None,
            offset: None,
            header: Default::default(),
            point: None,
        })
    }

    fn star(
        &mut self,
        frame: usize,
        si: usize,
        skip_hidden: bool,
        proj: &mut Vec<Expr>,
        cols: &mut Vec<OutCol>,
        aliases: &mut Vec<Option<String>>,
    ) {
        let ncols = self.scopes[frame].sources[si].cols.len();
        for ci in 0..ncols {
            let c = self.scopes[frame].sources[si].cols[ci].clone();
            if skip_hidden && c.hidden {
                continue;
            }
            self.scopes[frame].mark(si, ci as u16);
            proj.push(Expr::Col {
                up: 0,
                src: si as u16,
                col: ci as u16,
            });
            cols.push(OutCol {
                name: c.display.clone(),
                decl_type: c.decl_type.clone(),
                affinity: c.affinity,
                collation: Some(c.coll),
            });
            aliases.push(None);
        }
    }

    /// With a LIMIT, a full scan that could instead walk an index in ORDER BY order is
    /// switched to that index, so the query stops after LIMIT rows instead of sorting all.
    fn try_index_order(&self, sp: &mut SelectPlan, order: &[OrderTerm], presorted: &mut bool) {
        if *presorted || order.is_empty() || sp.agg.is_some() || sp.distinct {
            return;
        }
        let cols: Option<Vec<u16>> = order
            .iter()
            .map(|t| term_column(t, &sp.proj, &sp.extra))
            .collect();
        let Some(cols) = cols else { return };
        let desc = order[0].desc;
        if order
            .iter()
            .any(|t| t.desc != desc || t.nulls_first == t.desc)
        {
            return;
        }
        let Some(s0) = sp.sources.first_mut() else {
            return;
        };
        if !matches!(s0.access, Access::Scan { .. }) {
            return;
        }
        let SourceKind::Table { key, .. } = &s0.kind else {
            return;
        };
        for ix in self.cat.indexes_of(key) {
            if cols.len() > ix.columns.len() {
                continue;
            }
            let matches =
                cols.iter().zip(&ix.columns).zip(order).all(|((c, ic), t)| {
                    ic.column as u16 == *c && !ic.desc && ic.collation == t.coll
                });
            if matches {
                s0.access = Access::Index {
                    index: ix.clone(),
                    key: norm(&ix.name),
                    eq: vec![],
                    lo: None,
                    hi: None,
                    reverse: desc,
                };
                *presorted = true;
                return;
            }
        }
    }

    /// Pick the access path for table source `k` from the conjuncts that may constrain it.
    /// Also returns the indexes (in `cands`) of the conjuncts the access path enforces by
    /// itself, which need not be evaluated again per row.
    pub(crate) fn choose_access(
        &self,
        k: usize,
        def: &Arc<TableDef>,
        cands: &[&Expr],
        not_indexed: bool,
        indexed_by: Option<&str>,
    ) -> Result<(Access, Vec<usize>)> {
        let facts = gather_facts(k, def, cands);
        let mut best: (u32, Access) = (0, Access::Scan { reverse: false });
        let rowid = facts.iter().find(|f| f.col == ROWID);
        let mut consumed = Vec::new();
        if let Some(f) = rowid {
            if let Some((e, p)) = &f.eq {
                // A row found by this key satisfies the equality it came from: that conjunct
                // need not be evaluated again.
                consumed.extend(f.eq_src);
                best = (1000, Access::RowidEq(e.clone(), *p));
            } else if let Some(list) = &f.in_list {
                best = (800, Access::RowidIn(list.clone()));
            } else if f.lo.is_some() || f.hi.is_some() {
                // The scan turns each bound into the exact first and last rowid that
                // satisfy it (see `rowid_bound` in exec), so the rows it visits satisfy both
                // conjuncts: for a 100-row range that is 200 comparisons saved.
                consumed.extend(f.lo_src);
                consumed.extend(f.hi_src);
                best = (
                    50,
                    Access::RowidRange {
                        lo: f.lo.clone(),
                        hi: f.hi.clone(),
                        reverse: false,
                    },
                );
            }
        }
        if best.0 >= 1000 {
            return Ok((best.1, consumed));
        }
        if not_indexed && indexed_by.is_none() {
            return Ok((best.1, consumed));
        }
        let mut forced = None;
        for ix in self.cat.indexes_of(&norm(&def.name)) {
            if indexed_by.is_some_and(|n| n != norm(&ix.name)) {
                continue;
            }
            let key = norm(&ix.name);
            let mut eq = Vec::new();
            let mut lo = None;
            let mut hi = None;
            let mut in_list = None;
            for (pos, ic) in ix.columns.iter().enumerate() {
                let Some(f) = facts.iter().find(|f| f.col as usize == ic.column) else {
                    break;
                };
                if let Some((e, p)) = &f.eq {
                    if f.eq_coll == ic.collation || f.eq_coll == Collation::Binary {
                        eq.push((e.clone(), *p));
                        continue;
                    }
                }
                if pos == 0 {
                    if let Some(l) = &f.in_list {
                        if f.in_coll == ic.collation || f.in_coll == Collation::Binary {
                            in_list = Some(l.clone());
                        }
                    }
                }
                if f.range_coll == ic.collation && !ic.desc {
                    lo = f.lo.clone();
                    hi = f.hi.clone();
                }
                break;
            }
            let score = if !eq.is_empty() && eq.len() == ix.columns.len() && ix.unique {
                900
            } else if !eq.is_empty() {
                100 + 10 * eq.len() as u32 + if lo.is_some() || hi.is_some() { 5 } else { 0 }
            } else if in_list.is_some() {
                90
            } else if lo.is_some() || hi.is_some() {
                40
            } else {
                1
            };
            let access = if eq.is_empty() && lo.is_none() && hi.is_none() {
                match in_list {
                    Some(list) => Access::IndexIn {
                        index: ix.clone(),
                        key,
                        list,
                    },
                    None => Access::Index {
                        index: ix.clone(),
                        key,
                        eq,
                        lo,
                        hi,
                        reverse: false,
                    },
                }
            } else {
                Access::Index {
                    index: ix.clone(),
                    key,
                    eq,
                    lo,
                    hi,
                    reverse: false,
                }
            };
            if indexed_by.is_some() {
                forced = Some(access);
                break;
            }
            if score > best.0 && score > 1 {
                best = (score, access);
            }
        }
        if let Some(f) = forced {
            return Ok((f, Vec::new()));
        }
        if !matches!(best.1, Access::RowidRange { .. }) {
            consumed.clear();
        }
        Ok((best.1, consumed))
    }
}

/// Recognize a primary-key point lookup of plain columns.
fn point_lookup(plan: &QueryPlan) -> Option<super::PointLookup> {
    let QueryBody::Select(sp) = &plan.body else {
        return None;
    };
    if plan.limit.is_some() || plan.offset.is_some() || !(plan.order.is_empty() || plan.presorted) {
        return None;
    }
    if sp.sources.len() != 1
        || !sp.pre.is_empty()
        || sp.agg.is_some()
        || sp.distinct
        || !sp.extra.is_empty()
    {
        return None;
    }
    let s = &sp.sources[0];
    if !s.filters.is_empty() || !s.on.is_empty() {
        return None;
    }
    let (SourceKind::Table { def, key }, Access::RowidEq(probe, conv)) = (&s.kind, &s.access)
    else {
        return None;
    };
    let cols: Option<Vec<u16>> = sp
        .proj
        .iter()
        .map(|e| match e {
            Expr::Col { up: 0, src: 0, col } => Some(*col),
            _ => None,
        })
        .collect();
    Some(super::PointLookup {
        def: def.clone(),
        key: key.clone(),
        probe: probe.clone(),
        conv: *conv,
        cols: cols?,
    })
}

fn has_sub(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        found |= matches!(
            x,
            Expr::InSub { .. } | Expr::Exists { .. } | Expr::Scalar(_)
        )
    });
    found
}

fn join_kind(op: &ast::JoinOperator) -> Result<(JoinKind, Option<ast::JoinConstraint>)> {
    use ast::JoinOperator as J;
    Ok(match op {
        J::Join(c) | J::Inner(c) | J::CrossJoin(c) => (JoinKind::Inner, Some(c.clone())),
        J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, Some(c.clone())),
        J::Right(_) | J::RightOuter(_) | J::FullOuter(_) => {
            return Err(unsupported("RIGHT and FULL OUTER JOIN"))
        }
        _ => return Err(unsupported("this join type")),
    })
}

/// What the conjuncts say about one column of source `k`.
struct Fact {
    col: u16,
    eq: Option<(Expr, Probe)>,
    /// Index (in the candidates) of the conjunct `eq` came from.
    eq_src: Option<usize>,
    eq_coll: Collation,
    in_list: Option<Vec<(Expr, Probe)>>,
    in_coll: Collation,
    lo: Option<Bound>,
    hi: Option<Bound>,
    /// Indexes (in the candidates) of the conjuncts `lo` and `hi` came from.
    lo_src: Option<usize>,
    hi_src: Option<usize>,
    range_coll: Collation,
}

/// Drops the conjuncts an access path enforces by itself (indexes into `conds`).
pub(crate) fn remove_consumed(conds: &mut Vec<Expr>, mut consumed: Vec<usize>) {
    consumed.sort_unstable();
    consumed.dedup();
    for i in consumed.into_iter().rev() {
        conds.remove(i);
    }
}

fn independent(e: &Expr, k: usize) -> bool {
    let m = e.source_mask();
    m >> k == 0 && {
        let mut volatile = false;
        e.walk(&mut |x| {
            if let Expr::Func(f, _) = x {
                volatile |= !f.deterministic_const();
            }
        });
        !volatile
    }
}

fn gather_facts(k: usize, def: &TableDef, cands: &[&Expr]) -> Vec<Fact> {
    let col_of = |e: &Expr| -> Option<u16> {
        match e {
            Expr::Col { up: 0, src, col } if *src as usize == k => {
                if *col != ROWID && Some(*col as usize) == def.rowid_alias {
                    Some(ROWID)
                } else {
                    Some(*col)
                }
            }
            _ => None,
        }
    };
    let mut facts: Vec<Fact> = Vec::new();
    fn fact(facts: &mut Vec<Fact>, col: u16) -> &mut Fact {
        if let Some(i) = facts.iter().position(|f| f.col == col) {
            return &mut facts[i];
        }
        facts.push(Fact {
            col,
            eq: None,
            eq_src: None,
            eq_coll: Collation::Binary,
            in_list: None,
            in_coll: Collation::Binary,
            lo: None,
            hi: None,
            lo_src: None,
            hi_src: None,
            range_coll: Collation::Binary,
        });
        facts.last_mut().expect("just pushed")
    }
    for (ci, c) in cands.iter().enumerate() {
        match c {
            Expr::Cmp {
                op,
                l,
                r,
                coerce,
                coll,
            } => {
                let (col, op, other, probe) =
                    if let (Some(col), true) = (col_of(l), independent(r, k)) {
                        (col, *op, r.as_ref(), super::expr::probe_for(*coerce, true))
                    } else if let (Some(col), true) = (col_of(r), independent(l, k)) {
                        let flipped = match op {
                            CmpOp::Lt => CmpOp::Gt,
                            CmpOp::Le => CmpOp::Ge,
                            CmpOp::Gt => CmpOp::Lt,
                            CmpOp::Ge => CmpOp::Le,
                            o => *o,
                        };
                        (
                            col,
                            flipped,
                            l.as_ref(),
                            super::expr::probe_for(*coerce, false),
                        )
                    } else {
                        continue;
                    };
                let Some(probe) = probe else { continue };
                let f = fact(&mut facts, col);
                match op {
                    CmpOp::Eq if f.eq.is_none() => {
                        f.eq_src = Some(ci);
                        f.eq = Some((other.clone(), probe));
                        f.eq_coll = *coll;
                    }
                    CmpOp::Gt | CmpOp::Ge
                        if f.lo.is_none() && (f.hi.is_none() || f.range_coll == *coll) =>
                    {
                        f.lo = Some(Bound {
                            expr: other.clone(),
                            probe,
                            inclusive: op == CmpOp::Ge,
                        });
                        f.lo_src = Some(ci);
                        f.range_coll = *coll;
                    }
                    CmpOp::Lt | CmpOp::Le
                        if f.hi.is_none() && (f.lo.is_none() || f.range_coll == *coll) =>
                    {
                        f.hi = Some(Bound {
                            expr: other.clone(),
                            probe,
                            inclusive: op == CmpOp::Le,
                        });
                        f.hi_src = Some(ci);
                        f.range_coll = *coll;
                    }
                    _ => {}
                }
            }
            Expr::Between {
                e,
                lo,
                hi,
                negated: false,
                c_lo,
                c_hi,
                coll,
            } => {
                let Some(col) = col_of(e) else { continue };
                if !independent(lo, k) || !independent(hi, k) {
                    continue;
                }
                let (Some(pl), Some(ph)) = (
                    super::expr::probe_for(*c_lo, true),
                    super::expr::probe_for(*c_hi, true),
                ) else {
                    continue;
                };
                let f = fact(&mut facts, col);
                if f.lo.is_none() && f.hi.is_none() {
                    f.lo = Some(Bound {
                        expr: (**lo).clone(),
                        probe: pl,
                        inclusive: true,
                    });
                    f.hi = Some(Bound {
                        expr: (**hi).clone(),
                        probe: ph,
                        inclusive: true,
                    });
                    f.range_coll = *coll;
                }
            }
            Expr::InList {
                e,
                list,
                negated: false,
                coll,
            } => {
                let Some(col) = col_of(e) else { continue };
                if list.is_empty() || !list.iter().all(|(x, _)| independent(x, k)) {
                    continue;
                }
                let probes: Option<Vec<(Expr, Probe)>> = list
                    .iter()
                    .map(|(x, c)| super::expr::probe_for(*c, true).map(|p| (x.clone(), p)))
                    .collect();
                let Some(probes) = probes else { continue };
                let f = fact(&mut facts, col);
                if f.in_list.is_none() {
                    f.in_list = Some(probes);
                    f.in_coll = *coll;
                }
            }
            _ => {}
        }
    }
    facts
}

/// The source-0 column an ORDER BY term sorts by, if it is a plain column reference.
fn term_column(t: &OrderTerm, proj: &[Expr], extra: &[Expr]) -> Option<u16> {
    let e = match t.src {
        KeySrc::Out(i) => proj.get(i)?,
        KeySrc::Extra(i) => extra.get(i)?,
    };
    match e {
        Expr::Col { up: 0, src: 0, col } => Some(*col),
        _ => None,
    }
}

/// Whether source 0's access path already yields ORDER BY order (flipping it to a reverse
/// scan when every term is DESC). Only the outer loop's order survives a nested-loop join.
fn order_from_access(
    sources: &mut [Source],
    order: &[OrderTerm],
    proj: &[Expr],
    extra: &[Expr],
) -> bool {
    let Some(s0) = sources.first_mut() else {
        return false;
    };
    let SourceKind::Table { def, .. } = &s0.kind else {
        return false;
    };
    let def = def.clone();
    let cols: Option<Vec<u16>> = order.iter().map(|t| term_column(t, proj, extra)).collect();
    let Some(cols) = cols else { return false };
    let desc = order[0].desc;
    if order
        .iter()
        .any(|t| t.desc != desc || t.nulls_first == t.desc)
    {
        return false;
    }
    let is_rowid = |c: u16| c == ROWID || Some(c as usize) == def.rowid_alias;
    match &mut s0.access {
        Access::Scan { reverse } | Access::RowidRange { reverse, .. } => {
            if is_rowid(cols[0]) {
                *reverse = desc;
                return true;
            }
            false
        }
        Access::RowidEq(..) => true,
        Access::Index {
            index, eq, reverse, ..
        } => {
            let n = eq.len();
            let mut pos = n;
            for (i, &c) in cols.iter().enumerate() {
                // Terms on equality-bound columns are constant and can be skipped.
                if index.columns[..n].iter().any(|ic| ic.column as u16 == c) {
                    continue;
                }
                if is_rowid(c) && pos == index.columns.len() {
                    return i == cols.len() - 1 && !index.columns.iter().any(|ic| ic.desc);
                }
                match index.columns.get(pos) {
                    Some(ic)
                        if ic.column as u16 == c && ic.collation == order[i].coll && !ic.desc =>
                    {
                        pos += 1
                    }
                    _ => return false,
                }
            }
            *reverse = desc;
            true
        }
        _ => false,
    }
}

/// Wrap a query so an outer ORDER BY / LIMIT applies after its own.
fn wrap(inner: QueryPlan) -> QueryPlan {
    let columns = inner.columns.clone();
    let n = columns.len();
    let sub = Arc::new(SubPlan {
        plan: inner,
        correlated: false,
        outer_mask: 0,
    });
    let source = Source {
        kind: SourceKind::Derived(sub),
        name: "(subquery)".into(),
        ncols: n,
        join: JoinKind::Inner,
        access: Access::Scan { reverse: false },
        on: vec![],
        filters: vec![],
        needed: vec![true; n],
    };
    let proj = (0..n)
        .map(|i| Expr::Col {
            up: 0,
            src: 0,
            col: i as u16,
        })
        .collect();
    let sp = SelectPlan {
        sources: vec![source],
        pre: vec![],
        proj,
        extra: vec![],
        agg: None,
        distinct: false,
    };
    QueryPlan {
        body: QueryBody::Select(Box::new(sp)),
        columns,
        order: vec![],
        presorted: false,
        limit: None,
        offset: None,
        header: Default::default(),
        point: None,
    }
}

/// EXPLAIN QUERY PLAN rows: (id, parent, detail).
pub(crate) fn explain(stmt: &CompiledStmt, _query_plan: bool) -> Vec<(i64, i64, String)> {
    let mut out = Vec::new();
    let mut next = 1i64;
    match stmt {
        CompiledStmt::Query(q) => explain_query(q, 0, &mut next, &mut out),
        CompiledStmt::Update(u) => explain_select(&u.scan, 0, &mut next, &mut out),
        CompiledStmt::Delete(d) => explain_select(&d.scan, 0, &mut next, &mut out),
        CompiledStmt::Insert(i) => {
            if let super::InsertSource::Query(q) = &i.source {
                explain_query(q, 0, &mut next, &mut out)
            }
        }
        _ => {}
    }
    out
}

fn explain_query(q: &QueryPlan, parent: i64, next: &mut i64, out: &mut Vec<(i64, i64, String)>) {
    match &q.body {
        QueryBody::Select(s) => explain_select(s, parent, next, out),
        QueryBody::Values(rows) => {
            let id = *next;
            *next += 1;
            out.push((id, parent, format!("SCAN {} CONSTANT ROWS", rows.len())));
        }
        QueryBody::Compound(op, l, r) => {
            let id = *next;
            *next += 1;
            out.push((id, parent, "COMPOUND QUERY".into()));
            let lid = *next;
            *next += 1;
            out.push((lid, id, "LEFT-MOST SUBQUERY".into()));
            explain_query(l, lid, next, out);
            let rid = *next;
            *next += 1;
            let name = match op {
                SetOp::Union => "UNION USING TEMP B-TREE",
                SetOp::UnionAll => "UNION ALL",
                SetOp::Intersect => "INTERSECT USING TEMP B-TREE",
                SetOp::Except => "EXCEPT USING TEMP B-TREE",
            };
            out.push((rid, id, name.into()));
            explain_query(r, rid, next, out);
        }
    }
    if !q.order.is_empty() && !q.presorted {
        let id = *next;
        *next += 1;
        out.push((id, parent, "USE TEMP B-TREE FOR ORDER BY".into()));
    }
}

fn describe_bounds(col: &str, lo: &Option<Bound>, hi: &Option<Bound>, parts: &mut Vec<String>) {
    if let Some(b) = lo {
        parts.push(format!("{col}{}?", if b.inclusive { ">=" } else { ">" }));
    }
    if let Some(b) = hi {
        parts.push(format!("{col}{}?", if b.inclusive { "<=" } else { "<" }));
    }
}

fn explain_select(s: &SelectPlan, parent: i64, next: &mut i64, out: &mut Vec<(i64, i64, String)>) {
    if s.sources.is_empty() {
        return;
    }
    for src in &s.sources {
        let id = *next;
        *next += 1;
        let detail = match &src.kind {
            SourceKind::Derived(sub) => {
                out.push((id, parent, format!("CO-ROUTINE {}", src.name)));
                explain_query(&sub.plan, id, next, out);
                let sid = *next;
                *next += 1;
                out.push((sid, parent, format!("SCAN {}", src.name)));
                continue;
            }
            SourceKind::Table { def, .. } => {
                let tname = if src.name.eq_ignore_ascii_case(&def.name) {
                    def.name.clone()
                } else {
                    format!("{} AS {}", def.name, src.name)
                };
                match &src.access {
                    Access::Scan { .. } => format!("SCAN {tname}"),
                    Access::RowidEq(..) => {
                        format!("SEARCH {tname} USING INTEGER PRIMARY KEY (rowid=?)")
                    }
                    Access::RowidIn(..) => {
                        format!("SEARCH {tname} USING INTEGER PRIMARY KEY (rowid=?)")
                    }
                    Access::RowidRange { lo, hi, .. } => {
                        let mut parts = Vec::new();
                        describe_bounds("rowid", lo, hi, &mut parts);
                        format!(
                            "SEARCH {tname} USING INTEGER PRIMARY KEY ({})",
                            parts.join(" AND ")
                        )
                    }
                    Access::Index {
                        index, eq, lo, hi, ..
                    } => {
                        let names: Vec<String> = index
                            .columns
                            .iter()
                            .map(|c| def.columns[c.column].name.clone())
                            .collect();
                        if eq.is_empty() && lo.is_none() && hi.is_none() {
                            format!("SCAN {tname} USING INDEX {}", index.name)
                        } else {
                            let mut parts: Vec<String> = names
                                .iter()
                                .take(eq.len())
                                .map(|n| format!("{n}=?"))
                                .collect();
                            if let Some(n) = names.get(eq.len()) {
                                describe_bounds(n, lo, hi, &mut parts);
                            }
                            format!(
                                "SEARCH {tname} USING INDEX {} ({})",
                                index.name,
                                parts.join(" AND ")
                            )
                        }
                    }
                    Access::IndexIn { index, .. } => {
                        let n = &def.columns[index.columns[0].column].name;
                        format!("SEARCH {tname} USING INDEX {} ({n}=?)", index.name)
                    }
                }
            }
        };
        out.push((id, parent, detail));
    }
    if let Some(a) = &s.agg {
        if !a.group_by.is_empty() {
            let id = *next;
            *next += 1;
            out.push((id, parent, "USE TEMP B-TREE FOR GROUP BY".into()));
        }
    }
    if s.distinct {
        let id = *next;
        *next += 1;
        out.push((id, parent, "USE TEMP B-TREE FOR DISTINCT".into()));
    }
    let _ = Value::Null;
    let _: Option<&IndexDef> = None;
    let _: Option<Info> = None;
}

/// `sqlite_master` (alias `sqlite_schema`) as SQLite shows it: one row per table, index, view
/// and trigger with its CREATE text, so tools that list a schema through it (the sqlite3
/// shell's `.tables`, ORMs, rqlite clients) work unchanged. It is planned as constant rows
/// taken from the catalog; a cached plan is tied to its schema id, so the rows cannot go
/// stale. `rootpage` has no meaning here and counts up from 2 as a stand-in.
fn schema_table(cat: &crate::catalog::Catalog) -> QueryPlan {
    let text = |s: &str| Expr::Lit(Value::Text(s.into()));
    let mut rows: Vec<Vec<Expr>> = Vec::new();
    let mut page = 1i64;
    let mut push = |kind: &str, name: &str, tbl: &str, sql: Option<&str>, paged: bool| {
        let root = if paged {
            page += 1;
            page
        } else {
            0
        };
        rows.push(vec![
            text(kind),
            text(name),
            text(tbl),
            Expr::Lit(Value::Integer(root)),
            sql.map(text).unwrap_or(Expr::Lit(Value::Null)),
        ]);
    };
    let table_name = |key: &str| {
        cat.table(key)
            .map(|t| t.name.clone())
            .or_else(|| cat.view(key).map(|v| v.name.clone()))
            .unwrap_or_else(|| key.to_string())
    };
    for t in cat.tables() {
        push("table", &t.name, &t.name, Some(&t.sql), true);
        for ix in cat.indexes_of(&norm(&t.name)) {
            push("index", &ix.name, &t.name, ix.sql.as_deref(), true);
        }
    }
    for v in cat.views() {
        push("view", &v.name, &v.name, Some(&v.sql), false);
    }
    for tr in cat.triggers() {
        push(
            "trigger",
            &tr.name,
            &table_name(&tr.table),
            Some(&tr.sql),
            false,
        );
    }
    let columns = [
        ("type", "text"),
        ("name", "text"),
        ("tbl_name", "text"),
        ("rootpage", "int"),
        ("sql", "text"),
    ]
    .iter()
    .map(|(n, t)| OutCol {
        name: n.to_string(),
        decl_type: t.to_string(),
        affinity: None,
        collation: None,
    })
    .collect();
    QueryPlan {
        body: QueryBody::Values(rows),
        columns,
        order: vec![],
        presorted: false,
        limit: None,
        offset: None,
        header: Default::default(),
        point: None,
    }
}
