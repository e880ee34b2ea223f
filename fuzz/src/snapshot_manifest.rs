//! Snapshot header: reef-raftlog's `SnapshotManifest::decode`, the file that says what a
//! stored snapshot holds (index, term, membership, chunk checksums, metadata).
//!
//! The manifest ends in a crc32c of everything before it. The first byte picks raw bytes or
//! the input with a correct checksum appended, so the field parsing behind the checksum is
//! reached. A manifest that decodes must re-encode to exactly the bytes it came from.

use reef_raftlog::SnapshotManifest;

use super::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let sealed = input.byte() & 1 == 1;
    let mut bytes = input.rest().to_vec();
    if sealed {
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    if let Ok(m) = SnapshotManifest::decode("snap-fuzz", &bytes) {
        assert!(m.chunk_size > 0);
        // The chunk table covers the data exactly (readers index chunks with it).
        let covered: u64 = (0..m.chunks()).map(|i| m.chunk_len(i)).sum();
        assert_eq!(covered, m.size);
        // ConfState's protobuf has more than one spelling (field order, packed or not), so
        // the bytes need not match, but the re-encoding must decode to the same manifest.
        let again = m.encode().expect("a decoded manifest encodes");
        assert_eq!(SnapshotManifest::decode("snap-fuzz", &again).ok(), Some(m));
    }
}
