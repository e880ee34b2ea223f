//! SQL text to AST with `sqlparser` (SQLite dialect), with its errors reworded the way
//! SQLite words them (`near "SELEC": syntax error`, `incomplete input`), plus the few
//! statements the parser does not know (`REINDEX`).

use sqlparser::ast;
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Result};

/// Deepest expression / query nesting the parser accepts; deeper input is an error, not a
/// stack overflow (the compiler and executor recurse no deeper than the AST).
pub(crate) const MAX_DEPTH: usize = 250;

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    fn numbered(sql: &str) -> Vec<String> {
        let mut t = Tokenizer::new(&SQLiteDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        number_placeholders(&mut t);
        t.into_iter()
            .filter_map(|t| match t.token {
                Token::Placeholder(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn bare_placeholders_are_numbered_in_text_order() {
        assert_eq!(numbered("UPDATE r SET v = ? WHERE k = ?"), ["?1", "?2"]);
        assert_eq!(numbered("SELECT ?, ?5, ?"), ["?1", "?5", "?6"]);
        assert_eq!(numbered("SELECT '?', ? -- ?"), ["?1"]);
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    Stmt(Box<ast::Statement>),
    /// `REINDEX [name]`.
    Reindex(Option<String>),
}

/// The text from a tokenizer error's "at Line: L, Column: C" to the end of the input.
fn text_at(sql: &str, msg: &str) -> Option<String> {
    let (_, pos) = msg.split_once(" at Line: ")?;
    let (line, col) = pos.split_once(", Column: ")?;
    let line: u64 = line.trim().parse().ok()?;
    let col: u64 = col.trim().parse().ok()?;
    let st = SourceText::new(sql);
    let start = st.offset(Location { line, column: col })?;
    Some(sql[start..].chars().take(40).collect())
}

fn syntax_error(sql: &str, e: ParserError) -> Error {
    match e {
        ParserError::RecursionLimitExceeded => Error::TooDeep,
        ParserError::TokenizerError(msg) => match text_at(sql, &msg) {
            Some(t) if !t.is_empty() => Error::Syntax(format!("unrecognized token: \"{t}\"")),
            _ => Error::Syntax(format!(
                "unrecognized token: {}",
                msg.split(" at Line:").next().unwrap_or(&msg)
            )),
        },
        ParserError::ParserError(msg) => {
            if let Some(pos) = msg.find("found: ") {
                let rest = &msg[pos + 7..];
                let tok = rest.split(" at Line:").next().unwrap_or(rest).trim();
                if tok == "EOF" {
                    Error::Syntax("incomplete input".into())
                } else {
                    Error::Syntax(format!("near \"{tok}\": syntax error"))
                }
            } else {
                let m = msg.split(" at Line:").next().unwrap_or(&msg);
                Error::Syntax(format!("syntax error: {m}"))
            }
        }
    }
}

/// Skip whitespace and comments; returns the rest.
fn skip_space(s: &str) -> &str {
    let mut s = s;
    loop {
        let t = s.trim_start();
        if let Some(r) = t.strip_prefix("--") {
            s = r.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(r) = t.strip_prefix("/*") {
            s = r.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            return t;
        }
    }
}

fn parse_reindex(sql: &str) -> Option<Result<Parsed>> {
    let s = skip_space(sql);
    let kw = s.get(..7)?;
    if !kw.eq_ignore_ascii_case("reindex")
        || s[7..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    {
        return None;
    }
    let rest = skip_space(&s[7..]).trim_end().trim_end_matches(';').trim();
    if rest.is_empty() {
        return Some(Ok(Parsed::Reindex(None)));
    }
    let name = rest.trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']');
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return Some(Err(Error::Syntax(format!("near \"{rest}\": syntax error"))));
    }
    let name = name.rsplit('.').next().unwrap_or(name);
    Some(Ok(Parsed::Reindex(Some(name.to_string()))))
}

/// sqlparser's SQLite dialect disagrees with SQLite on a few precedences; rewrite the tree
/// to SQLite's reading (parenthesized input is left alone, it is `Nested`):
/// - unary operators bind tighter than any binary operator (sqlparser: `~` like binary `+`,
///   `-` like `*`);
/// - `||` binds tighter than `*`, `/`, `%` (sqlparser: the same level);
/// - `IS` and `=`/`<>` are one left-associative level (sqlparser: `=` binds tighter).
fn fix_precedence(stmt: &mut ast::Statement) {
    use sqlparser::ast::{BinaryOperator as B, Expr, UnaryOperator as U, VisitMut, VisitorMut};
    use std::ops::ControlFlow;
    fn is_mul(op: &B) -> bool {
        matches!(op, B::Multiply | B::Divide | B::Modulo)
    }
    fn push_down(u: U, e: Expr) -> Expr {
        match e {
            Expr::BinaryOp { left, op, right } if is_mul(&op) || op == B::StringConcat => {
                Expr::BinaryOp {
                    left: Box::new(push_down(u, *left)),
                    op,
                    right,
                }
            }
            other => Expr::UnaryOp {
                op: u,
                expr: Box::new(other),
            },
        }
    }
    fn take(e: &mut Expr) -> Expr {
        std::mem::replace(e, Expr::Value(ast::Value::Null.with_empty_span()))
    }
    struct F;
    impl VisitorMut for F {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            match e {
                Expr::UnaryOp {
                    op: u @ (U::BitwiseNot | U::Minus | U::Plus),
                    expr,
                } if matches!(expr.as_ref(), Expr::BinaryOp { op, .. } if is_mul(op) || *op == B::StringConcat) =>
                {
                    let u = *u;
                    let inner = take(expr);
                    *e = push_down(u, inner);
                }
                Expr::BinaryOp {
                    left,
                    op: B::StringConcat,
                    right,
                } if matches!(left.as_ref(), Expr::BinaryOp { op, .. } if is_mul(op)) => {
                    if let Expr::BinaryOp {
                        left: l2,
                        op: op2,
                        right: r2,
                    } = take(left)
                    {
                        let r = take(right);
                        *e = Expr::BinaryOp {
                            left: l2,
                            op: op2,
                            right: Box::new(Expr::BinaryOp {
                                left: r2,
                                op: B::StringConcat,
                                right: Box::new(r),
                            }),
                        };
                    }
                }
                Expr::BinaryOp {
                    left,
                    op: op1 @ (B::Is | B::IsNot),
                    right,
                } if matches!(
                    right.as_ref(),
                    Expr::BinaryOp {
                        op: B::Eq | B::NotEq,
                        ..
                    }
                ) =>
                {
                    let op1 = op1.clone();
                    if let Expr::BinaryOp {
                        left: l2,
                        op: op2,
                        right: r2,
                    } = take(right)
                    {
                        let l = take(left);
                        *e = Expr::BinaryOp {
                            left: Box::new(Expr::BinaryOp {
                                left: Box::new(l),
                                op: op1,
                                right: l2,
                            }),
                            op: op2,
                            right: r2,
                        };
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut F);
}

/// Gives every bare `?` its number the way SQLite does: in the order of the text, one more
/// than the largest number used so far (`?, ?5, ?` is `?1, ?5, ?6`). The planner compiles
/// clauses in its own order (an UPDATE's WHERE before its SET), so numbering must happen
/// here, on the tokens, where the order is the user's.
fn number_placeholders(tokens: &mut [TokenWithSpan]) {
    let mut max = 0usize;
    for t in tokens.iter_mut() {
        if let Token::Placeholder(p) = &mut t.token {
            if p == "?" {
                max += 1;
                *p = format!("?{max}");
            } else if let Some(n) = p.strip_prefix('?').and_then(|n| n.parse::<usize>().ok()) {
                max = max.max(n);
            } else if p.len() > 1 {
                // A named parameter takes the next number too (SQLite numbers them all).
                max += 1;
            }
        }
    }
}

/// Parse SQL text into its statements.
pub(crate) fn parse(sql: &str) -> Result<Vec<Parsed>> {
    if let Some(r) = parse_reindex(sql) {
        return r.map(|p| vec![p]);
    }
    let parser = Parser::new(&SQLiteDialect {}).with_recursion_limit(MAX_DEPTH);
    let mut tokens = Tokenizer::new(&SQLiteDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(sql, e.into()))?;
    number_placeholders(&mut tokens);
    let stmts = parser
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| syntax_error(sql, e))?;
    Ok(stmts
        .into_iter()
        .map(|mut s| {
            if sql.contains(['~', '-', '+'])
                || sql.contains("||")
                || sql.to_ascii_uppercase().contains(" IS ")
            {
                fix_precedence(&mut s);
            }
            Parsed::Stmt(Box::new(s))
        })
        .collect())
}

/// Maps parser spans (1-based line and character column) back to the SQL text, to name
/// result columns by their source text as SQLite does.
pub(crate) struct SourceText<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    pub(crate) fn new(sql: &'a str) -> SourceText<'a> {
        let mut line_starts = vec![0];
        for (i, b) in sql.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        SourceText { sql, line_starts }
    }

    pub(crate) fn offset(&self, loc: Location) -> Option<usize> {
        if loc.line == 0 {
            return None;
        }
        let start = *self.line_starts.get(loc.line as usize - 1)?;
        let line = &self.sql[start..];
        let col = loc.column.checked_sub(1)? as usize;
        if col == 0 {
            return Some(start);
        }
        line.char_indices()
            .nth(col)
            .map(|(i, _)| start + i)
            .or(Some(self.sql.len()))
    }

    /// The original text of a `CREATE TABLE name(...)` statement whose name starts at
    /// `name`: from the `CREATE` keyword before it to the parenthesis that closes the column
    /// list, skipping quoted text. SQLite keeps this text as written in `sqlite_master`, and
    /// tools compare against it; None when the text does not have that shape.
    pub(crate) fn create_table_text(&self, name: Location) -> Option<String> {
        let at = self.offset(name)?;
        let head = self.sql.get(..at)?;
        let start = head.to_ascii_uppercase().rfind("CREATE")?;
        let bytes = self.sql.as_bytes();
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        for (i, &b) in bytes.iter().enumerate().skip(at) {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'\'' | b'"' | b'`' => quote = Some(b),
                    b'[' => quote = Some(b']'),
                    b'(' => depth += 1,
                    b')' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            let body = &self.sql[start + "CREATE".len()..=i];
                            return Some(format!("CREATE{body}"));
                        }
                    }
                    b';' => return None,
                    _ => {}
                },
            }
        }
        None
    }

    /// The text a span covers.
    pub(crate) fn slice(&self, span: Span) -> Option<&'a str> {
        let s = self.offset(span.start)?;
        let e = self.offset(span.end)?;
        if s <= e && e <= self.sql.len() {
            Some(self.sql[s..e].trim())
        } else {
            None
        }
    }

    /// The source text of each item of a SELECT list whose `SELECT` keyword ends at `after`,
    /// split at top-level commas (skipping quoted text, comments and parentheses) and ending
    /// at the clause keyword, `)` or `;` that closes the list. SQLite names a result column
    /// after this text; the parser's spans leave out closing parentheses, leading unary
    /// operators and `*` arguments, so they cannot be used. None when the text cannot be
    /// split (the caller falls back to the span or the printed expression).
    pub(crate) fn select_items(&self, after: Location) -> Option<Vec<&'a str>> {
        const ENDS: [&str; 10] = [
            "FROM",
            "WHERE",
            "GROUP",
            "HAVING",
            "ORDER",
            "LIMIT",
            "UNION",
            "INTERSECT",
            "EXCEPT",
            "WINDOW",
        ];
        let bytes = self.sql.as_bytes();
        let mut i = self.offset(after)?;
        let word_at = |i: usize| {
            let n = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'$')
                .count();
            &self.sql[i..i + n]
        };
        // Skip the `DISTINCT` / `ALL` quantifier.
        let rest = &self.sql[i..];
        let lead = rest.len() - rest.trim_start().len();
        let w = word_at(i + lead);
        if w.eq_ignore_ascii_case("DISTINCT") || w.eq_ignore_ascii_case("ALL") {
            i += lead + w.len();
        }
        let mut items = Vec::new();
        let mut start = i;
        let mut depth = 0usize;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'\'' | b'"' | b'`' | b'[' => {
                    let close = if b == b'[' { b']' } else { b };
                    let end = bytes[i + 1..].iter().position(|&c| c == close)?;
                    i += end + 2;
                    continue;
                }
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    let end = bytes[i..].iter().position(|&c| c == b'\n');
                    i = end.map_or(bytes.len(), |e| i + e + 1);
                    continue;
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    let end = self.sql[i + 2..].find("*/")?;
                    i += end + 4;
                    continue;
                }
                b'(' => depth += 1,
                b')' if depth == 0 => break,
                b')' => depth -= 1,
                b';' if depth == 0 => break,
                b',' if depth == 0 => {
                    items.push(self.sql[start..i].trim());
                    start = i + 1;
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let w = word_at(i);
                    let prev_ok = i == 0
                        || !bytes[i - 1].is_ascii_alphanumeric()
                            && bytes[i - 1] != b'_'
                            && bytes[i - 1] != b'.';
                    if depth == 0 && prev_ok && ENDS.iter().any(|k| w.eq_ignore_ascii_case(k)) {
                        break;
                    }
                    i += w.len().max(1);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        items.push(self.sql[start..i.min(bytes.len())].trim());
        Some(items)
    }

    /// Whether the literal at `span` was written as a hexadecimal integer (`0x1F`), which the
    /// parser reports the same way as a blob literal (`x'1F'`).
    pub(crate) fn is_hex_integer(&self, span: Span) -> bool {
        match self.offset(span.start) {
            Some(s) => {
                let t = &self.sql.as_bytes()[s..];
                t.len() >= 2 && t[0] == b'0' && (t[1] == b'x' || t[1] == b'X')
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sqlite_worded() {
        assert_eq!(
            parse("SELEC 1").unwrap_err().to_string(),
            "near \"SELEC\": syntax error"
        );
        assert_eq!(
            parse("SELECT (1").unwrap_err().to_string(),
            "incomplete input"
        );
        assert!(parse("SELECT 'abc").is_err());
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&deep).is_err());
    }

    fn first_item(sql: &str) -> ast::Expr {
        let p = parse(sql).unwrap();
        let Parsed::Stmt(s) = &p[0] else {
            panic!("not a statement")
        };
        let ast::Statement::Query(q) = s.as_ref() else {
            panic!("not a query")
        };
        let ast::SetExpr::Select(sel) = q.body.as_ref() else {
            panic!("not a select")
        };
        let ast::SelectItem::UnnamedExpr(e) = &sel.projection[0] else {
            panic!("not an expr")
        };
        e.clone()
    }

    #[test]
    fn precedence_follows_sqlite() {
        use ast::BinaryOperator as B;
        // ~a * b % c is ((~a) * b) % c
        assert!(matches!(
            first_item("SELECT ~a * b % c"),
            ast::Expr::BinaryOp { op: B::Modulo, .. }
        ));
        // 2 * 3 || 4 is 2 * (3 || 4)
        assert!(matches!(
            first_item("SELECT 2 * 3 || 4"),
            ast::Expr::BinaryOp {
                op: B::Multiply,
                ..
            }
        ));
        // 1 IS 1 = 1 is (1 IS 1) = 1
        assert!(matches!(
            first_item("SELECT 1 IS 1 = 1"),
            ast::Expr::BinaryOp { op: B::Eq, .. }
        ));
        // Parentheses are kept.
        assert!(matches!(
            first_item("SELECT ~(a * b)"),
            ast::Expr::UnaryOp { .. }
        ));
        // The rendering re-parses to the same tree.
        let e = first_item("SELECT 2 * 3 || 4");
        assert_eq!(first_item(&format!("SELECT {e}")), e_without_spans(&e));
    }

    fn e_without_spans(e: &ast::Expr) -> ast::Expr {
        first_item(&format!("SELECT {e}"))
    }

    #[test]
    fn reindex() {
        assert!(
            matches!(&parse("REINDEX t1i1").unwrap()[0], Parsed::Reindex(Some(n)) if n == "t1i1")
        );
        assert!(matches!(
            &parse(" reindex;").unwrap()[0],
            Parsed::Reindex(None)
        ));
        assert!(matches!(&parse("reindexed").unwrap_err(), Error::Syntax(_)));
    }
}
