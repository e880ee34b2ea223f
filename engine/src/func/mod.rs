//! Built-in SQL functions: the scalar functions SQLite ships in its core (plus its date/time
//! and common math functions) and the aggregates. Functions that would be non-deterministic
//! (`random()`, `randomblob()`, `'now'`) read the per-batch seed and timestamp carried in the
//! command batch, never a clock or an RNG of their own.

pub(crate) mod agg;
pub(crate) mod datetime;
pub(crate) mod like;
pub(crate) mod printf;

use std::cell::Cell;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::num::Num;
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarFn {
    Abs,
    Coalesce,
    IfNull,
    NullIf,
    Iif,
    Length,
    OctetLength,
    Lower,
    Upper,
    Substr,
    Trim,
    LTrim,
    RTrim,
    Replace,
    Round,
    TypeOf,
    Min,
    Max,
    Hex,
    Unhex,
    Instr,
    Printf,
    Char,
    Unicode,
    Quote,
    ZeroBlob,
    RandomBlob,
    Random,
    Sign,
    Likely,
    Likelihood,
    Glob,
    Like,
    Date,
    Time,
    DateTime,
    JulianDay,
    UnixEpoch,
    StrFTime,
    LastInsertRowid,
    Changes,
    TotalChanges,
    SqliteVersion,
    Ceil,
    Floor,
    Trunc,
    Sqrt,
    Pow,
    Mod,
    Pi,
    Exp,
    Ln,
    Log10,
    Log2,
    Log,
    Concat,
    ConcatWs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggKind {
    CountStar,
    Count,
    Sum,
    Total,
    Avg,
    Min,
    Max,
    GroupConcat,
}

impl AggKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AggKind::CountStar | AggKind::Count => "count",
            AggKind::Sum => "sum",
            AggKind::Total => "total",
            AggKind::Avg => "avg",
            AggKind::Min => "min",
            AggKind::Max => "max",
            AggKind::GroupConcat => "group_concat",
        }
    }
}

pub(crate) enum Resolved {
    Scalar(ScalarFn),
    Agg(AggKind),
}

fn arity(name: &str, n: usize, min: usize, max: usize) -> Result<()> {
    if n < min || n > max {
        Err(Error::sql(format!(
            "wrong number of arguments to function {name}()"
        )))
    } else {
        Ok(())
    }
}

/// Resolve a function name and argument count.
pub(crate) fn lookup(name: &str, nargs: usize, star: bool) -> Result<Resolved> {
    use ScalarFn::*;
    let lname = name.to_ascii_lowercase();
    let m = usize::MAX;
    let agg = |k: AggKind, min: usize, max: usize| -> Result<Resolved> {
        arity(&lname, nargs, min, max)?;
        Ok(Resolved::Agg(k))
    };
    if star {
        return if lname == "count" {
            Ok(Resolved::Agg(AggKind::CountStar))
        } else {
            Err(Error::sql(format!(
                "wrong number of arguments to function {lname}()"
            )))
        };
    }
    let (f, min, max) = match lname.as_str() {
        "count" if nargs == 0 => return Ok(Resolved::Agg(AggKind::CountStar)),
        "count" => return agg(AggKind::Count, 1, 1),
        "sum" => return agg(AggKind::Sum, 1, 1),
        "total" => return agg(AggKind::Total, 1, 1),
        "avg" => return agg(AggKind::Avg, 1, 1),
        "group_concat" => return agg(AggKind::GroupConcat, 1, 2),
        "string_agg" => return agg(AggKind::GroupConcat, 2, 2),
        "min" if nargs == 1 => return Ok(Resolved::Agg(AggKind::Min)),
        "max" if nargs == 1 => return Ok(Resolved::Agg(AggKind::Max)),
        "min" => (Min, 2, m),
        "max" => (Max, 2, m),
        "abs" => (Abs, 1, 1),
        "coalesce" => (Coalesce, 2, m),
        "ifnull" => (IfNull, 2, 2),
        "nullif" => (NullIf, 2, 2),
        "iif" | "if" => (Iif, 3, 3),
        "length" => (Length, 1, 1),
        "octet_length" => (OctetLength, 1, 1),
        "lower" => (Lower, 1, 1),
        "upper" => (Upper, 1, 1),
        "substr" | "substring" => (Substr, 2, 3),
        "trim" => (Trim, 1, 2),
        "ltrim" => (LTrim, 1, 2),
        "rtrim" => (RTrim, 1, 2),
        "replace" => (Replace, 3, 3),
        "round" => (Round, 1, 2),
        "typeof" => (TypeOf, 1, 1),
        "hex" => (Hex, 1, 1),
        "unhex" => (Unhex, 1, 2),
        "instr" => (Instr, 2, 2),
        "printf" | "format" => (Printf, 1, m),
        "char" => (Char, 0, m),
        "unicode" => (Unicode, 1, 1),
        "quote" => (Quote, 1, 1),
        "zeroblob" => (ZeroBlob, 1, 1),
        "randomblob" => (RandomBlob, 1, 1),
        "random" => (Random, 0, 0),
        "sign" => (Sign, 1, 1),
        "likely" | "unlikely" => (Likely, 1, 1),
        "likelihood" => (Likelihood, 2, 2),
        "glob" => (Glob, 2, 2),
        "like" => (Like, 2, 3),
        "date" => (Date, 0, m),
        "time" => (Time, 0, m),
        "datetime" => (DateTime, 0, m),
        "julianday" => (JulianDay, 0, m),
        "unixepoch" => (UnixEpoch, 0, m),
        "strftime" => (StrFTime, 1, m),
        "last_insert_rowid" => (LastInsertRowid, 0, 0),
        "changes" => (Changes, 0, 0),
        "total_changes" => (TotalChanges, 0, 0),
        "sqlite_version" => (SqliteVersion, 0, 0),
        "ceil" | "ceiling" => (Ceil, 1, 1),
        "floor" => (Floor, 1, 1),
        "trunc" => (Trunc, 1, 1),
        "sqrt" => (Sqrt, 1, 1),
        "pow" | "power" => (Pow, 2, 2),
        "mod" => (Mod, 2, 2),
        "pi" => (Pi, 0, 0),
        "exp" => (Exp, 1, 1),
        "ln" => (Ln, 1, 1),
        "log10" => (Log10, 1, 1),
        "log2" => (Log2, 1, 1),
        "log" => (Log, 1, 2),
        "concat" => (Concat, 1, m),
        "concat_ws" => (ConcatWs, 2, m),
        _ => return Err(Error::NoSuchFunction(name.to_string())),
    };
    arity(&lname, nargs, min, max)?;
    Ok(Resolved::Scalar(f))
}

impl ScalarFn {
    /// Same arguments give the same result within one statement execution.
    pub(crate) fn deterministic_const(self) -> bool {
        !matches!(
            self,
            ScalarFn::Random
                | ScalarFn::RandomBlob
                | ScalarFn::Changes
                | ScalarFn::LastInsertRowid
                | ScalarFn::TotalChanges
        )
    }

    /// Arguments are evaluated lazily by the evaluator (short-circuit).
    pub(crate) fn is_lazy(self) -> bool {
        matches!(self, ScalarFn::Coalesce | ScalarFn::IfNull | ScalarFn::Iif)
    }
}

/// What functions may read from their surroundings: the batch's deterministic seed and
/// timestamp, connection counters, and the value size limit.
pub(crate) struct FnEnv {
    pub rng: Cell<u64>,
    pub now_ms: Option<i64>,
    pub last_insert_rowid: Cell<i64>,
    pub changes: Cell<i64>,
    pub total_changes: Cell<i64>,
    pub max_value_bytes: usize,
}

impl FnEnv {
    pub(crate) fn new(seed: u64, now_ms: Option<i64>, max_value_bytes: usize) -> FnEnv {
        FnEnv {
            rng: Cell::new(seed),
            now_ms,
            last_insert_rowid: Cell::new(0),
            changes: Cell::new(0),
            total_changes: Cell::new(0),
            max_value_bytes,
        }
    }

    /// splitmix64: small, fast, and identical on every replica for the same seed.
    pub(crate) fn next_random(&self) -> u64 {
        let s = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n > self.max_value_bytes {
            Err(Error::TooBig {
                limit: self.max_value_bytes,
            })
        } else {
            Ok(())
        }
    }
}

fn text_arg(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    v.to_text()
}

/// Text as a C string sees it: up to the first NUL (how SQLite's LIKE, GLOB and replace()
/// read their patterns).
pub(crate) fn c_str(s: &str) -> &str {
    match s.find('\0') {
        Some(i) => &s[..i],
        None => s,
    }
}

fn substr(v: &Value, start: i64, len: Option<i64>) -> Value {
    // SQLite's 1-based substr with negative start / length semantics, on characters for
    // text and bytes for blobs.
    // i128 arithmetic: start and length may be anywhere in the i64 range.
    fn bounds(n: i64, start: i64, len: Option<i64>) -> (usize, usize) {
        let n = n as i128;
        let mut p1 = start as i128;
        let mut p2: i128 = match len {
            Some(l) => l as i128,
            None => n + 1,
        };
        if p1 < 0 {
            p1 += n;
            if p1 < 0 {
                p2 += p1;
                if p2 < 0 {
                    p2 = 0;
                }
                p1 = 0;
            }
        } else if p1 > 0 {
            p1 -= 1;
        } else if p2 > 0 {
            p2 -= 1;
        }
        if p2 < 0 {
            if p2 < -p1 {
                p2 = p1;
            } else {
                p2 = -p2;
            }
            p1 -= p2;
        }
        let s = p1.clamp(0, n) as usize;
        let e = (p1 + p2).clamp(0, n) as usize;
        (s, e.max(s))
    }
    match v {
        Value::Null => Value::Null,
        // sqlite3_value_blob() of an empty blob is a NULL pointer: substr gives NULL.
        Value::Blob(b) if b.is_empty() => Value::Null,
        Value::Blob(b) => {
            let (s, e) = bounds(b.len() as i64, start, len);
            Value::Blob(Arc::from(&b[s..e]))
        }
        other => {
            let t = other.to_text().unwrap_or_default();
            if t.is_ascii() {
                let (s, e) = bounds(t.len() as i64, start, len);
                Value::from(&t[s..e])
            } else {
                let chars: Vec<char> = t.chars().collect();
                let (s, e) = bounds(chars.len() as i64, start, len);
                Value::from(chars[s..e].iter().collect::<String>())
            }
        }
    }
}

fn trim(v: &Value, chars: Option<&Value>, left: bool, right: bool) -> Value {
    let Some(t) = text_arg(v) else {
        return Value::Null;
    };
    let set: Vec<char> = match chars {
        None => vec![' '],
        Some(Value::Null) => return Value::Null,
        Some(c) => c.to_text().unwrap_or_default().chars().collect(),
    };
    let mut s: &str = &t;
    if left {
        s = s.trim_start_matches(|c| set.contains(&c));
    }
    if right {
        s = s.trim_end_matches(|c| set.contains(&c));
    }
    Value::from(s)
}

fn round(v: &Value, digits: Option<&Value>) -> Value {
    if v.is_null() || digits.is_some_and(|d| d.is_null()) {
        return Value::Null;
    }
    let n = digits.map(|d| d.to_i64()).unwrap_or(0).clamp(0, 30) as i32;
    let f = v.to_f64();
    if !f.is_finite() {
        return Value::real(f);
    }
    if f.abs() > 4_503_599_627_370_496.0 {
        // No fractional part to round.
        return Value::Real(f);
    }
    if n == 0 {
        return Value::real((f + if f < 0.0 { -0.5 } else { 0.5 }) as i64 as f64);
    }
    Value::real(crate::num::round_decimal(f, n as usize))
}

fn hex(v: &Value) -> Value {
    let bytes: Vec<u8> = match v {
        Value::Null => Vec::new(),
        Value::Blob(b) => b.to_vec(),
        other => other.to_text().unwrap_or_default().as_bytes().to_vec(),
    };
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    Value::from(s)
}

fn quote(v: &Value) -> Value {
    match v {
        Value::Null => Value::from("NULL"),
        Value::Integer(i) => Value::from(i.to_string()),
        Value::Real(f) if f.is_infinite() => {
            Value::from(if *f > 0.0 { "9.0e+999" } else { "-9.0e+999" })
        }
        Value::Real(f) => Value::from(crate::num::format_real(*f)),
        Value::Text(t) => Value::from(format!("'{}'", t.replace('\'', "''"))),
        Value::Blob(b) => {
            let mut s = String::from("X'");
            for x in b.iter() {
                s.push_str(&format!("{x:02X}"));
            }
            s.push('\'');
            Value::from(s)
        }
    }
}

fn math1(v: &Value, f: impl Fn(f64) -> f64) -> Value {
    match v.to_num() {
        None => Value::Null,
        Some(n) => Value::real(f(crate::value::num_to_f64(n))),
    }
}

fn int_or_real_round(v: &Value, f: impl Fn(f64) -> f64) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Integer(i) => Value::Integer(*i),
        other => match other.to_num() {
            Some(Num::Int(i)) => Value::Integer(i),
            Some(Num::Real(x)) => Value::real(f(x)),
            None => Value::Null,
        },
    }
}

/// Call a strict (non-lazy) scalar function.
pub(crate) fn call(f: ScalarFn, args: &[Value], env: &FnEnv) -> Result<Value> {
    use ScalarFn::*;
    let a0 = args.first().unwrap_or(&Value::Null);
    let a1 = args.get(1);
    Ok(match f {
        Abs => match a0 {
            Value::Null => Value::Null,
            Value::Integer(i) => match i.checked_abs() {
                Some(v) => Value::Integer(v),
                None => return Err(Error::sql("integer overflow")),
            },
            // Anything else goes through REAL, as in SQLite.
            other => Value::real(other.to_f64().abs()),
        },
        Coalesce | IfNull => args
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null),
        Iif => {
            if a0.truth() == Some(true) {
                a1.cloned().unwrap_or(Value::Null)
            } else {
                args.get(2).cloned().unwrap_or(Value::Null)
            }
        }
        NullIf => {
            let b = a1.unwrap_or(&Value::Null);
            if a0.sql_cmp(b, Default::default()) == Some(std::cmp::Ordering::Equal) {
                Value::Null
            } else {
                a0.clone()
            }
        }
        Length => match a0 {
            Value::Null => Value::Null,
            Value::Blob(b) => Value::Integer(b.len() as i64),
            Value::Text(t) => Value::Integer(t.chars().take_while(|&c| c != '\0').count() as i64),
            other => Value::Integer(other.to_text().map(|t| t.chars().count()).unwrap_or(0) as i64),
        },
        OctetLength => match a0 {
            Value::Null => Value::Null,
            other => Value::Integer(match other {
                Value::Blob(b) => b.len(),
                o => o.to_text().map(|t| t.len()).unwrap_or(0),
            } as i64),
        },
        Lower => text_arg(a0)
            .map(|t| Value::from(t.to_ascii_lowercase()))
            .unwrap_or(Value::Null),
        Upper => text_arg(a0)
            .map(|t| Value::from(t.to_ascii_uppercase()))
            .unwrap_or(Value::Null),
        Substr => {
            if a0.is_null()
                || a1.is_none_or(|v| v.is_null())
                || args.get(2).is_some_and(|v| v.is_null())
            {
                Value::Null
            } else {
                substr(
                    a0,
                    a1.map(|v| v.to_i64()).unwrap_or(1),
                    args.get(2).map(|v| v.to_i64()),
                )
            }
        }
        Trim => trim(a0, a1, true, true),
        LTrim => trim(a0, a1, true, false),
        RTrim => trim(a0, a1, false, true),
        Replace => {
            // SQLite's order: NULL string or pattern gives NULL; an empty pattern returns the
            // string as TEXT (before the replacement is even looked at).
            let Some(s) = text_arg(a0) else {
                return Ok(Value::Null);
            };
            let Some(p) = a1.and_then(text_arg) else {
                return Ok(Value::Null);
            };
            let p = c_str(&p);
            if p.is_empty() {
                return Ok(Value::from(s.as_ref()));
            }
            let Some(r) = args.get(2).and_then(text_arg) else {
                return Ok(Value::Null);
            };
            let n = s.matches(p).count();
            env.check_len(s.len() + n * r.len())?;
            Value::from(s.replace(p, &r))
        }
        Round => round(a0, a1),
        TypeOf => Value::from(a0.type_name()),
        Min | Max => {
            if args.iter().any(|v| v.is_null()) {
                Value::Null
            } else {
                // As SQLite: min() takes the last of equal values, max() the first.
                let mut best = &args[0];
                for v in &args[1..] {
                    let o = v.total_cmp(best);
                    if (f == Min && o.is_le()) || (f == Max && o.is_gt()) {
                        best = v;
                    }
                }
                best.clone()
            }
        }
        Hex => hex(a0),
        Unhex => {
            let Some(t) = text_arg(a0) else {
                return Ok(Value::Null);
            };
            let ignore: Vec<char> = a1
                .and_then(text_arg)
                .map(|s| s.chars().collect())
                .unwrap_or_default();
            let digits: Vec<char> = t.chars().filter(|c| !ignore.contains(c)).collect();
            if !digits.len().is_multiple_of(2) || !digits.iter().all(|c| c.is_ascii_hexdigit()) {
                return Ok(Value::Null);
            }
            let bytes: Vec<u8> = digits
                .chunks(2)
                .map(|p| {
                    (p[0].to_digit(16).unwrap_or(0) * 16 + p[1].to_digit(16).unwrap_or(0)) as u8
                })
                .collect();
            Value::from(bytes)
        }
        Instr => {
            let b = a1.unwrap_or(&Value::Null);
            match (a0, b) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (Value::Blob(h), Value::Blob(n)) => Value::Integer(if n.is_empty() {
                    1
                } else {
                    h.windows(n.len())
                        .position(|w| w == n.as_ref())
                        .map(|p| p as i64 + 1)
                        .unwrap_or(0)
                }),
                _ => {
                    let h = a0.to_text().unwrap_or_default();
                    let n = b.to_text().unwrap_or_default();
                    Value::Integer(match h.find(n.as_ref()) {
                        Some(p) => h[..p].chars().count() as i64 + 1,
                        None => 0,
                    })
                }
            }
        }
        Printf => match text_arg(a0) {
            None => Value::Null,
            Some(fmt) => Value::from(printf::printf(&fmt, &args[1..], env.max_value_bytes)?),
        },
        Char => {
            let s: String = args
                .iter()
                .map(|v| char::from_u32(v.to_i64().clamp(0, 0x10FFFF) as u32).unwrap_or('\u{FFFD}'))
                .collect();
            Value::from(s)
        }
        Unicode => match text_arg(a0) {
            None => Value::Null,
            // C-string semantics: a leading NUL means an empty string, which gives NULL.
            Some(t) => match t.chars().next() {
                Some(c) if c != '\0' => Value::Integer(c as i64),
                _ => Value::Null,
            },
        },
        Quote => quote(a0),
        ZeroBlob => {
            let n = a0.to_i64().max(0) as usize;
            env.check_len(n)?;
            Value::from(vec![0u8; n])
        }
        RandomBlob => {
            let n = a0.to_i64().max(1) as usize;
            env.check_len(n)?;
            let mut b = Vec::with_capacity(n);
            while b.len() < n {
                let r = env.next_random().to_le_bytes();
                let take = (n - b.len()).min(8);
                b.extend_from_slice(&r[..take]);
            }
            Value::from(b)
        }
        Random => Value::Integer(env.next_random() as i64),
        // sqlite3_value_numeric_type: text converts only if it is a number; blobs never do.
        Sign => match a0 {
            Value::Integer(i) => Value::Integer(i.signum()),
            Value::Real(f) => Value::Integer(if *f > 0.0 {
                1
            } else if *f < 0.0 {
                -1
            } else {
                0
            }),
            Value::Text(t) => match crate::num::text_as_exact_num(t.as_bytes()) {
                Some(Num::Int(i)) => Value::Integer(i.signum()),
                Some(Num::Real(f)) => Value::Integer(if f > 0.0 {
                    1
                } else if f < 0.0 {
                    -1
                } else {
                    0
                }),
                None => Value::Null,
            },
            _ => Value::Null,
        },
        Likely | Likelihood => a0.clone(),
        Glob => match (text_arg(a0), a1.and_then(text_arg)) {
            (Some(p), Some(s)) => Value::from_bool(like::glob(c_str(&p), c_str(&s))),
            _ => Value::Null,
        },
        Like => {
            let esc = match args.get(2) {
                None => None,
                Some(v) => match text_arg(v) {
                    None => return Ok(Value::Null),
                    Some(e) => {
                        let mut it = e.chars();
                        match (it.next(), it.next()) {
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(Error::sql(
                                    "ESCAPE expression must be a single character",
                                ))
                            }
                        }
                    }
                },
            };
            match (text_arg(a0), a1.and_then(text_arg)) {
                (Some(p), Some(s)) => Value::from_bool(like::like(c_str(&p), c_str(&s), esc)),
                _ => Value::Null,
            }
        }
        Date => datetime::eval(datetime::DtFn::Date, args, env.now_ms).map_err(Error::Sql)?,
        Time => datetime::eval(datetime::DtFn::Time, args, env.now_ms).map_err(Error::Sql)?,
        DateTime => {
            datetime::eval(datetime::DtFn::DateTime, args, env.now_ms).map_err(Error::Sql)?
        }
        JulianDay => {
            datetime::eval(datetime::DtFn::JulianDay, args, env.now_ms).map_err(Error::Sql)?
        }
        UnixEpoch => {
            datetime::eval(datetime::DtFn::UnixEpoch, args, env.now_ms).map_err(Error::Sql)?
        }
        StrFTime => match text_arg(a0) {
            None => Value::Null,
            Some(fmt) => datetime::strftime(&fmt, &args[1..], env.now_ms).map_err(Error::Sql)?,
        },
        LastInsertRowid => Value::Integer(env.last_insert_rowid.get()),
        Changes => Value::Integer(env.changes.get()),
        TotalChanges => Value::Integer(env.total_changes.get()),
        SqliteVersion => Value::from("3.45.0"),
        Ceil => int_or_real_round(a0, f64::ceil),
        Floor => int_or_real_round(a0, f64::floor),
        Trunc => int_or_real_round(a0, f64::trunc),
        Sqrt => math1(a0, |x| if x < 0.0 { f64::NAN } else { x.sqrt() }),
        Exp => math1(a0, f64::exp),
        Ln => math1(a0, |x| if x <= 0.0 { f64::NAN } else { x.ln() }),
        Log10 => math1(a0, |x| if x <= 0.0 { f64::NAN } else { x.log10() }),
        Log2 => math1(a0, |x| if x <= 0.0 { f64::NAN } else { x.log2() }),
        Log => match a1 {
            None => math1(a0, |x| if x <= 0.0 { f64::NAN } else { x.log10() }),
            Some(x) => {
                if a0.is_null() || x.is_null() {
                    Value::Null
                } else {
                    let (b, v) = (a0.to_f64(), x.to_f64());
                    Value::real(if b <= 0.0 || b == 1.0 || v <= 0.0 {
                        f64::NAN
                    } else {
                        v.ln() / b.ln()
                    })
                }
            }
        },
        Pow => match a1 {
            Some(y) if !a0.is_null() && !y.is_null() => Value::real(a0.to_f64().powf(y.to_f64())),
            _ => Value::Null,
        },
        Mod => match a1 {
            Some(y) if !a0.is_null() && !y.is_null() => {
                let d = y.to_f64();
                if d == 0.0 {
                    Value::Null
                } else {
                    Value::real(a0.to_f64() % d)
                }
            }
            _ => Value::Null,
        },
        Pi => Value::Real(std::f64::consts::PI),
        Concat => {
            let mut s = String::new();
            for v in args {
                v.write_text(&mut s);
                env.check_len(s.len())?;
            }
            Value::from(s)
        }
        ConcatWs => {
            let Some(sep) = text_arg(a0) else {
                return Ok(Value::Null);
            };
            let mut s = String::new();
            let mut first = true;
            for v in &args[1..] {
                if v.is_null() {
                    continue;
                }
                if !first {
                    s.push_str(&sep);
                }
                first = false;
                v.write_text(&mut s);
                env.check_len(s.len())?;
            }
            Value::from(s)
        }
    })
}
