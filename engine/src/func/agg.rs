//! Aggregate accumulators with SQLite's result rules: `sum()` stays INTEGER while every input
//! is an integer (and raises "integer overflow" rather than wrapping), becomes REAL once any
//! input is not; `total()` is always REAL; `avg()` is REAL or NULL; text that looks like a
//! number counts as that number.

use std::sync::Arc;

use super::AggKind;
use crate::affinity::numeric_for_compare;
use crate::error::{Error, Result};
use crate::value::{Collation, Value};

/// Kahan-Babuska-Neumaier running sum, step for step as SQLite computes REAL sums (large
/// integers are added in two parts so they contribute exactly).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Kbn {
    sum: f64,
    err: f64,
}

impl Kbn {
    fn add(&mut self, r: f64) {
        let s = self.sum;
        let t = s + r;
        if s.abs() > r.abs() {
            self.err += (s - t) + r;
        } else {
            self.err += (r - t) + s;
        }
        self.sum = t;
    }
    fn add_int(&mut self, i: i64) {
        if !(-4_503_599_627_370_495..4_503_599_627_370_496).contains(&i) {
            let small = i % 16384;
            self.add((i - small) as f64);
            self.add(small as f64);
        } else {
            self.add(i as f64);
        }
    }
    fn value(&self) -> f64 {
        if self.err.is_finite() {
            self.sum + self.err
        } else {
            self.sum
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Acc {
    Count(i64),
    Sum {
        int: i64,
        real: Kbn,
        approx: bool,
        overflow: bool,
        n: i64,
    },
    Min(Option<Value>),
    Max(Option<Value>),
    GroupConcat {
        out: String,
        any: bool,
    },
}

impl Acc {
    pub(crate) fn new(kind: AggKind) -> Acc {
        match kind {
            AggKind::CountStar | AggKind::Count => Acc::Count(0),
            AggKind::Sum | AggKind::Total | AggKind::Avg => Acc::Sum {
                int: 0,
                real: Kbn::default(),
                approx: false,
                overflow: false,
                n: 0,
            },
            AggKind::Min => Acc::Min(None),
            AggKind::Max => Acc::Max(None),
            AggKind::GroupConcat => Acc::GroupConcat {
                out: String::new(),
                any: false,
            },
        }
    }

    /// Feed one row's argument values. `coll` is the collation min/max compare with.
    pub(crate) fn step(
        &mut self,
        kind: AggKind,
        args: &[Value],
        coll: Collation,
        max_bytes: usize,
    ) -> Result<()> {
        let v = args.first().unwrap_or(&Value::Null);
        match self {
            Acc::Count(n) => {
                if kind == AggKind::CountStar || !v.is_null() {
                    *n += 1;
                }
            }
            Acc::Sum {
                int,
                real,
                approx,
                overflow,
                n,
            } => {
                if v.is_null() {
                    return Ok(());
                }
                *n += 1;
                let nv = match v {
                    Value::Text(_) | Value::Blob(_) => numeric_for_compare(v.clone()),
                    other => other.clone(),
                };
                match nv {
                    Value::Integer(i) if !*approx => match int.checked_add(i) {
                        Some(s) => *int = s,
                        None => {
                            *overflow = true;
                            *approx = true;
                            *real = Kbn::default();
                            real.add_int(*int);
                            real.add_int(i);
                        }
                    },
                    Value::Integer(i) => real.add_int(i),
                    other => {
                        if !*approx {
                            *approx = true;
                            *real = Kbn::default();
                            real.add_int(*int);
                        }
                        *overflow = false;
                        real.add(other.to_f64());
                    }
                }
            }
            Acc::Min(best) | Acc::Max(best) => {
                if v.is_null() {
                    return Ok(());
                }
                let want = if kind == AggKind::Min {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                match best {
                    Some(b) if v.cmp_with(b, coll) != want => {}
                    _ => *best = Some(v.clone()),
                }
            }
            Acc::GroupConcat { out, any } => {
                if v.is_null() {
                    return Ok(());
                }
                if *any {
                    match args.get(1) {
                        None => out.push(','),
                        Some(sep) => sep.write_text(out),
                    }
                }
                *any = true;
                v.write_text(out);
                if out.len() > max_bytes {
                    return Err(Error::TooBig { limit: max_bytes });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&self, kind: AggKind) -> Result<Value> {
        Ok(match self {
            Acc::Count(n) => Value::Integer(*n),
            Acc::Sum {
                int,
                real,
                approx,
                overflow,
                n,
            } => match kind {
                AggKind::Total => Value::real(if *approx { real.value() } else { *int as f64 }),
                AggKind::Avg => {
                    if *n == 0 {
                        Value::Null
                    } else {
                        let s = if *approx { real.value() } else { *int as f64 };
                        Value::real(s / *n as f64)
                    }
                }
                _ => {
                    if *n == 0 {
                        Value::Null
                    } else if *overflow {
                        return Err(Error::sql("integer overflow"));
                    } else if *approx {
                        Value::real(real.value())
                    } else {
                        Value::Integer(*int)
                    }
                }
            },
            Acc::Min(v) | Acc::Max(v) => v.clone().unwrap_or(Value::Null),
            Acc::GroupConcat { out, any } => {
                if *any {
                    Value::Text(Arc::from(out.as_str()))
                } else {
                    Value::Null
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: AggKind, vals: &[Value]) -> Result<Value> {
        let mut a = Acc::new(kind);
        for v in vals {
            a.step(kind, std::slice::from_ref(v), Collation::Binary, 1 << 20)?;
        }
        a.finish(kind)
    }

    #[test]
    fn sum_rules() {
        assert_eq!(
            run(AggKind::Sum, &[1.into(), 2.into(), Value::Null]).unwrap(),
            Value::Integer(3)
        );
        assert_eq!(
            run(AggKind::Sum, &[1.into(), 2.5.into()]).unwrap(),
            Value::Real(3.5)
        );
        assert_eq!(run(AggKind::Sum, &[]).unwrap(), Value::Null);
        assert_eq!(run(AggKind::Total, &[]).unwrap(), Value::Real(0.0));
        assert_eq!(
            run(AggKind::Sum, &["true".into()]).unwrap(),
            Value::Real(0.0)
        );
        assert_eq!(run(AggKind::Sum, &["5".into()]).unwrap(), Value::Integer(5));
        assert!(run(AggKind::Sum, &[i64::MAX.into(), 1.into()]).is_err());
        assert_eq!(
            run(AggKind::Avg, &[1.into(), 2.into()]).unwrap(),
            Value::Real(1.5)
        );
        assert_eq!(
            run(AggKind::GroupConcat, &["a".into(), Value::Null, 1.into()]).unwrap(),
            Value::from("a,1")
        );
    }
}
