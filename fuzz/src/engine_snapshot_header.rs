//! Engine snapshot files: `reef_engine::snapshot::read_header`, `Mapped::open` and
//! `Engine::restore` over a file holding fuzzed bytes (a snapshot comes from a peer, so its
//! bytes are untrusted even after they reach the disk).
//!
//! The first byte picks how the rest becomes the file:
//! - raw: the bytes as they are;
//! - sealed: the header crc32c, the footer's body crc32c and the footer crc32c are
//!   recomputed, so mutations of the table list and of the rkyv body get past the checksums
//!   and reach the header parser, rkyv's bytecheck, the run offset checks and restore;
//! - framed: as sealed, and the magics, versions, header length (if impossible) and the
//!   footer's body length are also made right, so nearly every input reaches the body.
//!
//! Any error is fine; a panic or an unbounded allocation is a bug. What must also hold: a file
//! `Mapped::open` accepts has the header `read_header` reads; a restored engine is at the
//! header's index and term, holds the header's tables, digests, and answers queries.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use reef_engine::snapshot::{read_header, Mapped, FORMAT_VERSION};
use reef_engine::{Engine, EngineConfig, StatementResult};

use super::input::Input;

// The layout of engine/src/snapshot/format.rs, restated: the harness writes checksums itself.
const MAGIC: &[u8; 8] = b"REEFSNAP";
const END_MAGIC: &[u8; 8] = b"REEFEND\0";
const HEADER_FIXED: usize = 48;
const FOOTER: usize = 32;
const BODY_ALIGN: usize = 16;

/// How the harness turns the fuzzer's bytes into a file (the input's first byte).
pub const RAW: u8 = 0;
pub const SEALED: u8 = 1;
pub const FRAMED: u8 = 2;

/// A file of its own per call: the replay tests run harnesses on several threads at once.
fn scratch_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!(
        "reef-fuzz-snap-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Recomputes the checksums of `file` (and with `frame`, the fields around them) where the
/// file is long enough to hold them; the rest stays as the fuzzer made it.
pub fn seal(file: &mut [u8], frame: bool) {
    if file.len() < HEADER_FIXED + FOOTER {
        return;
    }
    let size = file.len();
    if frame {
        file[..8].copy_from_slice(MAGIC);
        file[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let len = u32_at(file, 12) as usize;
        if len < HEADER_FIXED || !len.is_multiple_of(BODY_ALIGN) || len + FOOTER > size {
            file[12..16].copy_from_slice(&(HEADER_FIXED as u32).to_le_bytes());
        }
    }
    let hlen = u32_at(file, 12) as usize;
    if hlen >= HEADER_FIXED && hlen + FOOTER <= size {
        file[16..20].fill(0);
        let crc = crc32c::crc32c(&file[..hlen]);
        file[16..20].copy_from_slice(&crc.to_le_bytes());
    }
    let f = size - FOOTER;
    if frame {
        file[f..f + 8].copy_from_slice(END_MAGIC);
        let body_len = size.saturating_sub(hlen + FOOTER) as u64;
        file[f + 8..f + 16].copy_from_slice(&body_len.to_le_bytes());
        file[f + 20..f + 24].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        file[f + 28..f + 32].fill(0);
    }
    // The body the footer names, when it lies inside the file.
    let body_len = u64::from_le_bytes(file[f + 8..f + 16].try_into().expect("8 bytes"));
    if hlen >= HEADER_FIXED
        && (hlen as u64)
            .checked_add(body_len)
            .is_some_and(|end| end <= f as u64)
    {
        let crc = crc32c::crc32c(&file[hlen..hlen + body_len as usize]);
        file[f + 16..f + 20].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&file[f..f + 24]);
    file[f + 24..f + 28].copy_from_slice(&crc.to_le_bytes());
}

/// The fuzz input whose file is exactly `file` under `mode` (for seeding the corpus).
pub fn input_for(mode: u8, file: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(file.len() + 1);
    v.push(mode);
    v.extend_from_slice(file);
    v
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte() % 3;
    let mut file = input.rest().to_vec();
    match mode {
        SEALED => seal(&mut file, false),
        FRAMED => seal(&mut file, true),
        _ => {}
    }
    let path = scratch_path();
    std::fs::write(&path, &file).expect("writing the scratch snapshot file");
    check(&path);
    let _ = std::fs::remove_file(&path);
}

fn check(path: &std::path::Path) {
    let header = read_header(path);
    let mapped = Mapped::open(path);
    if let Ok(m) = &mapped {
        let h = header
            .as_ref()
            .expect("open accepted a file read_header refuses");
        assert_eq!(m.header(), h, "open and read_header disagree");
    }
    drop(mapped);

    let mut e = Engine::new(EngineConfig::default());
    let before = e.state_digest();
    if e.restore(path).is_err() {
        assert_eq!(
            e.state_digest(),
            before,
            "a failed restore changed the state"
        );
        return;
    }
    let h = header.expect("restore accepted a file read_header refuses");
    assert_eq!((e.applied_index(), e.applied_term()), (h.index, h.term));
    let _ = e.state_digest();
    let r = e.execute(&["SELECT type, name FROM sqlite_master ORDER BY name"]);
    let rows = match &r[0] {
        StatementResult::Query(rows) => rows,
        other => panic!("sqlite_master after restore: {other:?}"),
    };
    let mut tables: Vec<String> = rows
        .values
        .iter()
        .filter(|row| matches!(&row[0], reef_engine::Value::Text(t) if &**t == "table"))
        .filter_map(|row| match &row[1] {
            reef_engine::Value::Text(t) => Some(t.to_lowercase()),
            _ => None,
        })
        .collect();
    tables.sort();
    let mut listed: Vec<String> = h.tables.iter().map(|t| t.name.clone()).collect();
    listed.sort();
    // The header lists what the writer archived; a fuzzed header may list other names,
    // so this only compares counts of what came back when the two agree on names.
    if tables == listed {
        // Reading the rows decodes the archived row bytes (fuzzed under SEALED/FRAMED);
        // a bad row is an error result, never a panic. Bounded: at most 64 rows a table.
        for t in &tables {
            let sql = format!("SELECT * FROM \"{}\" LIMIT 64", t.replace('"', "\"\""));
            let _ = e.execute(&[&sql]);
            let sql = format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\""));
            let _ = e.execute(&[&sql]);
        }
    }
    let _ = e.state_digest();
}
