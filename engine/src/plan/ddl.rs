//! Turning `CREATE TABLE` (and `ALTER TABLE ADD COLUMN`) syntax into catalog definitions:
//! column affinity from the declared type, INTEGER PRIMARY KEY as the rowid alias, NOT NULL,
//! DEFAULT, COLLATE, CHECK, and the unique indexes that PRIMARY KEY / UNIQUE constraints
//! imply.

use sqlparser::ast;

use super::compile::Compiler;
use crate::affinity::Affinity;
use crate::catalog::{CheckDef, ColumnDef, IndexColumn, TableDef};
use crate::error::{Error, Result};
use crate::parse::SourceText;
use crate::value::{Collation, Value};

/// A table definition plus the unique indexes its constraints require, in declaration
/// order: (columns, from PRIMARY KEY).
pub(crate) struct NewTable {
    pub def: TableDef,
    pub unique: Vec<Vec<IndexColumn>>,
}

fn decl_type(dt: &ast::DataType) -> String {
    match dt {
        ast::DataType::Unspecified => String::new(),
        other => other.to_string(),
    }
}

fn collation(name: &ast::ObjectName) -> Result<Collation> {
    let n = name.to_string();
    let n = n.trim_matches(|c| c == '"' || c == '\'' || c == '`');
    Collation::from_name(n).ok_or_else(|| Error::sql(format!("no such collation sequence: {n}")))
}

/// A column definition (shared by CREATE TABLE and ADD COLUMN). Returns the column and
/// its column-level PRIMARY KEY / UNIQUE / CHECK / AUTOINCREMENT markers.
pub(crate) struct ColumnParts {
    pub col: ColumnDef,
    pub primary_key: bool,
    pub unique: bool,
    pub autoincrement: bool,
    pub checks: Vec<CheckDef>,
}

pub(crate) fn column(cd: &ast::ColumnDef, text: &SourceText<'_>) -> Result<ColumnParts> {
    let decl = decl_type(&cd.data_type);
    let mut col = ColumnDef {
        name: cd.name.value.clone(),
        affinity: Affinity::from_decl_type(&decl),
        decl_type: decl,
        not_null: false,
        default: None,
        collation: Collation::Binary,
        fill: Value::Null,
    };
    let mut parts = ColumnParts {
        col: col.clone(),
        primary_key: false,
        unique: false,
        autoincrement: false,
        checks: Vec::new(),
    };
    for opt in &cd.options {
        match &opt.option {
            ast::ColumnOption::Null => {}
            ast::ColumnOption::NotNull => col.not_null = true,
            ast::ColumnOption::Default(e) => col.default = Some(e.clone()),
            ast::ColumnOption::Collation(n) => col.collation = collation(n)?,
            ast::ColumnOption::PrimaryKey(_) => {
                if parts.primary_key {
                    return Err(Error::sql("table has more than one primary key"));
                }
                parts.primary_key = true;
            }
            ast::ColumnOption::Unique(_) => parts.unique = true,
            ast::ColumnOption::Check(c) => {
                let t = text
                    .slice(sqlparser::ast::Spanned::span(c.expr.as_ref()))
                    .map(str::to_string)
                    .unwrap_or_else(|| c.expr.to_string());
                parts.checks.push(CheckDef {
                    name: opt.name.as_ref().map(|n| n.value.clone()),
                    expr: (*c.expr).clone(),
                    text: t,
                });
            }
            // Foreign keys are parsed and not enforced, as in SQLite by default.
            ast::ColumnOption::ForeignKey(_) => {}
            ast::ColumnOption::DialectSpecific(toks) => {
                let t: String = toks
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                if t.eq_ignore_ascii_case("AUTOINCREMENT") {
                    parts.autoincrement = true;
                } else if !t.eq_ignore_ascii_case("ASC") && !t.eq_ignore_ascii_case("DESC") {
                    return Err(Error::Unsupported(format!("column option {t}")));
                }
            }
            ast::ColumnOption::OnConflict(_) => {
                return Err(Error::Unsupported(
                    "ON CONFLICT clause on a column constraint".into(),
                ))
            }
            ast::ColumnOption::Generated { .. } => {
                return Err(Error::Unsupported("generated columns".into()))
            }
            other => return Err(Error::Unsupported(format!("column option {other}"))),
        }
    }
    parts.col = col;
    Ok(parts)
}

fn index_columns(cols: &[ast::IndexColumn], def: &TableDef) -> Result<Vec<IndexColumn>> {
    let mut out = Vec::new();
    for ic in cols {
        let desc = matches!(ic.column.options.sort, Some(ast::OrderBySort::Desc));
        let (e, coll) = match &ic.column.expr {
            ast::Expr::Collate { expr, collation: c } => (expr.as_ref(), Some(collation(c)?)),
            e => (e, None),
        };
        let name = match e {
            ast::Expr::Identifier(id) => id.value.clone(),
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                _ => return Err(Error::Unsupported("indexes on expressions".into())),
            },
            ast::Expr::Function(f) => {
                // `UNIQUE (a(1))` style prefix lengths are MySQL syntax that SQLite rejects.
                return Err(Error::Syntax(format!("near \"(\": syntax error ({f})")));
            }
            _ => return Err(Error::Unsupported("indexes on expressions".into())),
        };
        let column = def
            .column_index(&name)
            .ok_or_else(|| Error::sql(format!("no such column: {name}")))?;
        out.push(IndexColumn {
            column,
            desc,
            collation: coll.unwrap_or(def.columns[column].collation),
        });
    }
    Ok(out)
}

pub(crate) fn index_columns_for(
    cols: &[ast::IndexColumn],
    def: &TableDef,
) -> Result<Vec<IndexColumn>> {
    index_columns(cols, def)
}

pub(crate) fn table_def(ct: &ast::CreateTable, text: &SourceText<'_>) -> Result<NewTable> {
    if ct.or_replace
        || ct.external
        || ct.like.is_some()
        || ct.clone.is_some()
        || ct.partition_of.is_some()
        || ct.inherits.is_some()
    {
        return Err(Error::Unsupported("CREATE TABLE variant".into()));
    }
    if let Some(o) = ct.sqlite_table_options.options.first() {
        return Err(Error::Unsupported(match o {
            ast::SqliteTableOption::WithoutRowid => "WITHOUT ROWID tables".into(),
            ast::SqliteTableOption::Strict => "STRICT tables".into(),
        }));
    }
    let name = super::select::plain_name(&ct.name)?;
    if name.to_ascii_lowercase().starts_with("sqlite_") {
        return Err(Error::sql(format!(
            "object name reserved for internal use: {name}"
        )));
    }
    let mut def = TableDef {
        name,
        columns: Vec::new(),
        rowid_alias: None,
        primary_key: Vec::new(),
        autoincrement: false,
        checks: Vec::new(),
        sql: ct
            .name
            .0
            .first()
            .and_then(|part| text.create_table_text(sqlparser::ast::Spanned::span(part).start))
            .unwrap_or_else(|| ct.to_string()),
    };
    let mut unique_cols: Vec<usize> = Vec::new();
    let mut pk_col: Option<usize> = None;
    let mut autoinc = false;
    for (i, cd) in ct.columns.iter().enumerate() {
        let parts = column(cd, text)?;
        if def.column_index(&parts.col.name).is_some() {
            return Err(Error::sql(format!(
                "duplicate column name: {}",
                parts.col.name
            )));
        }
        if parts.primary_key {
            if pk_col.is_some() {
                return Err(Error::sql(format!(
                    "table \"{}\" has more than one primary key",
                    def.name
                )));
            }
            pk_col = Some(i);
        }
        if parts.unique {
            unique_cols.push(i);
        }
        autoinc |= parts.autoincrement;
        def.checks.extend(parts.checks);
        def.columns.push(parts.col);
    }
    if def.columns.is_empty() {
        return Err(Error::sql("a table must have at least one column"));
    }
    let mut unique: Vec<Vec<IndexColumn>> = Vec::new();
    let mut pk: Option<Vec<IndexColumn>> = pk_col.map(|c| {
        vec![IndexColumn {
            column: c,
            desc: false,
            collation: def.columns[c].collation,
        }]
    });
    let mut table_uniques = Vec::new();
    for tc in &ct.constraints {
        match tc {
            ast::TableConstraint::PrimaryKey(p) => {
                if pk.is_some() {
                    return Err(Error::sql(format!(
                        "table \"{}\" has more than one primary key",
                        def.name
                    )));
                }
                pk = Some(index_columns(&p.columns, &def)?);
            }
            ast::TableConstraint::Unique(u) => table_uniques.push(index_columns(&u.columns, &def)?),
            ast::TableConstraint::Check(c) => {
                let t = text
                    .slice(sqlparser::ast::Spanned::span(c.expr.as_ref()))
                    .map(str::to_string)
                    .unwrap_or_else(|| c.expr.to_string());
                def.checks.push(CheckDef {
                    name: c.name.as_ref().map(|n| n.value.clone()),
                    expr: (*c.expr).clone(),
                    text: t,
                });
            }
            ast::TableConstraint::ForeignKey(_) => {}
            other => return Err(Error::Unsupported(format!("table constraint {other}"))),
        }
    }
    if let Some(pk) = pk {
        def.primary_key = pk.iter().map(|c| c.column).collect();
        let single = pk.len() == 1
            && def.columns[pk[0].column]
                .decl_type
                .eq_ignore_ascii_case("INTEGER")
            && !pk[0].desc;
        if single {
            def.rowid_alias = Some(pk[0].column);
        } else {
            unique.push(pk);
        }
    }
    if autoinc {
        if def.rowid_alias.is_none() {
            return Err(Error::sql(
                "AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY",
            ));
        }
        def.autoincrement = true;
    }
    for c in unique_cols {
        unique.push(vec![IndexColumn {
            column: c,
            desc: false,
            collation: def.columns[c].collation,
        }]);
    }
    unique.extend(table_uniques);
    Ok(NewTable { def, unique })
}

/// Checks made when a DDL statement is compiled (before it runs).
pub(crate) fn validate(c: &mut Compiler<'_>, s: &ast::Statement) -> Result<()> {
    if let ast::Statement::CreateTable(ct) = s {
        if ct.query.is_none() {
            table_def(ct, &c.text)?;
        }
    }
    Ok(())
}
