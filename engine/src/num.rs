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
    // SQLite parses numbers from NUL-terminated text: an embedded NUL ends the string. Its
    // integer check reads the full length, so "1\0x" is the REAL 1.0, not the INTEGER 1.
    let (s, nul_tail) = match s.iter().position(|&b| b == 0) {
        Some(n) => (&s[..n], true),
        None => (s, false),
    };
    let sc = scan_plain(s);
    match sc.num {
        Num::Int(i) if nul_tail && sc.any => Scan {
            num: Num::Real(i as f64),
            ..sc
        },
        _ => sc,
    }
}

fn scan_plain(s: &[u8]) -> Scan {
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

/// Format a REAL the way SQLite (3.54) renders it as text: `%!.17g`, shortened when a
/// shorter form provably round-trips (so 0.1 prints as `0.1`, 1.0/3 as
/// `0.33333333333333331`, 2^63 as `9.2233720368547758e+18`).
pub fn format_real(f: f64) -> String {
    let mut out = String::new();
    write_real(&mut out, f);
    out
}

/// The digit string SQLite's `sqlite3FpDecode` works from: `r` (> 0) rounded to 18 or 19
/// significant digits, the count chosen from the binary exponent exactly as
/// `sqlite3Fp2Convert10` chooses it; and the position of the decimal point
/// (r ~ 0.d1d2... x 10^dp).
fn sqlite_digits(r: f64) -> (Vec<u8>, i32) {
    let bits = r.to_bits();
    let be = ((bits >> 52) & 0x7ff) as i32;
    let e = if be == 0 {
        let m = bits & 0x000f_ffff_ffff_ffff;
        -1074 - m.leading_zeros() as i32
    } else {
        be - 1086
    };
    let p = 17 - (((e + 63) * 78913) >> 18);
    // Integer digits of r * 10^p = decimal point position of r + p.
    let first = format!("{r:.19e}");
    let e10: i32 = first
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    let ndig = (e10 + 1 + p).clamp(18, 19) as usize;
    let s = format!("{r:.*e}", ndig - 1);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let e10: i32 = exp.parse().unwrap_or(0);
    (mant.bytes().filter(u8::is_ascii_digit).collect(), e10 + 1)
}

/// `round(r, n)` for n > 0 as SQLite computes it: the decimal digits SQLite derives, rounded
/// half away from zero at the n-th decimal place, read back as a double.
pub(crate) fn round_decimal(f: f64, n: usize) -> f64 {
    if f == 0.0 || !f.is_finite() {
        return f;
    }
    let (mut z, mut dp) = sqlite_digits(f.abs());
    let keep = dp + n as i32;
    if keep < 0 {
        return 0.0 * f.signum();
    }
    let keep = keep as usize;
    if keep < z.len() {
        let up = z[keep] >= b'5';
        z.truncate(keep);
        if up {
            let mut j = keep;
            loop {
                if j == 0 {
                    z.insert(0, b'1');
                    dp += 1;
                    break;
                }
                j -= 1;
                if z[j] == b'9' {
                    z[j] = b'0';
                } else {
                    z[j] += 1;
                    break;
                }
            }
        }
    }
    if z.is_empty() {
        return 0.0 * f.signum();
    }
    let text = format!(
        "{}0.{}e{}",
        if f < 0.0 { "-" } else { "" },
        std::str::from_utf8(&z).unwrap_or("0"),
        dp
    );
    text.parse().unwrap_or(f)
}

fn round_trips(v: u64, p: i32, r: f64) -> bool {
    format!("{v}e{p}").parse::<f64>().is_ok_and(|x| x == r)
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
    let r = f.abs();
    let (mut z, mut dp) = sqlite_digits(r);
    let n = z.len() as i32;
    let mut keep = 17usize;
    let digits_value = |z: &[u8], upto: usize| -> u64 {
        z[..upto]
            .iter()
            .fold(0u64, |a, d| a * 10 + (d - b'0') as u64)
    };
    if z[15] == b'9' && z[14] == b'9' {
        let mut jj = 14;
        while jj > 0 && z[jj - 1] == b'9' {
            jj -= 1;
        }
        let v2 = if jj == 0 { 1 } else { digits_value(&z, jj) + 1 };
        if round_trips(v2, dp - jj as i32, r) {
            keep = jj + 1;
        }
    } else if dp >= n || (z[15] == b'0' && z[14] == b'0' && z[13] == b'0') {
        let mut jj = 13;
        while jj > 1 && z[jj - 1] == b'0' {
            jj -= 1;
        }
        if round_trips(digits_value(&z, jj), dp - jj as i32, r) {
            keep = jj + 1;
        }
    }
    // Round to `keep` digits (half up, as SQLite does on its digit string).
    let round_up = z[keep] >= b'5';
    z.truncate(keep);
    if round_up {
        let mut j = keep;
        loop {
            if j == 0 {
                z.insert(0, b'1');
                z.truncate(keep);
                dp += 1;
                break;
            }
            j -= 1;
            if z[j] == b'9' {
                z[j] = b'0';
            } else {
                z[j] += 1;
                break;
            }
        }
    }
    while z.len() > 1 && z.last() == Some(&b'0') {
        z.pop();
    }
    if f < 0.0 {
        out.push('-');
    }
    let digits = std::str::from_utf8(&z).unwrap_or("0");
    let exp10 = dp - 1;
    if !(-4..=16).contains(&exp10) {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        out.push('e');
        out.push(if exp10 < 0 { '-' } else { '+' });
        let a = exp10.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp10 < 0 {
        out.push_str("0.");
        for _ in 0..(-exp10 - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let e = exp10 as usize;
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
            (1234567890123456.0, "1234567890123456.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (49.47, "49.47"),
            (1.0 / 3.0, "0.33333333333333332"),
            (0.0001, "0.0001"),
            (100.0, "100.0"),
            (TWO_63, "9.2233720368547758e+18"),
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
