//! Batching linearizable reads into shared ReadIndex rounds.
//!
//! A ReadIndex round costs the leader one heartbeat exchange with a quorum. Reads that
//! arrive while a round is in flight cannot join it (the round's index was fixed before they
//! arrived, and a read must observe every write acknowledged before it started), so they
//! queue and all of them share the next round. Each round's readers are released once the
//! applied index reaches the round's read index. A change of leadership fails everything in
//! flight: raft-rs drops pending ReadIndex requests when the role changes, and a reader must
//! hear an error rather than wait forever.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct ReadBatcher<W> {
    next_ctx: u64,
    in_flight: Option<(u64, Instant, Vec<W>)>,
    queued: Vec<W>,
    /// Readers whose round returned, waiting for apply to reach the read index.
    waiting_apply: BTreeMap<u64, Vec<W>>,
    /// Rounds started and completed, for metrics.
    pub rounds: u64,
}

impl<W> Default for ReadBatcher<W> {
    fn default() -> Self {
        ReadBatcher {
            next_ctx: 1,
            in_flight: None,
            queued: Vec::new(),
            waiting_apply: BTreeMap::new(),
            rounds: 0,
        }
    }
}

impl<W> ReadBatcher<W> {
    /// Queues a reader for the next round.
    pub fn add(&mut self, reader: W) {
        self.queued.push(reader);
    }

    /// Starts a round for the queued readers if none is in flight: returns its context for
    /// `read_index`.
    pub fn start_round(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.in_flight.is_some() || self.queued.is_empty() {
            return None;
        }
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        self.rounds += 1;
        self.in_flight = Some((ctx, now, std::mem::take(&mut self.queued)));
        Some(ctx.to_be_bytes().to_vec())
    }

    /// raft-rs answered a round with `index`. Answers for unknown contexts (an abandoned or
    /// reset round) are ignored.
    pub fn round_done(&mut self, ctx: &[u8], index: u64) {
        let Ok(bytes) = <[u8; 8]>::try_from(ctx) else {
            return;
        };
        let ctx = u64::from_be_bytes(bytes);
        match self.in_flight.take() {
            Some((c, _, readers)) if c == ctx => {
                self.waiting_apply.entry(index).or_default().extend(readers);
            }
            other => self.in_flight = other,
        }
    }

    /// Abandons a round in flight longer than `timeout`; its readers join the next round.
    /// Returns whether one was abandoned.
    pub fn requeue_stale(&mut self, now: Instant, timeout: Duration) -> bool {
        match self.in_flight.take() {
            Some((_, started, mut readers)) if now.duration_since(started) > timeout => {
                readers.append(&mut self.queued);
                self.queued = readers;
                true
            }
            other => {
                self.in_flight = other;
                false
            }
        }
    }

    /// Readers whose read index is now applied.
    pub fn released(&mut self, applied: u64) -> Vec<W> {
        let later = match applied.checked_add(1) {
            Some(next) => self.waiting_apply.split_off(&next),
            None => Default::default(),
        };
        std::mem::replace(&mut self.waiting_apply, later)
            .into_values()
            .flatten()
            .collect()
    }

    /// Leadership changed: every reader not yet assigned a read index must fail. Readers
    /// already holding a read index stay: that index was confirmed by a quorum and remains a
    /// valid linearization point.
    pub fn reset(&mut self) -> Vec<W> {
        let mut failed: Vec<W> = self.in_flight.take().map(|(_, _, r)| r).unwrap_or_default();
        failed.append(&mut self.queued);
        failed
    }

    /// Whether a round is in flight (for tests and status).
    pub fn round_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_during_a_round_share_the_next_round() {
        let now = Instant::now();
        let mut b = ReadBatcher::default();
        b.add("a");
        let r1 = b.start_round(now).expect("first read starts a round");
        b.add("b");
        b.add("c");
        assert!(b.start_round(now).is_none(), "one round at a time");
        b.round_done(&r1, 10);
        let r2 = b
            .start_round(now)
            .expect("queued reads start the next round");
        assert_ne!(r1, r2);
        assert_eq!(b.released(9), Vec::<&str>::new());
        assert_eq!(b.released(10), vec!["a"]);
        b.round_done(&r2, 12);
        assert!(b.start_round(now).is_none());
        assert_eq!(b.released(15), vec!["b", "c"]);
        assert_eq!(b.rounds, 2);
    }

    #[test]
    fn releasing_everything_does_not_overflow() {
        let mut b = ReadBatcher::default();
        b.add(1);
        let r = b.start_round(Instant::now()).unwrap();
        b.round_done(&r, u64::MAX);
        assert_eq!(b.released(u64::MAX), vec![1]);
    }

    #[test]
    fn stale_and_foreign_answers_are_ignored() {
        let now = Instant::now();
        let mut b = ReadBatcher::default();
        b.add(1);
        let r1 = b.start_round(now).unwrap();
        assert_eq!(b.reset(), vec![1]);
        b.add(2);
        let r2 = b.start_round(now).unwrap();
        b.round_done(&r1, 5);
        assert!(b.round_in_flight());
        b.round_done(b"bad", 5);
        b.round_done(&r2, 6);
        assert_eq!(b.released(6), vec![2]);
    }

    #[test]
    fn a_lost_round_is_abandoned_and_its_readers_retried() {
        let t0 = Instant::now();
        let mut b = ReadBatcher::default();
        b.add(1);
        let lost = b.start_round(t0).unwrap();
        b.add(2);
        let timeout = Duration::from_secs(1);
        assert!(!b.requeue_stale(t0 + Duration::from_millis(500), timeout));
        assert!(b.requeue_stale(t0 + Duration::from_secs(2), timeout));
        let retry = b.start_round(t0 + Duration::from_secs(2)).unwrap();
        b.round_done(&lost, 3); // too late: ignored
        b.round_done(&retry, 4);
        assert_eq!(b.released(4), vec![1, 2]);
    }

    #[test]
    fn reset_keeps_readers_with_a_confirmed_index() {
        let now = Instant::now();
        let mut b = ReadBatcher::default();
        b.add(1);
        let r1 = b.start_round(now).unwrap();
        b.add(2);
        b.round_done(&r1, 7);
        b.start_round(now).unwrap();
        b.add(3);
        assert_eq!(b.reset(), vec![2, 3]);
        assert_eq!(b.released(7), vec![1]);
    }
}
