//! Membership and leadership changes, decided by the driver on the leader.
//!
//! Every change is one raft-rs ConfChangeV2 step (add a learner, promote it, remove a node)
//! and is answered only once it applies, so an operator who gets a 200 knows the cluster
//! already runs with the new membership. The checks that protect the cluster live here:
//! one change at a time, a learner is promoted only once it has caught up with the commit
//! index, the last voter is never removed, and a leader asked to remove itself first hands
//! leadership to the most caught-up voter.

use super::driver::{Driver, Waiter};
use super::peers::{JoinContext, PeerAddrs};
use super::ProposeError;
use crate::status::Role;
use futures_channel::oneshot;
use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2};

pub enum AdminOp {
    AddLearner(JoinContext),
    Promote {
        id: u64,
    },
    Remove {
        id: u64,
    },
    TransferLeader {
        to: Option<u64>,
    },
    /// Build a snapshot of this node's state now (any node).
    Snapshot,
    /// Compact this node's log up to its latest snapshot (any node).
    Compact,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("not the leader (leader is node {leader_id}; 0 means unknown)")]
    NotLeader { leader_id: u64 },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// The leader is handing leadership to `to`; the caller retries there.
    #[error("leadership is moving to node {to} first; retry there")]
    TransferFirst { to: u64 },
    #[error(transparent)]
    Failed(#[from] ProposeError),
}

pub type AdminReply = oneshot::Sender<Result<serde_json::Value, AdminError>>;

impl Driver {
    /// Records a joining node's addresses in the address book and tells the transport where
    /// to reach it (when its conf change is proposed, and again when it applies anywhere).
    pub(super) fn learn_peer(&mut self, j: &JoinContext) {
        self.book.insert(
            j.id,
            PeerAddrs {
                raft_addr: j.raft_addr,
                http_addr: j.http_addr,
            },
        );
        self.net.set_peer(j.id, j.raft_addr);
    }

    pub(super) fn on_admin(&mut self, op: AdminOp, reply: AdminReply) {
        match op {
            AdminOp::Snapshot => {
                if self.applied == 0 {
                    let _ = reply.send(Err(AdminError::Conflict(
                        "nothing has been applied yet; there is nothing to snapshot".into(),
                    )));
                    return;
                }
                self.snapshot_waiters.push(reply);
                self.start_snapshot();
                return;
            }
            AdminOp::Compact => {
                self.compact_to(self.snapshot_index);
                use raft::Storage as _;
                let first = self.node.store().first_index().unwrap_or(0);
                let _ = reply.send(Ok(serde_json::json!({
                    "snapshot_index": self.snapshot_index,
                    "first_index": first,
                })));
                self.dirty = true;
                return;
            }
            _ => {}
        }
        if self.role != Role::Leader {
            let _ = reply.send(Err(AdminError::NotLeader {
                leader_id: self.leader_id,
            }));
            return;
        }
        let result = match op {
            AdminOp::AddLearner(j) => self.add_learner(j, reply),
            AdminOp::Promote { id } => self.promote(id, reply),
            AdminOp::Remove { id } => self.remove(id, reply),
            AdminOp::TransferLeader { to } => {
                let _ = reply.send(self.transfer(to));
                return;
            }
            AdminOp::Snapshot | AdminOp::Compact => unreachable!("handled above"),
        };
        if let Err((e, reply)) = result {
            let _ = reply.send(Err(e));
        }
    }

    fn conf(&self) -> raft::eraftpb::ConfState {
        self.node.store().conf_state().clone()
    }

    /// Proposes one conf change step; its waiter is answered when it applies.
    fn propose_change(
        &mut self,
        kind: ConfChangeType,
        id: u64,
        context: Vec<u8>,
        reply: AdminReply,
    ) -> Result<(), (AdminError, AdminReply)> {
        if self.node.raft.has_pending_conf() {
            return Err((
                AdminError::Conflict(
                    "another membership change is still being applied; retry shortly".into(),
                ),
                reply,
            ));
        }
        let cc = ConfChangeV2 {
            changes: vec![ConfChangeSingle {
                change_type: kind,
                node_id: id,
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        };
        match self.node.propose_conf_change(context, cc) {
            Ok(()) => {
                let index = self.node.raft.raft_log.last_index();
                let term = self.node.raft.term;
                tracing::info!(?kind, node = id, index, "membership change proposed");
                if let Some((_, stale)) = self.pending.insert(index, term, Waiter::Admin(reply)) {
                    stale.fail(ProposeError::Overwritten);
                }
                Ok(())
            }
            Err(e) => Err((
                AdminError::Failed(ProposeError::Internal(format!(
                    "raft refused the change: {e}"
                ))),
                reply,
            )),
        }
    }

    fn add_learner(
        &mut self,
        j: JoinContext,
        reply: AdminReply,
    ) -> Result<(), (AdminError, AdminReply)> {
        let conf = self.conf();
        if j.id == 0 {
            return Err((AdminError::BadRequest("node ids start at 1".into()), reply));
        }
        if conf.voters.contains(&j.id) || conf.learners.contains(&j.id) {
            return Err((
                AdminError::Conflict(format!("node {} is already a member", j.id)),
                reply,
            ));
        }
        if let Some((other, _)) = self.book.iter().find(|(id, a)| {
            **id != j.id && (a.raft_addr == j.raft_addr || a.http_addr == j.http_addr)
        }) {
            return Err((
                AdminError::Conflict(format!("node {other} already uses one of these addresses")),
                reply,
            ));
        }
        // The leader must reach the learner as soon as the change applies.
        self.learn_peer(&j);
        let context = serde_json::to_vec(&j).expect("join context serialises");
        self.propose_change(ConfChangeType::AddLearnerNode, j.id, context, reply)
    }

    fn promote(&mut self, id: u64, reply: AdminReply) -> Result<(), (AdminError, AdminReply)> {
        let conf = self.conf();
        if conf.voters.contains(&id) {
            return Err((
                AdminError::Conflict(format!("node {id} is already a voter")),
                reply,
            ));
        }
        if !conf.learners.contains(&id) {
            return Err((
                AdminError::NotFound(format!("node {id} is not a learner of this cluster")),
                reply,
            ));
        }
        let commit = self.node.raft.raft_log.committed;
        let matched = self.node.raft.prs().get(id).map(|p| p.matched).unwrap_or(0);
        if matched < commit {
            return Err((
                AdminError::Conflict(format!(
                    "node {id} has not caught up (match index {matched}, commit index {commit}); \
                     promote it once /nodes shows it caught up"
                )),
                reply,
            ));
        }
        self.propose_change(ConfChangeType::AddNode, id, Vec::new(), reply)
    }

    fn remove(&mut self, id: u64, reply: AdminReply) -> Result<(), (AdminError, AdminReply)> {
        let conf = self.conf();
        let voter = conf.voters.contains(&id);
        if !voter && !conf.learners.contains(&id) {
            return Err((
                AdminError::NotFound(format!("node {id} is not a member of this cluster")),
                reply,
            ));
        }
        if voter && conf.voters.len() == 1 {
            return Err((
                AdminError::Conflict(format!(
                    "refusing to remove node {id}: it is the last voter"
                )),
                reply,
            ));
        }
        if id == self.id {
            return match self.transfer(None) {
                Ok(v) => {
                    let to = v["transferring_to"].as_u64().unwrap_or(0);
                    Err((AdminError::TransferFirst { to }, reply))
                }
                Err(e) => Err((e, reply)),
            };
        }
        self.propose_change(ConfChangeType::RemoveNode, id, Vec::new(), reply)
    }

    /// Starts a leadership transfer to `to`, or to the most caught-up other voter.
    fn transfer(&mut self, to: Option<u64>) -> Result<serde_json::Value, AdminError> {
        let conf = self.conf();
        let target = match to {
            Some(t) => {
                if t == self.id {
                    return Err(AdminError::BadRequest(format!("node {t} already leads")));
                }
                if !conf.voters.contains(&t) {
                    return Err(AdminError::BadRequest(format!(
                        "node {t} is not a voter; only voters can lead"
                    )));
                }
                t
            }
            None => conf
                .voters
                .iter()
                .filter(|v| **v != self.id)
                .max_by_key(|v| {
                    self.node
                        .raft
                        .prs()
                        .get(**v)
                        .map(|p| p.matched)
                        .unwrap_or(0)
                })
                .copied()
                .ok_or_else(|| AdminError::Conflict("there is no other voter to lead".into()))?,
        };
        tracing::info!(to = target, "leadership transfer requested");
        self.node.transfer_leader(target);
        Ok(serde_json::json!({ "transferring_to": target }))
    }
}
