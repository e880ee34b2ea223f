//! Compiled statements. The compiler resolves every name, affinity, collation, parameter
//! slot and access path once; the executor then runs a plan any number of times with new
//! parameters and never looks at SQL text or the AST again. Plans are cached by SQL text
//! (see `cache`), which is what makes repeated statements cheap.

pub(crate) mod compile;
pub(crate) mod ddl;
pub(crate) mod dml;
pub(crate) mod expr;
pub(crate) mod scope;
pub(crate) mod select;

use std::sync::Arc;

use crate::affinity::{Affinity, Coerce};
use crate::catalog::{IndexDef, TableDef};
use crate::func::{AggKind, ScalarFn};
use crate::value::{Collation, Value};

/// Column index that means "the rowid" in [`Expr::Col`].
pub(crate) const ROWID: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    Neg,
    BitNot,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    BitAnd,
    BitOr,
    Shl,
    Shr,
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `IS` (NULL-safe equality).
    Is,
    IsNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LikeKind {
    Like,
    Glob,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RaiseKind {
    Ignore,
    Rollback,
    Abort,
    Fail,
}

/// A compiled scalar expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Lit(Value),
    /// 1-based parameter slot.
    Param(usize),
    /// Column `col` of source `src` in the frame `up` levels out (0 = this query).
    Col {
        up: u8,
        src: u16,
        col: u16,
    },
    /// Result of aggregate `n` of the current group.
    Agg(u16),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cmp {
        op: CmpOp,
        l: Box<Expr>,
        r: Box<Expr>,
        coerce: Coerce,
        coll: Collation,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    /// `x IS [NOT] TRUE|FALSE`: (operand, want_true, negated).
    Truth(Box<Expr>, bool, bool),
    Between {
        e: Box<Expr>,
        lo: Box<Expr>,
        hi: Box<Expr>,
        negated: bool,
        c_lo: Coerce,
        c_hi: Coerce,
        coll: Collation,
    },
    InList {
        e: Box<Expr>,
        list: Vec<(Expr, Coerce)>,
        negated: bool,
        coll: Collation,
    },
    InSub {
        e: Box<Expr>,
        sub: Arc<SubPlan>,
        negated: bool,
        coerce: Coerce,
        coll: Collation,
    },
    Exists {
        sub: Arc<SubPlan>,
        negated: bool,
    },
    Scalar(Arc<SubPlan>),
    Case {
        base: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        else_: Option<Box<Expr>>,
        /// With a base: per WHEN, the comparison's affinity conversion and collation.
        cmp: Vec<(Coerce, Collation)>,
    },
    Cast(Box<Expr>, Affinity),
    Like {
        e: Box<Expr>,
        pat: Box<Expr>,
        esc: Option<Box<Expr>>,
        negated: bool,
        kind: LikeKind,
    },
    Func(ScalarFn, Vec<Expr>),
    Raise(RaiseKind, String),
}

impl Expr {
    /// Sources of this query (up = 0) that the expression reads, as a bit set.
    pub(crate) fn source_mask(&self) -> u64 {
        let mut m = 0u64;
        self.walk(&mut |e| {
            if let Expr::Col { up: 0, src, .. } = e {
                m |= 1u64 << (*src).min(63);
            }
        });
        // Correlated subqueries may read any source of this query.
        self.walk(&mut |e| match e {
            Expr::InSub { sub, .. } | Expr::Exists { sub, .. } | Expr::Scalar(sub)
                if sub.correlated =>
            {
                m |= sub.outer_mask;
            }
            _ => {}
        });
        m
    }

    /// Replace subtrees, top-down: where `f` returns a replacement the node is swapped and
    /// not descended into.
    pub(crate) fn replace(&mut self, f: &mut dyn FnMut(&Expr) -> Option<Expr>) {
        if let Some(r) = f(self) {
            *self = r;
            return;
        }
        match self {
            Expr::Lit(_)
            | Expr::Param(_)
            | Expr::Col { .. }
            | Expr::Agg(_)
            | Expr::Raise(..)
            | Expr::Exists { .. }
            | Expr::Scalar(_) => {}
            Expr::Unary(_, a)
            | Expr::IsNull(a, _)
            | Expr::Truth(a, ..)
            | Expr::Cast(a, _)
            | Expr::InSub { e: a, .. } => a.replace(f),
            Expr::Binary(_, a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp { l: a, r: b, .. } => {
                a.replace(f);
                b.replace(f);
            }
            Expr::Between { e, lo, hi, .. } => {
                e.replace(f);
                lo.replace(f);
                hi.replace(f);
            }
            Expr::InList { e, list, .. } => {
                e.replace(f);
                for (x, _) in list {
                    x.replace(f);
                }
            }
            Expr::Case {
                base, whens, else_, ..
            } => {
                if let Some(b) = base {
                    b.replace(f);
                }
                for (w, t) in whens {
                    w.replace(f);
                    t.replace(f);
                }
                if let Some(e) = else_ {
                    e.replace(f);
                }
            }
            Expr::Like { e, pat, esc, .. } => {
                e.replace(f);
                pat.replace(f);
                if let Some(x) = esc {
                    x.replace(f);
                }
            }
            Expr::Func(_, args) => {
                for a in args {
                    a.replace(f);
                }
            }
        }
    }

    /// Visit this node and every child expression (not into subquery plans).
    pub(crate) fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Param(_) | Expr::Col { .. } | Expr::Agg(_) | Expr::Raise(..) => {}
            Expr::Exists { .. } | Expr::Scalar(_) => {}
            Expr::Unary(_, a) | Expr::IsNull(a, _) | Expr::Truth(a, ..) | Expr::Cast(a, _) => {
                a.walk(f)
            }
            Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Cmp { l, r, .. } => {
                l.walk(f);
                r.walk(f);
            }
            Expr::Between { e, lo, hi, .. } => {
                e.walk(f);
                lo.walk(f);
                hi.walk(f);
            }
            Expr::InList { e, list, .. } => {
                e.walk(f);
                for (x, _) in list {
                    x.walk(f);
                }
            }
            Expr::InSub { e, .. } => e.walk(f),
            Expr::Case {
                base, whens, else_, ..
            } => {
                if let Some(b) = base {
                    b.walk(f);
                }
                for (w, t) in whens {
                    w.walk(f);
                    t.walk(f);
                }
                if let Some(e) = else_ {
                    e.walk(f);
                }
            }
            Expr::Like { e, pat, esc, .. } => {
                e.walk(f);
                pat.walk(f);
                if let Some(x) = esc {
                    x.walk(f);
                }
            }
            Expr::Func(_, args) => {
                for a in args {
                    a.walk(f);
                }
            }
        }
    }
}

/// A subquery used inside an expression.
#[derive(Debug)]
pub(crate) struct SubPlan {
    pub plan: QueryPlan,
    /// Reads columns of enclosing queries: must be re-run per outer row, never cached.
    pub correlated: bool,
    /// Sources of the directly enclosing query it reads (for join-level placement).
    pub outer_mask: u64,
}

/// Result column names and rqlite types, built once per compiled plan.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub names: Arc<[String]>,
    pub types: Arc<[String]>,
}

impl Header {
    pub(crate) fn of(cols: &[OutCol], cell: &std::sync::OnceLock<Header>) -> Header {
        cell.get_or_init(|| Header {
            names: cols
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .into(),
            types: cols
                .iter()
                .map(|c| c.decl_type.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .into(),
        })
        .clone()
    }
}

/// Output column metadata.
#[derive(Debug, Clone)]
pub(crate) struct OutCol {
    pub name: String,
    /// Declared type of the column it directly reads ("" for expressions).
    pub decl_type: String,
    pub affinity: Option<Affinity>,
    pub collation: Option<Collation>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum KeySrc {
    /// Output column `i`.
    Out(usize),
    /// Extra sort value `i` (stored after the output columns).
    Extra(usize),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderTerm {
    pub src: KeySrc,
    pub desc: bool,
    pub nulls_first: bool,
    pub coll: Collation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    Union,
    UnionAll,
    Intersect,
    Except,
}

/// A full query: body, ORDER BY, LIMIT/OFFSET.
#[derive(Debug)]
pub(crate) struct QueryPlan {
    pub body: QueryBody,
    pub columns: Vec<OutCol>,
    pub order: Vec<OrderTerm>,
    /// Rows from the body arrive already in `order` (the access path provides it).
    pub presorted: bool,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
    pub header: std::sync::OnceLock<Header>,
    /// Set when the query is a primary-key point lookup of plain columns: it runs without
    /// the general join machinery.
    pub point: Option<PointLookup>,
}

/// `SELECT cols FROM t WHERE rowid = <expr>` compiled down to a key lookup.
#[derive(Debug)]
pub(crate) struct PointLookup {
    pub def: Arc<TableDef>,
    pub key: String,
    pub probe: Expr,
    pub conv: Probe,
    /// Output columns: table column indexes (ROWID for the rowid).
    pub cols: Vec<u16>,
}

#[derive(Debug)]
pub(crate) enum QueryBody {
    Select(Box<SelectPlan>),
    Compound(SetOp, Box<QueryPlan>, Box<QueryPlan>),
    Values(Vec<Vec<Expr>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
}

/// Where a source's rows come from.
#[derive(Debug)]
pub(crate) enum SourceKind {
    Table {
        def: Arc<TableDef>,
        key: String,
    },
    /// A subquery, view or CTE, materialized per execution (cached when uncorrelated).
    Derived(Arc<SubPlan>),
}

/// Converts a lookup value the way the comparison it came from would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    AsIs,
    Numeric,
    Text,
}

#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub expr: Expr,
    pub probe: Probe,
    pub inclusive: bool,
}

/// How one table source is read.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    Scan {
        reverse: bool,
    },
    RowidEq(Expr, Probe),
    RowidIn(Vec<(Expr, Probe)>),
    RowidRange {
        lo: Option<Bound>,
        hi: Option<Bound>,
        reverse: bool,
    },
    Index {
        index: Arc<IndexDef>,
        key: String,
        eq: Vec<(Expr, Probe)>,
        lo: Option<Bound>,
        hi: Option<Bound>,
        reverse: bool,
    },
    IndexIn {
        index: Arc<IndexDef>,
        key: String,
        list: Vec<(Expr, Probe)>,
    },
}

#[derive(Debug)]
pub(crate) struct Source {
    pub kind: SourceKind,
    /// Alias or table name, for EXPLAIN.
    pub name: String,
    pub ncols: usize,
    pub join: JoinKind,
    pub access: Access,
    /// LEFT JOIN match conditions (decide whether a row matched).
    pub on: Vec<Expr>,
    /// Filters evaluated once this source's row is bound (after NULL extension).
    pub filters: Vec<Expr>,
    /// Which columns any expression reads (rows decode only these).
    pub needed: Vec<bool>,
}

#[derive(Debug)]
pub(crate) struct AggSpec {
    pub kind: AggKind,
    pub args: Vec<Expr>,
    pub distinct: bool,
    pub filter: Option<Expr>,
}

#[derive(Debug)]
pub(crate) struct AggPlan {
    pub group_by: Vec<(Expr, Collation)>,
    pub aggs: Vec<AggSpec>,
    pub having: Option<Expr>,
    /// Post-aggregation expressions read bare source columns: keep the group's last row.
    pub keeps_rows: bool,
}

#[derive(Debug)]
pub(crate) struct SelectPlan {
    pub sources: Vec<Source>,
    /// Conjuncts that read no source: evaluated once before the join loops.
    pub pre: Vec<Expr>,
    pub proj: Vec<Expr>,
    pub extra: Vec<Expr>,
    pub agg: Option<AggPlan>,
    pub distinct: bool,
}

/// Conflict resolution (`INSERT OR ...`, `ON CONFLICT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnConflict {
    Abort,
    Fail,
    Ignore,
    Replace,
    Rollback,
}

#[derive(Debug)]
pub(crate) enum InsertSource {
    Values(Vec<Vec<Expr>>),
    Query(Box<QueryPlan>),
    Defaults,
}

#[derive(Debug)]
pub(crate) struct Upsert {
    /// Columns of the conflict target (None: any uniqueness conflict).
    pub target: Option<Vec<usize>>,
    /// None: DO NOTHING. Some: DO UPDATE with these assignments (column, expr over
    /// sources [table, excluded]).
    pub set: Option<Vec<(usize, Expr)>>,
    pub rowid_set: Option<Expr>,
    pub where_: Option<Expr>,
}

/// Per-table write program shared by INSERT/UPDATE/DELETE: constraints to check.
#[derive(Debug)]
pub(crate) struct TableProgram {
    pub def: Arc<TableDef>,
    pub key: Arc<str>,
    /// Column defaults (constant expressions), NULL when absent.
    pub defaults: Vec<Option<Expr>>,
    /// CHECK constraints over a single source (the row), with the text for messages.
    pub checks: Vec<(Expr, String)>,
    pub indexes: Vec<(Arc<IndexDef>, Arc<str>)>,
}

#[derive(Debug)]
pub(crate) struct Returning {
    pub exprs: Vec<Expr>,
    pub columns: Vec<OutCol>,
    pub header: std::sync::OnceLock<Header>,
}

#[derive(Debug)]
pub(crate) struct InsertPlan {
    pub table: TableProgram,
    /// For each provided value position, the target column (None = rowid).
    pub targets: Vec<Option<usize>>,
    pub source: InsertSource,
    pub or: OnConflict,
    pub upsert: Vec<Upsert>,
    pub returning: Option<Returning>,
}

#[derive(Debug)]
pub(crate) struct UpdatePlan {
    pub table: TableProgram,
    /// The scan of the target table (one source, WHERE in its filters).
    pub scan: SelectPlan,
    pub sets: Vec<(usize, Expr)>,
    pub rowid_set: Option<Expr>,
    pub or: OnConflict,
    pub returning: Option<Returning>,
}

#[derive(Debug)]
pub(crate) struct DeletePlan {
    pub table: TableProgram,
    pub scan: SelectPlan,
    pub returning: Option<Returning>,
}

/// A compiled statement and its parameter slots.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub stmt: CompiledStmt,
    /// Name of each 1-based parameter slot (index 0 unused); None for `?`/`?N`.
    pub params: Vec<Option<String>>,
    pub schema_id: u64,
    pub read_only: bool,
}

#[derive(Debug)]
pub(crate) enum CompiledStmt {
    Query(QueryPlan),
    Insert(InsertPlan),
    Update(UpdatePlan),
    Delete(DeletePlan),
    /// EXPLAIN / EXPLAIN QUERY PLAN: the plan's description rows.
    Explain(Vec<(i64, i64, String)>),
    /// Statements executed directly from their AST (DDL, transaction control).
    Direct(Box<sqlparser::ast::Statement>),
    Reindex(Option<String>),
    Begin,
    Commit,
    Rollback,
}
