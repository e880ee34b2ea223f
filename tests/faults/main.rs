//! ReefDB's fault suite: faults a replicated database must survive with nothing lost.
//!
//! Real `reefdb` processes, each in its own network namespace (partitions are real dropped
//! packets), run a recorded workload of register reads, writes and compare-and-sets plus
//! appends, while nemeses SIGKILL and SIGSTOP nodes, partition the network, fill a data disk
//! and corrupt a segment. Afterwards everything is healed and checked: every acknowledged
//! write on every node exactly once, the register histories linearizable, equal state
//! digests, clean `reef-logtool verify`, clean shutdowns, no panics.
//!
//! The short seeded runs below are part of `cargo nextest run --workspace`. The long run:
//!
//! ```text
//! REEF_FAULTS_SECS=600 REEF_FAULTS_SEED=7 REEF_FAULTS_NODES=5 \
//!   cargo nextest run -p reefdb --test faults --run-ignored only long_run --no-capture
//! ```
//!
//! `REEF_FAULTS_NEMESES` picks nemeses (`all`, or a list like `kill,pause-leader`);
//! `REEF_FAULTS_SEED` also reseeds the short runs. A failed run leaves its history under
//! `target/reef-faults/<run>-seed<seed>/`; `REEF_FAULTS_REPLAY=<that>/history.json` with the
//! ignored `replay` test checks it again. `REEF_TEST_BIN=<path>` runs the nodes from another
//! `reefdb` build (a release build, another revision). Runs need root for namespaces and
//! tmpfs mounts; without them they fall back to loopback and skip partitions and full disks,
//! saying so (set `REEF_FAULTS_STRICT=1` to make that an error instead).

#[path = "../support/mod.rs"]
mod support;

mod checks;
mod client;
mod disk;
mod harness;
mod nemesis;
mod netns;
mod regressions;
mod run;
mod scenarios;
mod workload;

use harness::ClusterSpec;
use nemesis::{Kind, NemesisSpec};
use run::RunSpec;
use std::time::Duration;
use workload::WorkloadSpec;

/// The fault runs of one machine take turns (across test processes too): each starts
/// several nodes, and two at once on two cores would mostly measure CPU starvation.
pub fn take_turn() -> std::fs::File {
    use std::os::fd::AsRawFd;
    let dir = run::results_root();
    std::fs::create_dir_all(&dir).expect("results dir");
    let f = std::fs::File::create(dir.join(".turn.lock")).expect("turn lock");
    unsafe {
        libc::flock(f.as_raw_fd(), libc::LOCK_EX);
    }
    f
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

fn short_spec(name: &str, nodes: u64, seed: u64, secs: u64) -> RunSpec {
    let mut cluster = ClusterSpec::new(nodes);
    cluster.small_disks = vec![(nodes, 64 << 20)];
    RunSpec {
        name: name.into(),
        seed: env_u64("REEF_FAULTS_SEED").unwrap_or(seed),
        duration: Duration::from_secs(secs),
        cluster,
        workload: WorkloadSpec {
            register_clients: 6,
            clients_per_key: 3,
            ops_per_key: 150,
            append_clients: 2,
            think: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        },
        nemesis: NemesisSpec {
            kinds: match std::env::var("REEF_FAULTS_NEMESES") {
                Ok(list) => Kind::parse_list(&list).unwrap_or_else(|e| panic!("{e}")),
                Err(_) => Kind::ALL.to_vec(),
            },
            fault: (Duration::from_millis(1500), Duration::from_secs(4)),
            gap: (Duration::from_millis(300), Duration::from_millis(1200)),
            max_concurrent: 2,
        },
    }
}

fn expect_pass(spec: RunSpec) {
    let _turn = take_turn();
    let r = run::run(spec);
    println!("{}", r.summary);
    assert!(
        r.passed,
        "fault run failed; summary, history and node logs in {}\n{}",
        r.dir.display(),
        r.summary
    );
}

/// Every nemesis, mixed at random, against three nodes.
#[test]
fn mixed_nemeses_3_nodes() {
    expect_pass(short_spec("short-3", 3, 3, 30));
}

/// Every nemesis, mixed at random, against five nodes.
#[test]
fn mixed_nemeses_5_nodes() {
    expect_pass(short_spec("short-5", 5, 5, 30));
}

/// The long run: at least ten minutes of every nemesis (see the module docs for the knobs).
#[test]
#[ignore = "long: REEF_FAULTS_SECS (default 600), REEF_FAULTS_SEED, REEF_FAULTS_NODES, REEF_FAULTS_NEMESES"]
fn long_run() {
    let nodes = env_u64("REEF_FAULTS_NODES").unwrap_or(5);
    let seed = env_u64("REEF_FAULTS_SEED").unwrap_or_else(|| rand::random::<u16>() as u64);
    let secs = env_u64("REEF_FAULTS_SECS").unwrap_or(600);
    let mut spec = short_spec("long", nodes, seed, secs);
    spec.seed = seed;
    spec.cluster.small_disks = vec![(nodes, 512 << 20)];
    spec.workload.register_clients = 10;
    spec.workload.clients_per_key = 5;
    spec.workload.ops_per_key = 300;
    spec.workload.append_clients = 3;
    spec.workload.think = Duration::from_millis(5);
    spec.nemesis.fault = (Duration::from_secs(2), Duration::from_secs(10));
    spec.nemesis.gap = (Duration::from_millis(500), Duration::from_secs(3));
    println!("long fault run: seed {seed}, {nodes} nodes, {secs} s");
    expect_pass(spec);
}

/// Re-checks a saved history: `REEF_FAULTS_REPLAY=path/history.json`.
#[test]
#[ignore = "needs REEF_FAULTS_REPLAY=<history.json> from a failed run"]
fn replay() {
    let path = std::env::var("REEF_FAULTS_REPLAY").expect("REEF_FAULTS_REPLAY=<history.json>");
    let history = reefdb::linearizability::History::load(std::path::Path::new(&path))
        .unwrap_or_else(|e| panic!("{e}"));
    match checks::linearizable(&history) {
        Ok(line) => println!("{line}"),
        Err(report) => panic!("{report}"),
    }
}
