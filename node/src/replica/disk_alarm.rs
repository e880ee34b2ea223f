//! Refusing writes before a disk fills up, cluster-wide.
//!
//! A node whose disk is full stops: its log cannot write, and it must not acknowledge what
//! it did not write. Every replica holds the same log and the same data, so their disks
//! tend to fill together, and a cluster that waits for that loses its quorum at once. So
//! each node measures its own free space once a tick and calls its disk low below
//! `limits.min_free_disk_bytes`; it tells its peers about once a second, and at once when
//! that changes. The leader refuses writes while any member's disk is low, the way etcd
//! raises its NOSPACE alarm: reads go on (a `level=strong` read still adds its small entry
//! to the log), no write is proposed, and writes resume by themselves once the disk has
//! room again.
//!
//! The state is soft: nothing goes through the log. Every node keeps every peer's latest
//! report, so a follower that becomes leader already knows. A node that just started knows
//! nothing yet, so its first report to each peer (at its first tick) is marked `hello`, and
//! a peer answers a hello with its own report at once: a restarted node learns every
//! reachable peer's disk within a round trip, before it could win an election. A report
//! older than [`STALE_AFTER`] no longer counts (a node that stopped talking stops receiving
//! entries too). The low mark clears only at [`clear_mark`], a quarter above the minimum,
//! so a disk hovering at the line does not make writes flap.
//!
//! Which members are low is worked out once a tick and when a report arrives, not on each
//! proposal or publish: those only read [`DiskAlarm::low`].

use super::driver::Driver;
use super::wire::{self, DiskReport};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How often a node tells its peers about its disk when nothing changed.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// A peer's report older than this is ignored.
pub(super) const STALE_AFTER: Duration = Duration::from_secs(4);

/// Free bytes at which a low disk counts as recovered: a quarter above its minimum.
pub fn clear_mark(min_free_bytes: u64) -> u64 {
    min_free_bytes.saturating_add(min_free_bytes / 4)
}

/// What this node knows of its own disk and of its peers'.
#[derive(Default)]
pub(super) struct DiskAlarm {
    own: Option<DiskReport>,
    peers: BTreeMap<u64, (DiskReport, Instant)>,
    last_sent: Option<Instant>,
    /// Peers this process has sent a report to since it started.
    greeted: BTreeSet<u64>,
    /// Whether the last statvfs failed (warned about once until it works again).
    failing: bool,
    /// The members whose disk is low, this node first, as of the last [`Driver::refresh_low_disks`].
    low: Vec<LowDisk>,
}

/// A member whose disk is below its minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LowDisk {
    pub id: u64,
    pub free_bytes: u64,
    pub min_free_bytes: u64,
}

impl DiskAlarm {
    /// Records this node's free space; returns true when its low mark changed.
    pub(super) fn observe(&mut self, free_bytes: u64, min_free_bytes: u64) -> bool {
        let was_low = self.own.is_some_and(|r| r.low);
        let low = min_free_bytes > 0
            && if was_low {
                free_bytes < clear_mark(min_free_bytes)
            } else {
                free_bytes < min_free_bytes
            };
        self.own = Some(DiskReport {
            free_bytes,
            min_free_bytes,
            low,
            hello: false,
        });
        low != was_low
    }

    pub(super) fn own(&self) -> Option<DiskReport> {
        self.own
    }

    pub(super) fn heard(&mut self, from: u64, report: DiskReport, now: Instant) {
        self.peers.insert(from, (report, now));
    }

    pub(super) fn forget(&mut self, id: u64) {
        self.peers.remove(&id);
        self.greeted.remove(&id);
    }

    /// This node's report as `peer` should get it: marked `hello` until one reached it.
    /// `None` before the first measurement.
    pub(super) fn report_for(&self, peer: u64) -> Option<DiskReport> {
        self.own.map(|r| DiskReport {
            hello: !self.greeted.contains(&peer),
            ..r
        })
    }

    /// The members whose disk is low, this node first (as of the last refresh).
    pub(super) fn low(&self) -> &[LowDisk] {
        &self.low
    }

    /// Marks `peer` as sent a report.
    pub(super) fn sent_to(&mut self, peer: u64) {
        self.greeted.insert(peer);
    }

    /// Whether a report is due: the mark changed, or a second passed since the last.
    pub(super) fn due(&mut self, changed: bool, now: Instant) -> bool {
        let due = changed
            || self
                .last_sent
                .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY);
        if due {
            self.last_sent = Some(now);
        }
        due
    }

    /// The members (per `is_member`) whose disk is low at `now`, this node first.
    fn compute_low(
        &self,
        own_id: u64,
        is_member: impl Fn(u64) -> bool,
        now: Instant,
    ) -> Vec<LowDisk> {
        let own = self.own.filter(|r| r.low).map(|r| (own_id, r));
        let peers = self.peers.iter().filter_map(|(id, (r, at))| {
            (r.low && now.duration_since(*at) < STALE_AFTER && is_member(*id)).then_some((*id, *r))
        });
        own.into_iter()
            .chain(peers)
            .map(|(id, r)| LowDisk {
                id,
                free_bytes: r.free_bytes,
                min_free_bytes: r.min_free_bytes,
            })
            .collect()
    }
}

impl Driver {
    /// Once a tick: measures this node's disk, publishes it, and tells the peers when due.
    pub(super) fn check_disk(&mut self) {
        let (free, total) = match file_system_space(&self.config.raft_dir()) {
            Ok(space) => {
                self.disks.failing = false;
                space
            }
            Err(e) => {
                if !std::mem::replace(&mut self.disks.failing, true) {
                    tracing::warn!(
                        error = %e,
                        dir = %self.config.raft_dir().display(),
                        "cannot measure free disk space (statvfs): the low-disk check is not running; this node's reports stop until it works again"
                    );
                }
                return;
            }
        };
        let g = &self.metrics.replica;
        g.disk_free_bytes.store(free, Relaxed);
        g.disk_total_bytes.store(total, Relaxed);
        let min = self.config.limits.min_free_disk_bytes;
        let changed = self.disks.observe(free, min);
        if changed {
            self.dirty = true;
            if min >= total {
                tracing::error!(
                    min_free_bytes = min,
                    total_bytes = total,
                    dir = %self.config.raft_dir().display(),
                    "limits.min_free_disk_bytes is at least the size of the whole file system: the cluster refuses every write; lower it"
                );
            } else if free < min {
                tracing::warn!(
                    free_bytes = free,
                    min_free_bytes = min,
                    dir = %self.config.raft_dir().display(),
                    "disk space is below limits.min_free_disk_bytes: the cluster refuses writes until it is freed"
                );
            } else {
                tracing::info!(
                    free_bytes = free,
                    "disk space is back above limits.min_free_disk_bytes"
                );
            }
        }
        let now = Instant::now();
        if self.disks.due(changed, now) {
            let me = self.id;
            let peers: Vec<u64> = self.book.iter().map(|(id, _)| *id).collect();
            for id in peers.into_iter().filter(|id| *id != me) {
                // A peer that is down misses this one; reports repeat every second.
                self.report_to(id);
            }
        }
        self.metrics
            .replica
            .disk_low
            .store(self.disks.own().is_some_and(|r| r.low) as u64, Relaxed);
        self.refresh_low_disks();
    }

    /// A peer's report arrived: keep it, answer a hello, and refresh who is low.
    pub(super) fn on_disk_report(&mut self, from: u64, report: DiskReport) {
        self.disks.heard(from, report, Instant::now());
        if report.hello {
            // It just started and knows nothing: answer at once.
            self.report_to(from);
        }
        self.refresh_low_disks();
    }

    /// Sends this node's report to `peer`.
    fn report_to(&mut self, peer: u64) {
        if let Some(r) = self.disks.report_for(peer) {
            if self.net.send(peer, wire::encode_disk(&r).into()).is_ok() {
                self.disks.sent_to(peer);
            }
        }
    }

    /// Works out which members are low now (reports expire, members change); marks the
    /// status dirty when that changed.
    pub(super) fn refresh_low_disks(&mut self) {
        let conf = self.node.store().conf_state();
        let low = self.disks.compute_low(
            self.id,
            |id| conf.voters.contains(&id) || conf.learners.contains(&id),
            Instant::now(),
        );
        if low != self.disks.low {
            self.metrics
                .replica
                .low_disk_members
                .store(low.len() as u64, Relaxed);
            self.disks.low = low;
            self.dirty = true;
        }
    }
}

/// Bytes available to unprivileged users and the total size of the file system holding
/// `path` (statvfs: `f_bavail` and `f_blocks` in units of `f_frsize`).
fn file_system_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs only writes into the zeroed struct it is given; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unit = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * unit, st.f_blocks as u64 * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_below_the_minimum_and_clear_a_quarter_above_it() {
        let mut a = DiskAlarm::default();
        // (free bytes, low afterwards, mark changed)
        let steps = [
            (1000, false, false),
            (400, false, false),
            (399, true, true),
            (450, true, false),
            (499, true, false),
            (500, false, true),
            (420, false, false),
            (10, true, true),
        ];
        for (i, (free, low, changed)) in steps.into_iter().enumerate() {
            assert_eq!(a.observe(free, 400), changed, "step {i}");
            assert_eq!(a.own().unwrap().low, low, "step {i}");
        }
        assert!(a.observe(0, 0), "a minimum of 0 turns the check off");
        assert!(!a.own().unwrap().low);
    }

    #[test]
    fn only_fresh_reports_of_members_count() {
        let t0 = Instant::now();
        let mut a = DiskAlarm::default();
        a.observe(1 << 30, 100);
        let low = DiskReport {
            free_bytes: 5,
            min_free_bytes: 100,
            low: true,
            hello: false,
        };
        a.heard(2, low, t0);
        a.heard(3, low, t0);
        a.heard(4, DiskReport { low: false, ..low }, t0);
        let members = |id: u64| id != 3;
        let ids = |v: Vec<LowDisk>| v.into_iter().map(|l| l.id).collect::<Vec<_>>();
        assert_eq!(ids(a.compute_low(1, members, t0)), vec![2]);
        assert_eq!(
            ids(a.compute_low(1, members, t0 + STALE_AFTER)),
            Vec::<u64>::new()
        );
        a.observe(1, 100);
        assert_eq!(ids(a.compute_low(1, members, t0 + STALE_AFTER)), vec![1]);
        a.forget(2);
        assert_eq!(ids(a.compute_low(1, members, t0)), vec![1]);
    }

    #[test]
    fn the_first_report_to_each_peer_says_hello() {
        let mut a = DiskAlarm::default();
        assert_eq!(
            a.report_for(2),
            None,
            "nothing to say before the first measurement"
        );
        a.observe(1 << 30, 100);
        assert!(a.report_for(2).unwrap().hello);
        a.sent_to(2);
        assert!(!a.report_for(2).unwrap().hello, "later reports are plain");
        assert!(a.report_for(3).unwrap().hello, "per peer");
        a.forget(2);
        assert!(
            a.report_for(2).unwrap().hello,
            "a removed and re-added peer gets hello"
        );
    }

    #[test]
    fn reports_go_out_each_second_and_on_change() {
        let t0 = Instant::now();
        let mut a = DiskAlarm::default();
        assert!(a.due(false, t0));
        assert!(!a.due(false, t0 + Duration::from_millis(500)));
        assert!(a.due(true, t0 + Duration::from_millis(600)));
        assert!(!a.due(false, t0 + Duration::from_millis(1500)));
        assert!(a.due(false, t0 + Duration::from_millis(1600)));
    }
}
