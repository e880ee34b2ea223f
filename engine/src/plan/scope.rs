//! Name resolution scopes. Each SELECT level (and each trigger or upsert context) pushes one
//! frame listing its sources and their columns; at run time the executor keeps one row frame
//! per scope frame, so a compiled column reference is just (frames out, source, column).
//! Resolution also records which outer columns a subquery reads, which decides whether the
//! subquery is correlated (re-run per outer row) or can be cached.

use std::sync::Arc;

use crate::affinity::Affinity;
use crate::catalog::TableDef;
use crate::value::Collation;

#[derive(Debug, Clone)]
pub(crate) struct ScopeCol {
    /// Lower-cased name.
    pub name: String,
    /// Name as written (for result column names).
    pub display: String,
    pub decl_type: String,
    pub affinity: Option<Affinity>,
    pub coll: Collation,
    /// Hidden from unqualified lookup and `*` (right side of USING / NATURAL).
    pub hidden: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ScopeSource {
    /// Lower-cased alias, or table name when there is no alias.
    pub name: String,
    pub cols: Vec<ScopeCol>,
    /// Present for table sources: rowid is addressable.
    pub table: Option<Arc<TableDef>>,
}

#[derive(Debug, Default)]
pub(crate) struct ScopeFrame {
    pub sources: Vec<ScopeSource>,
    /// Sources are not yet in scope (while compiling FROM-clause subqueries).
    pub visible: bool,
    /// Per source, which columns are read (decode masks). Last entry is for the rowid.
    pub needed: Vec<Vec<bool>>,
    /// Aggregate calls collected while compiling post-aggregation expressions.
    pub aggs: Option<Vec<crate::plan::AggSpec>>,
    /// True while compiling an aggregate's arguments (nested aggregates are misuse).
    pub in_agg_args: bool,
    /// Result-column aliases of this SELECT: lower-cased name, expression, and the name of
    /// the first aggregate it uses (aliases of aggregates are misuse in WHERE).
    pub aliases: Vec<(String, crate::plan::Expr, Option<&'static str>)>,
    /// True while compiling WHERE (an alias of an aggregate is misuse there).
    pub in_where: bool,
}

impl ScopeFrame {
    pub(crate) fn new(visible: bool) -> ScopeFrame {
        ScopeFrame {
            visible,
            ..Default::default()
        }
    }

    pub(crate) fn add_source(&mut self, s: ScopeSource) -> usize {
        self.needed.push(vec![false; s.cols.len()]);
        self.sources.push(s);
        self.sources.len() - 1
    }

    pub(crate) fn mark(&mut self, src: usize, col: u16) {
        if let Some(n) = self.needed.get_mut(src) {
            if let Some(c) = n.get_mut(col as usize) {
                *c = true;
            }
        }
    }
}

pub(crate) fn table_source(def: &Arc<TableDef>, alias: &str) -> ScopeSource {
    ScopeSource {
        name: alias.to_ascii_lowercase(),
        cols: def
            .columns
            .iter()
            .map(|c| ScopeCol {
                name: c.name.to_ascii_lowercase(),
                display: c.name.clone(),
                decl_type: c.decl_type.clone(),
                affinity: Some(c.affinity),
                coll: c.collation,
                hidden: false,
            })
            .collect(),
        table: Some(def.clone()),
    }
}
