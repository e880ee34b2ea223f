//! Applying committed entries: SQL batches to the engine, membership changes to raft-rs and
//! the address book, and answers to the clients that wait for them.
//!
//! Answers are held back (`answers`) until the view that contains their effects is published,
//! so a client that got "ok" and then reads on any shard of this node sees its own write.
//! Membership changes are applied here too because they change who this node talks to: the
//! joiner's addresses go to the transport and the address book, and the new ConfState and
//! the book are stored together in the log's hard state, so a restart knows both.

use super::driver::{Applied, Driver, Waiter, REMOVED_KEY};
use super::peers::JoinContext;
use super::peers::METADATA_KEY;
use super::pending::Outcome;
use super::wire;
use super::ProposeError;
use crate::status::Role;
use protobuf::Message as _;
use raft::eraftpb::ConfChangeV2;
use raft::eraftpb::Entry;
use raft::eraftpb::EntryType;
use reef_engine::CommandBatch;
use std::time::Duration;
use std::time::Instant;

impl Driver {
    pub(super) fn apply(&mut self, entries: Vec<Entry>) {
        let Some(last) = entries.last() else {
            return;
        };
        let last_index = last.index;
        tracing::trace!(first = entries[0].index, last = last_index, "applying");
        for e in entries {
            let (index, term) = (e.index, e.term);
            match e.get_entry_type() {
                EntryType::EntryNormal if e.data.is_empty() => {
                    // The no-op a new leader appends: it only moves the applied index.
                    self.mark_applied(index, term);
                    self.answer(index, term, Applied::Nothing);
                }
                EntryType::EntryNormal => match CommandBatch::decode(&e.data) {
                    Ok(batch) => {
                        let started = Instant::now();
                        let result = self.engine.apply(index, term, &batch);
                        self.metrics
                            .apply_seconds
                            .observe_duration(started.elapsed());
                        self.answer(index, term, Applied::Batch(result));
                    }
                    Err(err) => {
                        // Only this build's leaders write entries; an undecodable one means a
                        // newer format or damage. Skipping keeps replicas identical (they all
                        // skip), and the error is loud.
                        tracing::error!(index, term, error = %err, "skipping an undecodable log entry");
                        self.mark_applied(index, term);
                        if let Some((w, _)) = self.pending.applied(index, term) {
                            w.fail(ProposeError::Internal(err.to_string()));
                        }
                    }
                },
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    let applied = match self.apply_conf_change(&e) {
                        Some(cs) => Applied::Membership(cs),
                        None => Applied::Nothing,
                    };
                    self.mark_applied(index, term);
                    self.answer(index, term, applied);
                }
            }
        }
        self.applied = last_index;
        self.node.advance_apply_to(last_index);
        if self.applied >= self.leader_commit {
            self.api.clocks.caught_up();
        }
        self.publish();
        self.send_answers();
        self.release_reads();
        self.maybe_snapshot();
    }

    /// Moves the engine's applied index over an entry that carries no SQL (a leader's no-op,
    /// a membership change): applying an empty batch does exactly that.
    pub(super) fn mark_applied(&mut self, index: u64, term: u64) {
        self.engine
            .apply(index, term, &CommandBatch::new(Vec::new()));
    }

    /// Queues the answer for the client waiting on `index`, if any. Answers leave only after
    /// the view holding their effects is published, so a client that was told "applied"
    /// never reads an older state from this node afterwards.
    pub(super) fn answer(&mut self, index: u64, term: u64, applied: Applied) {
        let Some((w, outcome)) = self.pending.applied(index, term) else {
            return;
        };
        let result = match outcome {
            Outcome::Overwritten { .. } => Err(ProposeError::Overwritten),
            Outcome::Applied => Ok(applied),
        };
        self.answers.push((w, result));
    }

    pub(super) fn send_answers(&mut self) {
        for (w, result) in std::mem::take(&mut self.answers) {
            match result {
                Ok(applied) => Self::deliver(w, applied),
                Err(e) => w.fail(e),
            }
        }
    }

    pub(super) fn deliver(w: Waiter, applied: Applied) {
        match (w, applied) {
            (Waiter::Batch(tx), Applied::Batch(r)) => {
                let _ = tx.send(Ok(r));
            }
            (Waiter::Admin(tx), Applied::Membership(cs)) => {
                let _ = tx.send(Ok(serde_json::json!({
                    "voters": cs.voters,
                    "learners": cs.learners,
                })));
            }
            (w, _) => w.fail(ProposeError::Internal(
                "the entry at this index is not the one proposed".into(),
            )),
        }
    }

    pub(super) fn apply_conf_change(&mut self, e: &Entry) -> Option<raft::eraftpb::ConfState> {
        let cc: ConfChangeV2 = match e.get_entry_type() {
            EntryType::EntryConfChange => {
                match raft::eraftpb::ConfChange::parse_from_bytes(&e.data) {
                    Ok(cc) => raft_proto::ConfChangeI::into_v2(cc),
                    Err(err) => {
                        tracing::error!(index = e.index, error = %err, "undecodable conf change");
                        return None;
                    }
                }
            }
            _ => match ConfChangeV2::parse_from_bytes(&e.data) {
                Ok(cc) => cc,
                Err(err) => {
                    tracing::error!(index = e.index, error = %err, "undecodable conf change");
                    return None;
                }
            },
        };
        // raft-rs's propose_conf_change puts the context on the entry; bootstrap entries carry
        // it inside the change. Either way it is the joining node's addresses.
        let context: &[u8] = if e.context.is_empty() {
            &cc.context
        } else {
            &e.context
        };
        if !context.is_empty() {
            match serde_json::from_slice::<JoinContext>(context) {
                Ok(j) => self.learn_peer(&j),
                Err(err) => {
                    tracing::warn!(index = e.index, error = %err, "conf change context is not a join context")
                }
            }
        }
        match self.node.apply_conf_change(&cc) {
            Ok(cs) => {
                // Forget the addresses of nodes that are no longer members.
                let members: Vec<u64> = cs.voters.iter().chain(&cs.learners).copied().collect();
                for change in cc.changes.iter() {
                    let id = change.node_id;
                    if change.get_change_type() == raft::eraftpb::ConfChangeType::RemoveNode
                        && !members.contains(&id)
                    {
                        self.book.remove(id);
                        if id == self.id {
                            self.mark_removed(self.id, e.index);
                        } else {
                            self.forget_peer(id, e.index);
                        }
                    }
                }
                let store = self.node.mut_store();
                let r = store
                    .set_conf_state(&cs)
                    .and_then(|_| store.set_metadata(METADATA_KEY, Some(self.book.encode())));
                if let Err(err) = r {
                    self.fatal = Some(format!("raft log failed: {err}"));
                }
                tracing::info!(index = e.index, voters = ?cs.voters, learners = ?cs.learners, "membership changed");
                Some(cs)
            }
            Err(err) => {
                tracing::error!(index = e.index, error = %err, "conf change refused");
                None
            }
        }
    }

    /// A committed change removed node `id`. The leader tells it so (raft never will), and
    /// the transport forgets it a little later, once the notice had time to leave.
    pub(super) fn forget_peer(&mut self, id: u64, index: u64) {
        self.disks.forget(id);
        self.refresh_low_disks();
        if self.role == Role::Leader {
            let _ = self.net.send(id, wire::encode_removed(index).into());
        }
        let net = self.net.clone();
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_secs(10)).await;
            net.remove_peer(id);
        })
        .detach();
    }

    /// This node is no longer a member: it stops campaigning and says so in `/status`,
    /// also after a restart (the mark is kept in the log's metadata).
    pub(super) fn mark_removed(&mut self, by: u64, index: u64) {
        if self.removed {
            return;
        }
        tracing::warn!(
            by,
            index,
            "this node was removed from the cluster; it serves no more writes. \
             To rejoin, wipe its data directory and add it again as a new member"
        );
        self.removed = true;
        self.dirty = true;
        let r = self
            .node
            .mut_store()
            .set_metadata(REMOVED_KEY, Some(index.to_be_bytes().to_vec()));
        if let Err(e) = r {
            self.fatal = Some(format!("raft log failed: {e}"));
        }
    }
}
