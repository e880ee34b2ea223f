//! The rkyv types of a snapshot body: the catalog as the SQL texts that rebuild it, every
//! table's rows and every index's entries as sorted runs, the idempotency table, and the
//! applied position.
//!
//! A table or index is a [`StoreOut`] on the way in and an [`ArchivedStore`] in the file:
//! one byte run holding `key0 value0 key1 value1 ...` in key order, and an array of
//! `2 * count + 1` little-endian offsets into it (where key `i` starts, where its value
//! starts, ..., the end). A lookup binary-searches the offsets and slices the run in place;
//! nothing is decoded. `StoreOut` implements rkyv's `Serialize` by hand so the run streams
//! straight from the view's merged iterator into the writer: no store is ever collected
//! into one buffer.

use rkyv::munge::munge;
use rkyv::rancor::Fallible;
use rkyv::ser::{Writer, WriterExt as _};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Archived, Deserialize, Place, Serialize};

use crate::store::{IndexStore, RowStore};

/// A value outside a row record (ALTER TABLE fill values, recorded results).
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) enum ValueOut {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RowsOut {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    pub values: Vec<Vec<ValueOut>>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) enum ResultOut {
    Exec {
        last_insert_id: i64,
        rows_affected: i64,
        returning: Option<RowsOut>,
    },
    Query(RowsOut),
    Error(String),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) enum RecordedOut {
    Exec {
        last_insert_id: i64,
        rows_affected: i64,
    },
    Batch(Vec<ResultOut>),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct DedupOut {
    pub client: u64,
    pub seq: u64,
    pub result: RecordedOut,
}

/// A column whose rows stored before ALTER TABLE ADD COLUMN read as this value.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct FillOut {
    pub column: u32,
    pub value: ValueOut,
}

#[derive(Archive, Serialize)]
pub(crate) struct IndexOut {
    /// Normalized index name.
    pub name: String,
    pub store: StoreOut,
}

#[derive(Archive, Serialize)]
pub(crate) struct TableOut {
    /// Normalized table name.
    pub name: String,
    /// `CREATE TABLE` text; replaying it rebuilds the definition and its constraint indexes.
    pub sql: String,
    pub fills: Vec<FillOut>,
    pub autoinc_seq: i64,
    pub rows: StoreOut,
    pub indexes: Vec<IndexOut>,
}

/// A `CREATE INDEX` (constraint indexes come back with their table).
#[derive(Archive, Serialize)]
pub(crate) struct IndexDefOut {
    pub name: String,
    pub sql: Option<String>,
}

#[derive(Archive, Serialize)]
pub(crate) struct Root {
    pub index: u64,
    pub term: u64,
    pub tables: Vec<TableOut>,
    pub indexes: Vec<IndexDefOut>,
    /// `CREATE VIEW` texts.
    pub views: Vec<String>,
    /// `CREATE TRIGGER` texts.
    pub triggers: Vec<String>,
    pub dedup_previous: Vec<DedupOut>,
    pub dedup_current: Vec<DedupOut>,
}

/// The source of one sorted run: a table's rows or an index's entries, as merged
/// base + delta (an O(1) clone of the view's store).
pub(crate) enum StoreOut {
    Rows(RowStore),
    Index(IndexStore),
}

impl StoreOut {
    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            StoreOut::Rows(s) => Box::new(s.iter(false)),
            StoreOut::Index(s) => Box::new(s.iter(false)),
        }
    }

    fn len(&self) -> u64 {
        match self {
            StoreOut::Rows(s) => s.len(),
            StoreOut::Index(s) => s.len(),
        }
    }
}

/// A sorted run in the archive (see the module docs).
#[derive(rkyv::Portable, rkyv::bytecheck::CheckBytes, Debug)]
#[bytecheck(crate = rkyv::bytecheck)]
#[repr(C)]
pub(crate) struct ArchivedStore {
    pub count: Archived<u64>,
    // Field order is write order: rkyv's validator expects out-of-line data in field order.
    pub data: ArchivedVec<u8>,
    pub offs: ArchivedVec<Archived<u64>>,
}

pub(crate) struct StoreResolver {
    count: u64,
    data_len: usize,
    data: VecResolver,
    offs: VecResolver,
}

impl Archive for StoreOut {
    type Archived = ArchivedStore;
    type Resolver = StoreResolver;

    fn resolve(&self, r: StoreResolver, out: Place<ArchivedStore>) {
        munge!(let ArchivedStore { count, data, offs } = out);
        r.count.resolve((), count);
        ArchivedVec::<Archived<u64>>::resolve_from_len(2 * r.count as usize + 1, r.offs, offs);
        ArchivedVec::<u8>::resolve_from_len(r.data_len, r.data, data);
    }
}

/// Offsets are written through this buffer: one writer call per 8 bytes would dominate.
const OFFS_BATCH: usize = 8192;

impl<S: Fallible + Writer + ?Sized> Serialize<S> for StoreOut
where
    S::Error: rkyv::rancor::Source,
{
    fn serialize(&self, s: &mut S) -> Result<StoreResolver, S::Error> {
        // Pass 1: the byte run, straight from the merged iterator.
        let data_pos = s.pos();
        let mut count = 0u64;
        let mut data_len = 0usize;
        for (k, v) in self.entries() {
            s.write(k)?;
            s.write(v)?;
            count += 1;
            data_len += k.len() + v.len();
        }
        if count != self.len() {
            // The view is immutable; a mismatch is a bug in the store's bookkeeping, and
            // writing it would make an archive whose count lies.
            return Err(<S::Error as rkyv::rancor::Source>::new(CountMismatch {
                counted: count,
                recorded: self.len(),
            }));
        }
        // Pass 2: the offsets, from the same (immutable) iterator again, so no per-entry
        // state is held in memory.
        let offs_pos = s.align(core::mem::align_of::<Archived<u64>>())?;
        let mut buf: Vec<u8> = Vec::with_capacity(OFFS_BATCH);
        let mut at = 0u64;
        for (k, v) in self.entries() {
            buf.extend_from_slice(&at.to_le_bytes());
            at += k.len() as u64;
            buf.extend_from_slice(&at.to_le_bytes());
            at += v.len() as u64;
            if buf.len() >= OFFS_BATCH {
                s.write(&buf)?;
                buf.clear();
            }
        }
        buf.extend_from_slice(&at.to_le_bytes());
        s.write(&buf)?;
        Ok(StoreResolver {
            count,
            data_len,
            data: VecResolver::from_pos(data_pos),
            offs: VecResolver::from_pos(offs_pos),
        })
    }
}

#[derive(Debug)]
struct CountMismatch {
    counted: u64,
    recorded: u64,
}

impl std::fmt::Display for CountMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a store iterated {} entries but records {}",
            self.counted, self.recorded
        )
    }
}
impl std::error::Error for CountMismatch {}
