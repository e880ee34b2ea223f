//! The raft log on disk: reef-raftlog's segment scanner (`scan::scan_bytes` with the `format`
//! header and record decoders) and the hard-state slot decoder (`meta::decode_file`).
//!
//! Checksums guard both formats, so raw bytes almost never get past them. The first byte
//! therefore picks between raw bytes and files built from the input with valid checksums
//! around fuzzed contents (and fuzzed damage), which is what a torn write or a bit flip after
//! the checksum was computed looks like. Accepted records must lie inside the file, in order,
//! and their payloads go through the same parsers recovery uses.

use std::path::Path;

use protobuf::Message as _;
use raft::eraftpb::Entry;
use reef_raftlog::format::{
    align_up, decode_header, decode_record, encode_record, parse_reset, parse_segment_file_name,
    parse_truncate, stamp_flush, RecordKind, SegmentHeader, HEADER_BLOCK, RECORD_ALIGN,
};
use reef_raftlog::meta::{decode_file, encode_slot, MetaState, SLOT_SIZE};
use reef_raftlog::scan::{scan_bytes, SegmentEnd};

use super::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 4 {
        0 => raw(input.rest()),
        1 | 2 => segment(&mut input),
        _ => hard_state(&mut input),
    }
}

fn raw(data: &[u8]) {
    let _ = decode_header(0, data);
    let _ = decode_record(0, data);
    let _ = parse_segment_file_name(&String::from_utf8_lossy(data));
    let _ = decode_file(Path::new("hardstate"), data);
    check_scan(data.to_vec());
}

fn segment(input: &mut Input) {
    let salt = input.u64();
    let header = SegmentHeader {
        seq: input.u64(),
        first_index: input.u64(),
        salt,
        capacity: input.u64(),
    };
    let mut file = header.encode();
    let mut flush = 0u32;
    while !input.is_empty() {
        match input.byte() % 8 {
            // A well-formed record of a fuzzed kind byte, in this or a later flush.
            0..=3 => {
                let kind = match input.byte() % 4 {
                    0 => RecordKind::Entry,
                    1 => RecordKind::Truncate,
                    2 => RecordKind::Reset,
                    _ => RecordKind::Seal,
                };
                flush = flush.wrapping_add((input.byte() % 3) as u32);
                let start = file.len();
                encode_record(salt, kind, input.piece(), &mut file);
                stamp_flush(salt, &mut file[start..], flush);
            }
            // Garbage where a record should be.
            4 => file.extend_from_slice(input.piece()),
            // A damaged byte somewhere after the header.
            5 => {
                let at = input.u16() as usize;
                let len = file.len();
                if len > HEADER_BLOCK as usize {
                    let i = HEADER_BLOCK as usize + at % (len - HEADER_BLOCK as usize);
                    file[i] ^= input.byte() | 1;
                }
            }
            // A torn tail.
            6 => {
                let cut = input.u16() as usize % 64;
                file.truncate(file.len().saturating_sub(cut));
            }
            // Zeroes, as preallocated space reads.
            _ => file.resize(
                file.len() + RECORD_ALIGN as usize * (input.byte() as usize % 8),
                0,
            ),
        }
    }
    check_scan(file);
}

fn check_scan(file: Vec<u8>) {
    let len = file.len() as u64;
    let Ok(seg) = scan_bytes(Path::new("00000000000000000001.seg"), file) else {
        return;
    };
    let mut next = HEADER_BLOCK;
    for r in &seg.records {
        assert!(r.offset >= next, "records overlap or go backwards");
        assert!(r.payload.end as u64 <= len);
        assert_eq!(r.offset % RECORD_ALIGN, 0);
        next = r.payload.end as u64;
        let p = seg.payload(r);
        match r.kind {
            RecordKind::Entry => {
                let _ = Entry::parse_from_bytes(p);
            }
            RecordKind::Truncate => {
                let _ = parse_truncate(p);
            }
            RecordKind::Reset => {
                let _ = parse_reset(p);
            }
            RecordKind::Seal => {}
        }
    }
    let end = match seg.end {
        SegmentEnd::Open { offset, .. } | SegmentEnd::Sealed { offset } => offset,
    };
    // A last record's padding may be missing from a short file; the end is still aligned.
    assert!(end <= align_up(len, RECORD_ALIGN).max(HEADER_BLOCK));
    assert!(seg.end_offset() >= end);
}

fn hard_state(input: &mut Input) {
    let mut file = Vec::new();
    for slot in 0..2u64 {
        let image = match input.byte() % 4 {
            0 => Vec::new(),
            1 => input.piece().to_vec(),
            // A checksummed slot around a fuzzed payload.
            _ => encode_slot(input.u64(), input.piece(), 512),
        };
        if image.is_empty() {
            continue;
        }
        file.resize((slot * SLOT_SIZE) as usize, 0);
        file.extend_from_slice(&image);
    }
    if let Ok(loaded) = decode_file(Path::new("hardstate"), &file) {
        // What decoded re-encodes to a payload that decodes to the same state.
        if let Ok(p) = loaded.state.encode_payload() {
            let again = MetaState::decode_payload(Path::new("hardstate"), 0, &p)
                .expect("an encoded hard state decodes");
            assert_eq!(again, loaded.state);
        }
    }
}
