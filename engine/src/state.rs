//! The replicated state: catalog, every table's rows and index entries, the idempotency table
//! and the applied position. Every field is a persistent structure or an `Arc`, so cloning a
//! `State` is O(1): that clone is a published view, a transaction savepoint, or the source
//! of a snapshot.

use std::sync::Arc;

use imbl::OrdMap;

use crate::catalog::Catalog;
use crate::dedup::DedupTable;
use crate::store::{IndexStore, RowStore};

/// One table's data: rows keyed by rowid, and each index's entries keyed by
/// (index key ++ rowid), by normalized index name.
#[derive(Clone, Debug, Default)]
pub struct TableData {
    pub rows: RowStore,
    pub indexes: OrdMap<Arc<str>, IndexStore>,
    /// Largest rowid ever handed out by AUTOINCREMENT (SQLite's `sqlite_sequence`).
    pub autoinc_seq: i64,
}

#[derive(Clone, Debug)]
pub struct State {
    pub catalog: Arc<Catalog>,
    /// By normalized table name.
    pub tables: OrdMap<Arc<str>, TableData>,
    pub dedup: DedupTable,
    pub applied_index: u64,
    pub applied_term: u64,
    /// Stores of views written as snapshots, for `Engine::rebase` (shared by all clones).
    pub(crate) built: Arc<crate::snapshot::install::BuiltViews>,
}

impl Default for State {
    fn default() -> Self {
        State {
            catalog: Arc::new(Catalog::default()),
            tables: OrdMap::new(),
            dedup: DedupTable::default(),
            applied_index: 0,
            applied_term: 0,
            built: Arc::default(),
        }
    }
}

impl State {
    pub(crate) fn table_data(&self, name: &str) -> Option<&TableData> {
        self.tables.get(name)
    }
}
