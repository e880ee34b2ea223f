//! Real network partitions: every node in its own network namespace, behind a router namespace.
//!
//! Why namespaces and a router rather than a switch in the node's transport: the node runs
//! unmodified, and a partition is what a real one is, packets silently lost in the network
//! (no error to the sender, no reset), for QUIC peer traffic and forwarded requests alike.
//!
//! Topology of one run (slot `S`, a /24 of its own, so concurrent runs never meet):
//!
//! ```text
//!   root ns (test process, clients)            router ns `rfSr`               node ns `rfSnI`
//!   rfS 10.213.S.1/28  <--veth-->  uplink 10.213.S.2/28
//!                                  nI 10.213.S.(16I+1)/28  <--veth-->  eth0 10.213.S.(16I+2)/28
//! ```
//!
//! The root namespace routes 10.213.S.0/24 via the router; each node's default route is the
//! router, which forwards (its own `ip_forward`; the host's settings are never touched).
//! A cut between nodes A and B is a pair of policy rules in the router namespace,
//! `from A to B blackhole` and back: forwarded packets matching them are dropped without an
//! ICMP answer. Clients in the root namespace reach every node throughout, as in Jepsen,
//! where partitions are between the database's nodes.
//!
//! Slots are claimed with `flock` on a file under the system temp dir, so a crashed run's
//! leftovers (names only) are found and removed by the next run that takes the slot. Nothing
//! but iproute2 is needed (no iptables, no tc qdiscs: this kernel has neither netem nor prio).

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::process::Command;

const IP: &str = "ip";
/// First two octets of every run's addresses.
const NET: [u8; 2] = [10, 213];
/// Most nodes one slot's /24 addresses (16 * 15 + 2 = 242).
pub const MAX_NODES: usize = 15;

/// One run's namespaces and the cuts currently in force.
pub struct Net {
    slot: u8,
    nodes: usize,
    _lock: File,
    cuts: BTreeSet<(u64, u64)>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new(IP)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Net {
    /// Why namespaces cannot be used here, if they cannot.
    pub fn unavailable() -> Option<String> {
        if unsafe { libc::geteuid() } != 0 {
            return Some("network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)".into());
        }
        if let Err(e) = Command::new(IP).arg("-V").output() {
            return Some(format!("iproute2's `ip` is not installed: {e}"));
        }
        None
    }

    fn router(&self) -> String {
        format!("rf{}r", self.slot)
    }

    fn node_ns(slot: u8, id: u64) -> String {
        format!("rf{slot}n{id}")
    }

    /// Node `id`'s address (ids from 1).
    pub fn node_ip(&self, id: u64) -> Ipv4Addr {
        Ipv4Addr::new(NET[0], NET[1], self.slot, 16 * id as u8 + 2)
    }

    pub fn ips(&self) -> Vec<IpAddr> {
        (1..=self.nodes as u64)
            .map(|i| IpAddr::V4(self.node_ip(i)))
            .collect()
    }

    /// A human summary for the run's header.
    pub fn describe(&self) -> String {
        format!(
            "network namespaces rf{}n1..rf{}n{} behind router rf{}r, nodes at {}.{}.{}.(16i+2)",
            self.slot, self.slot, self.nodes, self.slot, NET[0], NET[1], self.slot
        )
    }

    /// Builds the topology for `nodes` nodes.
    pub fn create(nodes: usize) -> Result<Net, String> {
        if let Some(why) = Net::unavailable() {
            return Err(why);
        }
        assert!(nodes <= MAX_NODES, "at most {MAX_NODES} nodes per run");
        let (slot, lock) = claim_slot()?;
        remove_slot(slot);
        let net = Net {
            slot,
            nodes,
            _lock: lock,
            cuts: BTreeSet::new(),
        };
        // On error the Drop below removes whatever was made.
        net.build()?;
        Ok(net)
    }

    fn build(&self) -> Result<(), String> {
        let s = self.slot;
        let router = self.router();
        let root_if = format!("rf{s}");
        let a = |last: u8| format!("{}.{}.{s}.{last}", NET[0], NET[1]);
        ip(&["netns", "add", &router])?;
        ip(&[
            "link", "add", &root_if, "type", "veth", "peer", "name", "uplink", "netns", &router,
        ])?;
        ip(&["addr", "add", &format!("{}/28", a(1)), "dev", &root_if])?;
        ip(&["link", "set", &root_if, "up"])?;
        ip(&[
            "-n",
            &router,
            "addr",
            "add",
            &format!("{}/28", a(2)),
            "dev",
            "uplink",
        ])?;
        ip(&["-n", &router, "link", "set", "uplink", "up"])?;
        ip(&["-n", &router, "link", "set", "lo", "up"])?;
        set_ip_forward(&router)?;
        for id in 1..=self.nodes as u64 {
            let ns = Net::node_ns(s, id);
            let rif = format!("n{id}");
            let gw = a(16 * id as u8 + 1);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &rif, "netns", &router, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&[
                "-n",
                &router,
                "addr",
                "add",
                &format!("{gw}/28"),
                "dev",
                &rif,
            ])?;
            ip(&["-n", &router, "link", "set", &rif, "up"])?;
            let me = format!("{}/28", self.node_ip(id));
            ip(&["-n", &ns, "addr", "add", &me, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "default", "via", &gw])?;
        }
        ip(&[
            "route",
            "add",
            &format!("{}.{}.{s}.0/24", NET[0], NET[1]),
            "via",
            &a(2),
            "dev",
            &root_if,
        ])?;
        Ok(())
    }

    /// A hook for [`super::support::Cluster::start_node_with`]: the child enters node `id`'s
    /// namespace between fork and exec, so the node process itself is the child (signals
    /// reach it directly; no `ip netns exec` in between).
    pub fn enter(&self, id: u64) -> impl FnOnce(&mut Command) {
        let path = format!("/run/netns/{}", Net::node_ns(self.slot, id));
        move |cmd: &mut Command| {
            let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            use std::os::unix::process::CommandExt;
            // SAFETY: setns is a single system call, safe between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }

    /// Cuts every link between a node of `a` and a node of `b`, both ways.
    pub fn cut_between(&mut self, a: &[u64], b: &[u64]) -> Result<(), String> {
        for &x in a {
            for &y in b {
                self.cut(x, y)?;
            }
        }
        Ok(())
    }

    /// Cuts the link between nodes `x` and `y`, both ways.
    pub fn cut(&mut self, x: u64, y: u64) -> Result<(), String> {
        let (x, y) = (x.min(y), x.max(y));
        if x == y || !self.cuts.insert((x, y)) {
            return Ok(());
        }
        let (px, py) = (self.node_ip(x).to_string(), self.node_ip(y).to_string());
        let pref = self.pref(x, y);
        let router = self.router();
        ip(&[
            "-n",
            &router,
            "rule",
            "add",
            "from",
            &px,
            "to",
            &py,
            "blackhole",
            "pref",
            &pref.0,
        ])?;
        ip(&[
            "-n",
            &router,
            "rule",
            "add",
            "from",
            &py,
            "to",
            &px,
            "blackhole",
            "pref",
            &pref.1,
        ])
    }

    /// A fixed rule priority per direction of a pair, so healing deletes exactly these.
    fn pref(&self, x: u64, y: u64) -> (String, String) {
        let base = 1000 + 2 * (x * MAX_NODES as u64 + y);
        (base.to_string(), (base + 1).to_string())
    }

    /// Removes every cut.
    pub fn heal(&mut self) -> Result<(), String> {
        let router = self.router();
        for (x, y) in std::mem::take(&mut self.cuts) {
            let (p1, p2) = self.pref(x, y);
            ip(&["-n", &router, "rule", "del", "pref", &p1])?;
            ip(&["-n", &router, "rule", "del", "pref", &p2])?;
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        remove_slot(self.slot);
    }
}

/// Deletes every name a run in `slot` may have made. Errors mean "was not there".
fn remove_slot(slot: u8) {
    let _ = ip(&["netns", "del", &format!("rf{slot}r")]);
    for id in 1..=MAX_NODES as u64 {
        let _ = ip(&["netns", "del", &Net::node_ns(slot, id)]);
    }
    let _ = ip(&["link", "del", &format!("rf{slot}")]);
}

/// Takes the first free slot: an exclusive `flock` held for the run's life.
fn claim_slot() -> Result<(u8, File), String> {
    let dir = std::env::temp_dir().join("reef-faults-netns");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let start = (std::process::id() % 200) as u8;
    for k in 0..200u16 {
        let slot = ((start as u16 + k) % 200 + 20) as u8;
        let path = dir.join(format!("slot-{slot}.lock"));
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok((slot, file));
        }
    }
    Err("every network slot is taken by another run".into())
}

/// Turns on forwarding inside the router namespace only.
fn set_ip_forward(router: &str) -> Result<(), String> {
    let out = Command::new(IP)
        .args(["netns", "exec", router, "sh", "-c"])
        .arg("echo 1 > /proc/sys/net/ipv4/ip_forward")
        .output()
        .map_err(|e| format!("ip netns exec: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "enabling forwarding in {router}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
