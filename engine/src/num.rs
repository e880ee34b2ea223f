//! Text <-> number conversions exactly as SQLite performs them: the longest-numeric-prefix
//! rule used by arithmetic and `CAST`, the "well-formed literal" rule used by column affinity,
//! and `%!.15g` formatting of REAL values. Results depend on these details (`'12abc' + 0` is 12,
//! `CAST(1e20 AS TEXT)` is `1.0e+20`), so they live in one place.

/// 2^63 as f64: the first REAL above every i64.
pub(crate) const TWO_63: f64 = (1u64 << 63) as f64;

/// A number produced from text: integer when the text is an integer literal that fits in i64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Real(f64),
}

/// Result of scanning text for a numeric prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    pub num: Num,
    /// The whole text (apart from surrounding whitespace) was the number.
    pub whole: bool,
    /// At least one digit was seen.
    pub any: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Scan `s` for the longest prefix that is a decimal number (after leading whitespace).
pub(crate) fn scan(s: &[u8]) -> Scan {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let start = i;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    let mut is_int = true;
    if i < s.len() && s[i] == b'.' {
        let dot = i;
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            frac_digits += 1;
        }
        if int_digits == 0 && frac_digits == 0 {
            i = dot;
        } else {
            is_int = false;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return Scan {
            num: Num::Int(0),
            whole: false,
            any: false,
        };
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
            is_int = false;
        }
    }
    let end = i;
    let mut k = end;
    while k < s.len() && is_space(s[k]) {
        k += 1;
    }
    let whole = k == s.len();
    // The slice is ASCII by construction.
    let text = std::str::from_utf8(&s[start..end]).unwrap_or("0");
    let num = if is_int {
        match text.parse::<i64>() {
            Ok(v) => Num::Int(v),
            Err(_) => Num::Real(parse_f64(text)),
        }
    } else {
        Num::Real(parse_f64(text))
    };
    Scan {
        num,
        whole,
        any: true,
    }
}

fn parse_f64(text: &str) -> f64 {
    // Rust's parser rejects a trailing '.' ("5.") and a leading '.' with sign is fine.
    match text.parse::<f64>() {
        Ok(v) => v,
        Err(_) => {
            let t = text.trim_end_matches('.');
            t.parse::<f64>().unwrap_or(0.0)
        }
    }
}

/// Numeric value of text for arithmetic (`'12abc' + 0` = 12, `'x' + 0` = 0).
pub(crate) fn text_to_num(s: &[u8]) -> Num {
    scan(s).num
}

/// NUMERIC affinity applied to text: converts only when the entire text is a number.
pub(crate) fn text_as_exact_num(s: &[u8]) -> Option<Num> {
    let sc = scan(s);
    if sc.any && sc.whole {
        Some(sc.num)
    } else {
        None
    }
}

/// `sqlite3Atoi64`-style integer prefix: digits only, clamped to the i64 range.
pub(crate) fn text_to_i64(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i128 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v * 10 + (s[i] - b'0') as i128;
        if v > i64::MAX as i128 + 1 {
            v = i64::MAX as i128 + 1;
        }
        i += 1;
    }
    if neg {
        (-v).max(i64::MIN as i128) as i64
    } else {
        v.min(i64::MAX as i128) as i64
    }
}

/// `sqlite3RealToI64`-style truncation with saturation.
pub(crate) fn real_to_i64(f: f64) -> i64 {
    if f.is_nan() {
        0
    } else if f <= i64::MIN as f64 {
        i64::MIN
    } else if f >= i64::MAX as f64 {
        i64::MAX
    } else {
        f as i64
    }
}

/// A REAL that holds an exact integer converts to INTEGER under INTEGER/NUMERIC affinity.
pub(crate) fn real_as_exact_int(f: f64) -> Option<i64> {
    if f.fract() == 0.0 && f > -TWO_63 && f < TWO_63 {
        let i = f as i64;
        if i as f64 == f {
            return Some(i);
        }
    }
    None
}

/// Compare an integer with a real exactly (no rounding of the integer to f64).
pub(crate) fn cmp_int_real(i: i64, r: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if r.is_nan() {
        return Greater;
    }
    if r < -TWO_63 {
        return Greater;
    }
    if r >= TWO_63 {
        return Less;
    }
    let t = r.trunc();
    let ti = t as i64;
    match i.cmp(&ti) {
        Equal => {
            let frac = r - t;
            if frac > 0.0 {
                Less
            } else if frac < 0.0 {
                Greater
            } else {
                Equal
            }
        }
        o => o,
    }
}

/// Format a REAL the way SQLite renders it as text (`%!.15g`).
pub fn format_real(f: f64) -> String {
    let mut out = String::new();
    write_real(&mut out, f);
    out
}

pub(crate) fn write_real(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NULL");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "Inf" } else { "-Inf" });
        return;
    }
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    let s = format!("{:.14e}", f);
    let (mant, exp) = match s.split_once('e') {
        Some(p) => p,
        None => {
            out.push_str(&s);
            return;
        }
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if neg {
        out.push('-');
    }
    if !(-4..15).contains(&exp) {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let e = exp as usize;
        if digits.len() > e + 1 {
            out.push_str(&digits[..e + 1]);
            out.push('.');
            out.push_str(&digits[e + 1..]);
        } else {
            out.push_str(digits);
            for _ in digits.len()..e + 1 {
                out.push('0');
            }
            out.push_str(".0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_formatting_matches_sqlite() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e20, "1.0e+20"),
            (1.5e-7, "1.5e-07"),
            (123456789012345.0, "123456789012345.0"),
            (1234567890123456.0, "1.23456789012346e+15"),
            (1.0 / 3.0, "0.333333333333333"),
            (0.0001, "0.0001"),
            (100.0, "100.0"),
            (TWO_63, "9.22337203685478e+18"),
        ];
        for (f, s) in cases {
            assert_eq!(format_real(f), s, "{f}");
        }
    }

    #[test]
    fn numeric_prefixes() {
        assert_eq!(text_to_num(b"12abc"), Num::Int(12));
        assert_eq!(text_to_num(b" 1.5e2x"), Num::Real(150.0));
        assert_eq!(text_to_num(b"abc"), Num::Int(0));
        assert_eq!(text_to_num(b"1e"), Num::Int(1));
        assert_eq!(text_as_exact_num(b" 42 "), Some(Num::Int(42)));
        assert_eq!(text_as_exact_num(b"4x"), None);
        assert_eq!(text_as_exact_num(b"."), None);
        assert_eq!(
            text_as_exact_num(b"9223372036854775808"),
            Some(Num::Real(TWO_63))
        );
        assert_eq!(text_to_i64(b"-12.9"), -12);
        assert_eq!(text_to_i64(b"99999999999999999999"), i64::MAX);
    }

    #[test]
    fn int_real_comparison_is_exact() {
        use std::cmp::Ordering::*;
        assert_eq!(cmp_int_real(3, 3.0), Equal);
        assert_eq!(cmp_int_real(3, 3.5), Less);
        assert_eq!(cmp_int_real(-3, -3.5), Greater);
        assert_eq!(cmp_int_real(i64::MAX, TWO_63), Less);
        assert_eq!(cmp_int_real(9007199254740993, 9007199254740992.0), Greater);
    }
}
