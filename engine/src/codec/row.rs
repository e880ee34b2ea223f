//! Row record format, modelled on SQLite's: a header of varint serial types, one per column,
//! then the column bodies. Integers take 0-8 bytes by magnitude, so rows of small numbers stay
//! small; a column is found by summing body sizes in the header without touching other
//! bodies.
//!
//! Serial types: 0 NULL; 1..=6 big-endian two's complement integer of 1,2,3,4,6,8 bytes;
//! 7 f64 (big-endian bits); 8 the integer 0; 9 the integer 1; even N>=12 a BLOB of (N-12)/2
//! bytes; odd N>=13 TEXT of (N-13)/2 bytes (UTF-8).
//!
//! Rows written before `ALTER TABLE ADD COLUMN` have fewer columns; readers fill the rest
//! with the column defaults, as SQLite does.

use std::sync::Arc;

use super::varint;
use crate::error::{Error, Result};
use crate::value::Value;

fn int_serial(i: i64) -> (u64, usize) {
    match i {
        0 => (8, 0),
        1 => (9, 0),
        -128..=127 => (1, 1),
        -32768..=32767 => (2, 2),
        -8_388_608..=8_388_607 => (3, 3),
        -2_147_483_648..=2_147_483_647 => (4, 4),
        -140_737_488_355_328..=140_737_488_355_327 => (5, 6),
        _ => (6, 8),
    }
}

fn body_len(serial: u64) -> Option<usize> {
    Some(match serial {
        0 | 8 | 9 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        4 => 4,
        5 => 6,
        6 | 7 => 8,
        10 | 11 => return None,
        n => usize::try_from((n - 12) / 2).ok()?,
    })
}

/// Encode `vals` as one row record, appending to `out`.
#[cfg(test)]
pub(crate) fn encode(vals: &[Value], out: &mut Vec<u8>) {
    encode_skip(vals, usize::MAX, out)
}

/// Encode `vals`, storing column `skip` as NULL (the rowid alias lives in the key).
pub(crate) fn encode_skip(vals: &[Value], skip: usize, out: &mut Vec<u8>) {
    const NULL: Value = Value::Null;
    let col = |i: usize| if i == skip { &NULL } else { &vals[i] };
    varint::put(out, vals.len() as u64);
    for i in 0..vals.len() {
        let v = col(i);
        let st = match v {
            Value::Null => 0,
            Value::Integer(i) => int_serial(*i).0,
            Value::Real(_) => 7,
            Value::Text(s) => s.len() as u64 * 2 + 13,
            Value::Blob(b) => b.len() as u64 * 2 + 12,
        };
        varint::put(out, st);
    }
    for i in 0..vals.len() {
        match col(i) {
            Value::Null => {}
            Value::Integer(i) => {
                let (_, n) = int_serial(*i);
                out.extend_from_slice(&i.to_be_bytes()[8 - n..]);
            }
            Value::Real(f) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
            Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            Value::Blob(b) => out.extend_from_slice(b),
        }
    }
}

fn malformed() -> Error {
    Error::sql("database disk image is malformed (bad row record)")
}

fn decode_body(serial: u64, body: &[u8]) -> Result<Value> {
    Ok(match serial {
        0 => Value::Null,
        8 => Value::Integer(0),
        9 => Value::Integer(1),
        1..=6 => {
            let mut b = [0u8; 8];
            let n = body.len();
            b[8 - n..].copy_from_slice(body);
            if n > 0 && body[0] & 0x80 != 0 {
                for x in &mut b[..8 - n] {
                    *x = 0xFF;
                }
            }
            Value::Integer(i64::from_be_bytes(b))
        }
        7 => {
            let b: [u8; 8] = body.try_into().map_err(|_| malformed())?;
            Value::real(f64::from_bits(u64::from_be_bytes(b)))
        }
        n if n >= 12 && n % 2 == 0 => Value::Blob(Arc::from(body)),
        n if n >= 13 => match std::str::from_utf8(body) {
            Ok(s) => Value::Text(Arc::from(s)),
            Err(_) => Value::Text(Arc::from(String::from_utf8_lossy(body).as_ref())),
        },
        _ => return Err(malformed()),
    })
}

/// A parsed row header: where each column's body lies.
pub(crate) struct RowReader<'a> {
    bytes: &'a [u8],
    /// Serial type and body offset per stored column.
    cols: smallvec_like::Cols,
}

mod smallvec_like {
    /// Inline storage for the common case of a few columns, heap beyond.
    pub(crate) enum Cols {
        Inline(usize, [(u64, usize); 12]),
        Heap(Vec<(u64, usize)>),
    }
    impl Cols {
        pub(crate) fn new(n: usize) -> Cols {
            if n <= 12 {
                Cols::Inline(0, [(0, 0); 12])
            } else {
                Cols::Heap(Vec::with_capacity(n))
            }
        }
        pub(crate) fn push(&mut self, v: (u64, usize)) {
            match self {
                Cols::Inline(n, a) => {
                    a[*n] = v;
                    *n += 1;
                }
                Cols::Heap(v2) => v2.push(v),
            }
        }
        pub(crate) fn as_slice(&self) -> &[(u64, usize)] {
            match self {
                Cols::Inline(n, a) => &a[..*n],
                Cols::Heap(v) => v,
            }
        }
    }
}

impl<'a> RowReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Result<RowReader<'a>> {
        let mut pos = 0;
        let n = varint::get(bytes, &mut pos).ok_or_else(malformed)? as usize;
        if n > bytes.len() {
            return Err(malformed());
        }
        let mut serials = smallvec_like::Cols::new(n);
        for _ in 0..n {
            let st = varint::get(bytes, &mut pos).ok_or_else(malformed)?;
            serials.push((st, 0));
        }
        let mut cols = smallvec_like::Cols::new(n);
        let mut off = pos;
        for &(st, _) in serials.as_slice() {
            let len = body_len(st).ok_or_else(malformed)?;
            cols.push((st, off));
            off = off.checked_add(len).ok_or_else(malformed)?;
        }
        if off > bytes.len() {
            return Err(malformed());
        }
        Ok(RowReader { bytes, cols })
    }

    /// Number of columns stored in this record.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cols.as_slice().len()
    }

    /// Column `i` (None if the record predates that column).
    pub(crate) fn get(&self, i: usize) -> Result<Option<Value>> {
        let Some(&(st, off)) = self.cols.as_slice().get(i) else {
            return Ok(None);
        };
        let len = body_len(st).ok_or_else(malformed)?;
        decode_body(st, &self.bytes[off..off + len]).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Integer),
            (-300i64..300).prop_map(Value::Integer),
            any::<f64>().prop_map(Value::real),
            ".{0,20}".prop_map(|s| Value::Text(Arc::from(s))),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Value::Blob(Arc::from(b))),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(vals in proptest::collection::vec(arb_value(), 0..20)) {
            let mut buf = Vec::new();
            encode(&vals, &mut buf);
            let r = RowReader::new(&buf).unwrap();
            prop_assert_eq!(r.len(), vals.len());
            for (i, v) in vals.iter().enumerate() {
                let got = r.get(i).unwrap();
                prop_assert_eq!(got.as_ref(), Some(v));
            }
            prop_assert_eq!(r.get(vals.len()).unwrap(), None);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(r) = RowReader::new(&bytes) {
                for i in 0..r.len() { let _ = r.get(i); }
            }
        }
    }
}
