//! `prepare`: what the leader's HTTP shard does before proposing. It parses every statement
//! (bad SQL is rejected here, with SQLite's wording, before anything reaches the log),
//! classifies each as read or write, and rewrites non-deterministic calls into literals so
//! the log holds exactly what every replica will compute: `random()` becomes an integer,
//! `randomblob(N)` a blob literal, `CURRENT_TIMESTAMP`/`CURRENT_DATE`/`CURRENT_TIME` and
//! `'now'` arguments of the date functions the leader's time. The batch also carries that
//! time and a seed, which apply uses for anything left (column defaults, trigger bodies).
//! `prepare` itself reads no clock or RNG: the caller passes `now_ms` and `seed`.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::ControlFlow;

use sqlparser::ast::{self, VisitMut, VisitorMut};

use crate::cache::TextHasher;

use crate::batch::{CommandBatch, Statement};
use crate::engine::{EngineConfig, StatementKind};
use crate::error::Error;
use crate::func::datetime::{format_now, DtFn};
use crate::func::FnEnv;
use crate::parse::{parse, Parsed, SourceText};

/// What the caller decides for the batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareOptions {
    pub client_id: u64,
    pub seq: u64,
    pub transaction: bool,
    /// The leader's clock, unix milliseconds.
    pub now_ms: i64,
    /// Fresh randomness from the leader.
    pub seed: u64,
}

/// A batch ready to propose, and the kind of each statement.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub batch: CommandBatch,
    pub kinds: Vec<StatementKind>,
}

impl Prepared {
    pub fn read_only(&self) -> bool {
        self.kinds.iter().all(|k| *k == StatementKind::Read)
    }
}

/// Statement `statement` (0-based) of the request is not valid SQL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("statement {statement}: {error}")]
pub struct PrepareError {
    pub statement: usize,
    pub error: Error,
}

struct Rewriter<'e> {
    env: &'e FnEnv,
    now_ms: i64,
    changed: bool,
    /// Depth inside `a . b` field-access chains. A literal is not a valid step of such a chain
    /// (`-1 . random()` would print as `-1 . -42`, which does not parse) and next to one it
    /// reads differently (`random().x` would become `-42.x`, a real number with an alias).
    /// The engine refuses these chains when planning, so calls inside them stay as written:
    /// every replica then refuses the statement alike, and the batch seed covers the rest.
    in_field_access: usize,
}

fn string_lit(s: String) -> ast::Expr {
    ast::Expr::Value(ast::Value::SingleQuotedString(s).with_empty_span())
}

fn now_text(ms: i64) -> String {
    let secs = format_now(ms, DtFn::DateTime);
    format!("{secs}.{:03}", ms.rem_euclid(1000))
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
        if matches!(e, ast::Expr::CompoundFieldAccess { .. }) {
            self.in_field_access += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
        if matches!(e, ast::Expr::CompoundFieldAccess { .. }) {
            self.in_field_access -= 1;
            return ControlFlow::Continue(());
        }
        if self.in_field_access > 0 {
            return ControlFlow::Continue(());
        }
        let ast::Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_ascii_lowercase();
        let args: Option<&mut Vec<ast::FunctionArg>> = match &mut f.args {
            ast::FunctionArguments::List(l) => Some(&mut l.args),
            _ => None,
        };
        match (name.as_str(), args) {
            ("current_timestamp", None) => {
                *e = string_lit(format_now(self.now_ms, DtFn::DateTime));
                self.changed = true;
            }
            ("current_date", None) => {
                *e = string_lit(format_now(self.now_ms, DtFn::Date));
                self.changed = true;
            }
            ("current_time", None) => {
                *e = string_lit(format_now(self.now_ms, DtFn::Time));
                self.changed = true;
            }
            ("random", Some(a)) if a.is_empty() => {
                let v = self.env.next_random() as i64;
                *e = ast::Expr::Value(ast::Value::Number(v.to_string(), false).with_empty_span());
                self.changed = true;
            }
            ("randomblob", Some(a)) if a.len() == 1 => {
                if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Value(v))) =
                    &a[0]
                {
                    if let ast::Value::Number(n, _) = &v.value {
                        if let Ok(n) = n.parse::<i64>() {
                            let n = n.clamp(1, 4096) as usize;
                            let mut hex = String::with_capacity(n * 2);
                            let mut left = n;
                            while left > 0 {
                                for b in self
                                    .env
                                    .next_random()
                                    .to_le_bytes()
                                    .iter()
                                    .take(left.min(8))
                                {
                                    hex.push_str(&format!("{b:02X}"));
                                }
                                left = left.saturating_sub(8);
                            }
                            *e = ast::Expr::Value(
                                ast::Value::HexStringLiteral(hex).with_empty_span(),
                            );
                            self.changed = true;
                        }
                    }
                }
            }
            ("date" | "time" | "datetime" | "julianday" | "unixepoch" | "strftime", Some(a)) => {
                let first_time_arg = if name == "strftime" { 1 } else { 0 };
                if a.len() == first_time_arg {
                    a.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                        string_lit(now_text(self.now_ms)),
                    )));
                    self.changed = true;
                }
                for arg in a.iter_mut().skip(first_time_arg).take(1) {
                    if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                        ast::Expr::Value(v),
                    )) = arg
                    {
                        if let ast::Value::SingleQuotedString(s) = &v.value {
                            if s.trim().eq_ignore_ascii_case("now") {
                                *arg = ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                                    string_lit(now_text(self.now_ms)),
                                ));
                                self.changed = true;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// A query's result columns are named after their source text (`random()`), and a rewrite
/// turns that text into a literal (`-4242...`). Once a statement was rewritten, every
/// unaliased expression item of its outermost SELECT list (leftmost for compound selects)
/// gets its source text as an explicit alias: exactly the name the planner would give it, so
/// a query through the log (`level=strong`) names its columns as a local one does. Bare
/// column references are left alone (they are named after the column, not the text).
fn keep_result_names(st: &mut ast::Statement, sql: &str) {
    let ast::Statement::Query(q) = st else { return };
    let Some(sel) = leftmost_select_mut(&mut q.body) else {
        return;
    };
    let Some(texts) = SourceText::new(sql)
        .select_items(sel.select_token.0.span.end)
        .filter(|t| t.len() == sel.projection.len())
    else {
        return;
    };
    for (item, text) in sel.projection.iter_mut().zip(texts) {
        let ast::SelectItem::UnnamedExpr(e) = item else {
            continue;
        };
        if text.is_empty()
            || matches!(
                e,
                ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
            )
        {
            continue;
        }
        let expr = std::mem::replace(e, ast::Expr::Value(ast::Value::Null.with_empty_span()));
        *item = ast::SelectItem::ExprWithAlias {
            expr,
            alias: ast::Ident::with_quote('"', text),
        };
    }
}

fn leftmost_select_mut(body: &mut ast::SetExpr) -> Option<&mut ast::Select> {
    match body {
        ast::SetExpr::Select(s) => Some(s),
        ast::SetExpr::SetOperation { left, .. } => leftmost_select_mut(left),
        ast::SetExpr::Query(q) => leftmost_select_mut(&mut q.body),
        _ => None,
    }
}

pub(crate) fn kind_of(parsed: &[Parsed]) -> StatementKind {
    for p in parsed {
        match p {
            Parsed::Stmt(s) => match s.as_ref() {
                ast::Statement::Query(_) => {}
                ast::Statement::Explain { statement, .. }
                    if matches!(statement.as_ref(), ast::Statement::Query(_)) => {}
                _ => return StatementKind::Write,
            },
            Parsed::Reindex(_) => return StatementKind::Write,
        }
    }
    StatementKind::Read
}

/// Statements whose SQL is kept and run later (column defaults, view and trigger bodies, the
/// schema text itself): a call there must run each time the definition is used, not once now,
/// so `DEFAULT CURRENT_TIMESTAMP` stays the insert time. Apply evaluates what is left with the
/// batch's time and seed, so leaving them is as deterministic as a literal.
fn stores_definition(st: &ast::Statement) -> bool {
    matches!(
        st,
        ast::Statement::CreateTable(_)
            | ast::Statement::CreateView(_)
            | ast::Statement::CreateTrigger(_)
            | ast::Statement::CreateIndex(_)
            | ast::Statement::AlterTable(_)
    )
}

/// What an HTTP shard remembers about statement texts it has parsed: their kind and whether
/// `prepare` rewrites anything in them. A text with no clock or random call is proposed as it
/// was sent, so a client repeating a parameterised statement (the common case) costs a hash
/// lookup instead of a parse, for writes (`prepare_with`) and reads (`classify`) alike.
/// Whether a text needs rewriting depends on its structure only, never on the clock or seed,
/// so a remembered answer is the one a new parse would give. Bounded: texts over
/// `PrepareCache::MAX_TEXT` bytes are not kept, and a full cache starts over.
#[derive(Default)]
pub struct PrepareCache {
    known: HashMap<Box<str>, Known, BuildHasherDefault<TextHasher>>,
}

#[derive(Debug, Clone, Copy)]
struct Known {
    kind: StatementKind,
    rewrites: bool,
}

impl PrepareCache {
    /// Distinct texts kept.
    pub const MAX_ENTRIES: usize = 1024;
    /// Longer texts are parsed every time (they are rare, and would make the bound large).
    pub const MAX_TEXT: usize = 4096;

    pub fn new() -> PrepareCache {
        PrepareCache::default()
    }

    /// Texts remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// [`crate::classify`], remembering the answer.
    pub fn classify(&mut self, sql: &str) -> crate::error::Result<StatementKind> {
        if let Some(k) = self.known.get(sql) {
            return Ok(k.kind);
        }
        let parsed = parse(sql)?;
        let kind = kind_of(&parsed);
        let rewrites = parsed.into_iter().any(|p| match p {
            Parsed::Stmt(mut st) => needs_rewrite(&mut st),
            Parsed::Reindex(_) => false,
        });
        self.remember(sql, Known { kind, rewrites });
        Ok(kind)
    }

    fn remember(&mut self, sql: &str, known: Known) {
        if sql.len() > Self::MAX_TEXT {
            return;
        }
        if self.known.len() >= Self::MAX_ENTRIES {
            self.known.clear();
        }
        self.known.insert(sql.into(), known);
    }
}

/// Whether `prepare` would rewrite anything in `st` (the statement is rewritten in the
/// process; callers pass a copy they do not need).
fn needs_rewrite(st: &mut ast::Statement) -> bool {
    if stores_definition(st) {
        return false;
    }
    let env = FnEnv::new(0, Some(0), usize::MAX);
    let mut rw = Rewriter {
        env: &env,
        now_ms: 0,
        changed: false,
        in_field_access: 0,
    };
    let _ = st.visit(&mut rw);
    rw.changed
}

/// Parse, classify and rewrite a request's statements into a batch to propose.
pub fn prepare(
    statements: Vec<Statement>,
    opts: PrepareOptions,
    config: &EngineConfig,
) -> Result<Prepared, PrepareError> {
    prepare_with(statements, opts, config, &mut PrepareCache::new())
}

/// [`prepare`], skipping the parse of texts `cache` knows need no rewrite (and remembering
/// the texts it parses).
pub fn prepare_with(
    statements: Vec<Statement>,
    opts: PrepareOptions,
    config: &EngineConfig,
    cache: &mut PrepareCache,
) -> Result<Prepared, PrepareError> {
    let env = FnEnv::new(opts.seed, Some(opts.now_ms), config.max_value_bytes);
    let mut out = Vec::with_capacity(statements.len());
    let mut kinds = Vec::with_capacity(statements.len());
    for (i, s) in statements.into_iter().enumerate() {
        if s.sql.len() > config.max_statement_bytes {
            return Err(PrepareError {
                statement: i,
                error: Error::StatementTooLarge {
                    len: s.sql.len(),
                    limit: config.max_statement_bytes,
                },
            });
        }
        if let Some(k) = cache.known.get(s.sql.as_str()) {
            if !k.rewrites {
                kinds.push(k.kind);
                out.push(s);
                continue;
            }
        }
        let mut parsed = parse(&s.sql).map_err(|error| PrepareError {
            statement: i,
            error,
        })?;
        kinds.push(kind_of(&parsed));
        let mut rw = Rewriter {
            env: &env,
            now_ms: opts.now_ms,
            changed: false,
            in_field_access: 0,
        };
        for p in &mut parsed {
            if let Parsed::Stmt(st) = p {
                if !stores_definition(st) {
                    let _ = st.visit(&mut rw);
                    if rw.changed {
                        keep_result_names(st, &s.sql);
                    }
                }
            }
        }
        cache.remember(
            &s.sql,
            Known {
                kind: kinds[i],
                rewrites: rw.changed,
            },
        );
        let sql = if rw.changed {
            let texts: Vec<String> = parsed
                .iter()
                .map(|p| match p {
                    Parsed::Stmt(st) => st.to_string(),
                    Parsed::Reindex(Some(n)) => format!("REINDEX {n}"),
                    Parsed::Reindex(None) => "REINDEX".into(),
                })
                .collect();
            texts.join("; ")
        } else {
            s.sql
        };
        out.push(Statement {
            sql,
            params: s.params,
        });
    }
    let batch = CommandBatch {
        version: CommandBatch::VERSION,
        client_id: opts.client_id,
        seq: opts.seq,
        transaction: opts.transaction,
        now_ms: opts.now_ms,
        seed: env.next_random(),
        statements: out,
    };
    Ok(Prepared { batch, kinds })
}
