//! `printf()` / `format()`: SQLite's format conversions (`%d %i %u %f %e %g %x %o %c %s %q %Q
//! %w %%` with flags `- + space 0 # , !`, width and precision, `*` from arguments). Widths and
//! precisions are capped by the value size limit so a format string cannot allocate without
//! bound.

use crate::error::{Error, Result};
use crate::value::Value;

pub(crate) fn printf(fmt: &str, args: &[Value], limit: usize) -> Result<String> {
    let mut out = String::new();
    let mut argi = 0usize;
    let next = |argi: &mut usize| -> Value {
        let v = args.get(*argi).cloned().unwrap_or(Value::Null);
        *argi += 1;
        v
    };
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= chars.len() {
            break;
        }
        let (mut left, mut plus, mut space, mut zero, mut alt, mut comma) =
            (false, false, false, false, false, false);
        while i < chars.len() {
            match chars[i] {
                '-' => left = true,
                '+' => plus = true,
                ' ' => space = true,
                '0' => zero = true,
                '#' => alt = true,
                ',' => comma = true,
                '!' => alt = true,
                _ => break,
            }
            i += 1;
        }
        let mut width: usize = 0;
        if i < chars.len() && chars[i] == '*' {
            let w = next(&mut argi).to_i64();
            if w < 0 {
                left = true;
            }
            width = w.unsigned_abs() as usize;
            i += 1;
        } else {
            while i < chars.len() && chars[i].is_ascii_digit() {
                width = width
                    .saturating_mul(10)
                    .saturating_add(chars[i] as usize - '0' as usize);
                i += 1;
            }
        }
        let mut prec: Option<usize> = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                let p = next(&mut argi).to_i64();
                prec = Some(p.max(0) as usize);
                i += 1;
            } else {
                let mut p = 0usize;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    p = p
                        .saturating_mul(10)
                        .saturating_add(chars[i] as usize - '0' as usize);
                    i += 1;
                }
                prec = Some(p);
            }
        }
        // Length modifiers are accepted and ignored.
        while i < chars.len() && matches!(chars[i], 'l' | 'h') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let conv = chars[i];
        i += 1;
        if width > limit || prec.unwrap_or(0) > limit {
            return Err(Error::TooBig { limit });
        }
        let body: String = match conv {
            '%' => {
                out.push('%');
                continue;
            }
            'd' | 'i' | 'u' => {
                let v = next(&mut argi);
                let n = int_arg(&v);
                let n = if conv == 'u' && n < 0 {
                    n as u64 as i128
                } else {
                    n as i128
                };
                let mut digits = n.unsigned_abs().to_string();
                if let Some(p) = prec {
                    while digits.len() < p {
                        digits.insert(0, '0');
                    }
                }
                if comma {
                    digits = group_thousands(&digits);
                }
                let sign = if n < 0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                pad_number(sign, &digits, width, left, zero && prec.is_none())
            }
            'x' | 'X' | 'o' => {
                let v = next(&mut argi);
                let n = int_arg(&v) as u64;
                let mut digits = match conv {
                    'x' => format!("{n:x}"),
                    'X' => format!("{n:X}"),
                    _ => format!("{n:o}"),
                };
                if let Some(p) = prec {
                    while digits.len() < p {
                        digits.insert(0, '0');
                    }
                }
                let prefix = if alt && n != 0 {
                    match conv {
                        'x' => "0x",
                        'X' => "0X",
                        _ => "0",
                    }
                } else {
                    ""
                };
                pad_number(prefix, &digits, width, left, zero)
            }
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                let v = next(&mut argi);
                let f = v.to_f64();
                let p = prec.unwrap_or(6).min(350);
                let (sign, mag) = if f.is_sign_negative() && f != 0.0 {
                    ("-", -f)
                } else if plus {
                    ("+", f)
                } else if space {
                    (" ", f)
                } else {
                    ("", f)
                };
                let digits = if mag.is_infinite() {
                    "Inf".to_string()
                } else {
                    match conv {
                        'f' | 'F' => {
                            let mut s = format!("{mag:.p$}");
                            if alt && p == 0 {
                                s.push('.');
                            }
                            if comma {
                                let (ip, fp) = s
                                    .split_once('.')
                                    .map(|(a, b)| (a.to_string(), format!(".{b}")))
                                    .unwrap_or((s.clone(), String::new()));
                                s = group_thousands(&ip) + &fp;
                            }
                            s
                        }
                        'e' | 'E' => c_exp(mag, p, conv == 'E'),
                        _ => c_general(mag, p, alt, conv == 'G'),
                    }
                };
                pad_number(sign, &digits, width, left, zero)
            }
            'c' => {
                let v = next(&mut argi);
                let s = v
                    .to_text()
                    .map(|s| s.chars().next().map(String::from).unwrap_or_default())
                    .unwrap_or_default();
                let n = prec.unwrap_or(1).max(1);
                let s = s.repeat(n.min(limit.max(1)));
                pad_str(&s, width, left)
            }
            's' | 'z' => {
                let v = next(&mut argi);
                let s = v.to_text().map(|s| s.into_owned()).unwrap_or_default();
                let s = match prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                };
                pad_str(&s, width, left)
            }
            'q' | 'Q' | 'w' => {
                let v = next(&mut argi);
                let s = match (&v, conv) {
                    (Value::Null, 'Q') => "NULL".to_string(),
                    (Value::Null, _) => "(NULL)".to_string(),
                    _ => {
                        let t = v.to_text().map(|s| s.into_owned()).unwrap_or_default();
                        let q = if conv == 'w' { '"' } else { '\'' };
                        let esc = t.replace(q, &format!("{q}{q}"));
                        if conv == 'Q' {
                            format!("'{esc}'")
                        } else {
                            esc
                        }
                    }
                };
                pad_str(&s, width, left)
            }
            _ => {
                // Unknown conversion: SQLite stops formatting here.
                break;
            }
        };
        out.push_str(&body);
        if out.len() > limit {
            return Err(Error::TooBig { limit });
        }
    }
    Ok(out)
}

fn int_arg(v: &Value) -> i64 {
    match v {
        Value::Real(f) => crate::num::real_to_i64(*f),
        other => other.to_i64(),
    }
}

fn group_thousands(digits: &str) -> String {
    let b = digits.as_bytes();
    let mut out = String::new();
    for (i, c) in b.iter().enumerate() {
        if i > 0 && (b.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c as char);
    }
    out
}

fn pad_number(sign: &str, digits: &str, width: usize, left: bool, zero: bool) -> String {
    let len = sign.len() + digits.chars().count();
    if len >= width {
        return format!("{sign}{digits}");
    }
    let pad = width - len;
    if left {
        format!("{sign}{digits}{}", " ".repeat(pad))
    } else if zero {
        format!("{sign}{}{digits}", "0".repeat(pad))
    } else {
        format!("{}{sign}{digits}", " ".repeat(pad))
    }
}

fn pad_str(s: &str, width: usize, left: bool) -> String {
    let len = s.chars().count();
    if len >= width {
        s.to_string()
    } else if left {
        format!("{s}{}", " ".repeat(width - len))
    } else {
        format!("{}{s}", " ".repeat(width - len))
    }
}

/// C's `%.*e`: mantissa, 'e', sign, at least two exponent digits.
fn c_exp(f: f64, p: usize, upper: bool) -> String {
    let s = format!("{f:.p$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let out = format!(
        "{m}{}{}{:02}",
        if upper { 'E' } else { 'e' },
        if e < 0 { '-' } else { '+' },
        e.unsigned_abs()
    );
    out
}

/// C's `%.*g`.
fn c_general(f: f64, p: usize, alt: bool, upper: bool) -> String {
    let p = p.max(1);
    if f == 0.0 {
        return if alt {
            format!("{:.*}", p - 1, 0.0)
        } else {
            "0".into()
        };
    }
    let exp = format!("{f:.prec$e}", prec = p - 1);
    let e: i32 = exp
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let mut s = if e < -4 || e >= p as i32 {
        c_exp(f, p - 1, upper)
    } else {
        let decimals = (p as i32 - 1 - e).max(0) as usize;
        format!("{f:.decimals$}")
    };
    if !alt {
        if let Some(epos) = s.find(['e', 'E']) {
            let (m, rest) = s.split_at(epos);
            let m = if m.contains('.') {
                m.trim_end_matches('0').trim_end_matches('.')
            } else {
                m
            };
            s = format!("{m}{rest}");
        } else if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(fmt: &str, args: &[Value]) -> String {
        printf(fmt, args, 1 << 20).unwrap()
    }

    #[test]
    fn conversions() {
        assert_eq!(
            p(
                "%d|%5d|%-5d|%05d",
                &[1.into(), 42.into(), 42.into(), (-42).into()]
            ),
            "1|   42|42   |-0042"
        );
        assert_eq!(p("%s and %s", &["a".into(), Value::Null]), "a and ");
        assert_eq!(p("%.2f", &[1.23456.into()]), "1.23");
        assert_eq!(
            p("%x %X %o", &[255.into(), 255.into(), 8.into()]),
            "ff FF 10"
        );
        assert_eq!(p("%q", &["it's".into()]), "it''s");
        assert_eq!(p("%Q %Q", &["a".into(), Value::Null]), "'a' NULL");
        assert_eq!(p("%e", &[12345.678.into()]), "1.234568e+04");
        assert_eq!(
            p("%g %g", &[0.0001.into(), 123456789.0.into()]),
            "0.0001 1.23457e+08"
        );
        assert_eq!(p("%,d", &[1234567.into()]), "1,234,567");
        assert_eq!(p("100%%", &[]), "100%");
        assert_eq!(p("%.3s", &["abcdef".into()]), "abc");
        assert!(printf("%999999999d", &[1.into()], 1000).is_err());
    }
}
