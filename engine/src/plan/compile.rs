//! The compiler's state and entry point: scope stack, parameter slots, visible CTEs, and the
//! dispatch from a parsed statement to the plan builders in the sibling modules.

use std::sync::Arc;

use sqlparser::ast;

use super::scope::{ScopeFrame, ScopeSource};
use super::{Compiled, CompiledStmt, Expr, ROWID};
use crate::affinity::Affinity;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::parse::{Parsed, SourceText};
use crate::value::Collation;

/// Most slots a statement may use (`?32766` in SQLite).
pub(crate) const MAX_PARAMS: usize = 32766;
/// Nesting of views/CTEs/subqueries the compiler follows before giving up.
const MAX_NESTING: usize = 64;

/// A CTE visible to the query being compiled.
#[derive(Debug, Clone)]
pub(crate) struct CteDef {
    pub name: String,
    pub columns: Vec<String>,
    pub query: Arc<ast::Query>,
}

/// Tracks what a subquery being compiled reads from outside itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubMark {
    /// Index of the subquery's first scope frame.
    pub base: usize,
    pub correlated: bool,
    /// Sources of frame `base - 1` that were read.
    pub outer_mask: u64,
}

/// Facts about a compiled expression the parent needs (comparison affinity and collation,
/// result-column metadata).
#[derive(Debug, Clone, Default)]
pub(crate) struct Info {
    pub affinity: Option<Affinity>,
    pub coll: Option<Collation>,
    pub explicit_coll: bool,
    /// Declared type when the expression is a bare column reference.
    pub decl: Option<String>,
    /// Column name when the expression is a bare column reference.
    pub col_name: Option<String>,
}

pub(crate) struct Compiler<'a> {
    pub cat: &'a Catalog,
    pub text: SourceText<'a>,
    pub scopes: Vec<ScopeFrame>,
    pub params: Vec<Option<String>>,
    pub ctes: Vec<CteDef>,
    pub subs: Vec<SubMark>,
    pub nesting: usize,
    /// Views being expanded (to report a view defined in terms of itself).
    pub views: Vec<String>,
    pub expr_depth: usize,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(cat: &'a Catalog, sql: &'a str) -> Compiler<'a> {
        Compiler {
            cat,
            text: SourceText::new(sql),
            scopes: Vec::new(),
            params: vec![None],
            ctes: Vec::new(),
            subs: Vec::new(),
            nesting: 0,
            views: Vec::new(),
            expr_depth: 0,
        }
    }

    pub(crate) fn enter(&mut self) -> Result<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Error::TooDeep);
        }
        Ok(())
    }

    /// Expressions nest deeper than queries; they have their own bound (the parser's).
    pub(crate) fn enter_expr(&mut self) -> Result<()> {
        self.expr_depth += 1;
        if self.expr_depth > crate::parse::MAX_DEPTH * 2 {
            return Err(Error::TooDeep);
        }
        Ok(())
    }

    pub(crate) fn leave_expr(&mut self) {
        self.expr_depth -= 1;
    }

    pub(crate) fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// Assign a parameter slot for a placeholder token (`?`, `?N`, `:name`, `@name`, `$name`).
    pub(crate) fn param(&mut self, token: &str) -> Result<Expr> {
        let max = self.params.len() - 1;
        if token == "?" {
            if max + 1 > MAX_PARAMS {
                return Err(Error::sql("too many SQL variables"));
            }
            self.params.push(None);
            return Ok(Expr::Param(max + 1));
        }
        if let Some(n) = token.strip_prefix('?') {
            let n: usize = n
                .parse()
                .map_err(|_| Error::Syntax(format!("near \"{token}\": syntax error")))?;
            if n == 0 || n > MAX_PARAMS {
                return Err(Error::sql(format!(
                    "variable number must be between ?1 and ?{MAX_PARAMS}"
                )));
            }
            while self.params.len() <= n {
                self.params.push(None);
            }
            return Ok(Expr::Param(n));
        }
        let name = &token[1..];
        if let Some(i) = self.params.iter().position(|p| p.as_deref() == Some(name)) {
            return Ok(Expr::Param(i));
        }
        if max + 1 > MAX_PARAMS {
            return Err(Error::sql("too many SQL variables"));
        }
        self.params.push(Some(name.to_string()));
        Ok(Expr::Param(max + 1))
    }

    /// Resolve a column name through the scope stack.
    pub(crate) fn resolve(
        &mut self,
        qual: Option<&str>,
        name: &str,
    ) -> Result<Option<(Expr, Info)>> {
        let lname = name.to_ascii_lowercase();
        let lqual = qual.map(|q| q.to_ascii_lowercase());
        let last = match self.scopes.len().checked_sub(1) {
            Some(l) => l,
            None => return Ok(None),
        };
        for fi in (0..=last).rev() {
            let frame = &self.scopes[fi];
            if !frame.visible {
                continue;
            }
            let mut found: Option<(usize, u16)> = None;
            for (si, s) in frame.sources.iter().enumerate() {
                if let Some(q) = &lqual {
                    if &s.name != q {
                        continue;
                    }
                }
                let hit = s
                    .cols
                    .iter()
                    .position(|c| c.name == lname && (lqual.is_some() || !c.hidden));
                if let Some(ci) = hit {
                    if found.is_some() {
                        return Err(Error::sql(format!("ambiguous column name: {name}")));
                    }
                    found = Some((si, ci as u16));
                }
            }
            if found.is_none() && matches!(lname.as_str(), "rowid" | "oid" | "_rowid_") {
                let with_rowid: Vec<usize> = frame
                    .sources
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        s.table.is_some() && lqual.as_ref().is_none_or(|q| &s.name == q)
                    })
                    .map(|(i, _)| i)
                    .collect();
                if with_rowid.len() == 1 {
                    found = Some((with_rowid[0], ROWID));
                } else if with_rowid.len() > 1 {
                    return Err(Error::sql(format!("ambiguous column name: {name}")));
                }
            }
            if lqual.is_some()
                && found.is_none()
                && frame
                    .sources
                    .iter()
                    .any(|s| Some(&s.name) == lqual.as_ref())
            {
                return Err(Error::NoSuchColumn(format!(
                    "{}.{}",
                    qual.unwrap_or(""),
                    name
                )));
            }
            if let Some((si, ci)) = found {
                let up = last - fi;
                if ci != ROWID {
                    self.scopes[fi].mark(si, ci);
                }
                for m in self.subs.iter_mut() {
                    if m.base > fi {
                        m.correlated = true;
                        if m.base == fi + 1 {
                            m.outer_mask |= 1u64 << si.min(63);
                        }
                    }
                }
                let src: &ScopeSource = &self.scopes[fi].sources[si];
                let info = if ci == ROWID {
                    Info {
                        affinity: Some(Affinity::Integer),
                        decl: Some("INTEGER".into()),
                        col_name: Some(name.to_string()),
                        ..Default::default()
                    }
                } else {
                    let c = &src.cols[ci as usize];
                    Info {
                        affinity: c.affinity,
                        coll: Some(c.coll),
                        explicit_coll: false,
                        decl: Some(c.decl_type.clone()),
                        col_name: Some(c.display.clone()),
                    }
                };
                let up = u8::try_from(up).map_err(|_| Error::TooDeep)?;
                return Ok(Some((
                    Expr::Col {
                        up,
                        src: si as u16,
                        col: ci,
                    },
                    info,
                )));
            }
        }
        Ok(None)
    }
}

/// Compile one parsed statement against `cat`.
pub(crate) fn compile(cat: &Catalog, sql: &str, parsed: &Parsed) -> Result<Compiled> {
    let mut c = Compiler::new(cat, sql);
    let (stmt, read_only) = match parsed {
        Parsed::Reindex(name) => (CompiledStmt::Reindex(name.clone()), false),
        Parsed::Stmt(s) => c.statement(s)?,
    };
    Ok(Compiled {
        stmt,
        params: c.params,
        schema_id: cat.schema_id(),
        read_only,
    })
}

impl<'a> Compiler<'a> {
    pub(crate) fn statement(&mut self, s: &ast::Statement) -> Result<(CompiledStmt, bool)> {
        use ast::Statement as S;
        Ok(match s {
            S::Query(q) => (CompiledStmt::Query(self.query(q)?), true),
            S::Insert(ins) => (CompiledStmt::Insert(self.insert(ins)?), false),
            S::Update(u) => (CompiledStmt::Update(self.update(u)?), false),
            S::Delete(d) => (CompiledStmt::Delete(self.delete(d)?), false),
            S::Explain {
                statement,
                query_plan,
                analyze,
                ..
            } => {
                if *analyze {
                    return Err(Error::Unsupported("EXPLAIN ANALYZE".into()));
                }
                let (inner, _) = self.statement(statement)?;
                (
                    CompiledStmt::Explain(super::select::explain(&inner, *query_plan)),
                    true,
                )
            }
            S::StartTransaction { .. } => (CompiledStmt::Begin, false),
            S::Commit { .. } => (CompiledStmt::Commit, false),
            S::Rollback {
                savepoint: None, ..
            } => (CompiledStmt::Rollback, false),
            S::Rollback {
                savepoint: Some(_), ..
            }
            | S::Savepoint { .. }
            | S::ReleaseSavepoint { .. } => return Err(Error::Unsupported("SAVEPOINT".into())),
            S::CreateTable(_)
            | S::CreateIndex(_)
            | S::CreateView(_)
            | S::CreateTrigger(_)
            | S::Drop { .. }
            | S::DropTrigger(_)
            | S::AlterTable(_) => {
                super::ddl::validate(self, s)?;
                (CompiledStmt::Direct(Box::new(s.clone())), false)
            }
            other => {
                let text = other.to_string();
                let head: String = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(Error::Unsupported(head));
            }
        })
    }
}
