//! The `hardstate` file: term, vote, commit, ConfState, the compaction floor and a small
//! metadata map (the node keeps its peer address book there), stored atomically.
//!
//! Atomicity comes from two fixed-size slots written alternately: a write goes to the slot that
//! does not hold the newest valid copy, so a torn write can only damage the copy being written
//! and recovery falls back to the other one. Each slot is checksummed and carries a generation
//! number; the valid slot with the highest generation wins.
//!
//! Slot layout (`SLOT_SIZE` bytes, at offset `slot * SLOT_SIZE`):
//! ```text
//!   0 [u8; 8] magic "REEFHS\0\x01"
//!   8 u64 generation
//!  16 u32 payload_len
//!  20 u32 crc32c(bytes 0..20 ++ payload)
//!  24 payload: term u64, vote u64, commit u64, floor_index u64, floor_term u64,
//!     conf_state_len u32, ConfState (protobuf), n u32, n x (key_len u16, key, value_len u32, value)
//! ```

use crate::error::{LogError, Result};
use crate::format::{u32_at, u64_at};
use protobuf::Message;
use raft::eraftpb::{ConfState, HardState};
use std::collections::BTreeMap;
use std::path::Path;

/// Size of one slot; the encoded state (ConfState + metadata) must fit in it.
pub const SLOT_SIZE: u64 = 64 * 1024;
const SLOT_HEADER: usize = 24;
const MAGIC: &[u8; 8] = b"REEFHS\x00\x01";
/// File name of the hard-state file inside the raft directory.
pub const META_FILE: &str = "hardstate";

/// Everything the `hardstate` file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetaState {
    /// Raft term, vote and (possibly stale, see crate docs) commit.
    pub hard_state: HardState,
    /// Membership as of the last applied conf change or installed snapshot.
    pub conf_state: ConfState,
    /// Entries at or below this index were compacted away.
    pub floor_index: u64,
    /// Term of the entry at `floor_index`.
    pub floor_term: u64,
    /// Small opaque values (e.g. `peers`).
    pub metadata: BTreeMap<String, Vec<u8>>,
}

impl MetaState {
    /// Encodes the payload (without the slot header).
    pub fn encode_payload(&self) -> Result<Vec<u8>> {
        let mut p = Vec::with_capacity(256);
        p.extend_from_slice(&self.hard_state.term.to_le_bytes());
        p.extend_from_slice(&self.hard_state.vote.to_le_bytes());
        p.extend_from_slice(&self.hard_state.commit.to_le_bytes());
        p.extend_from_slice(&self.floor_index.to_le_bytes());
        p.extend_from_slice(&self.floor_term.to_le_bytes());
        let cs = self
            .conf_state
            .write_to_bytes()
            .map_err(|e| LogError::Invalid(format!("cannot encode ConfState: {e}")))?;
        p.extend_from_slice(&(cs.len() as u32).to_le_bytes());
        p.extend_from_slice(&cs);
        p.extend_from_slice(&(self.metadata.len() as u32).to_le_bytes());
        for (k, v) in &self.metadata {
            if k.len() > u16::MAX as usize {
                return Err(LogError::Invalid(format!(
                    "metadata key of {} bytes is too long",
                    k.len()
                )));
            }
            p.extend_from_slice(&(k.len() as u16).to_le_bytes());
            p.extend_from_slice(k.as_bytes());
            p.extend_from_slice(&(v.len() as u32).to_le_bytes());
            p.extend_from_slice(v);
        }
        if p.len() + SLOT_HEADER > SLOT_SIZE as usize {
            return Err(LogError::Invalid(format!(
                "hard state with metadata is {} bytes; the limit is {}",
                p.len(),
                SLOT_SIZE as usize - SLOT_HEADER
            )));
        }
        Ok(p)
    }

    /// Decodes a payload; `path`/`offset` name the slot in errors.
    pub fn decode_payload(path: &Path, offset: u64, p: &[u8]) -> Result<MetaState> {
        let bad = |what: &str| LogError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: format!("hard state slot: {what}"),
        };
        let mut r = Reader { b: p, at: 0 };
        let hs = HardState {
            term: r.u64().ok_or_else(|| bad("truncated term"))?,
            vote: r.u64().ok_or_else(|| bad("truncated vote"))?,
            commit: r.u64().ok_or_else(|| bad("truncated commit"))?,
            ..Default::default()
        };
        let floor_index = r.u64().ok_or_else(|| bad("truncated floor index"))?;
        let floor_term = r.u64().ok_or_else(|| bad("truncated floor term"))?;
        let cs_len = r.u32().ok_or_else(|| bad("truncated conf state length"))? as usize;
        let cs_bytes = r.take(cs_len).ok_or_else(|| bad("truncated conf state"))?;
        let conf_state =
            ConfState::parse_from_bytes(cs_bytes).map_err(|e| bad(&format!("conf state: {e}")))?;
        let n = r.u32().ok_or_else(|| bad("truncated metadata count"))?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n {
            let klen =
                r.u16()
                    .ok_or_else(|| bad("truncated metadata key length"))? as usize;
            let k = r.take(klen).ok_or_else(|| bad("truncated metadata key"))?;
            let k = std::str::from_utf8(k).map_err(|_| bad("metadata key is not UTF-8"))?;
            let vlen = r
                .u32()
                .ok_or_else(|| bad("truncated metadata value length"))?
                as usize;
            let v = r
                .take(vlen)
                .ok_or_else(|| bad("truncated metadata value"))?;
            metadata.insert(k.to_string(), v.to_vec());
        }
        if r.at != p.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(MetaState {
            hard_state: hs,
            conf_state,
            floor_index,
            floor_term,
            metadata,
        })
    }
}

/// Frames a payload into a slot image (rounded up to `align` bytes) for `generation`.
pub fn encode_slot(generation: u64, payload: &[u8], align: usize) -> Vec<u8> {
    let used = SLOT_HEADER + payload.len();
    let mut b = vec![0u8; used.div_ceil(align) * align];
    b[0..8].copy_from_slice(MAGIC);
    b[8..16].copy_from_slice(&generation.to_le_bytes());
    b[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b[SLOT_HEADER..used].copy_from_slice(payload);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[0..20]), payload);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Slot that generation `g` is written to.
pub fn slot_of(generation: u64) -> u64 {
    generation % 2
}

/// What reading the hard-state file found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedMeta {
    /// The newest valid state (default if the file is new).
    pub state: MetaState,
    /// Its generation (0 if none was ever written).
    pub generation: u64,
    /// Problems with the other slot that recovery tolerated (for `reef-logtool verify`).
    pub warnings: Vec<String>,
}

enum SlotRead {
    Empty,
    Valid(u64, MetaState),
    Invalid(String),
}

fn read_slot(path: &Path, file: &[u8], slot: u64) -> SlotRead {
    let off = (slot * SLOT_SIZE) as usize;
    if file.len() < off + SLOT_HEADER {
        return SlotRead::Empty;
    }
    let b = &file[off..file.len().min(off + SLOT_SIZE as usize)];
    if b[0..SLOT_HEADER].iter().all(|&x| x == 0) {
        return SlotRead::Empty;
    }
    if &b[0..8] != MAGIC {
        return SlotRead::Invalid(format!("slot {slot} at offset {off}: bad magic"));
    }
    let generation = u64_at(b, 8);
    let len = u32_at(b, 16) as usize;
    if SLOT_HEADER + len > b.len() {
        return SlotRead::Invalid(format!(
            "slot {slot} at offset {off}: length {len} overruns the slot"
        ));
    }
    let payload = &b[SLOT_HEADER..SLOT_HEADER + len];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[0..20]), payload);
    if crc != u32_at(b, 20) {
        return SlotRead::Invalid(format!("slot {slot} at offset {off}: checksum mismatch"));
    }
    match MetaState::decode_payload(path, off as u64, payload) {
        Ok(s) => SlotRead::Valid(generation, s),
        Err(e) => SlotRead::Invalid(e.to_string()),
    }
}

/// Picks the newest valid slot from the file's bytes.
///
/// One damaged slot is tolerated (it is the torn half of the last write); if the file has
/// content but no slot is valid, that is corruption.
pub fn decode_file(path: &Path, file: &[u8]) -> Result<LoadedMeta> {
    let a = read_slot(path, file, 0);
    let b = read_slot(path, file, 1);
    let mut warnings = Vec::new();
    let mut best: Option<(u64, MetaState)> = None;
    let mut invalid = Vec::new();
    for s in [a, b] {
        match s {
            SlotRead::Empty => {}
            SlotRead::Invalid(w) => invalid.push(w),
            SlotRead::Valid(g, st) => {
                if best.as_ref().is_none_or(|(bg, _)| g > *bg) {
                    best = Some((g, st));
                }
            }
        }
    }
    match best {
        Some((generation, state)) => {
            warnings.extend(invalid);
            Ok(LoadedMeta {
                state,
                generation,
                warnings,
            })
        }
        None if invalid.is_empty() => Ok(LoadedMeta::default()),
        None => Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("no valid hard state slot: {}", invalid.join("; ")),
        }),
    }
}

/// Reads the hard-state file with plain std I/O (startup and tools).
pub fn load(path: &Path) -> Result<LoadedMeta> {
    match std::fs::read(path) {
        Ok(b) => decode_file(path, &b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LoadedMeta::default()),
        Err(e) => Err(LogError::io("reading", path, &e)),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|s| u32_at(s, 0))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|s| u64_at(s, 0))
    }
}
