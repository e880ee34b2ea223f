//! SQL values (NULL, INTEGER, REAL, TEXT, BLOB) and SQLite's rules for ordering and
//! converting them. Text and blobs are reference counted so copying a value between
//! operators, sort buffers and result sets never copies its bytes.
//!
//! Values are serialized as rqlite serializes them: numbers as JSON numbers, text as strings,
//! NULL as null and BLOBs as base64 strings. Parameters arrive as JSON and convert with
//! [`Value::from_json`].

use std::cmp::Ordering;
use std::sync::Arc;

use serde::ser::{Serialize, Serializer};

use crate::num::{self, Num};

/// One SQL value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Null,
    Integer(i64),
    Real(f64),
    Text(Arc<str>),
    Blob(Arc<[u8]>),
}

/// Text comparison rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Collation {
    #[default]
    Binary,
    NoCase,
    RTrim,
}

impl Collation {
    pub(crate) fn from_name(name: &str) -> Option<Collation> {
        match name.to_ascii_lowercase().as_str() {
            "binary" => Some(Collation::Binary),
            "nocase" => Some(Collation::NoCase),
            "rtrim" => Some(Collation::RTrim),
            _ => None,
        }
    }

    pub(crate) fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Collation::Binary => a.as_bytes().cmp(b.as_bytes()),
            Collation::NoCase => {
                let x = a.bytes().map(|c| c.to_ascii_lowercase());
                let y = b.bytes().map(|c| c.to_ascii_lowercase());
                x.cmp(y)
            }
            Collation::RTrim => a
                .trim_end_matches(' ')
                .as_bytes()
                .cmp(b.trim_end_matches(' ').as_bytes()),
        }
    }
}

impl PartialEq for Value {
    /// Identity of value and storage class (`1` and `1.0` differ); SQL equality is
    /// [`Value::sql_cmp`].
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => a.to_bits() == b.to_bits() || a == b,
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Blob(a), Value::Blob(b)) => a == b,
            _ => false,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Integer(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Arc::from(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Arc::from(v))
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(Arc::from(v))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

impl Value {
    /// A REAL; NaN (which SQL cannot hold) becomes NULL as in SQLite.
    pub fn real(f: f64) -> Value {
        if f.is_nan() {
            Value::Null
        } else {
            Value::Real(f)
        }
    }

    pub fn text(s: &str) -> Value {
        Value::Text(Arc::from(s))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `typeof()`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    /// Storage-class rank in SQLite's sort order: NULL < numbers < TEXT < BLOB.
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Integer(_) | Value::Real(_) => 1,
            Value::Text(_) => 2,
            Value::Blob(_) => 3,
        }
    }

    /// Total order used by ORDER BY, DISTINCT, GROUP BY, min/max and index keys.
    pub fn cmp_with(&self, other: &Value, coll: Collation) -> Ordering {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Real(a), Value::Real(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Value::Integer(a), Value::Real(b)) => num::cmp_int_real(*a, *b),
            (Value::Real(a), Value::Integer(b)) => num::cmp_int_real(*b, *a).reverse(),
            (Value::Text(a), Value::Text(b)) => coll.compare(a, b),
            (Value::Blob(a), Value::Blob(b)) => a.as_ref().cmp(b.as_ref()),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// Total order with BINARY collation.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        self.cmp_with(other, Collation::Binary)
    }

    /// SQL comparison: `None` when either side is NULL.
    pub fn sql_cmp(&self, other: &Value, coll: Collation) -> Option<Ordering> {
        if self.is_null() || other.is_null() {
            None
        } else {
            Some(self.cmp_with(other, coll))
        }
    }

    /// Text form (`CAST(x AS TEXT)`); NULL gives None.
    pub fn to_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Value::Null => None,
            Value::Integer(i) => Some(Cow::Owned(i.to_string())),
            Value::Real(f) => Some(Cow::Owned(num::format_real(*f))),
            Value::Text(s) => Some(Cow::Borrowed(s)),
            Value::Blob(b) => Some(String::from_utf8_lossy(b)),
        }
    }

    /// Append the text form to `out` (NULL appends nothing).
    pub(crate) fn write_text(&self, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Integer(i) => {
                use std::fmt::Write;
                let _ = write!(out, "{i}");
            }
            Value::Real(f) => num::write_real(out, *f),
            Value::Text(s) => out.push_str(s),
            Value::Blob(b) => out.push_str(&String::from_utf8_lossy(b)),
        }
    }

    /// `sqlite3_value_int64`: NULL is 0, reals truncate, text takes its integer prefix.
    pub fn to_i64(&self) -> i64 {
        match self {
            Value::Null => 0,
            Value::Integer(i) => *i,
            Value::Real(f) => num::real_to_i64(*f),
            Value::Text(s) => num::text_to_i64(s.as_bytes()),
            Value::Blob(b) => num::text_to_i64(b),
        }
    }

    /// `sqlite3_value_double`: NULL is 0.0, text takes its numeric prefix.
    pub fn to_f64(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Integer(i) => *i as f64,
            Value::Real(f) => *f,
            Value::Text(s) => num_to_f64(num::text_to_num(s.as_bytes())),
            Value::Blob(b) => num_to_f64(num::text_to_num(b)),
        }
    }

    /// The number arithmetic sees (None for NULL).
    pub(crate) fn to_num(&self) -> Option<Num> {
        match self {
            Value::Null => None,
            Value::Integer(i) => Some(Num::Int(*i)),
            Value::Real(f) => Some(Num::Real(*f)),
            Value::Text(s) => Some(num::text_to_num(s.as_bytes())),
            Value::Blob(b) => Some(num::text_to_num(b)),
        }
    }

    /// Truth value as used by WHERE / AND / OR / CASE (None for NULL).
    pub(crate) fn truth(&self) -> Option<bool> {
        match self {
            Value::Null => None,
            Value::Integer(i) => Some(*i != 0),
            Value::Real(f) => Some(*f != 0.0),
            Value::Text(s) => Some(num_to_f64(num::text_to_num(s.as_bytes())) != 0.0),
            Value::Blob(b) => Some(num_to_f64(num::text_to_num(b)) != 0.0),
        }
    }

    pub(crate) fn from_num(n: Num) -> Value {
        match n {
            Num::Int(i) => Value::Integer(i),
            Num::Real(f) => Value::real(f),
        }
    }

    pub(crate) fn from_bool(b: bool) -> Value {
        Value::Integer(b as i64)
    }

    /// Bytes of the value's size for limits (`length()` of text is in characters instead).
    pub(crate) fn byte_len(&self) -> usize {
        match self {
            Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
            _ => 8,
        }
    }

    /// A parameter from JSON: integral numbers are INTEGER, other numbers REAL, strings TEXT,
    /// null NULL, booleans 0/1. Arrays of byte values (0..=255) are BLOBs; other arrays and
    /// objects are rejected.
    pub fn from_json(v: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Integer(*b as i64),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Integer(i)
                } else if let Some(f) = n.as_f64() {
                    Value::real(f)
                } else {
                    return Err(format!("number {n} is out of range"));
                }
            }
            J::String(s) => Value::from(s.as_str()),
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match it.as_u64() {
                        Some(b) if b <= 255 => out.push(b as u8),
                        _ => {
                            return Err(
                                "an array parameter must hold byte values 0..=255 (a BLOB)".into()
                            )
                        }
                    }
                }
                Value::Blob(Arc::from(out))
            }
            J::Object(_) => return Err("a parameter cannot be a JSON object".into()),
        })
    }

    /// The JSON rqlite would return for this value.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Integer(i) => J::from(*i),
            Value::Real(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Text(s) => J::String(s.to_string()),
            Value::Blob(b) => J::String(base64(b)),
        }
    }
}

pub(crate) fn num_to_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Real(f) => f,
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Integer(i) => s.serialize_i64(*i),
            Value::Real(f) => s.serialize_f64(*f),
            Value::Text(t) => s.serialize_str(t),
            Value::Blob(b) => s.serialize_str(&base64(b)),
        }
    }
}

/// Standard base64 with padding, as rqlite encodes BLOBs.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_class_order() {
        let vals = [
            Value::Null,
            Value::Integer(-5),
            Value::Real(-4.5),
            Value::Integer(3),
            Value::Real(3.25),
            Value::text("A"),
            Value::text("a"),
            Value::from(vec![0u8]),
        ];
        for w in vals.windows(2) {
            assert_eq!(
                w[0].total_cmp(&w[1]),
                Ordering::Less,
                "{:?} < {:?}",
                w[0],
                w[1]
            );
        }
        assert_eq!(
            Value::text("A").cmp_with(&Value::text("a"), Collation::NoCase),
            Ordering::Equal
        );
    }

    #[test]
    fn json_parameters() {
        assert_eq!(
            Value::from_json(&serde_json::json!(3)).unwrap(),
            Value::Integer(3)
        );
        assert_eq!(
            Value::from_json(&serde_json::json!(3.5)).unwrap(),
            Value::Real(3.5)
        );
        assert_eq!(
            Value::from_json(&serde_json::json!("x")).unwrap(),
            Value::text("x")
        );
        assert!(Value::from_json(&serde_json::json!({"a": 1})).is_err());
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(
            serde_json::to_string(&Value::from(vec![1u8, 2, 3])).unwrap(),
            "\"AQID\""
        );
    }
}
