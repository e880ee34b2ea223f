//! What shard 0 publishes about the replica for every shard to read.
//!
//! Shard 0 owns the Raft state; HTTP shards must answer `/status`, `/readyz` and decide on
//! redirects without a round trip to it. After each pass of its loop, shard 0 publishes an
//! immutable snapshot of its status (and, once the engine is wired, its latest view) through
//! an `ArcSwap`: readers load a pointer, never a lock.

use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Leader,
    #[default]
    Follower,
    Candidate,
    Learner,
    /// Removed from the membership: serves no writes.
    Removed,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerStatus {
    pub id: u64,
    pub raft_addr: String,
    pub http_addr: String,
    /// `voter`, `learner`, or `none` (known address, not a member).
    pub suffrage: &'static str,
    /// Whether this node's connection to the peer is up (`None`: not known yet).
    pub reachable: Option<bool>,
    /// The leader's view of how far the peer's log matches (`None` on followers).
    pub match_index: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct NodeStatus {
    pub id: u64,
    pub cluster_id: String,
    pub role: Role,
    pub term: u64,
    /// 0 when no leader is known.
    pub leader_id: u64,
    pub leader_http_addr: Option<String>,
    pub commit_index: u64,
    pub applied_index: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub peers: Vec<PeerStatus>,
    /// Members whose disk is below their `limits.min_free_disk_bytes`: while there are any,
    /// the leader refuses writes.
    pub low_disks: Vec<crate::replica::LowDisk>,
    pub http_addr: String,
    pub raft_addr: String,
    pub shards: usize,
    /// Seconds since the process started.
    pub uptime_s: f64,
    pub version: &'static str,
}

impl NodeStatus {
    /// `None` when the node is ready to serve; else the reason it is not.
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.role == Role::Removed {
            return Some("this node was removed from the cluster".into());
        }
        if self.leader_id == 0 {
            return Some("no leader known".into());
        }
        if self.applied_index < self.commit_index {
            return Some(format!(
                "applied index {} is behind commit index {}",
                self.applied_index, self.commit_index
            ));
        }
        None
    }
}

/// The published pair: status, and the read view matching it.
pub struct Published<V> {
    pub status: NodeStatus,
    pub view: V,
}

pub type Board<V> = arc_swap::ArcSwap<Published<V>>;

pub fn board<V>(status: NodeStatus, view: V) -> Arc<Board<V>> {
    Arc::new(arc_swap::ArcSwap::from_pointee(Published { status, view }))
}
