//! LIKE (case-insensitive for ASCII, `%` and `_`, optional ESCAPE) and GLOB (case-sensitive,
//! `*`, `?`, `[...]` classes) pattern matching. Iterative with backtracking on the last `%`/`*`
//! only, so time is O(pattern x text) and no input can blow the stack.

/// SQLite's LIKE.
pub(crate) fn like(pattern: &str, text: &str, escape: Option<char>) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let fold = |c: char| c.to_ascii_lowercase();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            let c = p[pi];
            if Some(c) == escape {
                if pi + 1 < p.len() && ti < t.len() && fold(p[pi + 1]) == fold(t[ti]) {
                    pi += 2;
                    ti += 1;
                    continue;
                }
            } else if c == '%' {
                star = Some((pi, ti));
                pi += 1;
                continue;
            } else if ti < t.len() && (c == '_' || fold(c) == fold(t[ti])) {
                pi += 1;
                ti += 1;
                continue;
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// One GLOB pattern element.
enum G {
    Any,
    One,
    Lit(char),
    Class(Vec<(char, char)>, bool),
}

fn parse_glob(pattern: &str) -> Vec<G> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => out.push(G::Any),
            '?' => out.push(G::One),
            '[' => {
                let mut j = i + 1;
                let mut negate = false;
                if j < p.len() && p[j] == '^' {
                    negate = true;
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                let mut closed = false;
                while j < p.len() {
                    if p[j] == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    if j + 2 < p.len() && p[j + 1] == '-' && p[j + 2] != ']' {
                        ranges.push((p[j], p[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((p[j], p[j]));
                        j += 1;
                    }
                }
                if !closed {
                    // An unterminated class matches nothing, as in SQLite.
                    out.push(G::Class(Vec::new(), false));
                    return out;
                }
                out.push(G::Class(ranges, negate));
                i = j;
            }
            c => out.push(G::Lit(c)),
        }
        i += 1;
    }
    out
}

fn glob_one(g: &G, c: char) -> bool {
    match g {
        G::One => true,
        G::Lit(l) => *l == c,
        G::Class(r, neg) => r.iter().any(|&(a, b)| a <= c && c <= b) != *neg,
        G::Any => true,
    }
}

/// SQLite's GLOB.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p = parse_glob(pattern);
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            if let G::Any = p[pi] {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            if ti < t.len() && glob_one(&p[pi], t[ti]) {
                pi += 1;
                ti += 1;
                continue;
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_cases() {
        assert!(like("a%", "ABC", None));
        assert!(like("%b%", "abc", None));
        assert!(like("a_c", "abc", None));
        assert!(!like("a_c", "abbc", None));
        assert!(like("%", "", None));
        assert!(like("10\\%", "10%", Some('\\')));
        assert!(!like("10\\%", "100", Some('\\')));
        assert!(like("%a%a%a%a%a%b", "aaaaaaaaaaaaaaaaaaaab", None));
    }

    #[test]
    fn glob_cases() {
        assert!(glob("a*", "abc"));
        assert!(!glob("a*", "Abc"));
        assert!(glob("?b?", "abc"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[^a-c]x", "bx"));
        assert!(glob("*[0-9]", "abc7"));
        assert!(!glob("[abc", "a"));
    }
}
