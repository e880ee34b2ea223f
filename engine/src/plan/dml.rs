//! Planning INSERT / UPDATE / DELETE: target table and columns, the scan that finds the rows
//! to change (same access-path choice as SELECT), SET expressions, conflict handling
//! (`OR REPLACE|IGNORE|...`, `ON CONFLICT DO NOTHING|DO UPDATE`), the constraints to check
//! and RETURNING.

use std::sync::Arc;

use sqlparser::ast;

use super::compile::Compiler;
use super::scope::{table_source, ScopeFrame, ScopeSource};
use super::select::{plain_name, split_and};
use super::{
    Access, DeletePlan, Expr, InsertPlan, InsertSource, JoinKind, OnConflict, OutCol, Returning,
    SelectPlan, Source, SourceKind, TableProgram, UpdatePlan, Upsert,
};
use crate::catalog::{norm, TableDef};
use crate::error::{Error, Result};

/// SET targets: (column, value) pairs and an assignment to the rowid.
type Assignments = (Vec<(usize, Expr)>, Option<Expr>);

fn conflict(or: &Option<ast::SqliteOnConflict>) -> OnConflict {
    match or {
        None | Some(ast::SqliteOnConflict::Abort) => OnConflict::Abort,
        Some(ast::SqliteOnConflict::Fail) => OnConflict::Fail,
        Some(ast::SqliteOnConflict::Ignore) => OnConflict::Ignore,
        Some(ast::SqliteOnConflict::Replace) => OnConflict::Replace,
        Some(ast::SqliteOnConflict::Rollback) => OnConflict::Rollback,
    }
}

fn is_rowid_name(n: &str) -> bool {
    matches!(n.to_ascii_lowercase().as_str(), "rowid" | "oid" | "_rowid_")
}

impl<'a> Compiler<'a> {
    /// Resolve the target of a write; views and missing tables are errors.
    fn write_target(&self, name: &str) -> Result<(Arc<TableDef>, String)> {
        if let Some(t) = self.cat.table(name) {
            return Ok((t.clone(), norm(name)));
        }
        if self.cat.view(name).is_some() {
            return Err(Error::sql(format!(
                "cannot modify {name} because it is a view"
            )));
        }
        Err(Error::NoSuchTable(name.to_string()))
    }

    /// Constraint checks and defaults for writes to `def`.
    pub(crate) fn table_program(&mut self, def: &Arc<TableDef>, key: &str) -> Result<TableProgram> {
        self.scopes.push(ScopeFrame::new(true));
        let defaults: Result<Vec<Option<Expr>>> = def
            .columns
            .iter()
            .map(|c| c.default.as_ref().map(|d| self.expr(d)).transpose())
            .collect();
        self.scopes.pop();
        let defaults = defaults?;
        let mut frame = ScopeFrame::new(true);
        frame.add_source(table_source(def, &def.name));
        self.scopes.push(frame);
        let checks: Result<Vec<(Expr, String)>> = def
            .checks
            .iter()
            .map(|c| {
                Ok((
                    self.expr(&c.expr)?,
                    c.name.clone().unwrap_or_else(|| c.text.clone()),
                ))
            })
            .collect();
        self.scopes.pop();
        let indexes = self
            .cat
            .indexes_of(key)
            .map(|i| (i.clone(), Arc::from(norm(&i.name))))
            .collect();
        Ok(TableProgram {
            def: def.clone(),
            key: Arc::from(key),
            defaults,
            checks: checks?,
            indexes,
        })
    }

    fn returning(&mut self, items: &Option<Vec<ast::SelectItem>>) -> Result<Option<Returning>> {
        let Some(items) = items else { return Ok(None) };
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        let last = self.scopes.len() - 1;
        for it in items {
            match it {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let (x, info) = self.expr_info(e)?;
                    let bare = matches!(
                        e,
                        ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
                    );
                    let name = match it {
                        ast::SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        _ if bare => info.col_name.clone().unwrap_or_else(|| self.expr_text(e)),
                        _ => self.expr_text(e),
                    };
                    columns.push(OutCol {
                        name,
                        decl_type: if bare {
                            info.decl.clone().unwrap_or_default()
                        } else {
                            String::new()
                        },
                        affinity: info.affinity,
                        collation: info.coll,
                    });
                    exprs.push(x);
                }
                ast::SelectItem::Wildcard(_) => {
                    let src = &self.scopes[last].sources[0];
                    for (ci, c) in src.cols.iter().enumerate() {
                        exprs.push(Expr::Col {
                            up: 0,
                            src: 0,
                            col: ci as u16,
                        });
                        columns.push(OutCol {
                            name: c.display.clone(),
                            decl_type: c.decl_type.clone(),
                            affinity: c.affinity,
                            collation: Some(c.coll),
                        });
                    }
                }
                _ => return Err(Error::Unsupported("this RETURNING item".into())),
            }
        }
        let mut has_agg = false;
        for e in &exprs {
            e.walk(&mut |x| has_agg |= matches!(x, Expr::Agg(_)));
        }
        if has_agg {
            return Err(Error::sql(
                "aggregate functions are not allowed in RETURNING",
            ));
        }
        Ok(Some(Returning {
            exprs,
            columns,
            header: Default::default(),
        }))
    }

    pub(crate) fn insert(&mut self, ins: &ast::Insert) -> Result<InsertPlan> {
        if !ins.assignments.is_empty()
            || ins.partitioned.is_some()
            || !ins.after_columns.is_empty()
            || ins.overwrite
            || ins.output.is_some()
            || ins.insert_alias.is_some()
            || ins.settings.is_some()
            || ins.format_clause.is_some()
        {
            return Err(Error::Unsupported("INSERT clause".into()));
        }
        let name = match &ins.table {
            ast::TableObject::TableName(n) => plain_name(n)?,
            _ => return Err(Error::Unsupported("INSERT into a table function".into())),
        };
        let (def, key) = self.write_target(&name)?;
        let alias = ins
            .table_alias
            .as_ref()
            .map(|a| a.alias.value.clone())
            .unwrap_or_else(|| def.name.clone());
        let table = self.table_program(&def, &key)?;
        // Target columns.
        let targets: Vec<Option<usize>> = if ins.columns.is_empty() {
            (0..def.columns.len()).map(Some).collect()
        } else {
            let mut t = Vec::new();
            for c in &ins.columns {
                let n = plain_name(c)?;
                match def.column_index(&n) {
                    Some(i) => t.push(Some(i)),
                    None if is_rowid_name(&n) => t.push(None),
                    None => {
                        return Err(Error::sql(format!(
                            "table {} has no column named {n}",
                            def.name
                        )))
                    }
                }
            }
            t
        };
        let width = targets.len();
        let source = match &ins.source {
            None => InsertSource::Defaults,
            Some(q) => {
                let simple_values =
                    q.with.is_none() && q.order_by.is_none() && q.limit_clause.is_none();
                match (q.body.as_ref(), simple_values) {
                    (ast::SetExpr::Values(v), true) => {
                        self.scopes.push(ScopeFrame::new(true));
                        let rows: Result<Vec<Vec<Expr>>> = v
                            .rows
                            .iter()
                            .map(|r| r.content.iter().map(|e| self.expr(e)).collect())
                            .collect();
                        self.scopes.pop();
                        let rows = rows?;
                        for r in &rows {
                            if r.len() != width {
                                return Err(if ins.columns.is_empty() {
                                    Error::sql(format!(
                                        "table {} has {} columns but {} values were supplied",
                                        def.name,
                                        width,
                                        r.len()
                                    ))
                                } else {
                                    Error::sql(format!("{} values for {} columns", r.len(), width))
                                });
                            }
                        }
                        InsertSource::Values(rows)
                    }
                    _ => {
                        let plan = self.query(q)?;
                        if plan.columns.len() != width {
                            return Err(if ins.columns.is_empty() {
                                Error::sql(format!(
                                    "table {} has {} columns but {} values were supplied",
                                    def.name,
                                    width,
                                    plan.columns.len()
                                ))
                            } else {
                                Error::sql(format!(
                                    "{} values for {} columns",
                                    plan.columns.len(),
                                    width
                                ))
                            });
                        }
                        InsertSource::Query(Box::new(plan))
                    }
                }
            }
        };
        let or = if ins.replace_into {
            OnConflict::Replace
        } else if ins.ignore {
            OnConflict::Ignore
        } else {
            conflict(&ins.or)
        };
        let mut upsert = Vec::new();
        match &ins.on {
            None => {}
            Some(ast::OnInsert::DuplicateKeyUpdate(_)) => {
                return Err(Error::Unsupported("ON DUPLICATE KEY UPDATE".into()))
            }
            Some(ast::OnInsert::OnConflict(oc)) => {
                upsert.push(self.upsert(&def, &key, &alias, oc)?)
            }
            Some(_) => return Err(Error::Unsupported("this ON clause".into())),
        }
        let mut frame = ScopeFrame::new(true);
        frame.add_source(table_source(&def, &alias));
        self.scopes.push(frame);
        let returning = self.returning(&ins.returning);
        self.scopes.pop();
        Ok(InsertPlan {
            table,
            targets,
            source,
            or,
            upsert,
            returning: returning?,
        })
    }

    fn upsert(
        &mut self,
        def: &Arc<TableDef>,
        key: &str,
        alias: &str,
        oc: &ast::OnConflict,
    ) -> Result<Upsert> {
        let target = match &oc.conflict_target {
            None => None,
            Some(ast::ConflictTarget::OnConstraint(_)) => {
                return Err(Error::Unsupported("ON CONFLICT ON CONSTRAINT".into()))
            }
            Some(ast::ConflictTarget::Columns { columns, predicate }) => {
                if predicate.is_some() {
                    return Err(Error::Unsupported("ON CONFLICT target WHERE".into()));
                }
                let mut cols = Vec::new();
                for c in columns {
                    match def.column_index(&c.value) {
                        Some(i) => cols.push(i),
                        None => return Err(Error::NoSuchColumn(c.value.clone())),
                    }
                }
                let mut sorted = cols.clone();
                sorted.sort_unstable();
                let is_rowid = cols.len() == 1 && Some(cols[0]) == def.rowid_alias;
                let matches_index = self.cat.indexes_of(key).any(|ix| {
                    let mut ic: Vec<usize> = ix.columns.iter().map(|c| c.column).collect();
                    ic.sort_unstable();
                    ix.unique && ic == sorted
                });
                if !is_rowid && !matches_index {
                    return Err(Error::sql(
                        "ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint",
                    ));
                }
                Some(cols)
            }
        };
        match &oc.action {
            ast::OnConflictAction::DoNothing => Ok(Upsert {
                target,
                set: None,
                rowid_set: None,
                where_: None,
            }),
            ast::OnConflictAction::DoUpdate(du) => {
                let mut frame = ScopeFrame::new(true);
                frame.add_source(table_source(def, alias));
                let mut ex: ScopeSource = table_source(def, "excluded");
                ex.table = None;
                // `excluded.x` must be qualified; a bare name is the target table's column.
                for c in &mut ex.cols {
                    c.hidden = true;
                }
                frame.add_source(ex);
                self.scopes.push(frame);
                let r = (|| {
                    let (set, rowid_set) = self.assignments(def, &du.assignments)?;
                    let where_ = du.selection.as_ref().map(|w| self.expr(w)).transpose()?;
                    Ok(Upsert {
                        target,
                        set: Some(set),
                        rowid_set,
                        where_,
                    })
                })();
                self.scopes.pop();
                r
            }
        }
    }

    fn assignments(&mut self, def: &TableDef, list: &[ast::Assignment]) -> Result<Assignments> {
        let mut sets = Vec::new();
        let mut rowid_set = None;
        for a in list {
            let names: Vec<String> = match &a.target {
                ast::AssignmentTarget::ColumnName(n) => vec![plain_name(n)?],
                ast::AssignmentTarget::Tuple(ns) => {
                    ns.iter().map(plain_name).collect::<Result<_>>()?
                }
            };
            if names.len() != 1 {
                return Err(Error::Unsupported("row-value assignment".into()));
            }
            let n = &names[0];
            // The column name may be qualified (t.col).
            let n = n.rsplit('.').next().unwrap_or(n);
            let value = self.expr(&a.value)?;
            match def.column_index(n) {
                Some(i) if Some(i) == def.rowid_alias => rowid_set = Some(value),
                Some(i) => {
                    // A later assignment to the same column wins, as in SQLite.
                    sets.retain(|(c, _)| *c != i);
                    sets.push((i, value));
                }
                None if is_rowid_name(n) => rowid_set = Some(value),
                None => return Err(Error::NoSuchColumn(n.to_string())),
            }
        }
        Ok((sets, rowid_set))
    }

    /// The single-table scan behind UPDATE and DELETE; leaves the table's frame pushed so the
    /// caller can compile SET / RETURNING against it.
    fn write_scan(
        &mut self,
        def: &Arc<TableDef>,
        key: &str,
        alias: &str,
        selection: &Option<ast::Expr>,
        not_indexed: bool,
    ) -> Result<SelectPlan> {
        let mut frame = ScopeFrame::new(true);
        frame.add_source(table_source(def, alias));
        self.scopes.push(frame);
        let mut filters = Vec::new();
        if let Some(w) = selection {
            let mut parts = Vec::new();
            split_and(w, &mut parts);
            for p in parts {
                filters.push(self.expr(p)?);
            }
        }
        let cands: Vec<&Expr> = filters.iter().collect();
        let (access, consumed) = self.choose_access(0, def, &cands, not_indexed, None)?;
        super::select::remove_consumed(&mut filters, consumed);
        let source = Source {
            kind: SourceKind::Table {
                def: def.clone(),
                key: key.to_string(),
            },
            name: alias.to_string(),
            ncols: def.columns.len(),
            join: JoinKind::Inner,
            access,
            on: vec![],
            filters,
            needed: vec![true; def.columns.len()],
        };
        Ok(SelectPlan {
            sources: vec![source],
            pre: vec![],
            proj: vec![],
            extra: vec![],
            agg: None,
            distinct: false,
        })
    }

    fn single_table(&self, twj: &ast::TableWithJoins) -> Result<(String, Option<String>, bool)> {
        if !twj.joins.is_empty() {
            return Err(Error::Unsupported("joins in UPDATE/DELETE".into()));
        }
        match &twj.relation {
            ast::TableFactor::Table {
                name,
                alias,
                index_directives,
                ..
            } => {
                let n = plain_name(name)?;
                let not_indexed = index_directives
                    .iter()
                    .any(|d| matches!(d, ast::TableIndexDirective::NotIndexed));
                Ok((n, alias.as_ref().map(|a| a.name.value.clone()), not_indexed))
            }
            _ => Err(Error::Unsupported("UPDATE/DELETE target".into())),
        }
    }

    pub(crate) fn update(&mut self, u: &ast::Update) -> Result<UpdatePlan> {
        if u.from.is_some() {
            return Err(Error::Unsupported("UPDATE ... FROM".into()));
        }
        if !u.order_by.is_empty() || u.limit.is_some() {
            return Err(Error::Unsupported("UPDATE ... ORDER BY/LIMIT".into()));
        }
        if u.output.is_some() || u.on_cluster.is_some() || u.settings.is_some() {
            return Err(Error::Unsupported("UPDATE clause".into()));
        }
        let (name, alias, not_indexed) = self.single_table(&u.table)?;
        let (def, key) = self.write_target(&name)?;
        let table = self.table_program(&def, &key)?;
        let alias = alias.unwrap_or_else(|| def.name.clone());
        let scan = self.write_scan(&def, &key, &alias, &u.selection, not_indexed);
        let r = (|| {
            let scan = scan?;
            let (sets, rowid_set) = self.assignments(&def, &u.assignments)?;
            let returning = self.returning(&u.returning)?;
            Ok(UpdatePlan {
                table,
                scan,
                sets,
                rowid_set,
                or: conflict(&u.or),
                returning,
            })
        })();
        self.scopes.pop();
        r
    }

    pub(crate) fn delete(&mut self, d: &ast::Delete) -> Result<DeletePlan> {
        if !d.tables.is_empty()
            || d.using.is_some()
            || !d.order_by.is_empty()
            || d.limit.is_some()
            || d.output.is_some()
            || d.on_cluster.is_some()
        {
            return Err(Error::Unsupported("DELETE clause".into()));
        }
        let from = match &d.from {
            ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
        };
        let [twj] = from.as_slice() else {
            return Err(Error::Unsupported("DELETE from several tables".into()));
        };
        let (name, alias, not_indexed) = self.single_table(twj)?;
        let (def, key) = self.write_target(&name)?;
        let table = self.table_program(&def, &key)?;
        let alias = alias.unwrap_or_else(|| def.name.clone());
        let scan = self.write_scan(&def, &key, &alias, &d.selection, not_indexed);
        let r = (|| {
            let scan = scan?;
            let returning = self.returning(&d.returning)?;
            Ok(DeletePlan {
                table,
                scan,
                returning,
            })
        })();
        self.scopes.pop();
        let _ = Access::Scan { reverse: false };
        r
    }
}
