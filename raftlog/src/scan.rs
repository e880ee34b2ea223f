//! Reading one segment file back: validate the header, walk the records, and decide where the
//! valid data ends and why.
//!
//! The walk stops at a `Seal` record (the segment is complete), or at the first bytes that are
//! not a valid record. In the second case it must tell a torn tail (the last, unacknowledged
//! flush was cut by a crash) from corruption of acknowledged data. The writer has at most one
//! flush in flight and stamps every record with its flush number, so if any valid record of
//! flush `f + 2` or later lies beyond the damage (where `f` is the flush of the last good record
//! before it), the flush containing the damage had completed before a later one started:
//! acknowledged bytes were lost, and that is corruption. Otherwise the damage is a torn tail.

use crate::error::{LogError, Result};
use crate::format::{
    decode_header, decode_record, record_size, RecordFault, RecordKind, SegmentHeader,
    HEADER_BLOCK, RECORD_ALIGN, RECORD_HEADER,
};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One valid record found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedRecord {
    /// Byte offset of the record header in the file.
    pub offset: u64,
    /// Record kind.
    pub kind: RecordKind,
    /// Flush number stamped by the writer.
    pub flush: u32,
    /// Where the payload lies in `ScannedSegment::data`.
    pub payload: Range<usize>,
}

/// How the valid part of a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentEnd {
    /// A `Seal` record at this offset closes the segment.
    Sealed {
        /// Offset of the seal record.
        offset: u64,
    },
    /// No valid record at `offset`: end of data or a torn tail.
    Open {
        /// Where the next record would go.
        offset: u64,
        /// Why the bytes there are not a record (`None`: the file ends there).
        fault: Option<RecordFault>,
    },
}

/// A whole segment read into memory and walked.
#[derive(Debug)]
pub struct ScannedSegment {
    /// The file.
    pub path: PathBuf,
    /// Its validated header.
    pub header: SegmentHeader,
    /// Valid records in file order.
    pub records: Vec<ScannedRecord>,
    /// How the walk ended.
    pub end: SegmentEnd,
    /// The file's bytes.
    pub data: Vec<u8>,
}

impl ScannedSegment {
    /// Offset just past the last valid record (where the next record would be written).
    pub fn end_offset(&self) -> u64 {
        match &self.end {
            SegmentEnd::Sealed { offset } => *offset + record_size(0),
            SegmentEnd::Open { offset, .. } => *offset,
        }
    }

    /// Payload bytes of a record.
    pub fn payload(&self, r: &ScannedRecord) -> &[u8] {
        &self.data[r.payload.clone()]
    }
}

/// Reads and walks one segment file. Errors only for an unreadable file, a bad header, or
/// corruption proven by a later flush; a torn tail is reported through `SegmentEnd::Open`.
pub fn scan_file(path: &Path) -> Result<ScannedSegment> {
    let data = std::fs::read(path).map_err(|e| LogError::io("reading segment", path, &e))?;
    scan_bytes(path, data)
}

/// Walks a segment held in memory (`path` is used for error messages only).
pub fn scan_bytes(path: &Path, data: Vec<u8>) -> Result<ScannedSegment> {
    let header = SegmentHeader::decode(path, &data)?;
    let salt = header.salt;
    let mut records = Vec::new();
    let mut pos = HEADER_BLOCK as usize;
    let end = loop {
        if pos + RECORD_HEADER > data.len() {
            break SegmentEnd::Open {
                offset: pos as u64,
                fault: None,
            };
        }
        match decode_record(salt, &data[pos..]) {
            Ok((h, _)) => {
                let start = pos + RECORD_HEADER;
                records.push(ScannedRecord {
                    offset: pos as u64,
                    kind: h.kind,
                    flush: h.flush,
                    payload: start..start + h.len as usize,
                });
                if h.kind == RecordKind::Seal {
                    break SegmentEnd::Sealed { offset: pos as u64 };
                }
                pos += record_size(h.len as usize) as usize;
            }
            Err(fault) => {
                let last_flush = records.last().map(|r| r.flush).unwrap_or(0);
                if let Some(later) = later_flush_after(salt, &data, pos, last_flush) {
                    return Err(LogError::Corrupt {
                        path: path.to_path_buf(),
                        offset: pos as u64,
                        reason: format!(
                            "record is damaged ({fault:?}) but a record of a later completed flush \
                             (flush {} at offset {}) follows it, so this was acknowledged data",
                            later.1, later.0
                        ),
                    });
                }
                break SegmentEnd::Open {
                    offset: pos as u64,
                    fault: Some(fault),
                };
            }
        }
    };
    Ok(ScannedSegment {
        path: path.to_path_buf(),
        header,
        records,
        end,
        data,
    })
}

/// Looks beyond damaged bytes at `from` for a valid record whose flush number proves the damage
/// was in a completed flush (>= last_flush + 2). Returns (offset, flush) of the first such.
fn later_flush_after(salt: u64, data: &[u8], from: usize, last_flush: u32) -> Option<(u64, u32)> {
    let mut probe = from + RECORD_ALIGN as usize;
    while probe + RECORD_HEADER <= data.len() {
        match decode_header(salt, &data[probe..]) {
            Ok(_) => match decode_record(salt, &data[probe..]) {
                Ok((h, _)) => {
                    if h.flush >= last_flush.saturating_add(2) {
                        return Some((probe as u64, h.flush));
                    }
                    probe += record_size(h.len as usize) as usize;
                    continue;
                }
                Err(_) => probe += RECORD_ALIGN as usize,
            },
            Err(_) => probe += RECORD_ALIGN as usize,
        }
    }
    None
}
