//! Making a validated snapshot the engine's state (restore), or re-basing the engine's
//! current state onto a snapshot of one of its own earlier views (rebase).
//!
//! Restore rebuilds the catalog by replaying the archived `CREATE` texts into an empty
//! engine (the same code that created them, so definitions, constraint indexes and their
//! names come out identical), puts back what DDL text does not carry (ALTER TABLE fill
//! values, AUTOINCREMENT counters), then gives every table and index the archived run as its
//! base layer with an empty delta.
//!
//! Rebase keeps the current catalog, idempotency table and applied position and swaps only
//! the stores. For a store whose base is the same one the snapshotted view had, the new
//! delta is exactly the keys where the current state differs from the snapshot; those keys
//! can only be among the keys in the current delta or in the view's delta (any other key
//! reads the shared base in both), so the work is proportional to the deltas, never to the
//! table. A store whose base changed since the view (a table dropped and created again) is
//! left as it is.

use std::sync::{Arc, Mutex};

use imbl::OrdMap;

use super::base::Mapped;
use super::schema::{
    ArchivedDedupOut, ArchivedRecordedOut, ArchivedResultOut, ArchivedRowsOut, ArchivedValueOut,
};
use super::Error;
use crate::dedup::{DedupTable, Generation, Recorded};
use crate::engine::{Engine, EngineConfig};
use crate::pmap::PMap;
use crate::result::{ErrorResult, ExecResult, Rows, StatementResult};
use crate::state::{State, TableData};
use crate::store::{BaseLayer, Layered, Slot, StoreKey};
use crate::value::Value;
use crate::view::View;

/// The stores of views that were written as snapshots, so [`Engine::rebase`] can tell which
/// keys changed after them. Shared by a state and all its clones; touched only when a
/// snapshot build finishes and when the engine re-bases (never by apply or reads), so a
/// mutex costs nothing on the hot path.
#[derive(Default)]
pub struct BuiltViews(Mutex<Vec<Built>>);

struct Built {
    index: u64,
    term: u64,
    tables: OrdMap<Arc<str>, TableData>,
}

/// How many finished builds are remembered (the node builds one at a time).
const KEEP_BUILT: usize = 2;

impl std::fmt::Debug for BuiltViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuiltViews")
    }
}

impl BuiltViews {
    pub(crate) fn remember(&self, view: &View) {
        let st = view.state();
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|b| (b.index, b.term) != (st.applied_index, st.applied_term));
        v.push(Built {
            index: st.applied_index,
            term: st.applied_term,
            tables: st.tables.clone(),
        });
        if v.len() > KEEP_BUILT {
            v.remove(0);
        }
    }

    fn take(&self, index: u64, term: u64) -> Option<OrdMap<Arc<str>, TableData>> {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let i = v.iter().position(|b| (b.index, b.term) == (index, term))?;
        Some(v.remove(i).tables)
    }
}

fn value_in(v: &ArchivedValueOut) -> Value {
    match v {
        ArchivedValueOut::Null => Value::Null,
        ArchivedValueOut::Integer(i) => Value::Integer(i.to_native()),
        ArchivedValueOut::Real(r) => Value::Real(r.to_native()),
        ArchivedValueOut::Text(t) => Value::Text(Arc::from(t.as_str())),
        ArchivedValueOut::Blob(b) => Value::Blob(Arc::from(b.as_slice())),
    }
}

fn rows_in(r: &ArchivedRowsOut) -> Rows {
    Rows {
        columns: r.columns.iter().map(|s| s.to_string()).collect(),
        types: r.types.iter().map(|s| s.to_string()).collect(),
        values: r
            .values
            .iter()
            .map(|row| row.iter().map(value_in).collect())
            .collect(),
    }
}

fn generation_in(entries: &[ArchivedDedupOut]) -> Generation {
    let mut g = PMap::new();
    for e in entries {
        let r = match &e.result {
            ArchivedRecordedOut::Exec {
                last_insert_id,
                rows_affected,
            } => Recorded::Exec {
                last_insert_id: last_insert_id.to_native(),
                rows_affected: rows_affected.to_native(),
            },
            ArchivedRecordedOut::Batch(b) => Recorded::Shared(Arc::new(
                b.iter()
                    .map(|s| match s {
                        ArchivedResultOut::Exec {
                            last_insert_id,
                            rows_affected,
                            returning,
                        } => StatementResult::Exec(ExecResult {
                            last_insert_id: last_insert_id.to_native(),
                            rows_affected: rows_affected.to_native(),
                            returning: returning.as_ref().map(rows_in),
                        }),
                        ArchivedResultOut::Query(r) => StatementResult::Query(rows_in(r)),
                        ArchivedResultOut::Error(e) => StatementResult::Error(ErrorResult {
                            error: e.to_string(),
                        }),
                    })
                    .collect(),
            )),
        };
        g.insert((e.client.to_native(), e.seq.to_native()), r);
    }
    g
}

/// The whole state held by a validated snapshot.
pub(crate) fn state_of(m: &Arc<Mapped>, config: &EngineConfig) -> Result<State, Error> {
    let root = m.root();
    let path = m.path().display().to_string();
    let bad = |what: String| Error::Catalog {
        path: path.clone(),
        what,
    };
    // The catalog, by replaying its definitions into an empty engine.
    let mut e = Engine::new(config.clone());
    let mut run = |kind: &str, sql: &str| -> Result<(), String> {
        match e.execute(&[sql]).pop() {
            Some(StatementResult::Error(err)) => Err(format!("{kind} {sql:?}: {}", err.error)),
            _ => Ok(()),
        }
    };
    for t in root.tables.iter() {
        run("table", &t.sql).map_err(&bad)?;
    }
    for ix in root.indexes.iter() {
        if let Some(sql) = ix.sql.as_ref() {
            run("index", sql).map_err(&bad)?;
        }
    }
    // Views and triggers may name each other; replay until none is left or a full pass
    // makes no progress.
    let mut pending: Vec<(&str, &str)> = root
        .views
        .iter()
        .map(|s| ("view", s.as_str()))
        .chain(root.triggers.iter().map(|s| ("trigger", s.as_str())))
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut failed = Vec::new();
        let mut last_err = String::new();
        for (kind, sql) in pending {
            if let Err(err) = run(kind, sql) {
                last_err = err;
                failed.push((kind, sql));
            }
        }
        if failed.len() == before {
            return Err(bad(last_err));
        }
        pending = failed;
    }
    let mut st = e.into_state();
    // What the DDL text does not say: fill values, then the data.
    let mut cat = st.catalog.edit();
    for t in root.tables.iter() {
        if t.fills.is_empty() {
            continue;
        }
        let def = cat
            .tables
            .get_mut(t.name.as_str())
            .ok_or_else(|| bad(format!("table {} did not come back from its SQL", t.name)))?;
        let def = Arc::make_mut(def);
        for f in t.fills.iter() {
            let c = def
                .columns
                .get_mut(f.column.to_native() as usize)
                .ok_or_else(|| bad(format!("table {} has no column {}", t.name, f.column)))?;
            c.fill = value_in(&f.value);
        }
    }
    st.catalog = Arc::new(cat);
    let mut tables = OrdMap::new();
    for t in root.tables.iter() {
        let name = t.name.as_str();
        let mut data = st
            .tables
            .get(name)
            .cloned()
            .ok_or_else(|| bad(format!("table {name} did not come back from its SQL")))?;
        if data.indexes.len() != t.indexes.len() {
            return Err(bad(format!(
                "table {name} has {} indexes in the archive but {} after replaying its SQL",
                t.indexes.len(),
                data.indexes.len()
            )));
        }
        data.rows = Layered::with_base(Arc::new(m.run(&t.rows, true)));
        for ix in t.indexes.iter() {
            let slot = data.indexes.get_mut(ix.name.as_str()).ok_or_else(|| {
                bad(format!(
                    "index {} of table {name} did not come back from the SQL",
                    ix.name
                ))
            })?;
            *slot = Layered::with_base(Arc::new(m.run(&ix.store, false)));
        }
        data.autoinc_seq = t.autoinc_seq.to_native();
        tables.insert(Arc::from(name), data);
    }
    if tables.len() != st.tables.len() {
        return Err(bad(
            "the replayed schema has tables the archive does not".into()
        ));
    }
    st.tables = tables;
    st.dedup = DedupTable::from_generations(
        generation_in(&root.dedup_previous),
        generation_in(&root.dedup_current),
    );
    st.applied_index = root.index.to_native();
    st.applied_term = root.term.to_native();
    Ok(st)
}

/// `current` re-based onto `base` (the snapshot of `then`, a store of an earlier view).
/// None when `current` does not share `then`'s base, so the diff would be unsound.
fn rebase_store<K: StoreKey>(
    current: &Layered<K>,
    then: &Layered<K>,
    base: Arc<dyn BaseLayer>,
) -> Option<Layered<K>> {
    if !Arc::ptr_eq(current.base(), then.base()) {
        return None;
    }
    let mut delta: PMap<K, Slot> = PMap::new();
    let mut consider = |k: &K| {
        let key = k.as_bytes();
        let now = current.get(key);
        if now == then.get(key) {
            return;
        }
        let slot = match now {
            Some(v) => Slot::value(v),
            None => Slot::Tombstone,
        };
        delta.insert(k.clone(), slot);
    };
    // Keys in either delta; a key in both is considered twice, harmlessly.
    for (k, _) in current.delta().iter() {
        consider(k);
    }
    for (k, _) in then.delta().iter() {
        if !current.delta().contains_key::<K>(k) {
            consider(k);
        }
    }
    Some(Layered::from_parts(base, delta, current.len()))
}

/// Re-bases `st` (current) onto the mapped snapshot of an earlier view of it.
pub(crate) fn rebase(st: &mut State, m: &Arc<Mapped>) -> Result<(), Error> {
    let h = m.header();
    let then = st
        .built
        .take(h.index, h.term)
        .ok_or_else(|| Error::NotOwnSnapshot {
            path: m.path().display().to_string(),
            index: h.index,
            term: h.term,
        })?;
    let root = m.root();
    let mut tables = st.tables.clone();
    for t in root.tables.iter() {
        let name = t.name.as_str();
        let (Some(cur), Some(old)) = (st.tables.get(name), then.get(name)) else {
            continue;
        };
        let mut data = cur.clone();
        if let Some(s) = rebase_store(&cur.rows, &old.rows, Arc::new(m.run(&t.rows, true))) {
            data.rows = s;
        }
        for ix in t.indexes.iter() {
            let n = ix.name.as_str();
            let (Some(ci), Some(oi)) = (cur.indexes.get(n), old.indexes.get(n)) else {
                continue;
            };
            if let Some(s) = rebase_store(ci, oi, Arc::new(m.run(&ix.store, false))) {
                data.indexes.insert(Arc::from(n), s);
            }
        }
        tables.insert(Arc::from(name), data);
    }
    st.tables = tables;
    Ok(())
}
