//! Column type affinity (SQLite "Datatypes In SQLite" §3): which affinity a declared type
//! gets, how a value is converted when stored in a column, and which conversion a comparison
//! applies to its operands.

use std::sync::Arc;

use crate::num::{self, Num};
use crate::value::Value;

/// A column's (or expression's) preferred storage class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Affinity {
    /// Also "no affinity": values are stored as given.
    Blob,
    Text,
    Numeric,
    Integer,
    Real,
}

impl Affinity {
    /// The affinity of a declared column type, by SQLite's substring rules.
    pub fn from_decl_type(decl: &str) -> Affinity {
        let t = decl.to_ascii_uppercase();
        if t.contains("INT") {
            Affinity::Integer
        } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
            Affinity::Text
        } else if t.contains("BLOB") || t.trim().is_empty() {
            Affinity::Blob
        } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }

    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Affinity::Numeric | Affinity::Integer | Affinity::Real)
    }

    /// Convert a value for storage in a column of this affinity.
    pub fn apply(self, v: Value) -> Value {
        match self {
            Affinity::Blob => v,
            Affinity::Text => match v {
                Value::Integer(_) | Value::Real(_) => {
                    let mut s = String::new();
                    v.write_text(&mut s);
                    Value::Text(Arc::from(s))
                }
                other => other,
            },
            Affinity::Numeric | Affinity::Integer => match v {
                Value::Text(ref s) => match num::text_as_exact_num(s.as_bytes()) {
                    Some(Num::Int(i)) => Value::Integer(i),
                    Some(Num::Real(f)) => match num::real_as_exact_int(f) {
                        Some(i) => Value::Integer(i),
                        None => Value::real(f),
                    },
                    None => v,
                },
                Value::Real(f) => match num::real_as_exact_int(f) {
                    Some(i) => Value::Integer(i),
                    None => v,
                },
                other => other,
            },
            Affinity::Real => match v {
                Value::Text(ref s) => match num::text_as_exact_num(s.as_bytes()) {
                    Some(n) => Value::real(crate::value::num_to_f64(n)),
                    None => v,
                },
                Value::Integer(i) => Value::Real(i as f64),
                other => other,
            },
        }
    }

    /// The affinity a CAST target gets (`CAST(x AS <type>)`).
    pub(crate) fn name_for_create_as(self) -> &'static str {
        match self {
            Affinity::Blob => "",
            Affinity::Text => "TEXT",
            Affinity::Numeric => "NUM",
            Affinity::Integer => "INT",
            Affinity::Real => "REAL",
        }
    }
}

/// The conversion a binary comparison applies before comparing (SQLite §4.2): if one side has
/// a numeric affinity and the other TEXT/BLOB/none, NUMERIC affinity goes to the other side;
/// if one side has TEXT and the other none, TEXT goes to the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coerce {
    None,
    LeftNumeric,
    RightNumeric,
    LeftText,
    RightText,
}

/// `None` here means "no affinity" (an expression that is not a column or CAST).
pub(crate) fn comparison_coercion(left: Option<Affinity>, right: Option<Affinity>) -> Coerce {
    let ln = left.is_some_and(|a| a.is_numeric());
    let rn = right.is_some_and(|a| a.is_numeric());
    if ln && !rn {
        return Coerce::RightNumeric;
    }
    if rn && !ln {
        return Coerce::LeftNumeric;
    }
    if ln && rn {
        return Coerce::None;
    }
    match (left, right) {
        (Some(Affinity::Text), None) => Coerce::RightText,
        (None, Some(Affinity::Text)) => Coerce::LeftText,
        _ => Coerce::None,
    }
}

/// NUMERIC affinity as a comparison applies it: only text that looks like a number converts.
pub(crate) fn numeric_for_compare(v: Value) -> Value {
    match v {
        Value::Text(ref s) => match num::text_as_exact_num(s.as_bytes()) {
            Some(n) => Value::from_num(n),
            None => v,
        },
        other => other,
    }
}

pub(crate) fn text_for_compare(v: Value) -> Value {
    Affinity::Text.apply(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types() {
        use Affinity::*;
        for (t, a) in [
            ("INTEGER", Integer),
            ("BIGINT", Integer),
            ("VARCHAR(8)", Text),
            ("CLOB", Text),
            ("BLOB", Blob),
            ("", Blob),
            ("DOUBLE PRECISION", Real),
            ("FLOAT", Real),
            ("DECIMAL(10,5)", Numeric),
            ("BOOLEAN", Numeric),
            ("POINT", Integer), // "POINT" contains "INT"
        ] {
            assert_eq!(Affinity::from_decl_type(t), a, "{t}");
        }
    }

    #[test]
    fn storage_conversion() {
        assert_eq!(
            Affinity::Integer.apply(Value::text("12")),
            Value::Integer(12)
        );
        assert_eq!(
            Affinity::Integer.apply(Value::text("1e3")),
            Value::Integer(1000)
        );
        assert_eq!(Affinity::Integer.apply(Value::Real(4.0)), Value::Integer(4));
        assert_eq!(
            Affinity::Integer.apply(Value::text("x1")),
            Value::text("x1")
        );
        assert_eq!(Affinity::Real.apply(Value::Integer(2)), Value::Real(2.0));
        assert_eq!(Affinity::Text.apply(Value::Real(2.0)), Value::text("2.0"));
        assert_eq!(
            Affinity::Numeric.apply(Value::text(" 2.5 ")),
            Value::Real(2.5)
        );
    }
}
