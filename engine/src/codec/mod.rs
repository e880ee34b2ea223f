//! Byte encodings of keys and rows. The store holds only bytes, so a base layer mapped from
//! a snapshot file can serve them as they lie on disk, and keys compare with `memcmp`.

pub(crate) mod key;
pub(crate) mod row;
pub(crate) mod varint;
