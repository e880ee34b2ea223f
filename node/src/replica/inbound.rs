//! Frames from peers: Raft messages, removal notices, disk reports, forwarded client
//! requests and snapshot streams. The sender's id comes from its verified certificate; a
//! Raft message that claims another sender is dropped, and forwarded requests from
//! non-members are refused.

use super::driver::Driver;
use super::wire;
use crate::status::Role;
use raft::eraftpb::MessageType;

impl Driver {
    pub(super) fn on_peer(&mut self, inbound: reef_net::Inbound) {
        match inbound {
            reef_net::Inbound::Frame { from, bytes } if wire::decode_removed(&bytes).is_some() => {
                match wire::decode_removed(&bytes) {
                    Some(Ok(index)) if self.book.get(from).is_some() => {
                        self.mark_removed(from, index)
                    }
                    other => tracing::warn!(peer = from, ?other, "ignoring a removal notice"),
                }
            }
            reef_net::Inbound::Frame { from, bytes } if wire::decode_disk(&bytes).is_some() => {
                match wire::decode_disk(&bytes) {
                    Some(Ok(report)) if self.book.get(from).is_some() => {
                        self.on_disk_report(from, report)
                    }
                    other => tracing::warn!(peer = from, ?other, "ignoring a disk report"),
                }
            }
            reef_net::Inbound::Frame { from, bytes } => match wire::decode_raft(&bytes) {
                Ok(msg) if msg.from == from => {
                    tracing::trace!(from, kind = ?msg.get_msg_type(), index = msg.index, commit = msg.commit, n = msg.entries.len(), "recv");
                    if msg.get_msg_type() == MessageType::MsgHeartbeat
                        && msg.commit > self.node.raft.raft_log.last_index()
                    {
                        // The leader only sends a commit index this node acknowledged holding.
                        // Being behind it means this node lost acknowledged entries (a wiped or
                        // restored data directory under an old id). raft-rs would panic; a node
                        // with amnesia must not vote or serve, so it stops with the remedy.
                        let last = self.node.raft.raft_log.last_index();
                        tracing::error!(
                            leader = from,
                            commit = msg.commit,
                            last,
                            "this node lost log entries it had acknowledged"
                        );
                        self.fatal = Some(format!(
                            "leader {from} says this node acknowledged entries up to {} but its log ends at {last}: \
                             its data directory was wiped or replaced. It must not rejoin under the same id: \
                             remove node {} (DELETE /admin/members/{}), then add it back with a new id and an empty data directory",
                            msg.commit, self.id, self.id
                        ));
                        return;
                    }
                    match msg.get_msg_type() {
                        MessageType::MsgHeartbeat | MessageType::MsgAppend => {
                            self.api.clocks.heard_from_leader();
                            self.leader_commit = self.leader_commit.max(msg.commit);
                            if self.applied >= self.leader_commit {
                                self.api.clocks.caught_up();
                            }
                        }
                        MessageType::MsgHeartbeatResponse if self.role == Role::Leader => {
                            self.lease.answered(from);
                        }
                        _ => {}
                    }
                    if let Err(e) = self.node.step(msg) {
                        tracing::debug!(peer = from, error = %e, "raft refused a message");
                    }
                }
                Ok(msg) => tracing::warn!(
                    peer = from,
                    claimed = msg.from,
                    "dropping a raft message whose sender differs from its certificate"
                ),
                Err(e) => tracing::warn!(peer = from, error = %e, "dropping a bad peer frame"),
            },
            reef_net::Inbound::Request {
                from,
                bytes: _,
                responder,
            } if !self.is_member(from) => {
                // A valid cluster certificate is not enough: a removed node keeps its
                // certificate until it expires or the CA rotates, and must not act for users.
                tracing::warn!(
                    peer = from,
                    "refusing a forwarded request from a non-member"
                );
                let refusal = wire::ForwardedResponse {
                    status: 403,
                    body: serde_json::json!({"error": format!("node {from} is not a member of this cluster")})
                        .to_string()
                        .into_bytes(),
                };
                let _ = responder.respond(refusal.encode().into());
            }
            reef_net::Inbound::Request {
                from,
                bytes,
                responder,
            } => {
                let api = self.api.clone();
                glommio::spawn_local(async move {
                    let response = match wire::ForwardedRequest::decode(&bytes) {
                        Ok(req) => crate::http::api::serve_forwarded(&api, req).await,
                        Err(e) => {
                            tracing::warn!(peer = from, error = %e, "bad forwarded request");
                            wire::ForwardedResponse {
                                status: 400,
                                body: serde_json::json!({ "error": e.to_string() })
                                    .to_string()
                                    .into_bytes(),
                            }
                        }
                    };
                    if let Err(e) = responder.respond(response.encode().into()) {
                        tracing::debug!(peer = from, error = %e, "forwarded response not delivered");
                    }
                })
                .detach();
            }
            reef_net::Inbound::Snapshot { from, stream } => {
                // A node that joins knows no membership until its first snapshot, so it
                // takes one from any certified peer; raft-rs still judges the MsgSnapshot.
                let joining = {
                    let conf = self.node.store().conf_state();
                    conf.voters.is_empty() && conf.learners.is_empty()
                };
                if self.removed || !(joining || self.is_member(from)) {
                    tracing::warn!(
                        peer = from,
                        "refusing a snapshot from a node that is not a member"
                    );
                    return;
                }
                super::snapshots::spawn_receive(
                    self.snaps.clone(),
                    from,
                    stream,
                    self.events.clone(),
                );
            }
        }
    }
}
