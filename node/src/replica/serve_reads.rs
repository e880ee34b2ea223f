//! Linearizable and lease reads on the leader: when a ReadIndex round may start, when the
//! leader lease is valid, and releasing waiting readers once the applied index reaches
//! their read index.
//!
//! raft-rs drops a ReadIndex request on a leader that has not yet committed an entry of its
//! own term, so rounds start only after that, and a round left unanswered for an election
//! timeout is re-issued rather than waited on forever.

use super::clocks::DRIFT;
use super::driver::Driver;
use crate::status::Role;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use std::time::Instant;

impl Driver {
    /// Starts the next ReadIndex round if readers wait and raft-rs would honour it (it drops
    /// read requests until the leader has committed an entry of its own term), and retries a
    /// round that went unanswered for an election timeout.
    pub(super) fn pump_reads(&mut self) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let now = Instant::now();
        let r = &self.config.raft;
        let timeout = Duration::from_millis(r.tick_ms * r.election_tick as u64);
        if self.reads.requeue_stale(now, timeout) {
            tracing::warn!("a ReadIndex round went unanswered; retrying its reads");
        }
        if !self.node.raft.commit_to_current_term() {
            return false;
        }
        let mut started = false;
        while let Some(ctx) = self.reads.start_round(now) {
            self.metrics.read_index_rounds.fetch_add(1, Relaxed);
            self.node.read_index(ctx);
            started = true;
        }
        started
    }

    /// Recomputes the leader lease from acknowledged heartbeats. A leader holds it only once
    /// it has committed an entry of its own term.
    pub(super) fn refresh_lease(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let raft = &self.node.raft;
        let own_term = raft.raft_log.term(raft.raft_log.committed).ok() == Some(raft.term);
        let r = &self.config.raft;
        let promise = Duration::from_millis(r.tick_ms * (r.election_tick as u64 - 1));
        let lease = promise.mul_f64(1.0 - DRIFT);
        let voters: Vec<u64> = self.node.store().conf_state().voters.clone();
        let until = own_term
            .then(|| {
                self.lease
                    .lease_until(self.id, &voters, lease, Instant::now())
            })
            .flatten();
        self.api.clocks.set_lease_until(until);
        if until.is_some_and(|u| u > Instant::now()) {
            // A leader with a quorum's fresh promise is as fresh as anyone can be.
            self.api.clocks.heard_from_leader();
            if self.applied >= raft.raft_log.committed {
                self.api.clocks.caught_up();
            }
        }
    }

    pub(super) fn release_reads(&mut self) {
        let ready = self.reads.released(self.applied);
        if ready.is_empty() {
            return;
        }
        let view = self.engine.view();
        for w in ready {
            let _ = w.send(Ok(view.clone()));
        }
    }
}
