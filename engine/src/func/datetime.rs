//! Date and time functions (`date`, `time`, `datetime`, `julianday`, `unixepoch`,
//! `strftime`) on SQLite's julian-day-milliseconds representation. `'now'` is never read
//! from a clock here: it is the batch timestamp the leader chose in `prepare`, so every
//! replica computes the same answer. `localtime` is treated as UTC for the same reason.

use crate::value::Value;

const MS_PER_DAY: i64 = 86_400_000;

#[derive(Debug, Clone, Copy)]
struct Dt {
    /// Julian day number times 86,400,000.
    jd: i64,
}

fn jd_from_ymd_hms(y: i64, m: i64, d: i64, h: i64, mi: i64, s: f64) -> Option<i64> {
    if !(-4713..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut y, mut m) = (y, m);
    if m <= 2 {
        y -= 1;
        m += 12;
    }
    let a = y / 100;
    let b = 2 - a + a / 4;
    let x1 = 36525 * (y + 4716) / 100;
    let x2 = 306001 * (m + 1) / 10000;
    let days = (x1 + x2 + d + b) as f64 - 1524.5;
    Some(
        (days * MS_PER_DAY as f64) as i64
            + h * 3_600_000
            + mi * 60_000
            + (s * 1000.0).round() as i64,
    )
}

fn ymd(jd: i64) -> (i64, i64, i64) {
    let z = (jd + 43_200_000) / MS_PER_DAY;
    let a = ((z as f64 - 1867216.25) / 36524.25) as i64;
    let a = z + 1 + a - a / 4;
    let b = a + 1524;
    let c = ((b as f64 - 122.1) / 365.25) as i64;
    let d = (36525 * (c & 32767)) / 100;
    let e = ((b - d) as f64 / 30.6001) as i64;
    let x1 = (30.6001 * e as f64) as i64;
    let day = b - d - x1;
    let m = if e < 14 { e - 1 } else { e - 13 };
    let y = if m > 2 { c - 4716 } else { c - 4715 };
    (y, m, day)
}

fn hms(jd: i64) -> (i64, i64, f64) {
    let ms = (jd + 43_200_000).rem_euclid(MS_PER_DAY);
    let h = ms / 3_600_000;
    let mi = (ms % 3_600_000) / 60_000;
    let s = (ms % 60_000) as f64 / 1000.0;
    (h, mi, s)
}

fn digits(s: &[u8], i: &mut usize, n: usize) -> Option<i64> {
    if *i + n > s.len() {
        return None;
    }
    let mut v = 0i64;
    for k in 0..n {
        let c = s[*i + k];
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    *i += n;
    Some(v)
}

/// Parse `HH:MM[:SS[.SSS]]` at `i`.
fn parse_hms(s: &[u8], i: &mut usize) -> Option<(i64, i64, f64)> {
    let h = digits(s, i, 2)?;
    if s.get(*i) != Some(&b':') {
        return None;
    }
    *i += 1;
    let m = digits(s, i, 2)?;
    let mut sec = 0.0;
    if s.get(*i) == Some(&b':') {
        *i += 1;
        let whole = digits(s, i, 2)?;
        sec = whole as f64;
        if s.get(*i) == Some(&b'.') {
            *i += 1;
            let start = *i;
            while *i < s.len() && s[*i].is_ascii_digit() {
                *i += 1;
            }
            let frac = std::str::from_utf8(&s[start..*i]).ok()?;
            if !frac.is_empty() {
                sec += format!("0.{frac}").parse::<f64>().ok()?;
            }
        }
    }
    if h > 24 || m > 59 || sec >= 60.0 {
        return None;
    }
    Some((h, m, sec))
}

/// Optional timezone suffix: `Z` or `[+-]HH:MM`; returns the offset in minutes.
fn parse_tz(s: &[u8], i: &mut usize) -> Option<i64> {
    while *i < s.len() && s[*i] == b' ' {
        *i += 1;
    }
    if *i >= s.len() {
        return Some(0);
    }
    match s[*i] {
        b'Z' | b'z' => {
            *i += 1;
            Some(0)
        }
        b'+' | b'-' => {
            let neg = s[*i] == b'-';
            *i += 1;
            let h = digits(s, i, 2)?;
            if s.get(*i) != Some(&b':') {
                return None;
            }
            *i += 1;
            let m = digits(s, i, 2)?;
            let off = h * 60 + m;
            Some(if neg { -off } else { off })
        }
        _ => None,
    }
}

fn parse_time_string(text: &str, now_ms: Option<i64>) -> Result<Option<Dt>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return match now_ms {
            Some(ms) => Ok(Some(Dt {
                jd: unix_ms_to_jd(ms),
            })),
            None => Err("'now' needs the batch timestamp that prepare() assigns".into()),
        };
    }
    let s = t.as_bytes();
    let mut i = 0;
    // YYYY-MM-DD
    let dt = (|| -> Option<Dt> {
        if s.len() >= 10 && s[4] == b'-' {
            let y = digits(s, &mut i, 4)?;
            i += 1;
            let m = digits(s, &mut i, 2)?;
            if s.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
            let d = digits(s, &mut i, 2)?;
            let (mut h, mut mi, mut sec) = (0, 0, 0.0);
            if i < s.len() && (s[i] == b' ' || s[i] == b'T') {
                i += 1;
                (h, mi, sec) = parse_hms(s, &mut i)?;
            }
            let tz = parse_tz(s, &mut i)?;
            if i != s.len() {
                return None;
            }
            let jd = jd_from_ymd_hms(y, m, d, h, mi, sec)? - tz * 60_000;
            return Some(Dt { jd });
        }
        let (h, mi, sec) = parse_hms(s, &mut i)?;
        let tz = parse_tz(s, &mut i)?;
        if i != s.len() {
            return None;
        }
        Some(Dt {
            jd: jd_from_ymd_hms(2000, 1, 1, h, mi, sec)? - tz * 60_000,
        })
    })();
    if dt.is_some() {
        return Ok(dt);
    }
    // A bare number is a julian day number.
    match crate::num::text_as_exact_num(s) {
        Some(n) => Ok(jd_from_number(crate::value::num_to_f64(n))),
        None => Ok(None),
    }
}

fn jd_from_number(f: f64) -> Option<Dt> {
    if !(0.0..=5373484.499999).contains(&f) {
        return None;
    }
    Some(Dt {
        jd: (f * MS_PER_DAY as f64).round() as i64,
    })
}

fn unix_ms_to_jd(ms: i64) -> i64 {
    ms + 210_866_760_000_000
}

fn jd_to_unix_ms(jd: i64) -> i64 {
    jd - 210_866_760_000_000
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn apply_modifier(dt: &mut Dt, m: &str, first: Option<&Value>) -> Option<()> {
    let lower = m.trim().to_ascii_lowercase();
    match lower.as_str() {
        "localtime" | "utc" | "auto" | "subsec" | "subsecond" => return Some(()),
        "unixepoch" => {
            let v = first?;
            let secs = v.to_f64();
            dt.jd = unix_ms_to_jd((secs * 1000.0).round() as i64);
            return Some(());
        }
        "julianday" => return Some(()),
        "start of day" => {
            let (y, mo, d) = ymd(dt.jd);
            dt.jd = jd_from_ymd_hms(y, mo, d, 0, 0, 0.0)?;
            return Some(());
        }
        "start of month" => {
            let (y, mo, _) = ymd(dt.jd);
            dt.jd = jd_from_ymd_hms(y, mo, 1, 0, 0, 0.0)?;
            return Some(());
        }
        "start of year" => {
            let (y, _, _) = ymd(dt.jd);
            dt.jd = jd_from_ymd_hms(y, 1, 1, 0, 0, 0.0)?;
            return Some(());
        }
        _ => {}
    }
    if let Some(n) = lower.strip_prefix("weekday ") {
        let w: i64 = n.trim().parse().ok()?;
        if !(0..=6).contains(&w) {
            return None;
        }
        let cur = ((dt.jd + 129_600_000) / MS_PER_DAY) % 7;
        let add = (w - cur).rem_euclid(7);
        dt.jd += add * MS_PER_DAY;
        return Some(());
    }
    // "NNN unit"
    let mut parts = lower.split_whitespace();
    let n: f64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let unit = unit.trim_end_matches('s');
    match unit {
        "day" => dt.jd += (n * MS_PER_DAY as f64).round() as i64,
        "hour" => dt.jd += (n * 3_600_000.0).round() as i64,
        "minute" => dt.jd += (n * 60_000.0).round() as i64,
        "second" => dt.jd += (n * 1000.0).round() as i64,
        "month" | "year" => {
            let months = if unit == "year" { n * 12.0 } else { n };
            let whole = months.trunc() as i64;
            let (y, mo, d) = ymd(dt.jd);
            let (h, mi, s) = hms(dt.jd);
            let total = y * 12 + (mo - 1) + whole;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            // SQLite normalizes an overflowing day into the next month.
            let dim = days_in_month(ny, nm);
            let base = jd_from_ymd_hms(ny, nm, d.min(dim), h, mi, s)?;
            dt.jd = base + (d - d.min(dim)) * MS_PER_DAY;
            let frac = months - months.trunc();
            if frac != 0.0 {
                dt.jd += (frac * 30.0 * MS_PER_DAY as f64).round() as i64;
            }
        }
        _ => return None,
    }
    Some(())
}

/// Evaluate the time value and modifiers; None means the SQL result is NULL.
fn compute(args: &[Value], now_ms: Option<i64>) -> Result<Option<Dt>, String> {
    // A number followed by 'unixepoch' is seconds since 1970, not a julian day number.
    let unix = args
        .get(1)
        .and_then(|m| m.to_text())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("unixepoch"));
    let number = match args.first() {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Real(f)) => Some(*f),
        Some(Value::Text(t)) if unix => {
            crate::num::text_as_exact_num(t.as_bytes()).map(crate::value::num_to_f64)
        }
        _ => None,
    };
    let mut dt = match (args.first(), number) {
        (None, _) => match now_ms {
            Some(ms) => Dt {
                jd: unix_ms_to_jd(ms),
            },
            None => return Err("'now' needs the batch timestamp that prepare() assigns".into()),
        },
        (Some(Value::Null), _) => return Ok(None),
        (Some(_), Some(f)) if unix => {
            if !(-210_866_760_000.0..=253_402_300_799.0).contains(&f) {
                return Ok(None);
            }
            Dt {
                jd: unix_ms_to_jd((f * 1000.0).round() as i64),
            }
        }
        (Some(_), Some(f)) => match jd_from_number(f) {
            Some(d) => d,
            None => return Ok(None),
        },
        (Some(v), None) => {
            let text = v.to_text().map(|s| s.into_owned()).unwrap_or_default();
            match parse_time_string(&text, now_ms)? {
                Some(d) => d,
                None => return Ok(None),
            }
        }
    };
    let skip = if unix && number.is_some() { 2 } else { 1 };
    for m in args.iter().skip(skip) {
        let Some(text) = m.to_text() else {
            return Ok(None);
        };
        if apply_modifier(&mut dt, &text, args.first()).is_none() {
            return Ok(None);
        }
    }
    Ok(Some(dt))
}

fn fmt_date(jd: i64) -> String {
    let (y, m, d) = ymd(jd);
    format!("{y:04}-{m:02}-{d:02}")
}

fn fmt_time(jd: i64) -> String {
    let (h, mi, s) = hms(jd);
    format!("{h:02}:{mi:02}:{:02}", s as i64)
}

pub(crate) enum DtFn {
    Date,
    Time,
    DateTime,
    JulianDay,
    UnixEpoch,
}

pub(crate) fn eval(kind: DtFn, args: &[Value], now_ms: Option<i64>) -> Result<Value, String> {
    let Some(dt) = compute(args, now_ms)? else {
        return Ok(Value::Null);
    };
    Ok(match kind {
        DtFn::Date => Value::from(fmt_date(dt.jd)),
        DtFn::Time => Value::from(fmt_time(dt.jd)),
        DtFn::DateTime => Value::from(format!("{} {}", fmt_date(dt.jd), fmt_time(dt.jd))),
        DtFn::JulianDay => Value::real(dt.jd as f64 / MS_PER_DAY as f64),
        DtFn::UnixEpoch => Value::Integer(jd_to_unix_ms(dt.jd).div_euclid(1000)),
    })
}

pub(crate) fn strftime(fmt: &str, args: &[Value], now_ms: Option<i64>) -> Result<Value, String> {
    let Some(dt) = compute(args, now_ms)? else {
        return Ok(Value::Null);
    };
    let (y, m, d) = ymd(dt.jd);
    let (h, mi, s) = hms(dt.jd);
    let mut out = String::new();
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&format!("{d:2}")),
            Some('f') => out.push_str(&format!("{s:06.3}")),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('I') => out.push_str(&format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 })),
            Some('j') => {
                let start = jd_from_ymd_hms(y, 1, 1, 0, 0, 0.0).unwrap_or(dt.jd);
                out.push_str(&format!("{:03}", (dt.jd - start) / MS_PER_DAY + 1));
            }
            Some('J') => out.push_str(&crate::num::format_real(dt.jd as f64 / MS_PER_DAY as f64)),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('M') => out.push_str(&format!("{mi:02}")),
            Some('p') => out.push_str(if h < 12 { "AM" } else { "PM" }),
            Some('P') => out.push_str(if h < 12 { "am" } else { "pm" }),
            Some('s') => out.push_str(&jd_to_unix_ms(dt.jd).div_euclid(1000).to_string()),
            Some('S') => out.push_str(&format!("{:02}", s as i64)),
            Some('w') => out.push_str(&(((dt.jd + 129_600_000) / MS_PER_DAY) % 7).to_string()),
            Some('u') => {
                let w = ((dt.jd + 129_600_000) / MS_PER_DAY) % 7;
                out.push_str(&(if w == 0 { 7 } else { w }).to_string());
            }
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('F') => out.push_str(&fmt_date(dt.jd)),
            Some('T') => out.push_str(&fmt_time(dt.jd)),
            Some('R') => out.push_str(&format!("{h:02}:{mi:02}")),
            Some('%') => out.push('%'),
            _ => return Ok(Value::Null),
        }
    }
    Ok(Value::from(out))
}

/// `CURRENT_TIMESTAMP`-style text for a unix time in milliseconds.
pub(crate) fn format_now(ms: i64, kind: DtFn) -> String {
    let jd = unix_ms_to_jd(ms);
    match kind {
        DtFn::Date => fmt_date(jd),
        DtFn::Time => fmt_time(jd),
        _ => format!("{} {}", fmt_date(jd), fmt_time(jd)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: DtFn, args: &[&str]) -> Value {
        let a: Vec<Value> = args.iter().map(|s| Value::from(*s)).collect();
        eval(kind, &a, Some(0)).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(
            t(DtFn::Date, &["2024-02-28", "+1 day"]),
            Value::from("2024-02-29")
        );
        assert_eq!(
            t(DtFn::DateTime, &["2024-01-31 10:00:00", "+1 month"]),
            Value::from("2024-03-02 10:00:00")
        );
        assert_eq!(
            t(DtFn::DateTime, &["now"]),
            Value::from("1970-01-01 00:00:00")
        );
        assert_eq!(
            t(DtFn::Date, &["2024-05-17", "start of month"]),
            Value::from("2024-05-01")
        );
        assert_eq!(t(DtFn::Time, &["12:34:56"]), Value::from("12:34:56"));
        assert_eq!(t(DtFn::Date, &["garbage"]), Value::Null);
        assert_eq!(
            eval(DtFn::UnixEpoch, &[Value::from("2000-01-01")], None).unwrap(),
            Value::Integer(946684800)
        );
        assert_eq!(
            eval(DtFn::JulianDay, &[Value::from("2000-01-01 12:00:00")], None).unwrap(),
            Value::Real(2451545.0)
        );
        assert_eq!(
            strftime("%Y/%m/%d %H", &[Value::from("2021-03-04 05:06:07")], None).unwrap(),
            Value::from("2021/03/04 05")
        );
        assert!(eval(DtFn::Date, &[Value::from("now")], None).is_err());
    }
}
