//! Executing DDL: CREATE/DROP TABLE, INDEX, VIEW, TRIGGER, ALTER TABLE, REINDEX. Each builds
//! an edited copy of the catalog (new schema id) and adjusts the table data; the statement
//! savepoint makes a failure leave no trace. Stored `sql` texts are canonical renderings
//! that re-parse to the same object, so a snapshot can rebuild the catalog from them.

use std::sync::Arc;

use sqlparser::ast::{self, VisitMut};

use super::write::{index_key, Outcome};
use super::{Frame, Reader, Runtime};
use crate::catalog::{
    norm, IndexColumn, IndexDef, TableDef, TriggerDef, TriggerEvent, TriggerTiming, ViewDef,
};
use crate::codec::key::decode_rowid;
use crate::error::{Error, Result};
use crate::parse::{parse, Parsed, SourceText};
use crate::plan::compile::Compiler;
use crate::plan::ddl::{column, index_columns_for, table_def};
use crate::plan::select::plain_name;
use crate::state::{State, TableData};
use crate::store::IndexStore;
use crate::value::Value;

fn reparse(sql: &str) -> Result<ast::Statement> {
    match parse(sql)?.into_iter().next() {
        Some(Parsed::Stmt(s)) => Ok(*s),
        _ => Err(Error::sql(format!(
            "internal: cannot re-parse schema text: {sql}"
        ))),
    }
}

fn name_in_use(st: &State, name: &str, what: &str) -> Result<()> {
    match st.catalog.name_taken(name) {
        Some(kind) if kind == what => Err(Error::sql(format!("{kind} {name} already exists"))),
        Some("index") => Err(Error::sql(format!(
            "there is already an index named {name}"
        ))),
        Some(kind) => Err(Error::sql(format!(
            "there is already a {kind} named {name}"
        ))),
        None => Ok(()),
    }
}

/// Execute a DDL statement.
pub(crate) fn execute(
    st: &mut State,
    rt: &Runtime<'_>,
    s: &ast::Statement,
    sql: &str,
) -> Result<Outcome> {
    match s {
        ast::Statement::CreateTable(ct) => create_table(st, rt, ct, sql),
        ast::Statement::CreateIndex(ci) => create_index(st, rt, ci),
        ast::Statement::CreateView(cv) => create_view(st, cv),
        ast::Statement::CreateTrigger(ct) => create_trigger(st, ct),
        ast::Statement::Drop {
            object_type,
            if_exists,
            names,
            ..
        } => {
            for n in names {
                let name = plain_name(n)?;
                match object_type {
                    ast::ObjectType::Table => drop_table(st, &name, *if_exists)?,
                    ast::ObjectType::View => drop_view(st, &name, *if_exists)?,
                    ast::ObjectType::Index => drop_index(st, &name, *if_exists)?,
                    other => return Err(Error::Unsupported(format!("DROP {other}"))),
                }
            }
            Ok(Outcome::default())
        }
        ast::Statement::DropTrigger(dt) => {
            let name = plain_name(&dt.trigger_name)?;
            if st.catalog.trigger(&name).is_none() {
                if dt.if_exists {
                    return Ok(Outcome::default());
                }
                return Err(Error::sql(format!("no such trigger: {name}")));
            }
            let mut cat = st.catalog.edit();
            cat.triggers.remove(&norm(&name));
            st.catalog = Arc::new(cat);
            Ok(Outcome::default())
        }
        ast::Statement::AlterTable(at) => alter_table(st, rt, at),
        _ => Err(Error::sql("not a schema statement")),
    }
}

pub(crate) fn reindex(st: &State, name: &Option<String>) -> Result<Outcome> {
    if let Some(n) = name {
        if st.catalog.index(n).is_none() && st.catalog.table(n).is_none() {
            return Err(Error::sql("unable to identify the object to be reindexed"));
        }
    }
    // Index entries are maintained eagerly and never go stale; nothing to rebuild.
    Ok(Outcome::default())
}

fn create_table(
    st: &mut State,
    rt: &Runtime<'_>,
    ct: &ast::CreateTable,
    sql: &str,
) -> Result<Outcome> {
    let name = plain_name(&ct.name)?;
    if st.catalog.name_taken(&name).is_some() {
        if ct.if_not_exists && st.catalog.table(&name).is_some() {
            return Ok(Outcome::default());
        }
        name_in_use(st, &name, "table")?;
    }
    if let Some(q) = &ct.query {
        return create_table_as(st, rt, &name, q, sql);
    }
    let text = SourceText::new(sql);
    let nt = table_def(ct, &text)?;
    install_table(st, nt.def, nt.unique)
}

fn install_table(st: &mut State, def: TableDef, unique: Vec<Vec<IndexColumn>>) -> Result<Outcome> {
    let key = norm(&def.name);
    let mut cat = st.catalog.edit();
    let mut td = TableData::default();
    for (i, cols) in unique.into_iter().enumerate() {
        let iname = format!("sqlite_autoindex_{}_{}", def.name, i + 1);
        td.indexes.insert(norm(&iname).into(), IndexStore::new());
        cat.indexes.insert(
            norm(&iname),
            Arc::new(IndexDef {
                name: iname,
                table: key.clone(),
                columns: cols,
                unique: true,
                constraint: true,
                sql: None,
            }),
        );
    }
    cat.tables.insert(key.clone(), Arc::new(def));
    st.catalog = Arc::new(cat);
    st.tables.insert(key.into(), td);
    Ok(Outcome::default())
}

fn create_table_as(
    st: &mut State,
    rt: &Runtime<'_>,
    name: &str,
    q: &ast::Query,
    sql: &str,
) -> Result<Outcome> {
    let cat = st.catalog.clone();
    let mut c = Compiler::new(&cat, sql);
    let plan = c.query(q)?;
    let mut rows = Vec::new();
    Reader::new(st, rt, super::ParamRef::NONE).run_query(&plan, None, &mut |r| {
        rows.push(r);
        Ok(true)
    })?;
    let mut cols = Vec::new();
    for (i, oc) in plan.columns.iter().enumerate() {
        let mut n = oc.name.clone();
        if cols.iter().any(|c: &String| c.eq_ignore_ascii_case(&n)) {
            n = format!("{n}:{i}");
        }
        cols.push(n);
    }
    let col_sql: Vec<String> = plan
        .columns
        .iter()
        .zip(&cols)
        .map(|(oc, n)| {
            let t = oc.affinity.map(|a| a.name_for_create_as()).unwrap_or("");
            let q = format!("\"{}\"", n.replace('"', "\"\""));
            if t.is_empty() {
                q
            } else {
                format!("{q} {t}")
            }
        })
        .collect();
    let create = format!(
        "CREATE TABLE \"{}\" ({})",
        name.replace('"', "\"\""),
        col_sql.join(", ")
    );
    let ct = match reparse(&create)? {
        ast::Statement::CreateTable(ct) => ct,
        _ => return Err(Error::sql("internal: CREATE TABLE AS rendering")),
    };
    let nt = table_def(&ct, &SourceText::new(&create))?;
    let def = nt.def;
    let key = norm(&def.name);
    install_table(st, def.clone(), nt.unique)?;
    let td = st
        .tables
        .get_mut(key.as_str())
        .ok_or_else(|| Error::NoSuchTable(name.into()))?;
    for (i, r) in rows.into_iter().enumerate() {
        let vals: Vec<Value> = r
            .into_iter()
            .zip(&def.columns)
            .map(|(v, c)| c.affinity.apply(v))
            .collect();
        let mut buf = Vec::new();
        super::write::encode_row(&def, &vals, &mut buf);
        td.rows
            .put(&crate::codec::key::rowid_key(i as i64 + 1), &buf);
    }
    Ok(Outcome::default())
}

fn drop_table(st: &mut State, name: &str, if_exists: bool) -> Result<()> {
    if st.catalog.table(name).is_none() {
        if st.catalog.view(name).is_some() {
            return Err(Error::sql(
                "use DROP VIEW to delete view ".to_string() + name,
            ));
        }
        if if_exists {
            return Ok(());
        }
        return Err(Error::NoSuchTable(name.into()));
    }
    let key = norm(name);
    let mut cat = st.catalog.edit();
    cat.tables.remove(&key);
    cat.indexes.retain(|_, i| i.table != key);
    cat.triggers.retain(|_, t| t.table != key);
    st.catalog = Arc::new(cat);
    st.tables.remove(key.as_str());
    Ok(())
}

fn drop_view(st: &mut State, name: &str, if_exists: bool) -> Result<()> {
    if st.catalog.view(name).is_none() {
        if st.catalog.table(name).is_some() {
            return Err(Error::sql(
                "use DROP TABLE to delete table ".to_string() + name,
            ));
        }
        if if_exists {
            return Ok(());
        }
        return Err(Error::sql(format!("no such view: {name}")));
    }
    let key = norm(name);
    let mut cat = st.catalog.edit();
    cat.views.remove(&key);
    cat.triggers.retain(|_, t| t.table != key);
    st.catalog = Arc::new(cat);
    Ok(())
}

fn drop_index(st: &mut State, name: &str, if_exists: bool) -> Result<()> {
    let Some(ix) = st.catalog.index(name).cloned() else {
        if if_exists {
            return Ok(());
        }
        return Err(Error::sql(format!("no such index: {name}")));
    };
    if ix.constraint {
        return Err(Error::sql(format!(
            "index associated with UNIQUE or PRIMARY KEY constraint cannot be dropped: {name}"
        )));
    }
    let key = norm(name);
    let mut cat = st.catalog.edit();
    cat.indexes.remove(&key);
    st.catalog = Arc::new(cat);
    if let Some(td) = st.tables.get_mut(ix.table.as_str()) {
        td.indexes.remove(key.as_str());
    }
    Ok(())
}

/// Build an index's entries from a table's rows, enforcing uniqueness.
fn build_index(
    td: &TableData,
    def: &TableDef,
    ix: &IndexDef,
    rt: &Runtime<'_>,
) -> Result<IndexStore> {
    let mut store = IndexStore::new();
    let mut prev: Option<(Vec<u8>, bool)> = None;
    let mut entries = Vec::new();
    for (k, v) in td.rows.iter(false) {
        rt.tick()?;
        let rowid =
            decode_rowid(k).ok_or_else(|| Error::sql("database disk image is malformed"))?;
        let mut buf = super::RowBuf::new(def.columns.len());
        Reader::load(def, k, v, &[], &mut buf)?;
        entries.push(index_key(ix, &buf.vals, rowid));
        let _ = &mut prev;
    }
    entries.sort();
    for e in &entries {
        let unique_part = &e[..e.len() - 8];
        if ix.unique {
            if let Some((p, has_null)) = &prev {
                if !has_null && p.as_slice() == unique_part {
                    let cols: Vec<String> = ix
                        .columns
                        .iter()
                        .map(|c| format!("{}.{}", def.name, def.columns[c.column].name))
                        .collect();
                    return Err(Error::Constraint(format!(
                        "UNIQUE constraint failed: {}",
                        cols.join(", ")
                    )));
                }
            }
            // NULLs are distinct: an entry with a NULL column never conflicts.
            let has_null = contains_null_component(unique_part, ix);
            prev = Some((unique_part.to_vec(), has_null));
        }
        store.put(e, &[]);
    }
    Ok(store)
}

/// Whether an encoded index prefix has a NULL column (re-walks the encoding).
fn contains_null_component(mut k: &[u8], ix: &IndexDef) -> bool {
    for c in &ix.columns {
        let tag = if c.desc {
            !k.first().copied().unwrap_or(0)
        } else {
            k.first().copied().unwrap_or(0)
        };
        let len = match tag {
            0x10 => 1,
            0x20 => 11,
            0x30 | 0x40 => {
                let mut i = 1;
                loop {
                    let b = |j: usize| {
                        if c.desc {
                            !k.get(j).copied().unwrap_or(0)
                        } else {
                            k.get(j).copied().unwrap_or(0)
                        }
                    };
                    if i + 1 >= k.len() {
                        break k.len();
                    }
                    if b(i) == 0 {
                        if b(i + 1) == 0 {
                            break i + 2;
                        }
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            _ => return false,
        };
        if tag == 0x10 {
            return true;
        }
        k = &k[len.min(k.len())..];
    }
    false
}

fn create_index(st: &mut State, rt: &Runtime<'_>, ci: &ast::CreateIndex) -> Result<Outcome> {
    let Some(name) = &ci.name else {
        return Err(Error::Syntax("near \"ON\": syntax error".into()));
    };
    let name = plain_name(name)?;
    if ci.predicate.is_some() {
        return Err(Error::Unsupported("partial indexes".into()));
    }
    if ci.using.is_some() || !ci.include.is_empty() || !ci.with.is_empty() || ci.concurrently {
        return Err(Error::Unsupported("CREATE INDEX option".into()));
    }
    if st.catalog.name_taken(&name).is_some() {
        if ci.if_not_exists && st.catalog.index(&name).is_some() {
            return Ok(Outcome::default());
        }
        name_in_use(st, &name, "index")?;
    }
    if name.to_ascii_lowercase().starts_with("sqlite_") {
        return Err(Error::sql(format!(
            "object name reserved for internal use: {name}"
        )));
    }
    let tname = plain_name(&ci.table_name)?;
    let Some(def) = st.catalog.table(&tname).cloned() else {
        if st.catalog.view(&tname).is_some() {
            return Err(Error::sql(format!("views may not be indexed: {tname}")));
        }
        return Err(Error::NoSuchTable(tname));
    };
    let columns = index_columns_for(&ci.columns, &def)?;
    let key = norm(&def.name);
    let ix = IndexDef {
        name: name.clone(),
        table: key.clone(),
        columns,
        unique: ci.unique,
        constraint: false,
        sql: Some(ast::Statement::CreateIndex(ci.clone()).to_string()),
    };
    let td = st
        .tables
        .get(key.as_str())
        .ok_or_else(|| Error::NoSuchTable(tname.clone()))?;
    let store = build_index(td, &def, &ix, rt)?;
    let mut cat = st.catalog.edit();
    cat.indexes.insert(norm(&name), Arc::new(ix));
    st.catalog = Arc::new(cat);
    if let Some(td) = st.tables.get_mut(key.as_str()) {
        td.indexes.insert(norm(&name).into(), store);
    }
    Ok(Outcome::default())
}

fn create_view(st: &mut State, cv: &ast::CreateView) -> Result<Outcome> {
    if cv.materialized || cv.or_replace || cv.or_alter || cv.to.is_some() {
        return Err(Error::Unsupported("CREATE VIEW option".into()));
    }
    let name = plain_name(&cv.name)?;
    if st.catalog.name_taken(&name).is_some() {
        if cv.if_not_exists && st.catalog.view(&name).is_some() {
            return Ok(Outcome::default());
        }
        name_in_use(st, &name, "view")?;
    }
    let sql = ast::Statement::CreateView(cv.clone()).to_string();
    let query = match reparse(&sql)? {
        ast::Statement::CreateView(v) => v.query,
        _ => return Err(Error::sql("internal: CREATE VIEW rendering")),
    };
    let view = ViewDef {
        name: name.clone(),
        columns: cv.columns.iter().map(|c| c.name.value.clone()).collect(),
        query: Arc::new(*query),
        sql,
    };
    // Like SQLite, a view is only parsed here; names resolve when it is used.
    let mut cat = st.catalog.edit();
    cat.views.insert(norm(&name), Arc::new(view));
    st.catalog = Arc::new(cat);
    Ok(Outcome::default())
}

fn create_trigger(st: &mut State, ct: &ast::CreateTrigger) -> Result<Outcome> {
    if ct.or_replace
        || ct.or_alter
        || ct.is_constraint
        || ct.exec_body.is_some()
        || !ct.referencing.is_empty()
        || ct.referenced_table_name.is_some()
    {
        return Err(Error::Unsupported("CREATE TRIGGER option".into()));
    }
    let name = plain_name(&ct.name)?;
    if st.catalog.trigger(&name).is_some() {
        return Err(Error::sql(format!("trigger {name} already exists")));
    }
    let tname = plain_name(&ct.table_name)?;
    let timing = match ct.period {
        None | Some(ast::TriggerPeriod::Before) => TriggerTiming::Before,
        Some(ast::TriggerPeriod::After) => TriggerTiming::After,
        Some(ast::TriggerPeriod::InsteadOf) => {
            return Err(Error::Unsupported("INSTEAD OF triggers".into()))
        }
        Some(ast::TriggerPeriod::For) => {
            return Err(Error::Syntax("near \"FOR\": syntax error".into()))
        }
    };
    if st.catalog.table(&tname).is_none() {
        if st.catalog.view(&tname).is_some() {
            return Err(Error::sql(format!(
                "cannot create {} trigger on view: {tname}",
                if timing == TriggerTiming::Before {
                    "BEFORE"
                } else {
                    "AFTER"
                }
            )));
        }
        return Err(Error::NoSuchTable(format!("main.{tname}")));
    }
    if let Some(
        ast::TriggerObjectKind::For(ast::TriggerObject::Statement)
        | ast::TriggerObjectKind::ForEach(ast::TriggerObject::Statement),
    ) = ct.trigger_object
    {
        return Err(Error::Unsupported("FOR EACH STATEMENT triggers".into()));
    }
    let [event] = ct.events.as_slice() else {
        return Err(Error::Syntax("a trigger has exactly one event".into()));
    };
    let event = match event {
        ast::TriggerEvent::Insert => TriggerEvent::Insert,
        ast::TriggerEvent::Delete => TriggerEvent::Delete,
        ast::TriggerEvent::Update(cols) => {
            TriggerEvent::Update(cols.iter().map(|c| c.value.clone()).collect())
        }
        ast::TriggerEvent::Truncate => {
            return Err(Error::Syntax("near \"TRUNCATE\": syntax error".into()))
        }
    };
    let sql = ast::Statement::CreateTrigger(ct.clone()).to_string();
    let parsed = match reparse(&sql)? {
        ast::Statement::CreateTrigger(t) => t,
        _ => return Err(Error::sql("internal: CREATE TRIGGER rendering")),
    };
    let body = match &parsed.statements {
        Some(ast::ConditionalStatements::BeginEnd(b)) => b.statements.clone(),
        Some(ast::ConditionalStatements::Sequence { statements }) => statements.clone(),
        None => return Err(Error::Syntax("trigger body missing".into())),
    };
    if body.is_empty() {
        return Err(Error::Syntax("near \"END\": syntax error".into()));
    }
    let def = TriggerDef {
        name: name.clone(),
        table: norm(&tname),
        timing,
        event,
        when: parsed.condition.clone(),
        body,
        sql,
    };
    let mut cat = st.catalog.edit();
    cat.triggers.insert(norm(&name), Arc::new(def));
    st.catalog = Arc::new(cat);
    Ok(Outcome::default())
}

fn table_ast(def: &TableDef) -> Result<ast::CreateTable> {
    match reparse(&def.sql)? {
        ast::Statement::CreateTable(ct) => Ok(ct),
        _ => Err(Error::sql(
            "internal: stored table text is not CREATE TABLE",
        )),
    }
}

fn alter_table(st: &mut State, rt: &Runtime<'_>, at: &ast::AlterTable) -> Result<Outcome> {
    let name = plain_name(&at.name)?;
    let Some(def) = st.catalog.table(&name).cloned() else {
        if at.if_exists {
            return Ok(Outcome::default());
        }
        return Err(Error::NoSuchTable(name));
    };
    let [op] = at.operations.as_slice() else {
        return Err(Error::Syntax(
            "ALTER TABLE takes exactly one operation".into(),
        ));
    };
    let key = norm(&def.name);
    match op {
        ast::AlterTableOperation::AddColumn {
            column_def,
            if_not_exists,
            ..
        } => {
            if def.column_index(&column_def.name.value).is_some() {
                if *if_not_exists {
                    return Ok(Outcome::default());
                }
                return Err(Error::sql(format!(
                    "duplicate column name: {}",
                    column_def.name.value
                )));
            }
            let text_sql = column_def.to_string();
            let mut parts = column(column_def, &SourceText::new(&text_sql))?;
            if parts.primary_key {
                return Err(Error::sql("Cannot add a PRIMARY KEY column"));
            }
            if parts.unique {
                return Err(Error::sql("Cannot add a UNIQUE column"));
            }
            // The default fills every existing row, so it must be a constant.
            let fill = match &parts.col.default {
                None => Value::Null,
                Some(d) => {
                    let mut c = Compiler::new(&st.catalog, &text_sql);
                    c.scopes.push(crate::plan::scope::ScopeFrame::new(true));
                    let e = c.expr(d)?;
                    let mut constant = Compiler::is_constant(&e);
                    e.walk(&mut |x| {
                        if let crate::plan::Expr::Func(f, _) = x {
                            if matches!(
                                f,
                                crate::func::ScalarFn::Date
                                    | crate::func::ScalarFn::Time
                                    | crate::func::ScalarFn::DateTime
                                    | crate::func::ScalarFn::Random
                                    | crate::func::ScalarFn::RandomBlob
                            ) {
                                constant = false;
                            }
                        }
                    });
                    if !constant {
                        return Err(Error::sql("Cannot add a column with non-constant default"));
                    }
                    let v =
                        Reader::new(st, rt, super::ParamRef::NONE).eval(&e, &Frame::new(None))?;
                    parts.col.affinity.apply(v)
                }
            };
            let has_rows = st
                .tables
                .get(key.as_str())
                .is_some_and(|td| !td.rows.is_empty());
            if parts.col.not_null && fill.is_null() && has_rows {
                return Err(Error::sql(
                    "Cannot add a NOT NULL column with default value NULL",
                ));
            }
            parts.col.fill = fill;
            let mut ct = table_ast(&def)?;
            ct.columns.push(column_def.clone());
            let mut nd = (*def).clone();
            nd.columns.push(parts.col);
            nd.checks.extend(parts.checks);
            nd.sql = ct.to_string();
            let mut cat = st.catalog.edit();
            cat.tables.insert(key, Arc::new(nd));
            st.catalog = Arc::new(cat);
            Ok(Outcome::default())
        }
        ast::AlterTableOperation::RenameTable { table_name } => {
            let new_name = match table_name {
                ast::RenameTableNameKind::To(n) | ast::RenameTableNameKind::As(n) => plain_name(n)?,
            };
            if st.catalog.name_taken(&new_name).is_some() {
                return Err(Error::sql(format!(
                    "there is already another table or index with this name: {new_name}"
                )));
            }
            if new_name.to_ascii_lowercase().starts_with("sqlite_") {
                return Err(Error::sql(format!(
                    "object name reserved for internal use: {new_name}"
                )));
            }
            let new_key = norm(&new_name);
            let mut ct = table_ast(&def)?;
            ct.name = ast::ObjectName::from(vec![ast::Ident::with_quote('"', new_name.clone())]);
            let mut nd = (*def).clone();
            nd.name = new_name.clone();
            nd.sql = ct.to_string();
            let mut cat = st.catalog.edit();
            cat.tables.remove(&key);
            cat.tables.insert(new_key.clone(), Arc::new(nd));
            let ixs: Vec<(String, Arc<IndexDef>)> = cat
                .indexes
                .iter()
                .filter(|(_, i)| i.table == key)
                .map(|(k, i)| (k.clone(), i.clone()))
                .collect();
            for (k, ix) in ixs {
                let mut n = (*ix).clone();
                n.table = new_key.clone();
                if let Some(s) = &ix.sql {
                    if let Ok(ast::Statement::CreateIndex(mut ci)) = reparse(s) {
                        ci.table_name = ast::ObjectName::from(vec![ast::Ident::with_quote(
                            '"',
                            new_name.clone(),
                        )]);
                        n.sql = Some(ast::Statement::CreateIndex(ci).to_string());
                    }
                }
                cat.indexes.insert(k, Arc::new(n));
            }
            let trs: Vec<(String, Arc<TriggerDef>)> = cat
                .triggers
                .iter()
                .filter(|(_, t)| t.table == key)
                .map(|(k, t)| (k.clone(), t.clone()))
                .collect();
            for (k, t) in trs {
                let mut n = (*t).clone();
                n.table = new_key.clone();
                if let Ok(ast::Statement::CreateTrigger(mut ct)) = reparse(&t.sql) {
                    ct.table_name =
                        ast::ObjectName::from(vec![ast::Ident::with_quote('"', new_name.clone())]);
                    n.sql = ast::Statement::CreateTrigger(ct).to_string();
                }
                cat.triggers.insert(k, Arc::new(n));
            }
            st.catalog = Arc::new(cat);
            if let Some(td) = st.tables.remove(key.as_str()) {
                st.tables.insert(new_key.into(), td);
            }
            Ok(Outcome::default())
        }
        ast::AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let Some(ci) = def.column_index(&old_column_name.value) else {
                return Err(Error::sql(format!(
                    "no such column: \"{}\"",
                    old_column_name.value
                )));
            };
            if def.column_index(&new_column_name.value).is_some() {
                return Err(Error::sql(format!(
                    "duplicate column name: {}",
                    new_column_name.value
                )));
            }
            let old = def.columns[ci].name.clone();
            let new = new_column_name.value.clone();
            let mut ct = table_ast(&def)?;
            ct.columns[ci].name = ast::Ident::with_quote('"', new.clone());
            rename_identifiers(&mut ct, &old, &new);
            let sql = ct.to_string();
            let nt = table_def(&ct, &SourceText::new(&sql))?;
            let mut nd = nt.def;
            for (c, prev) in nd.columns.iter_mut().zip(&def.columns) {
                c.fill = prev.fill.clone();
            }
            let mut cat = st.catalog.edit();
            cat.tables.insert(key.clone(), Arc::new(nd));
            let ixs: Vec<(String, Arc<IndexDef>)> = cat
                .indexes
                .iter()
                .filter(|(_, i)| i.table == key && i.sql.is_some())
                .map(|(k, i)| (k.clone(), i.clone()))
                .collect();
            for (k, ix) in ixs {
                let mut n = (*ix).clone();
                if let Some(Ok(ast::Statement::CreateIndex(mut c))) =
                    ix.sql.as_ref().map(|s| reparse(s))
                {
                    for col in &mut c.columns {
                        rename_identifiers(&mut col.column.expr, &old, &new);
                    }
                    n.sql = Some(ast::Statement::CreateIndex(c).to_string());
                }
                cat.indexes.insert(k, Arc::new(n));
            }
            st.catalog = Arc::new(cat);
            Ok(Outcome::default())
        }
        other => Err(Error::Unsupported(format!(
            "ALTER TABLE {}",
            other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

/// Rename unqualified references to column `old` inside an AST node.
fn rename_identifiers<T: VisitMut>(node: &mut T, old: &str, new: &str) {
    use std::ops::ControlFlow;
    struct R<'a>(&'a str, &'a str);
    impl ast::VisitorMut for R<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
            if let ast::Expr::Identifier(id) = e {
                if id.value.eq_ignore_ascii_case(self.0) {
                    *id = ast::Ident::with_quote('"', self.1.to_string());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = node.visit(&mut R(old, new));
}
