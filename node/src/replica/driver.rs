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

use super::clocks::LeaseTracker;
use super::peers::AddressBook;
use super::pending::Pending;
use super::reads::ReadBatcher;
use super::wire;
use super::{Board, ProposeError, Request};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::status::Role;
use futures::StreamExt;
use futures_channel::{mpsc, oneshot};
use raft::eraftpb::{Message, MessageType};
use raft::{RawNode, StateRole};
use reef_engine::{BatchResult, Engine, View};
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
    /// A snapshot arrived whole and is stored; its MsgSnapshot can go to raft-rs. `mapped` is
    /// the file opened and validated off shard 0 (or why that failed).
    SnapshotReceived {
        msg: Message,
        index: u64,
        term: u64,
        mapped: Result<std::sync::Arc<reef_engine::snapshot::Mapped>, String>,
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
pub(super) struct InFlight {
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
    pub(super) flushes: VecDeque<InFlight>,
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
    /// This node's disk and what peers said of theirs: writes stop while any is low.
    pub(super) disks: super::disk_alarm::DiskAlarm,
    /// Heartbeat send times, to time the leader lease.
    pub(super) lease: LeaseTracker,
    /// The commit index the leader last reported (followers), for freshness_strict.
    pub(super) leader_commit: u64,
    /// Answers held back until the view that contains their effects is published.
    pub(super) answers: Vec<(Waiter, Result<Applied, ProposeError>)>,
    /// A snapshot build is running.
    pub(super) building: bool,
    /// Index of the latest snapshot this node holds.
    pub(super) snapshot_index: u64,
    /// Admin callers waiting for the snapshot being built.
    pub(super) snapshot_waiters: Vec<super::admin::AdminReply>,
    /// The last snapshot received from the leader, opened off shard 0, for its install.
    pub(super) received_snapshot: Option<(
        u64,
        u64,
        Result<std::sync::Arc<reef_engine::snapshot::Mapped>, String>,
    )>,
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
        let batch_reads = config.raft.batch_read_index;
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
            reads: ReadBatcher::new(batch_reads),
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
            disks: Default::default(),
            lease: LeaseTracker::default(),
            leader_commit: 0,
            answers: Vec::new(),
            building: false,
            snapshot_index,
            snapshot_waiters: Vec::new(),
            received_snapshot: None,
        }
    }

    /// Runs until shutdown or a fatal log error. Returns the fatal error, if any.
    pub async fn run(mut self, mut events: mpsc::UnboundedReceiver<Event>) -> Result<(), String> {
        self.copy_peer_figures();
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
            Event::SnapshotReceived {
                msg,
                index,
                term,
                mapped,
            } => {
                self.received_snapshot = Some((index, term, mapped));
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
            Request::Propose {
                batch,
                read_only,
                reply,
            } => {
                self.metrics.proposals.fetch_add(1, Relaxed);
                if self.role != Role::Leader {
                    self.metrics.proposal_failures.fetch_add(1, Relaxed);
                    let _ = reply.send(Err(self.not_leader()));
                    return;
                }
                if !read_only {
                    if let Some(low) = self.disks.low().first() {
                        self.metrics.proposal_failures.fetch_add(1, Relaxed);
                        let _ = reply.send(Err(ProposeError::LowDisk {
                            id: low.id,
                            free_bytes: low.free_bytes,
                            min_free_bytes: low.min_free_bytes,
                        }));
                        return;
                    }
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

    /// Whether `id` is a voter or learner of the current membership.
    pub(super) fn is_member(&self, id: u64) -> bool {
        let conf = self.node.store().conf_state();
        conf.voters.contains(&id) || conf.learners.contains(&id)
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
