//! The framing around the rkyv body: a header in front (what the file is, which state it
//! holds) and a footer behind (how long the body is and its crc32c).
//!
//! The body's checksum sits in a footer because [`super::write`] streams the archive out in
//! bounded chunks as it encodes it and the sink cannot seek back; everything known before
//! encoding starts (index, term, per-table counts) is in the header, so a tool reads both
//! ends of the file without touching the body.
//!
//! ```text
//! header (little-endian, HEADER_FIXED bytes then the table list, padded to 16 bytes)
//!   0  magic "REEFSNAP"      8  format version u32   12 header length u32
//!  16  header crc32c u32 (of the header with this field zeroed)
//!  20  table count u32      24  applied index u64    32 applied term u64
//!  40  total rows u64
//!  48  per table: name length u16, name, rows u64, index count u32
//! body   the rkyv archive (root at its end), 16-byte aligned in the file
//! footer (FOOTER bytes)
//!   0  magic "REEFEND\0"     8  body length u64     16 body crc32c u32
//!  20  format version u32   24  footer crc32c u32 (of bytes 0..24)   28 zero u32
//! ```

use super::Error;

pub(crate) const MAGIC: &[u8; 8] = b"REEFSNAP";
pub(crate) const END_MAGIC: &[u8; 8] = b"REEFEND\0";
/// The one snapshot format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const HEADER_FIXED: usize = 48;
pub(crate) const FOOTER: usize = 32;
/// A header larger than this is corrupt (it bounds what a reader allocates).
pub(crate) const MAX_HEADER: usize = 16 << 20;
/// Where the body starts is a multiple of this, so archived values keep their alignment
/// in a page-aligned memory map.
pub(crate) const BODY_ALIGN: usize = 16;

/// One table as the header lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// Normalized (lower-case) table name.
    pub name: String,
    pub rows: u64,
    /// Secondary and constraint indexes on the table.
    pub indexes: u32,
}

/// What a snapshot file says about itself, read from its two ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub version: u32,
    pub index: u64,
    pub term: u64,
    /// Size of the whole file.
    pub size: u64,
    pub header_len: u64,
    pub body_len: u64,
    pub body_crc: u32,
    pub total_rows: u64,
    pub tables: Vec<TableCount>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

pub(crate) fn encode_header(index: u64, term: u64, tables: &[TableCount]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_FIXED + tables.len() * 32);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // length, below
    h.extend_from_slice(&0u32.to_le_bytes()); // crc, below
    h.extend_from_slice(&(tables.len() as u32).to_le_bytes());
    h.extend_from_slice(&index.to_le_bytes());
    h.extend_from_slice(&term.to_le_bytes());
    let total: u64 = tables.iter().map(|t| t.rows).sum();
    h.extend_from_slice(&total.to_le_bytes());
    for t in tables {
        // Names are SQL identifiers; one longer than u16 cannot come out of the parser's
        // statement size limit, but never write a length that lies.
        let name = &t.name.as_bytes()[..t.name.len().min(u16::MAX as usize)];
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(name);
        h.extend_from_slice(&t.rows.to_le_bytes());
        h.extend_from_slice(&t.indexes.to_le_bytes());
    }
    h.resize(h.len().div_ceil(BODY_ALIGN) * BODY_ALIGN, 0);
    let len = h.len() as u32;
    h[12..16].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c(&h);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

pub(crate) fn encode_footer(body_len: u64, body_crc: u32) -> [u8; FOOTER] {
    let mut f = [0u8; FOOTER];
    f[..8].copy_from_slice(END_MAGIC);
    f[8..16].copy_from_slice(&body_len.to_le_bytes());
    f[16..20].copy_from_slice(&body_crc.to_le_bytes());
    f[20..24].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&f[..24]);
    f[24..28].copy_from_slice(&crc.to_le_bytes());
    f
}

/// The fixed part of the header: checks magic and version, returns the header length.
pub(crate) fn header_len(path: &str, fixed: &[u8], size: u64) -> Result<usize, Error> {
    let corrupt = |what: String| Error::Corrupt {
        path: path.to_string(),
        what,
    };
    if fixed.len() < HEADER_FIXED {
        return Err(Error::Truncated {
            path: path.to_string(),
            size,
            what: format!("the {HEADER_FIXED}-byte header"),
        });
    }
    if &fixed[..8] != MAGIC {
        return Err(Error::NotASnapshot {
            path: path.to_string(),
            found: fixed[..8].to_vec(),
        });
    }
    let version = u32_at(fixed, 8);
    if version != FORMAT_VERSION {
        return Err(Error::Version {
            path: path.to_string(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u32_at(fixed, 12) as usize;
    if !(HEADER_FIXED..=MAX_HEADER).contains(&len) || !len.is_multiple_of(BODY_ALIGN) {
        return Err(corrupt(format!("header length {len} is impossible")));
    }
    if len as u64 + FOOTER as u64 > size {
        return Err(Error::Truncated {
            path: path.to_string(),
            size,
            what: format!("a {len}-byte header and the {FOOTER}-byte footer"),
        });
    }
    Ok(len)
}

/// Parses the whole header and the footer (not the body). `size` is the file's size.
pub(crate) fn decode(
    path: &str,
    header: &[u8],
    footer: &[u8],
    size: u64,
) -> Result<SnapshotHeader, Error> {
    let corrupt = |what: String| Error::Corrupt {
        path: path.to_string(),
        what,
    };
    let len = header_len(path, header, size)?;
    let h = &header[..len];
    let mut zeroed = h.to_vec();
    zeroed[16..20].fill(0);
    let want = u32_at(h, 16);
    if crc32c::crc32c(&zeroed) != want {
        return Err(corrupt("header checksum mismatch".into()));
    }
    let n = u32_at(h, 20) as usize;
    let index = u64_at(h, 24);
    let term = u64_at(h, 32);
    let total_rows = u64_at(h, 40);
    let mut at = HEADER_FIXED;
    let mut tables = Vec::with_capacity(n.min(len / 14));
    for i in 0..n {
        let short = || corrupt(format!("header table list ends inside table {i}"));
        let nl = h.get(at..at + 2).ok_or_else(short)?;
        let nl = u16::from_le_bytes([nl[0], nl[1]]) as usize;
        at += 2;
        let name = h.get(at..at + nl).ok_or_else(short)?;
        let name = std::str::from_utf8(name)
            .map_err(|_| corrupt(format!("table {i}'s name is not UTF-8")))?
            .to_string();
        at += nl;
        let rest = h.get(at..at + 12).ok_or_else(short)?;
        tables.push(TableCount {
            name,
            rows: u64_at(rest, 0),
            indexes: u32_at(rest, 8),
        });
        at += 12;
    }
    if footer.len() != FOOTER || &footer[..8] != END_MAGIC {
        return Err(Error::Truncated {
            path: path.to_string(),
            size,
            what: "the footer (the file ends early or has trailing bytes)".into(),
        });
    }
    if crc32c::crc32c(&footer[..24]) != u32_at(footer, 24) || u32_at(footer, 28) != 0 {
        return Err(corrupt("footer checksum mismatch".into()));
    }
    let body_len = u64_at(footer, 8);
    let fversion = u32_at(footer, 20);
    if fversion != FORMAT_VERSION {
        return Err(Error::Version {
            path: path.to_string(),
            found: fversion,
            supported: FORMAT_VERSION,
        });
    }
    // body_len is the file's word: checked, so a huge one is an error, not an overflow.
    let total = (len as u64)
        .checked_add(body_len)
        .and_then(|n| n.checked_add(FOOTER as u64));
    if total != Some(size) {
        return Err(Error::Truncated {
            path: path.to_string(),
            size,
            what: format!(
                "header {len} + body {body_len} + footer {FOOTER} bytes (the file is not that long)"
            ),
        });
    }
    Ok(SnapshotHeader {
        version: FORMAT_VERSION,
        index,
        term,
        size,
        header_len: len as u64,
        body_len,
        body_crc: u32_at(footer, 16),
        total_rows,
        tables,
    })
}
