//! The nemeses: faults injected into the running cluster, alone or mixed at random.
//!
//! | nemesis            | how                                                               |
//! |--------------------|-------------------------------------------------------------------|
//! | `kill`             | SIGKILL a random node; later restart it with the same command     |
//! | `kill-leader`      | the same, aimed at the current leader                             |
//! | `pause`            | SIGSTOP a random node; later SIGCONT                              |
//! | `pause-leader`     | SIGSTOP the leader past the election timeout, write a probe value |
//! |                    | through the new leader, SIGCONT, and at once read the probe key   |
//! |                    | `linearizable` and `weak` from the old leader: neither may be stale|
//! | `partition-halves` | random minority / majority split (router policy rules)            |
//! | `partition-leader` | the leader alone on one side                                      |
//! | `partition-bridge` | two halves that cannot talk, one node that talks to both          |
//! | `disk-full`        | fill the node's tmpfs data dir, push 64 KiB rows until it needs a |
//! |                    | new segment; it must fail with "no space left on device"; then    |
//! |                    | free the space and restart it                                     |
//! | `corrupt`          | stop a follower, flip a byte in its oldest segment; it must refuse |
//! |                    | to start, naming the file; `reef-logtool verify` must agree; then  |
//! |                    | put the byte back and restart it                                  |
//!
//! Every 20 s the nemesis lets all faults heal and checks liveness: an agreed leader, a
//! write and a linearizable read through it, within bounds.
//!
//! Faults overlap up to `max_concurrent`, never two on one node, never two partitions, and
//! never more nodes down at once than a minority. Everything random comes from one seed.
//! Expectations that fail (a corrupted node that starts, a node that exits on its own) are
//! recorded as problems and fail the run.

use crate::client::{Conns, Tally};
use crate::disk::{self, Corruption};
use crate::harness::Harness;
use crate::workload::{self, AppendLog, LooseRead, BALLAST_CLIENT_BASE, PROBE_CLIENT};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use reefdb::linearizability::{Clock, Recorder};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Kill,
    KillLeader,
    Pause,
    PauseLeader,
    PartitionHalves,
    PartitionLeader,
    PartitionBridge,
    DiskFull,
    Corrupt,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Kill,
        Kind::KillLeader,
        Kind::Pause,
        Kind::PauseLeader,
        Kind::PartitionHalves,
        Kind::PartitionLeader,
        Kind::PartitionBridge,
        Kind::DiskFull,
        Kind::Corrupt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::KillLeader => "kill-leader",
            Kind::Pause => "pause",
            Kind::PauseLeader => "pause-leader",
            Kind::PartitionHalves => "partition-halves",
            Kind::PartitionLeader => "partition-leader",
            Kind::PartitionBridge => "partition-bridge",
            Kind::DiskFull => "disk-full",
            Kind::Corrupt => "corrupt",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn is_partition(self) -> bool {
        matches!(
            self,
            Kind::PartitionHalves | Kind::PartitionLeader | Kind::PartitionBridge
        )
    }

    /// Parses a comma-separated list; `all` means every nemesis.
    pub fn parse_list(s: &str) -> Result<Vec<Kind>, String> {
        if s.trim() == "all" {
            return Ok(Kind::ALL.to_vec());
        }
        s.split(',')
            .map(|x| {
                Kind::parse(x.trim()).ok_or_else(|| {
                    format!(
                        "unknown nemesis {x:?}; known: all, {}",
                        Kind::ALL.map(|k| k.name()).join(", ")
                    )
                })
            })
            .collect()
    }
}

/// Bytes of filler in each row the disk-full nemesis pushes: big rows bring the node to its
/// next segment (1 MiB) within a second or two. Not bigger: every row stays in every node's
/// state, and a large state makes the end-of-run digests slow.
const BALLAST_ROW: usize = 64 * 1024;

/// How often the run stops injecting, lets every fault heal, and checks that the cluster
/// serves again.
const LIVENESS_EVERY: Duration = Duration::from_secs(20);

/// The fault log's name for a liveness check.
const LIVENESS: &str = "liveness-check";

/// One injected fault, for the summary and the fault log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultRecord {
    pub kind: &'static str,
    pub start_s: f64,
    pub end_s: f64,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct NemesisSpec {
    pub kinds: Vec<Kind>,
    /// How long a fault lasts (uniform in the range).
    pub fault: (Duration, Duration),
    /// Quiet time between injections (uniform in the range).
    pub gap: (Duration, Duration),
    pub max_concurrent: usize,
}

enum Heal {
    Restart(u64),
    Resume(u64),
    Net,
    Disk { node: u64, log_from: usize },
    Corruption(u64, Corruption),
}

struct Active {
    kind: Kind,
    nodes: Vec<u64>,
    until: Instant,
    heal: Heal,
    record: usize,
}

/// What the pause-leader probes saw.
pub struct Probes {
    pub recorder: Recorder,
    pub loose: Vec<LooseRead>,
    pub tally: Tally,
    pub anomalies: Vec<String>,
    seq: u64,
    key_no: u64,
}

pub struct Nemesis {
    spec: NemesisSpec,
    rng: StdRng,
    active: Vec<Active>,
    pub log: Vec<FaultRecord>,
    pub problems: Vec<String>,
    pub probes: Probes,
    conns: Conns,
    urls: Vec<String>,
    seed: u64,
    started: Instant,
    ballast: Option<(Arc<AtomicBool>, JoinHandle<AppendLog>)>,
    pub ballast_logs: Vec<AppendLog>,
    ballast_no: u32,
    /// Nodes that exited while a fault that expects it (a full disk) was active.
    exits: BTreeMap<u64, std::process::ExitStatus>,
    /// A fault that runs alone is due: inject nothing else until the others heal.
    exclusive_next: bool,
}

impl Nemesis {
    pub fn new(spec: NemesisSpec, seed: u64, urls: &[String], clock: Clock) -> Nemesis {
        Nemesis {
            spec,
            rng: StdRng::seed_from_u64(seed ^ 0x0e4e_5155),
            active: Vec::new(),
            log: Vec::new(),
            problems: Vec::new(),
            probes: Probes {
                recorder: Recorder::new(PROBE_CLIENT, clock),
                loose: Vec::new(),
                tally: Tally::default(),
                anomalies: Vec::new(),
                seq: 0,
                key_no: 0,
            },
            conns: Conns::new(urls, Duration::from_secs(3)),
            urls: urls.to_vec(),
            seed,
            started: Instant::now(),
            ballast: None,
            ballast_logs: Vec::new(),
            ballast_no: 0,
            exits: BTreeMap::new(),
            exclusive_next: false,
        }
    }

    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn pick_duration(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        if hi <= lo {
            return lo;
        }
        Duration::from_millis(
            self.rng
                .random_range(lo.as_millis() as u64..=hi.as_millis() as u64),
        )
    }

    /// Runs faults for `duration`, then heals everything still active.
    pub fn run(&mut self, h: &mut Harness, duration: Duration) {
        let end = Instant::now() + duration;
        let mut next = Instant::now() + self.pick_duration(self.spec.gap);
        let mut next_liveness = Instant::now() + LIVENESS_EVERY;
        while Instant::now() < end {
            self.heal_due(h, false);
            self.watch_exits(h);
            let liveness_due = Instant::now() >= next_liveness;
            if self.exclusive_next || liveness_due {
                // Something that needs a quiet cluster is due: let the faults drain first.
                if self.active.is_empty() {
                    if liveness_due {
                        self.liveness(h);
                        next_liveness = Instant::now() + LIVENESS_EVERY;
                    } else {
                        self.exclusive_next = false;
                        if !self.try_inject(h, Kind::PauseLeader, end) {
                            self.inject_one(h, end);
                        }
                    }
                    next = Instant::now() + self.pick_duration(self.spec.gap);
                }
            } else if Instant::now() >= next && self.active.len() < self.spec.max_concurrent {
                self.inject_one(h, end);
                let gap = self.pick_duration(self.spec.gap);
                next = Instant::now() + gap;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.heal_due(h, true);
        self.watch_exits(h);
    }

    /// With every fault healed, the cluster must serve again soon: an agreed leader, a write
    /// through it, and a linearizable read there, each within bounds. (A leader that keeps
    /// its role but no longer answers linearizable reads is a bug the histories alone do
    /// not show: its reads just time out.)
    fn liveness(&mut self, h: &mut Harness) {
        let started = Instant::now();
        let at = self.secs();
        let Some(l) = h.wait_leader(Duration::from_secs(20)) else {
            self.problems.push(format!(
                "liveness at {at:.1}s: no agreed leader within 20 s of every fault healing"
            ));
            return;
        };
        let reasons_before = self.probes.tally.reasons.clone();
        let p = &mut self.probes;
        p.key_no += 1;
        p.seq += 1;
        let key = format!("live_{}", p.key_no);
        let value = workload::unique_value(PROBE_CLIENT, p.seq);
        let deadline = Instant::now() + Duration::from_secs(15);
        let (mut wrote, mut read) = (false, None);
        while Instant::now() < deadline && read.is_none() {
            if !wrote {
                wrote = workload::write(
                    &mut self.conns,
                    (l - 1) as usize,
                    &mut p.recorder,
                    &mut p.tally,
                    &mut p.anomalies,
                    &key,
                    value,
                );
            } else {
                read = workload::read(
                    &mut self.conns,
                    (l - 1) as usize,
                    &mut p.recorder,
                    &mut p.loose,
                    &mut p.tally,
                    &mut p.anomalies,
                    &key,
                    "linearizable",
                );
            }
            if read.is_none() {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let detail = match (wrote, read) {
            (true, Some(_)) => format!(
                "leader {l} took a write and served a linearizable read within {:.1?}",
                started.elapsed()
            ),
            _ => {
                let what = if wrote {
                    "a linearizable read"
                } else {
                    "a write"
                };
                let seen: Vec<&String> = self
                    .probes
                    .tally
                    .reasons
                    .iter()
                    .filter(|(k, n)| reasons_before.get(*k) != Some(n))
                    .map(|(k, _)| k)
                    .collect();
                self.problems.push(format!(
                    "liveness at {at:.1}s: with every fault healed, leader {l} did not serve \
                     {what} within 15 s; answers: {seen:?}"
                ));
                format!("leader {l} did NOT serve {what} within 15 s")
            }
        };
        self.log.push(FaultRecord {
            kind: LIVENESS,
            start_s: at,
            end_s: self.secs(),
            detail,
        });
    }

    /// Restarts nodes that exited by themselves (recorded as problems unless expected).
    fn watch_exits(&mut self, h: &mut Harness) {
        for (id, status) in h.reap_exited() {
            let expected = self
                .active
                .iter()
                .any(|a| a.kind == Kind::DiskFull && a.nodes.contains(&id));
            if expected {
                // The heal looks at it (and restarts the node) when the fault ends.
                self.exits.insert(id, status);
                continue;
            }
            let tail = tail(&h.cluster.log_text(id), 8);
            self.problems.push(format!(
                "node {id} exited on its own at {:.1}s ({status}); its log ends:\n{tail}",
                self.secs()
            ));
            h.start(id);
        }
    }

    fn busy(&self) -> Vec<u64> {
        self.active.iter().flat_map(|a| a.nodes.clone()).collect()
    }

    fn partition_active(&self) -> bool {
        self.active.iter().any(|a| a.kind.is_partition())
    }

    /// How many more nodes may go down without the faults taking a majority.
    fn down_budget(&self, h: &Harness) -> usize {
        let max_down = ((h.n - 1) / 2) as usize;
        let down = self
            .active
            .iter()
            .filter(|a| !a.kind.is_partition())
            .map(|a| a.nodes.len())
            .sum::<usize>();
        max_down.saturating_sub(down)
    }

    fn free_nodes(&self, h: &Harness) -> Vec<u64> {
        let busy = self.busy();
        h.ids()
            .into_iter()
            .filter(|i| !busy.contains(i) && h.up(*i))
            .collect()
    }

    fn inject_one(&mut self, h: &mut Harness, end: Instant) {
        let mut kinds = self.spec.kinds.clone();
        kinds.shuffle(&mut self.rng);
        // Nemeses not yet seen go first, so even a short run exercises every one.
        let seen = self.counts();
        kinds.sort_by_key(|k| seen.contains_key(k.name()));
        if kinds.first() == Some(&Kind::PauseLeader) && !self.active.is_empty() {
            // Its turn, but it runs alone: hold further faults until the others have healed
            // (it would rarely run otherwise).
            self.exclusive_next = true;
            return;
        }
        for kind in kinds {
            if self.try_inject(h, kind, end) {
                return;
            }
        }
    }

    /// Injects `kind` if its preconditions hold now. Returns whether it did.
    fn try_inject(&mut self, h: &mut Harness, kind: Kind, end: Instant) -> bool {
        let free = self.free_nodes(h);
        let budget = self.down_budget(h);
        let mut duration = self.pick_duration(self.spec.fault);
        if kind == Kind::DiskFull {
            // The node asks for space only when it prepares its next segment: give the
            // 64 KiB rows time to get it there.
            duration += Duration::from_secs(5);
        }
        // Never leave a fault running past the end by more than its own length.
        let until = (Instant::now() + duration).min(end.max(Instant::now()));
        let start_s = self.secs();
        let leader = h.leader();
        let (nodes, heal, detail) = match kind {
            Kind::Kill | Kind::KillLeader | Kind::Pause => {
                if budget == 0 {
                    return false;
                }
                let target = if kind == Kind::KillLeader {
                    match leader.filter(|l| free.contains(l)) {
                        Some(l) => l,
                        None => return false,
                    }
                } else {
                    match free.choose(&mut self.rng) {
                        Some(n) => *n,
                        None => return false,
                    }
                };
                if kind == Kind::Pause {
                    h.pause(target);
                    (
                        vec![target],
                        Heal::Resume(target),
                        format!("SIGSTOP node {target} for {duration:.1?}"),
                    )
                } else {
                    h.kill(target);
                    let role = if Some(target) == leader {
                        " (leader)"
                    } else {
                        ""
                    };
                    (
                        vec![target],
                        Heal::Restart(target),
                        format!("SIGKILL node {target}{role}, restart after {duration:.1?}"),
                    )
                }
            }
            Kind::PauseLeader => {
                // Alone: with another fault in force there may be no quorum to elect the
                // next leader, and the probe would prove nothing.
                if !self.active.is_empty() {
                    return false;
                }
                let Some(l) = leader else {
                    return false;
                };
                let detail = self.pause_leader(h, l);
                self.log.push(FaultRecord {
                    kind: kind.name(),
                    start_s,
                    end_s: self.secs(),
                    detail,
                });
                return true;
            }
            Kind::PartitionHalves | Kind::PartitionLeader | Kind::PartitionBridge => {
                if h.net.is_none() || self.partition_active() {
                    return false;
                }
                let mut ids = h.ids();
                ids.shuffle(&mut self.rng);
                let what = match kind {
                    Kind::PartitionHalves => {
                        let minority: Vec<u64> = ids[..(h.n / 2) as usize].to_vec();
                        let majority: Vec<u64> = ids[(h.n / 2) as usize..].to_vec();
                        cut(h, &minority, &majority);
                        format!("minority {minority:?} | majority {majority:?}")
                    }
                    Kind::PartitionLeader => {
                        let l = leader.unwrap_or(ids[0]);
                        let rest: Vec<u64> = h.ids().into_iter().filter(|i| *i != l).collect();
                        cut(h, &[l], &rest);
                        format!("leader {l} isolated from {rest:?}")
                    }
                    _ => {
                        let bridge = ids[0];
                        let rest = &ids[1..];
                        let (a, b) = rest.split_at(rest.len() / 2);
                        cut(h, a, b);
                        format!("{a:?} | {b:?}, node {bridge} bridges both")
                    }
                };
                (Vec::new(), Heal::Net, format!("{what} for {duration:.1?}"))
            }
            Kind::DiskFull => {
                if budget == 0 || self.ballast.is_some() {
                    return false;
                }
                let candidates: Vec<u64> = h
                    .disks
                    .keys()
                    .copied()
                    .filter(|d| free.contains(d))
                    .collect();
                let Some(&node) = candidates.choose(&mut self.rng) else {
                    return false;
                };
                let log_from = h.cluster.log_text(node).len();
                let disk = h.disks.get_mut(&node).expect("candidate has a disk");
                let ballast = match disk.fill() {
                    Ok(b) => b,
                    Err(e) => {
                        self.problems
                            .push(format!("filling node {node}'s disk failed: {e}"));
                        return false;
                    }
                };
                self.start_ballast();
                (
                    vec![node],
                    Heal::Disk { node, log_from },
                    format!(
                        "filled node {node}'s {} MiB data disk ({} KiB ballast), {} KiB rows pushed",
                        disk.bytes >> 20,
                        ballast >> 10,
                        BALLAST_ROW >> 10
                    ),
                )
            }
            Kind::Corrupt => {
                if budget == 0 {
                    return false;
                }
                let followers: Vec<u64> = free
                    .iter()
                    .copied()
                    .filter(|f| Some(*f) != leader)
                    .collect();
                let Some(&node) = followers.choose(&mut self.rng) else {
                    return false;
                };
                match self.corrupt(h, node) {
                    Some((c, detail)) => (vec![node], Heal::Corruption(node, c), detail),
                    None => return false,
                }
            }
        };
        self.log.push(FaultRecord {
            kind: kind.name(),
            start_s,
            end_s: f64::NAN,
            detail,
        });
        self.active.push(Active {
            kind,
            nodes,
            until,
            heal,
            record: self.log.len() - 1,
        });
        true
    }

    /// Heals faults whose time is up (all of them when `all`).
    fn heal_due(&mut self, h: &mut Harness, all: bool) {
        let now = Instant::now();
        let (due, keep): (Vec<Active>, Vec<Active>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|a| all || a.until <= now);
        self.active = keep;
        for a in due {
            let note = self.heal(h, a.heal);
            let end = self.secs();
            let rec = &mut self.log[a.record];
            rec.end_s = end;
            if let Some(note) = note {
                rec.detail.push_str("; ");
                rec.detail.push_str(&note);
            }
        }
    }

    fn heal(&mut self, h: &mut Harness, heal: Heal) -> Option<String> {
        match heal {
            Heal::Restart(id) => {
                if !h.running(id) {
                    h.start(id);
                }
                None
            }
            Heal::Resume(id) => {
                h.resume(id);
                None
            }
            Heal::Net => {
                if let Some(net) = &mut h.net {
                    if let Err(e) = net.heal() {
                        self.problems.push(format!("healing the network: {e}"));
                    }
                }
                None
            }
            Heal::Disk { node, log_from } => {
                let ballast = self.stop_ballast();
                let mut exited = self.exits.remove(&node).or_else(|| h.cluster.reap(node));
                let text = h.cluster.log_text(node);
                let new = text.get(log_from..).unwrap_or("");
                let enospc = new
                    .lines()
                    .find(|l| l.contains("no space left on device"))
                    .map(str::to_string);
                if enospc.is_some() && exited.is_none() {
                    // It has just failed and is on its way out: let it finish.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while exited.is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                        exited = h.cluster.reap(node);
                    }
                }
                if let Some(d) = h.disks.get_mut(&node) {
                    d.free();
                }
                let note = match (&exited, &enospc) {
                    (Some(st), Some(line)) => {
                        if st.success() {
                            self.problems.push(format!(
                                "node {node} stopped on a full disk but exited with success"
                            ));
                        }
                        format!("node {node} stopped ({st}) saying: {}", shorten(line, 200))
                    }
                    (Some(st), None) => {
                        self.problems.push(format!(
                            "node {node} exited ({st}) on a full disk without saying \
                             'no space left on device'; its log ends:\n{}",
                            tail(new, 10)
                        ));
                        format!("node {node} exited ({st}) without a clear error")
                    }
                    (None, Some(line)) => format!(
                        "node {node} kept running and reported: {}",
                        shorten(line, 200)
                    ),
                    (None, None) => {
                        "the node did not need new space in time (nothing to report)".into()
                    }
                };
                if !h.running(node) {
                    h.start(node);
                }
                Some(format!(
                    "{note}; {} ballast rows acknowledged; space freed",
                    ballast
                ))
            }
            Heal::Corruption(id, c) => {
                if let Err(e) = disk::restore(&c) {
                    self.problems
                        .push(format!("restoring {}: {e}", c.path.display()));
                }
                h.start(id);
                Some(format!("byte restored, node {id} restarted"))
            }
        }
    }

    fn start_ballast(&mut self) {
        let stop = Arc::new(AtomicBool::new(false));
        let client = BALLAST_CLIENT_BASE + self.ballast_no;
        self.ballast_no += 1;
        let (urls, seed, s) = (self.urls.clone(), self.seed, stop.clone());
        let handle = std::thread::Builder::new()
            .name(format!("ballast-{client}"))
            .spawn(move || {
                workload::append_client(
                    client,
                    &urls,
                    Duration::from_secs(5),
                    Duration::from_millis(5),
                    BALLAST_ROW,
                    seed,
                    &s,
                )
            })
            .expect("spawn ballast");
        self.ballast = Some((stop, handle));
    }

    /// Stops the ballast writer; returns how many of its rows were acknowledged.
    fn stop_ballast(&mut self) -> usize {
        let Some((stop, handle)) = self.ballast.take() else {
            return 0;
        };
        stop.store(true, Ordering::Relaxed);
        let log = handle.join().expect("ballast thread");
        let n = log.acked.len();
        self.ballast_logs.push(log);
        n
    }

    /// Kills `node`, corrupts its log and checks that it refuses to start.
    fn corrupt(&mut self, h: &mut Harness, node: u64) -> Option<(Corruption, String)> {
        h.kill(node);
        let raft_dir = h.raft_dir(node);
        let c = match disk::corrupt_first_record(&raft_dir) {
            Ok(c) => c,
            Err(e) => {
                // Nothing to corrupt yet (no segment): just a kill then.
                h.start(node);
                self.problems
                    .push(format!("could not corrupt node {node}'s log: {e}"));
                return None;
            }
        };
        let file = c
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut notes = Vec::new();
        match reef_tools::logtool::verify(&raft_dir) {
            Ok(s) => self.problems.push(format!(
                "reef-logtool verify passed node {node}'s log with {} corrupted at {}: {s}",
                c.path.display(),
                c.offset
            )),
            Err(e) if e.to_string().contains(&file) => {
                notes.push("logtool verify flags it".to_string())
            }
            Err(e) => self.problems.push(format!(
                "reef-logtool verify on a corrupted {} does not name the file: {e}",
                c.path.display()
            )),
        }
        let log_from = h.cluster.log_text(node).len();
        h.start(node);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = h.cluster.reap(node) {
                break Some(st);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = h.cluster.log_text(node);
        let new = text.get(log_from..).unwrap_or("");
        match status {
            None => {
                self.problems.push(format!(
                    "node {node} kept running on a log with {} corrupted at byte {}",
                    c.path.display(),
                    c.offset
                ));
                h.kill(node);
                notes.push("node STARTED on the corrupted log".into());
            }
            Some(st) => {
                let named = new.lines().find(|l| l.contains(&file)).map(str::to_string);
                match named {
                    Some(line) if !st.success() => {
                        notes.push(format!("refused to start: {}", shorten(line.trim(), 220)))
                    }
                    _ => {
                        self.problems.push(format!(
                            "node {node} on a corrupted log exited ({st}) without naming {file}; \
                             its log ends:\n{}",
                            tail(new, 10)
                        ));
                        notes.push(format!("exited ({st}) without naming the file"));
                    }
                }
            }
        }
        let detail = format!(
            "node {node}: flipped byte {} of {}; {}",
            c.offset,
            file,
            notes.join("; ")
        );
        Some((c, detail))
    }

    /// Pauses leader `l` past the election timeout and checks it serves no stale
    /// linearizable read once resumed.
    fn pause_leader(&mut self, h: &mut Harness, l: u64) -> String {
        let old_term = h.status(l).and_then(|s| s["term"].as_u64()).unwrap_or(0);
        h.pause(l);
        let paused_at = Instant::now();
        let deadline = paused_at + Duration::from_secs(8);
        let mut new_leader = None;
        while Instant::now() < deadline {
            new_leader = h.ids().into_iter().find(|i| {
                *i != l
                    && h.status(*i).is_some_and(|s| {
                        s["role"] == "leader" && s["term"].as_u64() > Some(old_term)
                    })
            });
            if new_leader.is_some() && paused_at.elapsed() > Duration::from_millis(1500) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let p = &mut self.probes;
        p.key_no += 1;
        p.seq += 1;
        let key = format!("probe_{}", p.key_no);
        let value = workload::unique_value(PROBE_CLIENT, p.seq);
        let acked = match new_leader {
            Some(nl) => workload::write(
                &mut self.conns,
                (nl - 1) as usize,
                &mut p.recorder,
                &mut p.tally,
                &mut p.anomalies,
                &key,
                value,
            ),
            None => false,
        };
        let paused_for = paused_at.elapsed();
        h.resume(l);
        let at = (l - 1) as usize;
        let lin = workload::read(
            &mut self.conns,
            at,
            &mut p.recorder,
            &mut p.loose,
            &mut p.tally,
            &mut p.anomalies,
            &key,
            "linearizable",
        );
        let weak = workload::read(
            &mut self.conns,
            at,
            &mut p.recorder,
            &mut p.loose,
            &mut p.tally,
            &mut p.anomalies,
            &key,
            "weak",
        );
        if acked {
            for (level, r) in [("linearizable", lin), ("weak", weak)] {
                if let Some(seen) = r {
                    if seen != Some(value) {
                        self.problems.push(format!(
                            "STALE READ: leader {l} paused {paused_for:.1?}, probe {key}={value} \
                             acknowledged by node {}, then a {level} read at node {l} saw {seen:?}",
                            new_leader.unwrap_or(0)
                        ));
                    }
                }
            }
        }
        let show = |r: Option<Option<i64>>| match r {
            None => "error".to_string(),
            Some(None) => "nothing".to_string(),
            Some(Some(v)) if v == value => "the probe value".to_string(),
            Some(Some(v)) => format!("{v} (stale)"),
        };
        format!(
            "SIGSTOP leader {l} (term {old_term}) for {paused_for:.1?}; new leader {}; probe \
             write {}; after SIGCONT, at node {l}: linearizable read saw {}, weak read saw {}",
            new_leader.map_or("none".to_string(), |n| n.to_string()),
            if acked {
                "acknowledged"
            } else {
                "not acknowledged"
            },
            show(lin),
            show(weak)
        )
    }

    /// Counts of injected faults by kind (liveness checks are not faults).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for r in self.log.iter().filter(|r| r.kind != LIVENESS) {
            *m.entry(r.kind).or_default() += 1;
        }
        m
    }

    /// How many liveness checks ran.
    pub fn liveness_checks(&self) -> usize {
        self.log.iter().filter(|r| r.kind == LIVENESS).count()
    }
}

fn cut(h: &mut Harness, a: &[u64], b: &[u64]) {
    h.net
        .as_mut()
        .expect("partitions need namespaces")
        .cut_between(a, b)
        .expect("cutting links");
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A log line as the fault log quotes it: without the timestamp and level in front.
fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    let s = match s.split_once("Z ") {
        Some((ts, rest)) if ts.len() < 40 && ts.contains('T') => rest.trim_start(),
        _ => s,
    };
    let s = ["ERROR ", "WARN ", "INFO "]
        .iter()
        .find_map(|l| s.strip_prefix(l))
        .unwrap_or(s)
        .trim_start();
    reefdb::client::shorten(s, max)
}
