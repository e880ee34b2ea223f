//! LEB128 unsigned varints, used by the row format and the command-batch format.

pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decode a varint at `*pos`, advancing it. None if truncated or longer than 10 bytes.
pub(crate) fn get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(v in any::<u64>()) {
            let mut b = Vec::new();
            super::put(&mut b, v);
            let mut p = 0;
            prop_assert_eq!(super::get(&b, &mut p), Some(v));
            prop_assert_eq!(p, b.len());
        }
    }
}
