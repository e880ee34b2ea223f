//! Snapshots: the whole replicated state at one applied index as one file, and that file
//! served in place as the engine's base layer.
//!
//! A snapshot is a header, an rkyv 0.8 archive (catalog as `CREATE` texts, every table's
//! rows and every index's entries as sorted runs, the idempotency table, the applied index
//! and term) and a footer with the archive's length and crc32c; see `format` for the bytes
//! and `schema` for the archive. [`write`] streams it from a [`View`] in chunks of at most
//! 1 MiB (the node hands them to the raftlog snapshot store, which owns the files).
//! [`Engine::restore`](crate::Engine::restore) maps a file, validates it once and makes it
//! the whole state; [`Engine::rebase`](crate::Engine::rebase) swaps the engine's base to a
//! snapshot of one of its own views, keeping the changes applied since in the delta.
//!
//! ```
//! # use reef_engine::{Engine, EngineConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("data");
//! let mut e = Engine::new(EngineConfig::default());
//! e.execute(&["CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)", "INSERT INTO t VALUES(1, 'x')"]);
//! let view = e.view();
//! let mut file = Vec::new();
//! let info = reef_engine::snapshot::write(&view, &mut |chunk| { file.extend_from_slice(chunk); Ok(()) }).unwrap();
//! std::fs::write(&path, &file).unwrap();
//! assert_eq!(info.size, file.len() as u64);
//! let mut fresh = Engine::new(EngineConfig::default());
//! fresh.restore(&path).unwrap();
//! assert_eq!(fresh.state_digest(), e.state_digest());
//! e.rebase(&path).unwrap(); // e now reads its rows from the mapped file
//! assert_eq!(reef_engine::snapshot::read_header(&path).unwrap().index, view.applied_index());
//! ```

mod base;
mod build;
mod format;
pub(crate) mod install;
mod schema;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use thiserror::Error;

pub use base::{Mapped, RunBase};
pub use build::CHUNK;
pub use format::{SnapshotHeader, TableCount, FORMAT_VERSION};

use crate::view::View;

/// What a finished [`write`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub index: u64,
    pub term: u64,
    /// Bytes handed to the sink (the file's size).
    pub size: u64,
    pub body_crc: u32,
    pub tables: usize,
    pub rows: u64,
}

/// Why a snapshot could not be written, opened or installed. Every variant about a file
/// names it.
#[derive(Debug, Error)]
pub enum Error {
    #[error("{op} snapshot {path}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("snapshot {path} is not a ReefDB snapshot (starts with {found:02x?})")]
    NotASnapshot { path: String, found: Vec<u8> },
    #[error("snapshot {path} has format version {found}; this build reads version {supported}")]
    Version {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("snapshot {path} is truncated: {size} bytes cannot hold {what}")]
    Truncated {
        path: String,
        size: u64,
        what: String,
    },
    #[error("snapshot {path} is corrupt: {what}")]
    Corrupt { path: String, what: String },
    #[error("snapshot {path}: cannot rebuild the schema: {what}")]
    Catalog { path: String, what: String },
    #[error(
        "snapshot {path} ({index}/{term}) was not written from a view of this engine; use restore"
    )]
    NotOwnSnapshot { path: String, index: u64, term: u64 },
    #[error("snapshot sink failed: {0}")]
    Sink(std::io::Error),
    #[error("encoding the snapshot archive: {0}")]
    Encode(String),
}

/// Encodes the whole state of `view` (at its applied index and term) as one snapshot,
/// handing it to `out` in order, in chunks of at most [`CHUNK`] bytes. Reads only the
/// immutable view: run it on any thread while the engine keeps applying.
pub fn write(
    view: &View,
    out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<SnapshotInfo, Error> {
    build::write(view, out)
}

/// Reads a snapshot's header and footer (index, term, size, per-table row counts) without
/// reading or checking its body.
pub fn read_header(path: &Path) -> Result<SnapshotHeader, Error> {
    let p = path.display().to_string();
    let io = |op: &'static str| {
        let p = p.clone();
        move |e| Error::Io {
            path: p,
            op,
            source: e,
        }
    };
    let mut f = std::fs::File::open(path).map_err(io("opening"))?;
    let size = f.metadata().map_err(io("reading the size of"))?.len();
    let mut fixed = vec![0u8; format::HEADER_FIXED.min(size as usize)];
    f.read_exact(&mut fixed).map_err(io("reading"))?;
    let len = format::header_len(&p, &fixed, size)?;
    let mut header = fixed;
    header.resize(len, 0);
    f.read_exact(&mut header[format::HEADER_FIXED..])
        .map_err(io("reading"))?;
    let mut footer = vec![0u8; format::FOOTER];
    f.seek(SeekFrom::Start(size - format::FOOTER as u64))
        .map_err(io("seeking in"))?;
    f.read_exact(&mut footer).map_err(io("reading"))?;
    format::decode(&p, &header, &footer, size)
}
