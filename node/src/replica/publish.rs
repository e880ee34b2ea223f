//! What the rest of the process sees of the driver: the status board, the latest view for
//! every HTTP shard, and the replica gauges and per-peer figures in the metrics.
//!
//! Publishing is the one moment a new applied state becomes visible; it happens before any
//! client is answered for it (see `apply.rs`).

use super::driver::Driver;
use super::Published;
use crate::metrics::PeerFigures;
use crate::status::NodeStatus;
use crate::status::PeerStatus;
use crate::status::Role;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

impl Driver {
    pub(super) fn status(&self) -> NodeStatus {
        let raft = &self.node.raft;
        let store = self.node.store();
        let conf = store.conf_state();
        let figures = self.metrics.peers.load();
        let leader = self.role == Role::Leader;
        let peers = self
            .book
            .iter()
            .map(|(id, a)| PeerStatus {
                id: *id,
                raft_addr: a.raft_addr.to_string(),
                http_addr: a.http_addr.to_string(),
                suffrage: if conf.learners.contains(id) {
                    "learner"
                } else if conf.voters.contains(id) {
                    "voter"
                } else {
                    "none"
                },
                reachable: if *id == self.id {
                    Some(true)
                } else {
                    figures.iter().find(|f| f.id == *id).map(|f| f.connected)
                },
                match_index: leader
                    .then(|| raft.prs().get(*id).map(|p| p.matched))
                    .flatten(),
            })
            .collect();
        let member = conf.voters.contains(&self.id) || conf.learners.contains(&self.id);
        let unconfigured = conf.voters.is_empty() && conf.learners.is_empty();
        let role = if self.removed || !(member || unconfigured) {
            Role::Removed
        } else if self.role != Role::Leader && conf.learners.contains(&self.id) {
            Role::Learner
        } else {
            self.role
        };
        use raft::Storage as _;
        NodeStatus {
            id: self.id,
            cluster_id: self.config.cluster_id.clone(),
            role,
            term: raft.term,
            leader_id: self.leader_id,
            leader_http_addr: self
                .book
                .get(self.leader_id)
                .map(|a| a.http_addr.to_string()),
            commit_index: raft.raft_log.committed,
            applied_index: self.applied,
            first_index: store.first_index().unwrap_or(0),
            last_index: store.last_index().unwrap_or(0),
            snapshot_index: store.first_index().unwrap_or(1).saturating_sub(1),
            peers,
            low_disks: self.disks.low().to_vec(),
            http_addr: self.config.http_addr.to_string(),
            raft_addr: self.config.raft_addr.to_string(),
            shards: self.config.shard_count(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Publishes status and the latest view for every shard, and the replica gauges.
    pub(super) fn publish(&mut self) {
        let status = self.status();
        let g = &self.metrics.replica;
        let role = match status.role {
            Role::Follower => 0,
            Role::Candidate => 1,
            Role::Leader => 2,
            Role::Learner => 3,
            Role::Removed => 4,
        };
        g.role.store(role, Relaxed);
        g.term.store(status.term, Relaxed);
        g.leader_id.store(status.leader_id, Relaxed);
        g.commit_index.store(status.commit_index, Relaxed);
        g.applied_index.store(status.applied_index, Relaxed);
        g.first_index.store(status.first_index, Relaxed);
        g.last_index.store(status.last_index, Relaxed);
        g.snapshot_index.store(status.snapshot_index, Relaxed);
        self.board.store(Arc::new(Published {
            status,
            view: self.engine.view(),
        }));
        self.dirty = false;
    }

    /// Copies transport and log figures for `/metrics` and `/nodes` (once per tick).
    pub(super) fn copy_peer_figures(&mut self) {
        let figures: Vec<PeerFigures> = self
            .net
            .stats()
            .into_iter()
            .map(|p| PeerFigures {
                id: p.peer,
                connected: p.connected,
                frames_sent: p.frames_sent,
                frames_received: p.frames_received,
                bytes_sent: p.bytes_sent,
                bytes_received: p.bytes_received,
                drops: p.drops,
                reconnects: p.reconnects,
                queue_depth: p.queue_msgs as u64,
            })
            .collect();
        self.metrics.peers.store(Arc::new(figures));
        let stats = self.node.store().stats();
        self.metrics
            .replica
            .log_bytes
            .store(stats.bytes_used, Relaxed);
        self.metrics
            .replica
            .log_segments
            .store(stats.segments as u64, Relaxed);
        self.check_disk();
        // Reachability and match index change without a Ready; refresh /nodes now and then.
        if self.ticks.is_multiple_of(5) {
            self.dirty = true;
        }
    }
}
