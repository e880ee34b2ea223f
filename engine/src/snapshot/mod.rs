//! Snapshots: the whole replicated state at one applied index as one file, and that file
//! served in place as the engine's base layer.
//!
//! A snapshot is a header, an rkyv 0.8 archive (catalog as `CREATE` texts, every table's
//! rows and every index's entries as sorted runs, the idempotency table, the applied index
//! and term) and a footer with the archive's length and crc32c; see `format` for the bytes
//! and `schema` for the archive. [`write()`] streams it from a [`View`] in chunks of at most
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

/// What a finished [`write()`] produced.
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ops::Bound;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::store::{BaseLayer, IndexStore};
    use crate::{Engine, EngineConfig};

    /// A view whose one table holds rows with `rowids` and whose one index holds exactly
    /// `entries` (keys of any length and content).
    fn view_with(rowids: &BTreeMap<i64, u8>, entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> View {
        let mut e = Engine::new(EngineConfig::default());
        e.execute(&["CREATE TABLE t(x)", "CREATE INDEX i ON t(x)"]);
        let mut st = e.into_state();
        let mut store = IndexStore::new();
        for (k, v) in entries {
            store.put(k, v);
        }
        let mut td = st.tables.get("t").cloned().expect("table t");
        td.indexes.insert(Arc::from("i"), store);
        let mut rows = crate::store::RowStore::new();
        for (id, v) in rowids {
            rows.put(&crate::codec::key::rowid_key(*id), &[*v]);
        }
        td.rows = rows;
        st.tables.insert(Arc::from("t"), td);
        View::new(Arc::new(st))
    }

    fn bound(b: &Option<(Vec<u8>, bool)>) -> Bound<&[u8]> {
        match b {
            None => Bound::Unbounded,
            Some((k, true)) => Bound::Included(k),
            Some((k, false)) => Bound::Excluded(k),
        }
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()],
            0..6,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Encode a run, map it back: point lookups and ranges (both directions, every kind
        /// of bound) match the model map.
        #[test]
        fn archived_runs_match_the_model(
            entries in proptest::collection::btree_map(key(), proptest::collection::vec(any::<u8>(), 0..40), 0..200),
            probes in proptest::collection::vec(key(), 0..20),
            lo in proptest::option::of((key(), any::<bool>())),
            hi in proptest::option::of((key(), any::<bool>())),
            rowids in proptest::collection::btree_map(prop_oneof![0i64..300, any::<i64>()], any::<u8>(), 0..300),
            ids in proptest::collection::vec(prop_oneof![-5i64..310, any::<i64>()], 0..40),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("run");
            let mut bytes = Vec::new();
            write(&view_with(&rowids, &entries), &mut |c| { bytes.extend_from_slice(c); Ok(()) }).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            let m = Mapped::open(&path).unwrap();
            let root = m.root();
            let rows = m.run(&root.tables[0].rows, true);
            let key_of = crate::codec::key::rowid_key;
            for id in ids.iter().chain(rowids.keys()) {
                prop_assert_eq!(rows.get(&key_of(*id)), rowids.get(id).map(std::slice::from_ref));
                // From this rowid on, both ways.
                let k = key_of(*id);
                let want: Vec<i64> = rowids.range(*id..).map(|(i, _)| *i).collect();
                let got: Vec<Vec<u8>> = rows.range(Bound::Included(&k), Bound::Unbounded, false).map(|(k, _)| k.to_vec()).collect();
                prop_assert_eq!(got, want.iter().map(|i| key_of(*i).to_vec()).collect::<Vec<_>>());
                let below = rows.range(Bound::Unbounded, Bound::Excluded(&k), true).count();
                prop_assert_eq!(below, rowids.range(..*id).count());
            }
            let run = m.run(&root.tables[0].indexes[0].store, false);
            prop_assert_eq!(run.len(), entries.len() as u64);
            for p in probes.iter().chain(entries.keys()) {
                prop_assert_eq!(run.get(p), entries.get(p).map(|v| v.as_slice()));
            }
            let (l, h) = (bound(&lo), bound(&hi));
            let valid = match (&lo, &hi) {
                (Some((a, ai)), Some((b, bi))) => a < b || (a == b && *ai && *bi),
                _ => true,
            };
            if valid {
                let want: Vec<_> = entries
                    .range::<[u8], _>((l, h))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let got: Vec<_> = run.range(l, h, false).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                prop_assert_eq!(&got, &want);
                let back: Vec<_> = run.range(l, h, true).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                let want_back: Vec<_> = want.into_iter().rev().collect();
                prop_assert_eq!(back, want_back);
            } else {
                prop_assert_eq!(run.range(l, h, false).count(), 0);
            }
        }
    }
}
