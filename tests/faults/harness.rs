//! The cluster under test: real `reefdb` processes (from `support::Cluster`), optionally each
//! in its own network namespace, optionally with a data dir on a small tmpfs, plus what the
//! nemeses need to know about them (which are paused, which are up, who leads).
//!
//! Every poll of a node is bounded by a short timeout, because a SIGSTOPped node accepts TCP
//! connections (the kernel does) and then never answers.

use crate::disk::SmallDisk;
use crate::netns::Net;
use crate::support::Cluster;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a status poll may take before the node counts as unresponsive.
pub const POLL: Duration = Duration::from_millis(800);

/// What cluster to build.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub nodes: u64,
    /// Put every node in its own network namespace (needed for partitions).
    pub netns: bool,
    /// Nodes whose data dir is a tmpfs of this many bytes (for the full-disk nemesis). Their
    /// log segments are 1 MiB so the disk fills at a segment boundary soon.
    pub small_disks: Vec<(u64, u64)>,
    /// `limits.min_free_disk_bytes` of the nodes on small disks: 0 by default, so that they
    /// run until the disk is really full (the full-disk nemesis is about that).
    pub min_free_disk_bytes: u64,
    /// `limits.request_timeout_ms` of every node.
    pub request_timeout_ms: u64,
    /// The last this-many nodes are not members at first: configured with `bootstrap: false`
    /// and left out of the others' peer lists, to be added later through the admin API.
    pub spares: u64,
}

impl ClusterSpec {
    pub fn new(nodes: u64) -> ClusterSpec {
        ClusterSpec {
            nodes,
            netns: true,
            small_disks: Vec::new(),
            min_free_disk_bytes: 0,
            request_timeout_ms: 3000,
            spares: 0,
        }
    }
}

pub struct Harness {
    pub cluster: Cluster,
    pub net: Option<Net>,
    /// Why namespaces are not used, when they were asked for and could not be made.
    pub net_unavailable: Option<String>,
    /// Why a small data disk could not be mounted, when one was asked for.
    pub disk_unavailable: Option<String>,
    pub disks: BTreeMap<u64, SmallDisk>,
    pub paused: BTreeSet<u64>,
    /// Nodes taken out of the cluster for good (their data is gone or bad): the checks skip
    /// them.
    pub retired: BTreeSet<u64>,
    pub n: u64,
}

impl Harness {
    /// Builds (but does not start) the cluster.
    pub fn new(spec: &ClusterSpec) -> Harness {
        let (net, net_unavailable) = if spec.netns {
            match Net::create(spec.nodes as usize) {
                Ok(net) => (Some(net), None),
                Err(why) => (None, Some(unavailable("network namespaces", why))),
            }
        } else {
            (None, None)
        };
        let cluster = match &net {
            Some(net) => Cluster::init_on_hosts(&net.ips(), 4001, 4101),
            None => Cluster::init(spec.nodes),
        };
        let mut h = Harness {
            cluster,
            net,
            net_unavailable,
            disk_unavailable: None,
            disks: BTreeMap::new(),
            paused: BTreeSet::new(),
            retired: BTreeSet::new(),
            n: spec.nodes,
        };
        let members = spec.nodes - spec.spares;
        for id in 1..=spec.nodes {
            let small = spec.small_disks.iter().any(|(d, _)| *d == id);
            h.edit_yaml(id, |y| {
                y["limits"]["request_timeout_ms"] = spec.request_timeout_ms.into();
                if small {
                    // Small segments: the disk fills at a segment boundary soon.
                    y["log"]["segment_bytes"] = (1u64 << 20).into();
                    y["limits"]["min_free_disk_bytes"] = spec.min_free_disk_bytes.into();
                }
                if id > members {
                    y["bootstrap"] = false.into();
                } else if let Some(peers) = y["peers"].as_sequence_mut() {
                    peers.retain(|p| p["id"].as_u64().is_some_and(|p| p <= members));
                }
            });
            if id > members {
                h.retired.insert(id);
            }
        }
        for &(id, bytes) in &spec.small_disks {
            match SmallDisk::mount(&h.data_dir(id), bytes) {
                Ok(disk) => {
                    h.disks.insert(id, disk);
                }
                Err(why) => {
                    h.disk_unavailable = Some(unavailable("a tmpfs data disk", why));
                }
            }
        }
        h
    }

    /// Edits node `id`'s config as YAML (fields this suite does not know survive).
    pub fn edit_yaml(&self, id: u64, edit: impl FnOnce(&mut serde_yaml::Value)) {
        self.cluster.edit_config(id, |t| {
            let mut y: serde_yaml::Value = serde_yaml::from_str(&t).expect("config YAML");
            edit(&mut y);
            serde_yaml::to_string(&y).expect("config YAML")
        });
    }

    pub fn ids(&self) -> Vec<u64> {
        (1..=self.n).filter(|i| !self.retired.contains(i)).collect()
    }

    pub fn all_ids(&self) -> Vec<u64> {
        (1..=self.n).collect()
    }

    /// Node `id`'s Raft address, from its config.
    pub fn raft_addr(&self, id: u64) -> String {
        let text = std::fs::read_to_string(&self.cluster.node(id).config).expect("config");
        let y: serde_yaml::Value = serde_yaml::from_str(&text).expect("config YAML");
        y["raft_addr"].as_str().expect("raft_addr").to_string()
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.cluster.path().join(format!("node{id}/data"))
    }

    pub fn raft_dir(&self, id: u64) -> PathBuf {
        self.data_dir(id).join("raft")
    }

    /// Base URLs of the nodes' HTTP APIs, in id order.
    pub fn urls(&self) -> Vec<String> {
        self.cluster
            .nodes
            .iter()
            .map(|n| format!("http://{}", n.http))
            .collect()
    }

    pub fn start(&mut self, id: u64) {
        match &self.net {
            Some(net) => {
                let hook = net.enter(id);
                self.cluster.start_node_with(id, hook);
            }
            None => self.cluster.start_node_with(id, |_| {}),
        }
    }

    /// Starts every member (spares wait to be added).
    pub fn start_all(&mut self) {
        for id in self.ids() {
            self.start(id);
        }
    }

    pub fn running(&self, id: u64) -> bool {
        self.cluster.pid(id).is_some()
    }

    /// Running and not paused.
    pub fn up(&self, id: u64) -> bool {
        self.running(id) && !self.paused.contains(&id)
    }

    pub fn kill(&mut self, id: u64) {
        self.paused.remove(&id);
        self.cluster.kill(id);
    }

    pub fn pause(&mut self, id: u64) {
        self.cluster.pause(id);
        self.paused.insert(id);
    }

    pub fn resume(&mut self, id: u64) {
        if self.paused.remove(&id) {
            self.cluster.resume(id);
        }
    }

    pub fn status(&self, id: u64) -> Option<Value> {
        if !self.up(id) {
            return None;
        }
        self.cluster.status_within(id, false, POLL)
    }

    /// The node that says it leads with the highest term, among nodes that answer.
    pub fn leader(&self) -> Option<u64> {
        self.ids()
            .into_iter()
            .filter_map(|id| {
                let s = self.status(id)?;
                (s["role"] == "leader").then(|| (s["term"].as_u64().unwrap_or(0), id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// Waits until every up node names the same up leader.
    pub fn wait_leader(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let ups: Vec<u64> = self.ids().into_iter().filter(|i| self.up(*i)).collect();
            let named: Vec<Option<u64>> = ups
                .iter()
                .map(|i| {
                    self.status(*i)
                        .and_then(|s| s["leader_id"].as_u64())
                        .filter(|l| *l != 0)
                })
                .collect();
            if let Some(Some(l)) = named.first() {
                if named.iter().all(|x| *x == Some(*l)) && ups.contains(l) {
                    return Some(*l);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reaps nodes that exited on their own; returns them with how they ended.
    pub fn reap_exited(&mut self) -> Vec<(u64, std::process::ExitStatus)> {
        let mut out = Vec::new();
        for id in self.all_ids() {
            if let Some(st) = self.cluster.reap(id) {
                self.paused.remove(&id);
                out.push((id, st));
            }
        }
        out
    }

    /// Ends every fault: resumes paused nodes, heals the network, frees full disks.
    pub fn heal_all(&mut self) {
        for id in self.paused.clone() {
            self.resume(id);
        }
        if let Some(net) = &mut self.net {
            net.heal().expect("healing the network");
        }
        for d in self.disks.values_mut() {
            d.free();
        }
    }

    /// Kills every node (SIGCONT first, so a paused one dies too).
    pub fn kill_all(&mut self) {
        for id in self.all_ids() {
            if self.running(id) {
                self.resume(id);
                self.kill(id);
            }
        }
    }

    /// Lines of node logs that show a panic, by node.
    pub fn panics(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for id in self.all_ids() {
            for line in self.cluster.log_text(id).lines() {
                if line.contains("panicked at") {
                    out.push((id, line.to_string()));
                }
            }
        }
        out
    }
}

/// A facility the machine lacks (not root, no iproute2): a note, or with
/// `REEF_FAULTS_STRICT=1` a failure.
fn unavailable(what: &str, why: String) -> String {
    if std::env::var_os("REEF_FAULTS_STRICT").is_some() {
        panic!("REEF_FAULTS_STRICT: {what} unavailable: {why}");
    }
    eprintln!("NOTE: {what} unavailable ({why}); the faults that need it are skipped");
    why
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Processes first (they hold the mounts and namespaces), then the mounts, then the
        // namespaces; the cluster's own drop prints node logs if the test failed and removes
        // the folder after that.
        self.kill_all();
        self.disks.clear();
        self.net = None;
    }
}
