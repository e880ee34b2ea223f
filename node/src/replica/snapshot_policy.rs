//! When this node snapshots, what it does with a finished snapshot, and how a snapshot from
//! the leader replaces its state.
//!
//! A snapshot starts when enough entries were applied since the last one
//! (`snapshot.entries`), when the log grew past `snapshot.log_bytes`, when raft-rs needs to
//! send a follower a snapshot the latest one cannot serve (a learner added after it was
//! built is not in its membership), or on demand (`POST /admin/snapshot`). It is built from the current view in the background
//! (`snapshots::spawn_build`). When it is done: raft-rs is told it exists (so a follower
//! behind the log's first index gets it), the engine re-bases onto it (its delta keeps only
//! what changed after the snapshot's index), the log is compacted to
//! `snapshot index - keep_entries` (slow followers catch up by log, not by snapshot), and
//! older snapshots are deleted.

use super::driver::Driver;
use super::peers::{AddressBook, METADATA_KEY};
use super::snapshots::Built;
use super::ProposeError;
use std::sync::atomic::Ordering::Relaxed;

impl Driver {
    /// Starts a background build when a threshold is crossed.
    pub(super) fn maybe_snapshot(&mut self) {
        if self.building || self.removed {
            return;
        }
        // raft-rs wanted to send a follower a snapshot the latest one cannot serve.
        if self.node.store().take_snapshot_wanted() {
            tracing::info!("a follower needs a snapshot that includes it; building one");
            self.start_snapshot();
            return;
        }
        let cfg = &self.config.snapshot;
        let since = self.applied.saturating_sub(self.snapshot_index);
        let log_bytes = self.metrics.replica.log_bytes.load(Relaxed);
        // Some progress is required before a size-triggered snapshot, or a log that stays
        // large because of keep_entries would snapshot on every apply.
        let by_size = log_bytes >= cfg.log_bytes && since >= 1000.min(cfg.entries);
        if since >= cfg.entries || by_size {
            self.start_snapshot();
        }
    }

    /// Builds a snapshot now (unless one is already being built).
    pub(super) fn start_snapshot(&mut self) {
        if self.building || self.applied == 0 {
            return;
        }
        self.building = true;
        let view = self.engine.view();
        let conf = self.node.store().conf_state().clone();
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert(METADATA_KEY.to_string(), self.book.encode());
        tracing::info!(index = view.applied_index(), "building a snapshot");
        super::snapshots::spawn_build(
            view,
            conf,
            metadata,
            self.snaps.clone(),
            self.events.clone(),
        );
    }

    pub(super) fn on_snapshot_built(&mut self, result: Result<Built, String>) {
        self.building = false;
        let waiters = std::mem::take(&mut self.snapshot_waiters);
        let built = match result {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "snapshot build failed");
                for w in waiters {
                    let _ = w.send(Err(ProposeError::Internal(e.clone()).into()));
                }
                return;
            }
        };
        let m = &built.manifest;
        let (index, term) = (m.index, m.term);
        tracing::info!(
            index,
            term,
            bytes = m.size,
            secs = built.secs,
            "snapshot built"
        );
        self.metrics.snapshots_built.fetch_add(1, Relaxed);
        self.metrics.snapshot_build_seconds.observe(built.secs);
        self.metrics
            .replica
            .last_snapshot_bytes
            .store(m.size, Relaxed);
        self.node
            .mut_store()
            .set_latest_snapshot(m.to_raft_metadata());
        self.snapshot_index = index;
        // Serve from the new snapshot: the engine maps it and keeps in its delta only what
        // changed after `index`.
        let path = self.snaps.data_path(index, term);
        if let Err(e) = built
            .mapped
            .and_then(|m| self.engine.rebase_mapped(&m).map_err(|e| e.to_string()))
        {
            tracing::warn!(error = %e, path = %path.display(), "could not re-base the engine onto its snapshot; it keeps serving from memory");
        }
        self.compact_to(index.saturating_sub(self.config.snapshot.keep_entries));
        self.delete_older_snapshots(index, term);
        for w in waiters {
            let _ = w.send(Ok(serde_json::json!({
                "snapshot_index": index,
                "snapshot_term": term,
                "bytes": m.size,
            })));
        }
        self.dirty = true;
    }

    /// Compacts the log up to `index` (never past the latest snapshot).
    pub(super) fn compact_to(&mut self, index: u64) {
        let index = index.min(self.snapshot_index);
        use raft::Storage as _;
        let first = self.node.store().first_index().unwrap_or(1);
        if index < first {
            return;
        }
        match self.node.mut_store().compact(index) {
            Ok(()) => tracing::info!(index, "log compacted"),
            Err(e) => tracing::error!(index, error = %e, "log compaction failed"),
        }
    }

    fn delete_older_snapshots(&mut self, index: u64, term: u64) {
        let store = self.snaps.clone();
        glommio::spawn_local(async move {
            let Ok(list) = store.list() else { return };
            for m in list {
                if (m.index, m.term) != (index, term) && m.index <= index {
                    if let Err(e) = store.delete(m.index, m.term).await {
                        tracing::warn!(index = m.index, error = %e, "deleting an old snapshot");
                    }
                }
            }
        })
        .detach();
    }

    /// raft-rs accepted a snapshot from the leader: make it this node's state.
    pub(super) fn install_snapshot(&mut self, meta: raft::eraftpb::SnapshotMetadata) {
        let (index, term) = (meta.index, meta.term);
        let path = self.snaps.data_path(index, term);
        let started = std::time::Instant::now();
        // Normally opened when it arrived (off shard 0); otherwise (a snapshot this node
        // already held) opened here.
        let restored = match self.received_snapshot.take() {
            Some((i, t, mapped)) if (i, t) == (index, term) => {
                mapped.and_then(|m| self.engine.restore_mapped(&m).map_err(|e| e.to_string()))
            }
            _ => self.engine.restore(&path).map_err(|e| e.to_string()),
        };
        if let Err(e) = restored {
            // The chunks were checked on arrival; a snapshot the engine cannot read is a
            // version or format problem no retry fixes.
            tracing::error!(index, term, path = %path.display(), error = %e, "cannot install the leader's snapshot");
            self.fatal = Some(format!(
                "cannot install snapshot {index}/{term} from {}: {e}",
                path.display()
            ));
            return;
        }
        if let Err(e) = self.node.mut_store().apply_snapshot(&meta) {
            self.fatal = Some(format!("raft log failed installing a snapshot: {e}"));
            return;
        }
        self.node.mut_store().set_latest_snapshot(meta.clone());
        if let Ok(Some(m)) = self
            .snaps
            .list()
            .map(|l| l.into_iter().find(|m| m.index == index && m.term == term))
        {
            if let Some(book) = m
                .metadata
                .get(METADATA_KEY)
                .and_then(|b| AddressBook::decode(b).ok())
            {
                for (id, a) in book.iter() {
                    if *id != self.id {
                        self.net.set_peer(*id, a.raft_addr);
                    }
                }
                self.book = book;
                let _ = self
                    .node
                    .mut_store()
                    .set_metadata(METADATA_KEY, Some(self.book.encode()));
            }
        }
        for w in self.pending.drain_through(index) {
            w.fail(ProposeError::Unknown);
        }
        self.applied = index;
        self.snapshot_index = index;
        self.metrics.snapshots_installed.fetch_add(1, Relaxed);
        tracing::info!(
            index,
            term,
            secs = started.elapsed().as_secs_f64(),
            "snapshot installed"
        );
        self.delete_older_snapshots(index, term);
        self.publish();
        self.release_reads();
    }
}
