//! The Raft driver: shard 0's event loop around raft-rs's `RawNode`.
//!
//! One task owns the `RawNode` (and inside it the log), the engine, the pending-client
//! tables and the peer address book. Everything else talks to it by message: HTTP shards
//! send [`Request`]s, small pump tasks turn ticks, peer frames and finished flushes into
//! [`Event`]s, and the loop handles every event already queued before it asks raft-rs for a
//! Ready. That drain is what batches proposals: a hundred clients posting at once become
//! one Ready, one append and one group commit.
//!
//! The Ready is handled the asynchronous way raft-rs 0.7 allows (thesis §10.2.1): a leader's
//! messages go out before its own disk write; entries and hard state are staged in the log;
//! the flush future is awaited by a detached task while the loop goes on handling the next
//! events; when the flush completes, `on_persist_ready` runs and the messages that needed
//! durability (votes, append responses) are sent. Flushes complete in order; a Ready that
//! needs no sync rides on the flush before it, so no message is ever sent ahead of the
//! bytes it vouches for.

use super::clocks::{LeaseTracker, DRIFT};
use super::peers::{AddressBook, JoinContext, PeerAddrs, METADATA_KEY};
use super::pending::{Outcome, Pending};
use super::reads::ReadBatcher;
use super::wire;
use super::{Board, ProposeError, Published, Request};
use crate::config::Config;
use crate::metrics::{Metrics, PeerFigures};
use crate::status::{NodeStatus, PeerStatus, Role};
use futures::StreamExt;
use futures_channel::{mpsc, oneshot};
use protobuf::Message as _;
use raft::eraftpb::{ConfChangeV2, Entry, EntryType, Message, MessageType};
use raft::{RawNode, StateRole};
use reef_engine::{BatchResult, CommandBatch, Engine, View};
use reef_raftlog::{LogError, RaftLog};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What wakes the driver.
pub enum Event {
    Tick,
    Request(Request),
    Peer(reef_net::Inbound),
    /// Flush number `seq` finished.
    Persisted {
        seq: u64,
        result: Result<(), LogError>,
    },
    /// A snapshot stream to `to` ended.
    SnapshotSent {
        to: u64,
        ok: bool,
    },
    /// A snapshot arrived whole and is stored; its MsgSnapshot can go to raft-rs.
    SnapshotReceived {
        msg: Message,
    },
    /// A background snapshot build finished (or failed).
    SnapshotBuilt(Result<super::snapshots::Built, String>),
    Shutdown,
}

/// A client waiting for its proposal to apply.
pub enum Waiter {
    /// A SQL batch: answered with its results.
    Batch(oneshot::Sender<Result<BatchResult, ProposeError>>),
    /// A membership change: answered with the membership after it.
    Admin(super::admin::AdminReply),
}

impl Waiter {
    pub fn fail(self, e: ProposeError) {
        match self {
            Waiter::Batch(tx) => {
                let _ = tx.send(Err(e));
            }
            Waiter::Admin(tx) => {
                let _ = tx.send(Err(e.into()));
            }
        }
    }
}

/// What an applied entry produced, for its waiter.
pub(super) enum Applied {
    Batch(BatchResult),
    Membership(raft::eraftpb::ConfState),
    Nothing,
}
/// A client waiting for a linearizable read view.
pub type ReadWaiter = oneshot::Sender<Result<View, ProposeError>>;

/// A flush in flight, with what must wait for it.
struct InFlight {
    seq: u64,
    /// The last Ready number this flush covers.
    ready_number: u64,
    /// Messages that may only leave once this flush is durable.
    messages: Vec<Message>,
    done: bool,
}

pub struct Driver {
    pub(super) id: u64,
    pub(super) config: Arc<Config>,
    pub(super) node: RawNode<RaftLog>,
    pub(super) engine: Engine,
    pub(super) net: reef_net::Transport,
    pub(super) book: AddressBook,
    pub(super) board: Arc<Board>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) api: Rc<crate::http::api::ShardCtx>,
    pub(super) snaps: Rc<reef_raftlog::SnapshotStore>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) pending: Pending<Waiter>,
    pub(super) reads: ReadBatcher<ReadWaiter>,
    /// Forwards in flight, by the leader they went to: when leadership moves away from that
    /// node they are abandoned at once instead of waiting out a dead connection.
    pub(super) forwards: Vec<(u64, oneshot::Sender<()>)>,
    flushes: VecDeque<InFlight>,
    pub(super) next_flush: u64,
    pub(super) role: Role,
    pub(super) leader_id: u64,
    pub(super) applied: u64,
    /// Peers raft-rs must be told are unreachable, collected during a Ready.
    pub(super) unreachable: Vec<u64>,
    /// Set when the log failed: the driver stops and the process exits with this error.
    pub(super) fatal: Option<String>,
    pub(super) stopping: bool,
    pub(super) started: Instant,
    pub(super) dirty: bool,
    pub(super) ticks: u64,
    /// Set once this node learned it was removed from the membership.
    pub(super) removed: bool,
    /// Heartbeat send times, to time the leader lease.
    lease: LeaseTracker,
    /// The commit index the leader last reported (followers), for freshness_strict.
    leader_commit: u64,
    /// Answers held back until the view that contains their effects is published.
    answers: Vec<(Waiter, Result<Applied, ProposeError>)>,
    /// A snapshot build is running.
    pub(super) building: bool,
    /// Index of the latest snapshot this node holds.
    pub(super) snapshot_index: u64,
    /// Admin callers waiting for the snapshot being built.
    pub(super) snapshot_waiters: Vec<super::admin::AdminReply>,
}

/// Log metadata key marking this node as removed (value: the removal's index).
pub const REMOVED_KEY: &str = "removed";

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        config: Arc<Config>,
        node: RawNode<RaftLog>,
        engine: Engine,
        net: reef_net::Transport,
        book: AddressBook,
        board: Arc<Board>,
        events: mpsc::UnboundedSender<Event>,
        api: Rc<crate::http::api::ShardCtx>,
        snaps: Rc<reef_raftlog::SnapshotStore>,
        metrics: Arc<Metrics>,
    ) -> Driver {
        let applied = engine.applied_index();
        let removed = node.store().metadata(REMOVED_KEY).is_some();
        let snapshot_index = engine.applied_index();
        Driver {
            id: config.id,
            config,
            node,
            engine,
            net,
            book,
            board,
            events,
            api,
            snaps,
            metrics,
            pending: Pending::default(),
            reads: ReadBatcher::default(),
            forwards: Vec::new(),
            flushes: VecDeque::new(),
            next_flush: 1,
            role: Role::Follower,
            leader_id: 0,
            applied,
            unreachable: Vec::new(),
            fatal: None,
            stopping: false,
            started: Instant::now(),
            dirty: true,
            ticks: 0,
            removed,
            lease: LeaseTracker::default(),
            leader_commit: 0,
            answers: Vec::new(),
            building: false,
            snapshot_index,
            snapshot_waiters: Vec::new(),
        }
    }

    /// Runs until shutdown or a fatal log error. Returns the fatal error, if any.
    pub async fn run(mut self, mut events: mpsc::UnboundedReceiver<Event>) -> Result<(), String> {
        self.publish();
        while let Some(ev) = events.next().await {
            self.handle(ev);
            // Everything already queued joins this pass: this is where proposals batch.
            while let Ok(ev) = events.try_recv() {
                self.handle(ev);
            }
            if self.stopping || self.fatal.is_some() {
                break;
            }
            self.pump_reads();
            self.process_ready();
            // A round answered in that Ready lets the next one start now, not at the next event.
            if self.pump_reads() {
                self.process_ready();
            }
            self.refresh_lease();
            if self.dirty {
                self.publish();
            }
        }
        self.shutdown().await
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Tick => {
                // A removed node must not campaign against the cluster that removed it.
                if !self.removed {
                    self.node.tick();
                }
                self.ticks += 1;
                self.copy_peer_figures();
                self.maybe_snapshot();
            }
            Event::Request(r) => self.on_request(r),
            Event::Peer(inbound) => self.on_peer(inbound),
            Event::Persisted { seq, result } => self.on_persisted(seq, result),
            Event::SnapshotSent { to, ok } => {
                if ok {
                    self.metrics.snapshots_sent.fetch_add(1, Relaxed);
                }
                let status = if ok {
                    raft::SnapshotStatus::Finish
                } else {
                    raft::SnapshotStatus::Failure
                };
                self.node.report_snapshot(to, status);
            }
            Event::SnapshotBuilt(result) => self.on_snapshot_built(result),
            Event::SnapshotReceived { msg } => {
                if let Err(e) = self.node.step(msg) {
                    tracing::warn!(error = %e, "raft refused a received snapshot");
                }
            }
            Event::Shutdown => self.stopping = true,
        }
    }

    fn not_leader(&self) -> ProposeError {
        ProposeError::NotLeader {
            leader_id: self.leader_id,
        }
    }

    fn on_request(&mut self, r: Request) {
        match r {
            Request::Propose { batch, reply } => {
                self.metrics.proposals.fetch_add(1, Relaxed);
                if self.role != Role::Leader {
                    self.metrics.proposal_failures.fetch_add(1, Relaxed);
                    let _ = reply.send(Err(self.not_leader()));
                    return;
                }
                let data = batch.encode();
                let limit = self.config.raft.max_msg_bytes as usize / 2;
                if data.len() > limit {
                    self.metrics.proposal_failures.fetch_add(1, Relaxed);
                    let _ = reply.send(Err(ProposeError::TooLarge {
                        bytes: data.len(),
                        limit,
                    }));
                    return;
                }
                match self.node.propose(Vec::new(), data) {
                    Ok(()) => {
                        let index = self.node.raft.raft_log.last_index();
                        let term = self.node.raft.term;
                        tracing::trace!(index, term, "proposed");
                        if let Some((_, stale)) =
                            self.pending.insert(index, term, Waiter::Batch(reply))
                        {
                            stale.fail(ProposeError::Overwritten);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "proposal dropped");
                        self.metrics.proposal_failures.fetch_add(1, Relaxed);
                        let _ = reply.send(Err(self.not_leader()));
                    }
                }
            }
            Request::Admin { op, reply } => self.on_admin(op, reply),
            Request::ReadIndex { reply } => {
                if self.role != Role::Leader {
                    let _ = reply.send(Err(self.not_leader()));
                    return;
                }
                self.reads.add(reply);
            }
            Request::Forward { to, req, reply } => {
                let net = self.net.clone();
                let timeout = Duration::from_millis(self.config.limits.request_timeout_ms);
                let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
                self.forwards.retain(|(_, c)| !c.is_canceled());
                self.forwards.push((to, cancel_tx));
                glommio::spawn_local(async move {
                    let request = async {
                        match net.request(to, req.encode().into(), timeout).await {
                            Ok(bytes) => wire::ForwardedResponse::decode(&bytes)
                                .map_err(|e| format!("leader {to} answered garbage: {e}")),
                            Err(e) => Err(format!("forwarding to leader {to}: {e}")),
                        }
                    };
                    let cancelled = async {
                        let _ = cancel_rx.await;
                        Err(format!(
                            "node {to} stopped being the leader while handling this request; \
                             a write may or may not have applied"
                        ))
                    };
                    let result = futures_lite::future::or(request, cancelled).await;
                    let _ = reply.send(result);
                })
                .detach();
            }
        }
    }

    fn on_peer(&mut self, inbound: reef_net::Inbound) {
        match inbound {
            reef_net::Inbound::Frame { from, bytes } if wire::decode_removed(&bytes).is_some() => {
                match wire::decode_removed(&bytes) {
                    Some(Ok(index)) if self.book.get(from).is_some() => {
                        self.mark_removed(from, index)
                    }
                    other => tracing::warn!(peer = from, ?other, "ignoring a removal notice"),
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

    fn on_persisted(&mut self, seq: u64, result: Result<(), LogError>) {
        if let Err(e) = result {
            tracing::error!(error = %e, "the Raft log failed; this node stops so that recovery on restart decides what is on disk");
            self.fatal = Some(format!("raft log failed: {e}"));
            return;
        }
        if let Some(f) = self.flushes.iter_mut().find(|f| f.seq == seq) {
            f.done = true;
        }
        while self.flushes.front().is_some_and(|f| f.done) {
            let f = self.flushes.pop_front().expect("front exists");
            tracing::trace!(
                seq = f.seq,
                ready = f.ready_number,
                msgs = f.messages.len(),
                "persisted"
            );
            self.node.on_persist_ready(f.ready_number);
            self.send(f.messages);
        }
        self.report_unreachable();
    }

    /// Handles every Ready raft-rs has (one per pass, usually).
    fn process_ready(&mut self) {
        if !self.node.has_ready() {
            return;
        }
        self.dirty = true;
        let mut rd = self.node.ready();
        if let Some(ss) = rd.ss() {
            self.on_soft_state(ss.leader_id, ss.raft_state);
        }
        self.send(rd.take_messages());
        if !rd.snapshot().is_empty() {
            let meta = rd.snapshot().get_metadata().clone();
            self.install_snapshot(meta);
            if self.fatal.is_some() {
                return;
            }
        }
        let committed = rd.take_committed_entries();
        self.apply(committed);
        let read_states = rd.take_read_states();
        let store = self.node.mut_store();
        let staged = store.append(rd.entries()).and_then(|_| match rd.hs() {
            Some(hs) => store.set_hard_state(hs),
            None => Ok(()),
        });
        if let Err(e) = staged {
            tracing::error!(error = %e, "staging to the Raft log failed");
            self.fatal = Some(format!("raft log failed: {e}"));
            return;
        }
        let persisted = rd.take_persisted_messages();
        let number = rd.number();
        let must_sync = rd.must_sync();
        self.node.advance_append_async(rd);
        if must_sync {
            let seq = self.next_flush;
            self.next_flush += 1;
            let durable = self.node.mut_store().flush();
            let events = self.events.clone();
            glommio::spawn_local(async move {
                let result = durable.await.map(|_| ());
                let _ = events.unbounded_send(Event::Persisted { seq, result });
            })
            .detach();
            self.flushes.push_back(InFlight {
                seq,
                ready_number: number,
                messages: persisted,
                done: false,
            });
        } else if let Some(last) = self.flushes.back_mut() {
            // Nothing new to sync, but earlier flushes are still in flight: these messages
            // may vouch for their bytes, so they wait for them.
            last.ready_number = number;
            last.messages.extend(persisted);
        } else {
            self.node.on_persist_ready(number);
            self.send(persisted);
        }
        for rs in read_states {
            self.reads.round_done(&rs.request_ctx, rs.index);
        }
        self.release_reads();
        self.report_unreachable();
    }

    fn report_unreachable(&mut self) {
        for id in std::mem::take(&mut self.unreachable) {
            self.node.report_unreachable(id);
        }
    }

    fn on_soft_state(&mut self, leader_id: u64, state: StateRole) {
        let role = match state {
            StateRole::Leader => Role::Leader,
            StateRole::Follower => Role::Follower,
            StateRole::Candidate | StateRole::PreCandidate => Role::Candidate,
        };
        if role != self.role {
            self.lease.reset();
            self.api.clocks.set_lease_until(None);
        }
        if self.role == Role::Leader && role != Role::Leader {
            tracing::info!(
                term = self.node.raft.term,
                new_leader = leader_id,
                "lost leadership"
            );
            for w in self.reads.reset() {
                let _ = w.send(Err(ProposeError::NotLeader { leader_id }));
            }
        }
        if role == Role::Leader && self.role != Role::Leader {
            tracing::info!(term = self.node.raft.term, "became leader");
            self.metrics.elections_won.fetch_add(1, Relaxed);
        }
        if leader_id != self.leader_id {
            self.metrics.leader_changes.fetch_add(1, Relaxed);
            tracing::info!(leader_id, term = self.node.raft.term, "leader changed");
            let old = self.leader_id;
            let (gone, keep) = std::mem::take(&mut self.forwards)
                .into_iter()
                .partition(|(to, _)| *to == old);
            self.forwards = keep;
            for (_, cancel) in gone {
                let _ = cancel.send(());
            }
        }
        self.role = role;
        self.leader_id = leader_id;
    }

    /// Sends raft messages to peers; a full or unknown peer is reported unreachable.
    fn send(&mut self, msgs: Vec<Message>) {
        for msg in msgs {
            let to = msg.to;
            if msg.get_msg_type() == MessageType::MsgSnapshot {
                super::snapshots::spawn_send(
                    self.net.clone(),
                    self.snaps.clone(),
                    msg,
                    self.events.clone(),
                );
                continue;
            }
            tracing::trace!(to, kind = ?msg.get_msg_type(), index = msg.index, commit = msg.commit, n = msg.entries.len(), "send");
            if msg.get_msg_type() == MessageType::MsgHeartbeat {
                self.lease.sent(to, Instant::now());
            }
            if let Err(e) = self.net.send(to, wire::encode_raft(&msg).into()) {
                tracing::trace!(peer = to, error = %e, "raft message not sent");
                self.unreachable.push(to);
            }
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
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
    fn mark_applied(&mut self, index: u64, term: u64) {
        self.engine
            .apply(index, term, &CommandBatch::new(Vec::new()));
    }

    /// Queues the answer for the client waiting on `index`, if any. Answers leave only after
    /// the view holding their effects is published, so a client that was told "applied"
    /// never reads an older state from this node afterwards.
    fn answer(&mut self, index: u64, term: u64, applied: Applied) {
        let Some((w, outcome)) = self.pending.applied(index, term) else {
            return;
        };
        let result = match outcome {
            Outcome::Overwritten { .. } => Err(ProposeError::Overwritten),
            Outcome::Applied => Ok(applied),
        };
        self.answers.push((w, result));
    }

    fn send_answers(&mut self) {
        for (w, result) in std::mem::take(&mut self.answers) {
            match result {
                Ok(applied) => Self::deliver(w, applied),
                Err(e) => w.fail(e),
            }
        }
    }

    fn deliver(w: Waiter, applied: Applied) {
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

    fn apply_conf_change(&mut self, e: &Entry) -> Option<raft::eraftpb::ConfState> {
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
                Ok(j) => {
                    self.book.insert(
                        j.id,
                        PeerAddrs {
                            raft_addr: j.raft_addr,
                            http_addr: j.http_addr,
                        },
                    );
                    self.net.set_peer(j.id, j.raft_addr);
                }
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

    /// Whether `id` is a voter or learner of the current membership.
    fn is_member(&self, id: u64) -> bool {
        let conf = self.node.store().conf_state();
        conf.voters.contains(&id) || conf.learners.contains(&id)
    }

    /// Starts the next ReadIndex round if readers wait and raft-rs would honour it (it drops
    /// read requests until the leader has committed an entry of its own term), and retries a
    /// round that went unanswered for an election timeout.
    fn pump_reads(&mut self) -> bool {
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
        match self.reads.start_round(now) {
            Some(ctx) => {
                self.metrics.read_index_rounds.fetch_add(1, Relaxed);
                self.node.read_index(ctx);
                true
            }
            None => false,
        }
    }

    /// Recomputes the leader lease from acknowledged heartbeats. A leader holds it only once
    /// it has committed an entry of its own term.
    fn refresh_lease(&mut self) {
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

    /// A committed change removed node `id`. The leader tells it so (raft never will), and
    /// the transport forgets it a little later, once the notice had time to leave.
    fn forget_peer(&mut self, id: u64, index: u64) {
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

    fn status(&self) -> NodeStatus {
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
    fn copy_peer_figures(&mut self) {
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
        // Reachability and match index change without a Ready; refresh /nodes now and then.
        if self.ticks.is_multiple_of(5) {
            self.dirty = true;
        }
    }

    /// Fails every waiter, waits for in-flight flushes, and closes the log.
    async fn shutdown(mut self) -> Result<(), String> {
        for w in self.pending.drain_all() {
            w.fail(ProposeError::Stopped);
        }
        for w in self.reads.reset() {
            let _ = w.send(Err(ProposeError::Stopped));
        }
        for w in self.reads.released(u64::MAX) {
            let _ = w.send(Err(ProposeError::Stopped));
        }
        self.publish();
        // Whatever was staged becomes durable before the process exits. The log itself is
        // owned by raft-rs's RawNode; it is dropped with the driver.
        if self.fatal.is_none() {
            let commit = self.node.raft.raft_log.committed;
            self.node.mut_store().set_commit(commit);
            if let Err(e) = self.node.mut_store().flush().await {
                return Err(format!("final flush of the Raft log failed: {e}"));
            }
        }
        match self.fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
