//! Memcomparable key encoding: byte order of encoded keys equals SQLite's order of the values
//! (NULL < numbers < TEXT < BLOB, integers and reals compared exactly), so tables and indexes
//! are plain ordered byte maps and range scans are byte ranges.
//!
//! - rowid (table key and index-entry suffix): 8 bytes big-endian with the sign bit flipped.
//! - NULL: `0x10`.
//! - number: `0x20`, the value as an order-preserving f64 (8 bytes), then 2 bytes of the
//!   integer's distance from that f64 so integers beyond 2^53 stay exact and distinct.
//!   `3` and `3.0` encode identically: they are equal in SQL, which UNIQUE must respect.
//! - TEXT `0x30` / BLOB `0x40`: the bytes with `0x00` escaped as `0x00 0xFF`, ended by
//!   `0x00 0x00` (prefix-free, so concatenated columns still compare column by column).
//!   NOCASE text is folded to lower case and RTRIM text trimmed before encoding, so index order
//!   and uniqueness follow the column's collation.
//! - A DESC column's bytes are inverted.
//!
//! Index keys are never decoded back into values (rows are fetched by rowid), which is what
//! lets `3` and `3.0` share an encoding.

use crate::value::{Collation, Value};

pub(crate) const ROWID_LEN: usize = 8;

pub(crate) fn rowid_key(r: i64) -> [u8; ROWID_LEN] {
    ((r as u64) ^ (1u64 << 63)).to_be_bytes()
}

pub(crate) fn decode_rowid(k: &[u8]) -> Option<i64> {
    let tail: [u8; 8] = k.get(k.len().checked_sub(ROWID_LEN)?..)?.try_into().ok()?;
    Some((u64::from_be_bytes(tail) ^ (1u64 << 63)) as i64)
}

fn sortable_f64(f: f64) -> [u8; 8] {
    let f = if f == 0.0 { 0.0 } else { f };
    let b = f.to_bits();
    let b = if b >> 63 == 1 { !b } else { b | (1u64 << 63) };
    b.to_be_bytes()
}

/// Append one value's encoding.
pub(crate) fn push_value(out: &mut Vec<u8>, v: &Value, desc: bool, coll: Collation) {
    let start = out.len();
    match v {
        Value::Null => out.push(0x10),
        Value::Integer(i) => {
            let f = *i as f64;
            out.push(0x20);
            out.extend_from_slice(&sortable_f64(f));
            let exact = if f >= crate::num::TWO_63 {
                // f rounded up to 2^63, which i64 cannot hold.
                (*i as i128) - (1i128 << 63)
            } else {
                (*i as i128) - (f as i64 as i128)
            };
            let d = exact.clamp(i16::MIN as i128, i16::MAX as i128) as i16;
            out.extend_from_slice(&((d as u16) ^ 0x8000).to_be_bytes());
        }
        Value::Real(f) => {
            out.push(0x20);
            out.extend_from_slice(&sortable_f64(*f));
            out.extend_from_slice(&0x8000u16.to_be_bytes());
        }
        Value::Text(s) => {
            out.push(0x30);
            match coll {
                Collation::Binary => push_escaped(out, s.as_bytes()),
                Collation::NoCase => {
                    let folded: Vec<u8> = s.bytes().map(|c| c.to_ascii_lowercase()).collect();
                    push_escaped(out, &folded)
                }
                Collation::RTrim => push_escaped(out, s.trim_end_matches(' ').as_bytes()),
            }
        }
        Value::Blob(b) => {
            out.push(0x40);
            push_escaped(out, b);
        }
    }
    if desc {
        for b in &mut out[start..] {
            *b = !*b;
        }
    }
}

fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0);
    out.push(0);
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last != 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn enc(v: &Value) -> Vec<u8> {
        let mut o = Vec::new();
        push_value(&mut o, v, false, Collation::Binary);
        o
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Integer),
            prop_oneof![
                any::<i64>().prop_map(|i| i as f64),
                (-1e6f64..1e6f64),
                any::<f64>().prop_filter("not nan", |f| !f.is_nan())
            ]
            .prop_map(Value::Real),
            (9_007_199_254_740_000i64..9_007_199_254_750_000).prop_map(Value::Integer),
            "[a-c\\x00]{0,4}".prop_map(|s| Value::Text(Arc::from(s))),
            proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8)], 0..4)
                .prop_map(|b| Value::Blob(Arc::from(b))),
        ]
    }

    proptest! {
        /// Byte order of encodings equals SQLite's value order, in both directions.
        #[test]
        fn order_preserving(a in arb_value(), b in arb_value(), c in arb_value()) {
            let ea = enc(&a);
            let eb = enc(&b);
            prop_assert_eq!(ea.cmp(&eb), a.total_cmp(&b), "{:?} vs {:?}", a, b);
            // Concatenated (a, c) vs (b, c) compares by a first: the encoding is prefix-free.
            let mut ac = ea.clone(); push_value(&mut ac, &c, false, Collation::Binary);
            let mut bc = eb.clone(); push_value(&mut bc, &c, false, Collation::Binary);
            if a.total_cmp(&b) != std::cmp::Ordering::Equal {
                prop_assert_eq!(ac.cmp(&bc), a.total_cmp(&b));
            }
            let mut da = Vec::new(); push_value(&mut da, &a, true, Collation::Binary);
            let mut db = Vec::new(); push_value(&mut db, &b, true, Collation::Binary);
            prop_assert_eq!(da.cmp(&db), b.total_cmp(&a));
        }

        #[test]
        fn rowid_round_trip(r in any::<i64>(), s in any::<i64>()) {
            prop_assert_eq!(decode_rowid(&rowid_key(r)), Some(r));
            prop_assert_eq!(rowid_key(r).cmp(&rowid_key(s)), r.cmp(&s));
        }
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF]), None);
    }
}
