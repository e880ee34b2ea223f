//! The replica: the Raft driver on shard 0 and the pieces it is made of.
//!
//! [`open`] recovers a node's state from disk (log, snapshot, address book), bootstraps a
//! brand-new cluster member when the config asks for it, binds the QUIC transport and returns
//! the [`driver::Driver`] ready to run. Other shards reach the driver only through
//! [`Request`] messages and read what it publishes on the [`Board`].

pub mod admin;
mod apply;
pub mod clocks;
mod disk_alarm;
pub mod driver;
mod inbound;
pub mod peers;
pub mod pending;
mod publish;
pub mod reads;
mod serve_reads;
pub mod snapshot_policy;
pub mod snapshots;
pub mod wire;

pub use disk_alarm::{clear_mark, LowDisk};

use crate::config::Config;
use crate::status::NodeStatus;
use futures_channel::{mpsc, oneshot};
use reef_engine::{BatchResult, CommandBatch, Engine, View};
use std::rc::Rc;
use std::sync::Arc;

pub type Published = crate::status::Published<View>;
pub type Board = crate::status::Board<View>;

/// What HTTP shards ask of the driver.
pub enum Request {
    /// Propose a batch; answered when it applies (or fails).
    Propose {
        batch: CommandBatch,
        /// Only reads (a `level=strong` query): allowed while a member's disk is low.
        read_only: bool,
        reply: oneshot::Sender<Result<BatchResult, ProposeError>>,
    },
    /// A linearizable read: answered with a view at or after a quorum-confirmed read index.
    ReadIndex {
        reply: oneshot::Sender<Result<View, ProposeError>>,
    },
    /// A membership or leadership change (leader only).
    Admin {
        op: admin::AdminOp,
        reply: admin::AdminReply,
    },
    /// Relay a client request to the leader over QUIC.
    Forward {
        to: u64,
        req: wire::ForwardedRequest,
        reply: oneshot::Sender<Result<wire::ForwardedResponse, String>>,
    },
}

/// Why a proposal or read did not succeed. Each message says whether the write may have
/// applied, because that is what a client must know to retry safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("not the leader (leader is node {leader_id}; 0 means unknown)")]
    NotLeader { leader_id: u64 },
    #[error("leadership changed before the write committed; it was not applied")]
    Overwritten,
    #[error("a snapshot replaced the state before the outcome was known; the write may or may not have applied")]
    Unknown,
    #[error("the node is shutting down; the write may or may not have applied")]
    Stopped,
    #[error(
        "the batch encodes to {bytes} bytes; the limit is {limit} (half of raft.max_msg_bytes)"
    )]
    TooLarge { bytes: usize, limit: usize },
    #[error(
        "writes are refused while node {id}'s disk is low; this write was not applied. It has \
         {free_bytes} bytes free: it went below its limits.min_free_disk_bytes \
         ({min_free_bytes}), and writes resume by themselves once it has {} free again. Reads \
         still work. Free space on node {id} (or grow its disk)",
        disk_alarm::clear_mark(*min_free_bytes)
    )]
    LowDisk {
        id: u64,
        free_bytes: u64,
        min_free_bytes: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening the Raft log: {0}")]
    Log(#[from] reef_raftlog::LogError),
    #[error("{0}")]
    Book(#[from] peers::BookError),
    #[error("starting the peer transport on {addr}: {message}")]
    Net {
        addr: std::net::SocketAddr,
        message: String,
    },
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("{0}")]
    Other(String),
}

/// Everything shard 0 runs, opened and recovered.
pub struct Opened {
    pub driver: driver::Driver,
    pub events: mpsc::UnboundedReceiver<driver::Event>,
    pub events_tx: mpsc::UnboundedSender<driver::Event>,
    pub net: reef_net::Transport,
}

/// The status a node publishes before its driver has run once.
pub fn initial_status(config: &Config) -> NodeStatus {
    NodeStatus {
        id: config.id,
        cluster_id: config.cluster_id.clone(),
        http_addr: config.http_addr.to_string(),
        raft_addr: config.raft_addr.to_string(),
        shards: config.shard_count(),
        version: env!("CARGO_PKG_VERSION"),
        ..Default::default()
    }
}

/// Writes the initial membership of a new cluster.
///
/// Every initial member writes the same committed entries, one `AddNode` conf change per
/// member (with its addresses in the context), at term 1. A member added later that catches
/// up by log from index 1 therefore replays the whole membership history, not only the
/// changes made after it was added; the hard state's ConfState says the same thing for the
/// members themselves.
async fn bootstrap(
    log: &mut reef_raftlog::RaftLog,
    config: &Config,
    book: &peers::AddressBook,
) -> Result<(), OpenError> {
    use protobuf::Message as _;
    use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2, Entry, EntryType};
    let mut members: Vec<&crate::config::PeerConfig> = config.peers.iter().collect();
    members.sort_by_key(|p| p.id);
    let voters: Vec<u64> = members.iter().map(|p| p.id).collect();
    tracing::info!(?voters, "bootstrapping a new cluster");
    let mut entries = Vec::new();
    for (i, p) in members.iter().enumerate() {
        let ctx = peers::JoinContext {
            id: p.id,
            raft_addr: p.raft_addr,
            http_addr: p.http_addr,
        };
        let cc = ConfChangeV2 {
            changes: vec![ConfChangeSingle {
                change_type: ConfChangeType::AddNode,
                node_id: p.id,
                ..Default::default()
            }]
            .into(),
            context: serde_json::to_vec(&ctx)
                .expect("join context serialises")
                .into(),
            ..Default::default()
        };
        let mut e = Entry {
            term: 1,
            index: i as u64 + 1,
            data: cc
                .write_to_bytes()
                .map_err(|e| OpenError::Other(e.to_string()))?
                .into(),
            ..Default::default()
        };
        e.set_entry_type(EntryType::EntryConfChangeV2);
        entries.push(e);
    }
    log.append(&entries)?;
    let hs = raft::eraftpb::HardState {
        term: 1,
        vote: 0,
        commit: entries.len() as u64,
        ..Default::default()
    };
    log.set_hard_state(&hs)?;
    log.set_conf_state(&raft::eraftpb::ConfState {
        voters,
        ..Default::default()
    })?;
    log.set_metadata(peers::METADATA_KEY, Some(book.encode()))?;
    log.flush().await?;
    Ok(())
}

/// Recovers the replica from `raft_dir` and binds its transport. Runs on shard 0.
pub async fn open(
    config: Arc<Config>,
    board: Arc<Board>,
    api: Rc<crate::http::api::ShardCtx>,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<Opened, OpenError> {
    let raft_dir = config.raft_dir();
    let log_cfg = reef_raftlog::LogConfig {
        segment_size: config.log.segment_bytes,
        ..Default::default()
    };
    let mut log = reef_raftlog::RaftLog::open(&raft_dir, log_cfg).await?;
    let m = metrics.clone();
    log.on_flush(Box::new(move |r: &reef_raftlog::FlushReport| {
        m.fsync_seconds.observe(r.sync_micros as f64 / 1e6);
        m.commit_batch_entries.observe(r.records as f64);
    }))?;

    let mut book = match log.metadata(peers::METADATA_KEY) {
        Some(bytes) => peers::AddressBook::decode(bytes)?,
        None => peers::AddressBook::from_config(&config.peers),
    };
    // Addresses in the config win for ids it lists: moving a node is a config edit.
    for p in &config.peers {
        book.insert(
            p.id,
            peers::PeerAddrs {
                raft_addr: p.raft_addr,
                http_addr: p.http_addr,
            },
        );
    }

    use raft::Storage as _;
    let fresh = log.last_index()? == 0 && log.conf_state().voters.is_empty();
    if fresh && config.bootstrap {
        bootstrap(&mut log, &config, &book).await?;
    } else if fresh {
        tracing::info!(
            "empty data directory and bootstrap is false: waiting to be added to a cluster"
        );
    }

    // The latest snapshot is the engine's base: opening it is a validation pass over a
    // memory map, not a replay.
    let snaps = reef_raftlog::SnapshotStore::new(raft_dir.join("snap"));
    let _ = snaps.remove_temporaries();
    let mut engine = Engine::new(crate::sql::apply_config());
    if let Some(m) = snaps.latest()? {
        let path = snaps.data_path(m.index, m.term);
        engine.restore(&path).map_err(|e| {
            OpenError::Other(format!(
                "cannot open snapshot {}: {e}; move it away to start from the log alone, or wipe \
                 the data directory and rejoin",
                path.display()
            ))
        })?;
        log.set_latest_snapshot(m.to_raft_metadata());
        tracing::info!(
            index = m.index,
            term = m.term,
            bytes = m.size,
            "serving from snapshot"
        );
    }
    let applied = engine.applied_index();

    let tls = reef_net::TlsIdentity::load(&reef_net::TlsFiles {
        ca_cert: config.tls.ca.clone(),
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
    })
    .map_err(|e| OpenError::Net {
        addr: config.raft_addr,
        message: e.to_string(),
    })?;
    let mut net_cfg = reef_net::NetConfig::new(config.id, config.raft_addr, tls);
    net_cfg.max_msg_bytes = config.raft.max_msg_bytes as usize;
    let net = reef_net::Transport::bind(net_cfg).map_err(|e| OpenError::Net {
        addr: config.raft_addr,
        message: e.to_string(),
    })?;
    for (id, addrs) in book.iter() {
        if *id != config.id {
            net.set_peer(*id, addrs.raft_addr);
        }
    }

    let raft_cfg = raft::Config {
        id: config.id,
        election_tick: config.raft.election_tick,
        heartbeat_tick: config.raft.heartbeat_tick,
        applied,
        max_size_per_msg: config.raft.max_size_per_msg,
        max_inflight_msgs: config.raft.max_inflight_msgs,
        check_quorum: config.raft.check_quorum,
        pre_vote: config.raft.pre_vote,
        ..Default::default()
    };
    raft_cfg.validate()?;
    let logger = crate::logging::raft_logger(config.id);
    let node = raft::RawNode::new(&raft_cfg, log, &logger)?;

    let (tx, rx) = mpsc::unbounded();
    let driver = driver::Driver::new(
        config,
        node,
        engine,
        net.clone(),
        book,
        board,
        tx.clone(),
        api,
        Rc::new(snaps),
        metrics,
    );
    Ok(Opened {
        driver,
        events: rx,
        events_tx: tx,
        net,
    })
}
