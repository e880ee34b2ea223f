//! Time-based facts about leadership that reads rely on: the leader lease and staleness.
//!
//! **Leader lease (`level=weak`).** With `check_quorum`, a follower that heard from the leader
//! less than an election timeout ago refuses to vote for anyone else. So once a quorum has
//! acknowledged heartbeats, no other leader can exist until the earliest of those promises
//! runs out. The lease is timed from when each acknowledged heartbeat was *sent* (never from
//! when its answer arrived), because the follower's promise started after the send.
//! Heartbeats to a peer travel on one ordered stream, so answers match sends first-in,
//! first-out; a lost heartbeat only makes the matched send time older, which shortens the
//! lease. The lease is also cut by the assumed clock drift bound ([`DRIFT`]), and it only
//! counts once the leader has committed an entry in its own term (before that it may not
//! know everything committed before it).
//!
//! **Staleness (`level=none&freshness=`).** Every node notes when it last heard from a
//! leader, and when its applied index last caught up with the commit index that leader
//! reported; a read asking for a freshness bound is refused when either is too old.
//!
//! All instants are monotonic-clock nanoseconds since the process started, stored in atomics
//! so HTTP shards read them without asking shard 0.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The fraction of the election timeout a lease gives up to clock drift between nodes.
pub const DRIFT: f64 = 0.1;

#[derive(Debug)]
pub struct Clocks {
    origin: Instant,
    lease_until: AtomicU64,
    leader_contact: AtomicU64,
    caught_up: AtomicU64,
}

impl Default for Clocks {
    fn default() -> Self {
        Clocks {
            origin: Instant::now(),
            lease_until: AtomicU64::new(0),
            leader_contact: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
        }
    }
}

impl Clocks {
    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_nanos() as u64
    }

    pub fn now(&self) -> u64 {
        self.ns(Instant::now())
    }

    /// Whether this node holds a valid leader lease right now.
    pub fn lease_valid(&self) -> bool {
        self.now() < self.lease_until.load(Relaxed)
    }

    pub fn set_lease_until(&self, t: Option<Instant>) {
        self.lease_until
            .store(t.map(|t| self.ns(t)).unwrap_or(0), Relaxed);
    }

    pub fn heard_from_leader(&self) {
        self.leader_contact.store(self.now().max(1), Relaxed);
    }

    pub fn caught_up(&self) {
        self.caught_up.store(self.now().max(1), Relaxed);
    }

    /// `None` if a read that tolerates `freshness` of staleness may be served; otherwise
    /// why not. `strict` also bounds how long ago the applied index last caught up with
    /// the leader's commit index.
    pub fn freshness_refusal(&self, freshness: Duration, strict: bool) -> Option<String> {
        let now = self.now();
        let bound = freshness.as_nanos() as u64;
        let contact = self.leader_contact.load(Relaxed);
        if contact == 0 || now.saturating_sub(contact) > bound {
            return Some(format!(
                "this node has not heard from a leader within the freshness bound of {freshness:?}"
            ));
        }
        let caught = self.caught_up.load(Relaxed);
        if strict && (caught == 0 || now.saturating_sub(caught) > bound) {
            return Some(format!(
                "this node's applied index has not matched the leader's commit index within {freshness:?} (freshness_strict)"
            ));
        }
        None
    }
}

/// The leader's record of heartbeat send times, per peer, to time the lease.
#[derive(Default)]
pub struct LeaseTracker {
    sent: BTreeMap<u64, VecDeque<Instant>>,
    /// The send time of each peer's latest acknowledged heartbeat.
    acked: BTreeMap<u64, Instant>,
}

impl LeaseTracker {
    pub fn reset(&mut self) {
        self.sent.clear();
        self.acked.clear();
    }

    pub fn sent(&mut self, peer: u64, at: Instant) {
        let q = self.sent.entry(peer).or_default();
        // Bound the queue: answers older than this many heartbeats are not coming.
        if q.len() >= 64 {
            q.pop_front();
        }
        q.push_back(at);
    }

    pub fn answered(&mut self, peer: u64) {
        if let Some(at) = self.sent.get_mut(&peer).and_then(|q| q.pop_front()) {
            self.acked.insert(peer, at);
        }
    }

    /// The lease end given the voters (this node included) and the lease length.
    pub fn lease_until(
        &self,
        me: u64,
        voters: &[u64],
        lease: Duration,
        now: Instant,
    ) -> Option<Instant> {
        let mut times: Vec<Instant> = voters
            .iter()
            .filter_map(|v| {
                if *v == me {
                    Some(now)
                } else {
                    self.acked.get(v).copied()
                }
            })
            .collect();
        let quorum = voters.len() / 2 + 1;
        if times.len() < quorum {
            return None;
        }
        times.sort_unstable_by(|a, b| b.cmp(a));
        // The quorum-th most recent acknowledgement bounds how long a quorum is promised.
        Some(times[quorum - 1] + lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_needs_a_quorum_and_counts_from_send_times() {
        let t0 = Instant::now();
        let mut l = LeaseTracker::default();
        let lease = Duration::from_millis(900);
        assert_eq!(l.lease_until(1, &[1, 2, 3], lease, t0), None);
        l.sent(2, t0);
        l.sent(2, t0 + Duration::from_millis(100));
        l.answered(2); // the answer to the first heartbeat
        let now = t0 + Duration::from_millis(150);
        assert_eq!(l.lease_until(1, &[1, 2, 3], lease, now), Some(t0 + lease));
        l.answered(2);
        assert_eq!(
            l.lease_until(1, &[1, 2, 3], lease, now),
            Some(t0 + Duration::from_millis(100) + lease)
        );
        // Five voters need three.
        assert_eq!(l.lease_until(1, &[1, 2, 3, 4, 5], lease, now), None);
        l.reset();
        assert_eq!(l.lease_until(1, &[1, 2, 3], lease, now), None);
    }

    #[test]
    fn freshness_refuses_without_recent_contact() {
        let c = Clocks::default();
        assert!(c.freshness_refusal(Duration::from_secs(1), false).is_some());
        c.heard_from_leader();
        assert!(c.freshness_refusal(Duration::from_secs(1), false).is_none());
        assert!(c.freshness_refusal(Duration::from_secs(1), true).is_some());
        c.caught_up();
        assert!(c.freshness_refusal(Duration::from_secs(1), true).is_none());
        std::thread::sleep(Duration::from_millis(20));
        assert!(c
            .freshness_refusal(Duration::from_millis(5), false)
            .is_some());
        c.set_lease_until(Some(Instant::now() + Duration::from_secs(5)));
        assert!(c.lease_valid());
        c.set_lease_until(None);
        assert!(!c.lease_valid());
    }
}
