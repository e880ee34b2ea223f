//! Property tests of the pure encoders/decoders: records, segment headers, hard-state slots and
//! snapshot manifests round-trip, and arbitrary bytes never panic a decoder.

use proptest::prelude::*;
use reef_raftlog::format::{decode_record, encode_record, record_size, RecordKind, SegmentHeader};
use reef_raftlog::meta::{decode_file, encode_slot, MetaState, SLOT_SIZE};
use reef_raftlog::scan::scan_bytes;
use reef_raftlog::SnapshotManifest;
use std::collections::BTreeMap;
use std::path::Path;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn records_round_trip_and_other_salts_never_validate(salt in any::<u64>(), other in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..600), kind in 1u8..=4) {
        let kind = RecordKind::from_u8(kind).unwrap();
        let mut out = Vec::new();
        encode_record(salt, kind, &payload, &mut out);
        prop_assert_eq!(out.len() as u64, record_size(payload.len()));
        let (h, p) = decode_record(salt, &out).unwrap();
        prop_assert_eq!(h.kind, kind);
        prop_assert_eq!(p, &payload[..]);
        if other != salt {
            prop_assert!(decode_record(other, &out).is_err());
        }
    }

    #[test]
    fn arbitrary_segment_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..9000), salt in any::<u64>()) {
        let _ = scan_bytes(Path::new("x"), data.clone());
        let mut with_header = SegmentHeader { seq: 1, first_index: 1, salt, capacity: 1 << 16 }.encode();
        with_header.extend_from_slice(&data);
        let _ = scan_bytes(Path::new("x"), with_header);
        let _ = decode_record(salt, &data);
    }

    #[test]
    fn hard_state_slots_round_trip_and_garbage_is_an_error_not_a_panic(term in any::<u64>(), vote in any::<u64>(),
            commit in any::<u64>(), meta in proptest::collection::btree_map("[a-z]{1,8}", proptest::collection::vec(any::<u8>(), 0..64), 0..4),
            garbage in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut st = MetaState::default();
        st.hard_state.term = term;
        st.hard_state.vote = vote;
        st.hard_state.commit = commit;
        st.conf_state.voters = vec![1, 2, 3];
        st.metadata = meta;
        let payload = st.encode_payload().unwrap();
        let mut file = vec![0u8; 2 * SLOT_SIZE as usize];
        let slot = encode_slot(7, &payload, 4096);
        file[SLOT_SIZE as usize..SLOT_SIZE as usize + slot.len()].copy_from_slice(&slot);
        let loaded = decode_file(Path::new("hs"), &file).unwrap();
        prop_assert_eq!(loaded.generation, 7);
        prop_assert_eq!(loaded.state, st);
        // Garbage in the other slot: the valid one still wins, with a warning.
        file[..garbage.len()].copy_from_slice(&garbage);
        let loaded = decode_file(Path::new("hs"), &file).unwrap();
        prop_assert_eq!(loaded.generation, 7);
        let _ = decode_file(Path::new("hs"), &garbage);
    }

    #[test]
    fn manifests_round_trip_and_garbage_never_panics(index in any::<u64>(), term in any::<u64>(), size in 0u64..10_000_000,
            garbage in proptest::collection::vec(any::<u8>(), 0..200)) {
        let chunk_size = 1u32 << 20;
        let n = size.div_ceil(chunk_size as u64);
        let mut md = BTreeMap::new();
        md.insert("peers".to_string(), vec![1, 2, 3]);
        let m = SnapshotManifest { index, term, conf_state: Default::default(), metadata: md, size, chunk_size,
            chunk_crcs: (0..n as u32).collect() };
        let b = m.encode().unwrap();
        prop_assert_eq!(SnapshotManifest::decode("s", &b).unwrap(), m);
        let _ = SnapshotManifest::decode("s", &garbage);
        let mut flipped = b.clone();
        let i = garbage.len() % flipped.len();
        flipped[i] ^= 1;
        prop_assert!(SnapshotManifest::decode("s", &flipped).is_err());
    }
}
