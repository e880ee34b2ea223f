//! Splitting shell input into SQL statements: a statement ends at a `;` that is outside
//! string literals, quoted identifiers and comments, and may span lines.

/// Accumulates lines and hands out complete statements.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: String,
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Code,
    /// Inside a quote ending with this char (' " ` or ]).
    Quoted(char),
    LineComment,
    BlockComment,
}

impl Splitter {
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Whether a statement has been started but not finished.
    pub fn is_pending(&self) -> bool {
        !self.buf.trim().is_empty() && !only_comments(&self.buf)
    }

    /// Feeds one line (without its newline); returns the statements it completed, each
    /// trimmed and without the final `;`.
    pub fn push_line(&mut self, line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match self.state {
                State::Code => match c {
                    '\'' | '"' | '`' => self.state = State::Quoted(c),
                    '[' => self.state = State::Quoted(']'),
                    '-' if next == Some('-') => self.state = State::LineComment,
                    '/' if next == Some('*') => {
                        self.state = State::BlockComment;
                        self.buf.push_str("/*");
                        i += 2;
                        continue;
                    }
                    ';' => {
                        let stmt = self.buf.trim().to_string();
                        self.buf.clear();
                        if !stmt.is_empty() && !only_comments(&stmt) {
                            out.push(stmt);
                        }
                        i += 1;
                        continue;
                    }
                    _ => {}
                },
                // A doubled quote is an escaped quote and stays inside the literal.
                State::Quoted(q) if c == q => {
                    if next == Some(q) && q != ']' {
                        self.buf.push(c);
                        self.buf.push(c);
                        i += 2;
                        continue;
                    }
                    self.state = State::Code;
                }
                State::Quoted(_) => {}
                State::LineComment => {}
                State::BlockComment => {
                    if c == '*' && next == Some('/') {
                        self.state = State::Code;
                        self.buf.push_str("*/");
                        i += 2;
                        continue;
                    }
                }
            }
            self.buf.push(c);
            i += 1;
        }
        if self.state == State::LineComment {
            self.state = State::Code;
        }
        self.buf.push('\n');
        out
    }

    /// What is left at end of input (a last statement without `;`), if anything.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.state = State::Code;
        let rest = rest.trim();
        (!rest.is_empty() && !only_comments(rest)).then(|| rest.to_string())
    }
}

/// Whether `s` holds nothing but whitespace and comments.
fn only_comments(s: &str) -> bool {
    let mut rest = s.trim_start();
    loop {
        if rest.is_empty() {
            return true;
        }
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            match after.split_once("*/") {
                Some((_, r)) => rest = r.trim_start(),
                None => return true,
            }
        } else {
            return false;
        }
    }
}

/// The statement with leading comments removed, for classification.
pub fn strip_leading_comments(s: &str) -> &str {
    let mut rest = s.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

/// Whether a statement reads (goes to /db/query) rather than writes (/db/execute).
pub fn is_query(stmt: &str) -> bool {
    let s = strip_leading_comments(stmt);
    let word: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    matches!(
        word.as_str(),
        "SELECT" | "EXPLAIN" | "PRAGMA" | "VALUES" | "WITH"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(input: &str) -> Vec<String> {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        for line in input.lines() {
            out.extend(s.push_line(line));
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn splitting_table() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT 1;", &["SELECT 1"]),
            ("SELECT 1; SELECT 2;", &["SELECT 1", "SELECT 2"]),
            ("SELECT\n  1\n;", &["SELECT\n  1"]),
            (
                "INSERT INTO t VALUES('a;b');",
                &["INSERT INTO t VALUES('a;b')"],
            ),
            ("SELECT 'it''s; fine';", &["SELECT 'it''s; fine'"]),
            ("SELECT \"a;\" FROM [t;x];", &["SELECT \"a;\" FROM [t;x]"]),
            (
                "SELECT 1; -- trailing; comment\nSELECT 2;",
                &["SELECT 1", "-- trailing; comment\nSELECT 2"],
            ),
            ("/* a; b */ SELECT 1;", &["/* a; b */ SELECT 1"]),
            ("SELECT 'multi\nline;';", &["SELECT 'multi\nline;'"]),
            ("SELECT 1", &["SELECT 1"]),
            (";;  ;", &[]),
            ("-- only a comment;\n", &[]),
            ("SELECT `a;b`;", &["SELECT `a;b`"]),
        ];
        for (input, want) in cases {
            assert_eq!(
                split_all(input),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{input:?}"
            );
        }
    }

    #[test]
    fn pending_tracks_unfinished_statements() {
        let mut s = Splitter::new();
        assert!(!s.is_pending());
        assert!(s.push_line("SELECT *").is_empty());
        assert!(s.is_pending());
        assert_eq!(s.push_line("FROM t;"), vec!["SELECT *\nFROM t"]);
        assert!(!s.is_pending());
        s.push_line("-- just talk");
        assert!(!s.is_pending());
    }

    #[test]
    fn classification() {
        for q in [
            "SELECT 1",
            " select 1",
            "-- c\nSELECT 1",
            "/* x */ EXPLAIN SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "PRAGMA table_info(t)",
            "VALUES(1)",
        ] {
            assert!(is_query(q), "{q}");
        }
        for e in [
            "INSERT INTO t VALUES(1)",
            "update t set a=1",
            "CREATE TABLE t(a)",
            "DELETE FROM t",
            "",
        ] {
            assert!(!is_query(e), "{e}");
        }
    }
}
