//! Triggers: compiling a trigger's WHEN clause and body against a frame holding NEW and OLD,
//! and firing the matching triggers around each row change. A trigger does not fire itself
//! recursively (SQLite's default with recursive_triggers off) and nesting is bounded.

use std::rc::Rc;
use std::sync::Arc;

use super::{Frame, Reader, RowBuf, Runtime};
use crate::catalog::{TableDef, TriggerDef, TriggerEvent, TriggerTiming};
use crate::error::{Error, Result};
use crate::plan::compile::Compiler;
use crate::plan::scope::{table_source, ScopeFrame};
use crate::plan::{CompiledStmt, Expr};
use crate::state::State;

const MAX_TRIGGER_DEPTH: usize = 32;

pub(crate) struct Program {
    when: Option<Expr>,
    stmts: Vec<CompiledStmt>,
}

fn compile(st: &State, t: &TriggerDef, def: &Arc<TableDef>) -> Result<Program> {
    let mut c = Compiler::new(&st.catalog, &t.sql);
    let mut frame = ScopeFrame::new(true);
    frame.add_source(table_source(def, "new"));
    frame.add_source(table_source(def, "old"));
    c.scopes.push(frame);
    let when = t.when.as_ref().map(|w| c.expr(w)).transpose()?;
    let mut stmts = Vec::new();
    for s in &t.body {
        match s {
            sqlparser::ast::Statement::Insert(_)
            | sqlparser::ast::Statement::Update(_)
            | sqlparser::ast::Statement::Delete(_)
            | sqlparser::ast::Statement::Query(_) => stmts.push(c.statement(s)?.0),
            _ => {
                return Err(Error::sql(format!(
                "trigger {}: only INSERT, UPDATE, DELETE and SELECT may appear in a trigger body",
                t.name
            )))
            }
        }
    }
    Ok(Program { when, stmts })
}

/// Which event a row change is.
pub(crate) enum Event<'e> {
    Insert,
    Delete,
    Update(&'e [usize]),
}

fn matches(t: &TriggerDef, timing: TriggerTiming, ev: &Event<'_>, def: &TableDef) -> bool {
    if t.timing != timing {
        return false;
    }
    match (&t.event, ev) {
        (TriggerEvent::Insert, Event::Insert) | (TriggerEvent::Delete, Event::Delete) => true,
        (TriggerEvent::Update(cols), Event::Update(changed)) => {
            cols.is_empty()
                || cols
                    .iter()
                    .any(|c| def.column_index(c).is_some_and(|i| changed.contains(&i)))
        }
        _ => false,
    }
}

/// Whether any trigger on `table` could fire for this timing (cheap pre-check so rows of
/// tables without triggers never build trigger frames).
pub(crate) fn any(st: &State, table: &str) -> bool {
    st.catalog.triggers_of(table).next().is_some()
}

/// Fire the triggers on `table` matching `timing` and `ev` for one row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fire(
    st: &mut State,
    rt: &Runtime<'_>,
    table: &str,
    def: &Arc<TableDef>,
    timing: TriggerTiming,
    ev: Event<'_>,
    new: Option<&RowBuf>,
    old: Option<&RowBuf>,
) -> Result<()> {
    let cat = st.catalog.clone();
    let list: Vec<Arc<TriggerDef>> = cat
        .triggers_of(table)
        .filter(|t| matches(t, timing, &ev, def))
        .cloned()
        .collect();
    for t in list {
        if rt.active.borrow().iter().any(|n| *n == t.name) {
            continue;
        }
        if rt.active.borrow().len() >= MAX_TRIGGER_DEPTH {
            return Err(Error::sql("too many levels of trigger recursion"));
        }
        let cached = rt.triggers.borrow().get(&t.name).cloned();
        let prog = match cached {
            Some(p) => p,
            None => {
                let p = Rc::new(compile(st, &t, def)?);
                rt.triggers.borrow_mut().insert(t.name.clone(), p.clone());
                p
            }
        };
        let n = def.columns.len();
        let rows = vec![
            new.cloned().unwrap_or_else(|| RowBuf::new(n)),
            old.cloned().unwrap_or_else(|| RowBuf::new(n)),
        ];
        let frame = Frame::with_rows(rows, None);
        if let Some(w) = &prog.when {
            let r = Reader::new(st, rt, super::ParamRef::NONE);
            if r.truth(w, &frame)? != Some(true) {
                continue;
            }
        }
        rt.active.borrow_mut().push(t.name.clone());
        let mut result = Ok(());
        for s in &prog.stmts {
            if let Err(e) = super::write::run(st, rt, s, super::ParamRef::NONE, Some(&frame)) {
                result = Err(e);
                break;
            }
        }
        rt.active.borrow_mut().pop();
        result?;
    }
    Ok(())
}
