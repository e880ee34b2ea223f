//! Byte layout of segment files: the segment header and the framing of records.
//!
//! This module is pure (no I/O) so that recovery, the writer and `reef-logtool` share one
//! definition of what valid bytes look like. Every integer is little-endian.
//!
//! Segment file (`<raft_dir>/log/<seq:020>.seg`):
//! - block 0 (4096 bytes): [`SegmentHeader`], written and fsync'd before the file gets its final
//!   name, so a segment that is visible under its final name always has a valid header.
//! - from byte 4096: records, each 8-byte aligned, back to back.
//!
//! Record: a 24-byte header then the payload, padded with zeros to a multiple of 8.
//! ```text
//!   0  u32 payload_len
//!   4  u8  kind            (RecordKind)
//!   5  [u8; 3] zero
//!   8  u32 flush           flush number within the segment, stamped by the writer
//!  12  u32 payload_crc     crc32c of the payload, seeded with the segment's salt
//!  16  u32 zero
//!  20  u32 header_crc      crc32c of bytes 0..20, seeded with the segment's salt
//! ```
//! Both checksums are seeded with the segment's random 64-bit salt, so bytes left in a recycled
//! file by its previous life never validate. The header has its own checksum so a reader can
//! trust a length before it reads the payload, and can cheaply test any offset for "is a record
//! here" (used to tell a torn tail from corruption in the middle, see `scan`).
//! The flush number lets recovery tell whether a damaged record was followed by records of a
//! *later* completed flush (then it was acknowledged data: corruption) or not (torn tail).

use crate::error::LogError;
use std::path::Path;

/// Bytes reserved for the segment header at the start of each segment.
pub const HEADER_BLOCK: u64 = 4096;
/// Alignment of O_DIRECT writes (and of the in-memory tail block).
pub const BLOCK: u64 = 4096;
/// Size of a record header.
pub const RECORD_HEADER: usize = 24;
/// Records start on multiples of this.
pub const RECORD_ALIGN: u64 = 8;
/// Hard upper bound on one record's payload; anything larger on disk is corruption.
pub const MAX_PAYLOAD: u32 = 256 << 20;

const SEGMENT_MAGIC: &[u8; 8] = b"REEFSEG\x01";
/// On-disk format version of segments and records.
pub const FORMAT_VERSION: u32 = 1;
const SEGMENT_HEADER_LEN: usize = 48;

/// The header at the start of every segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number of the segment; also its file name. Strictly increasing.
    pub seq: u64,
    /// Index the next entry appended was expected to have when the segment was opened
    /// (informational: truncation and reset records may follow).
    pub first_index: u64,
    /// Random per-incarnation salt that seeds every record checksum in this segment.
    pub salt: u64,
    /// Size the segment was preallocated to.
    pub capacity: u64,
}

impl SegmentHeader {
    /// Encodes the header into a full header block.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_BLOCK as usize];
        b[0..8].copy_from_slice(SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        b[32..40].copy_from_slice(&self.salt.to_le_bytes());
        b[40..48].copy_from_slice(&self.capacity.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..SEGMENT_HEADER_LEN]);
        b[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 4].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header; `path` only names the file in errors.
    pub fn decode(path: &Path, b: &[u8]) -> Result<SegmentHeader, LogError> {
        let corrupt = |offset: u64, reason: String| LogError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason,
        };
        if b.len() < SEGMENT_HEADER_LEN + 4 {
            return Err(corrupt(
                0,
                format!("file too short for a segment header ({} bytes)", b.len()),
            ));
        }
        if &b[0..8] != SEGMENT_MAGIC {
            return Err(corrupt(0, "bad segment magic".into()));
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(corrupt(8, format!("unsupported segment format version {version} (this build reads {FORMAT_VERSION})")));
        }
        if u32_at(b, 12) as usize != SEGMENT_HEADER_LEN {
            return Err(corrupt(12, "bad segment header length".into()));
        }
        let crc = u32_at(b, SEGMENT_HEADER_LEN);
        if crc != crc32c::crc32c(&b[0..SEGMENT_HEADER_LEN]) {
            return Err(corrupt(
                SEGMENT_HEADER_LEN as u64,
                "segment header checksum mismatch".into(),
            ));
        }
        Ok(SegmentHeader {
            seq: u64_at(b, 16),
            first_index: u64_at(b, 24),
            salt: u64_at(b, 32),
            capacity: u64_at(b, 40),
        })
    }
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A protobuf-encoded `raft::eraftpb::Entry`.
    Entry = 1,
    /// Drop every entry with index >= the payload's u64 (a follower overwriting a suffix).
    Truncate = 2,
    /// The log was reset by an installed snapshot: payload (index u64, term u64). Always the
    /// first record of its segment.
    Reset = 3,
    /// The segment is complete; nothing after this record belongs to it.
    Seal = 4,
}

impl RecordKind {
    /// Parses the kind byte.
    pub fn from_u8(v: u8) -> Option<RecordKind> {
        match v {
            1 => Some(RecordKind::Entry),
            2 => Some(RecordKind::Truncate),
            3 => Some(RecordKind::Reset),
            4 => Some(RecordKind::Seal),
            _ => None,
        }
    }

    /// Short name for tools.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Entry => "entry",
            RecordKind::Truncate => "truncate",
            RecordKind::Reset => "reset",
            RecordKind::Seal => "seal",
        }
    }
}

/// Bytes a record with a payload of `payload_len` occupies on disk, padding included.
pub fn record_size(payload_len: usize) -> u64 {
    align_up((RECORD_HEADER + payload_len) as u64, RECORD_ALIGN)
}

/// Encodes a complete record with flush number 0; the writer stamps the real flush number with
/// [`stamp_flush`] when it knows which flush the record joins.
pub fn encode_record(salt: u64, kind: RecordKind, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + record_size(payload.len()) as usize, 0);
    encode_record_in(salt, kind, payload.len(), &mut out[start..], |p| {
        p.copy_from_slice(payload);
        Ok::<(), ()>(())
    })
    .expect("copying a payload cannot fail");
    stamp_flush(salt, &mut out[start..], 0);
}

/// Lays out a record in `rec` (exactly `record_size(len)` bytes, of any prior contents) whose
/// payload of exactly `len` bytes `fill` writes in place, so an entry is encoded straight into
/// the buffer that goes to disk. The header checksum is left unset: the writer computes it with
/// [`stamp_flush`] once it knows the flush number, and nothing reaches the disk unstamped.
pub(crate) fn encode_record_in<E>(
    salt: u64,
    kind: RecordKind,
    len: usize,
    rec: &mut [u8],
    fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
) -> Result<(), E> {
    debug_assert_eq!(rec.len() as u64, record_size(len));
    fill(&mut rec[RECORD_HEADER..RECORD_HEADER + len])?;
    // Reserved header bytes and the padding are zero; the buffer may hold older bytes.
    rec[..RECORD_HEADER].fill(0);
    rec[RECORD_HEADER + len..].fill(0);
    rec[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    rec[4] = kind as u8;
    let pcrc = salted_crc(salt, &rec[RECORD_HEADER..RECORD_HEADER + len]);
    rec[12..16].copy_from_slice(&pcrc.to_le_bytes());
    Ok(())
}

/// Sets the flush number of the record starting at `rec[0]` and recomputes its header crc.
pub fn stamp_flush(salt: u64, rec: &mut [u8], flush: u32) {
    rec[8..12].copy_from_slice(&flush.to_le_bytes());
    let hcrc = salted_crc(salt, &rec[0..20]);
    rec[20..24].copy_from_slice(&hcrc.to_le_bytes());
}

/// A record header that passed its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length in bytes.
    pub len: u32,
    /// Record kind.
    pub kind: RecordKind,
    /// Flush number within the segment.
    pub flush: u32,
    /// Expected payload checksum.
    pub payload_crc: u32,
}

/// Why bytes at an offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFault {
    /// Fewer bytes remain than a header needs (or the payload needs).
    Short,
    /// Header checksum, kind or reserved bytes are wrong.
    BadHeader,
    /// The header is fine but the payload checksum is not.
    BadPayload,
}

/// Checks the header at `b[0..]` (which must hold at least `RECORD_HEADER` bytes).
pub fn decode_header(salt: u64, b: &[u8]) -> Result<RecordHeader, RecordFault> {
    if b.len() < RECORD_HEADER {
        return Err(RecordFault::Short);
    }
    if u32_at(b, 20) != salted_crc(salt, &b[0..20]) {
        return Err(RecordFault::BadHeader);
    }
    let kind = RecordKind::from_u8(b[4]).ok_or(RecordFault::BadHeader)?;
    if b[5..8] != [0, 0, 0] || u32_at(b, 16) != 0 {
        return Err(RecordFault::BadHeader);
    }
    let len = u32_at(b, 0);
    if len > MAX_PAYLOAD {
        return Err(RecordFault::BadHeader);
    }
    Ok(RecordHeader {
        len,
        kind,
        flush: u32_at(b, 8),
        payload_crc: u32_at(b, 12),
    })
}

/// Checks a whole record at `b[0..]` and returns its header and payload.
pub fn decode_record(salt: u64, b: &[u8]) -> Result<(RecordHeader, &[u8]), RecordFault> {
    let h = decode_header(salt, b)?;
    let end = RECORD_HEADER + h.len as usize;
    if b.len() < end {
        return Err(RecordFault::Short);
    }
    let payload = &b[RECORD_HEADER..end];
    if salted_crc(salt, payload) != h.payload_crc {
        return Err(RecordFault::BadPayload);
    }
    Ok((h, payload))
}

/// crc32c seeded with the salt.
pub fn salted_crc(salt: u64, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&salt.to_le_bytes()), data)
}

/// Payload of a `Truncate` record.
pub fn truncate_payload(from: u64) -> [u8; 8] {
    from.to_le_bytes()
}

/// Payload of a `Reset` record.
pub fn reset_payload(index: u64, term: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0..8].copy_from_slice(&index.to_le_bytes());
    p[8..16].copy_from_slice(&term.to_le_bytes());
    p
}

/// Parses a `Truncate` payload.
pub fn parse_truncate(p: &[u8]) -> Option<u64> {
    (p.len() == 8).then(|| u64_at(p, 0))
}

/// Parses a `Reset` payload into (index, term).
pub fn parse_reset(p: &[u8]) -> Option<(u64, u64)> {
    (p.len() == 16).then(|| (u64_at(p, 0), u64_at(p, 8)))
}

/// Rounds up to a multiple of `a` (a power of two).
pub fn align_up(v: u64, a: u64) -> u64 {
    (v + a - 1) & !(a - 1)
}

/// Rounds down to a multiple of `a` (a power of two).
pub fn align_down(v: u64, a: u64) -> u64 {
    v & !(a - 1)
}

pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Segment file name for a sequence number.
pub fn segment_file_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// Parses a segment file name back into its sequence number.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".seg")?;
    if stem.len() != 20 || !stem.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}
