//! Batching linearizable reads into shared ReadIndex rounds.
//!
//! A ReadIndex round costs the leader one heartbeat exchange with a quorum. Every read that
//! reaches the driver in one pass of its loop joins one round, started at the end of that
//! pass. Rounds pipeline: a new one starts while earlier ones are in flight (up to
//! [`MAX_ROUNDS_IN_FLIGHT`]), because a read that arrives after a round started cannot join
//! it (the round's index was fixed before the read began) and must not also wait for that
//! round to finish, which would cost it two round trips instead of one. Each round's readers
//! are released once the applied index reaches the round's read index. A change of
//! leadership fails everything in flight: raft-rs drops pending ReadIndex requests when the
//! role changes, and a reader must hear an error rather than wait forever.
//!
//! With batching off (`raft.batch_read_index: false`, for comparison benchmarks) every
//! reader gets a round of its own at once, as a naive ReadIndex would.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Rounds a batching leader keeps in flight at once; readers beyond wait for one to finish.
pub const MAX_ROUNDS_IN_FLIGHT: usize = 32;

pub struct ReadBatcher<W> {
    next_ctx: u64,
    /// Whether readers share rounds (one per driver pass) or get one each.
    pub batch: bool,
    /// Rounds in flight by context.
    in_flight: BTreeMap<u64, (Instant, Vec<W>)>,
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
            batch: true,
            in_flight: BTreeMap::new(),
            queued: Vec::new(),
            waiting_apply: BTreeMap::new(),
            rounds: 0,
        }
    }
}

impl<W> ReadBatcher<W> {
    pub fn new(batch: bool) -> Self {
        ReadBatcher {
            batch,
            ..Default::default()
        }
    }

    /// Queues a reader for the next round.
    pub fn add(&mut self, reader: W) {
        self.queued.push(reader);
    }

    /// Starts a round for every queued reader (or, without batching, for the next queued
    /// reader): returns its context for `read_index`. Call until None.
    pub fn start_round(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.queued.is_empty() || (self.batch && self.in_flight.len() >= MAX_ROUNDS_IN_FLIGHT) {
            return None;
        }
        let readers = if self.batch {
            std::mem::take(&mut self.queued)
        } else {
            vec![self.queued.remove(0)]
        };
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        self.rounds += 1;
        self.in_flight.insert(ctx, (now, readers));
        Some(ctx.to_be_bytes().to_vec())
    }

    /// raft-rs answered a round with `index`. Answers for unknown contexts (an abandoned or
    /// reset round) are ignored.
    pub fn round_done(&mut self, ctx: &[u8], index: u64) {
        let Ok(bytes) = <[u8; 8]>::try_from(ctx) else {
            return;
        };
        if let Some((_, readers)) = self.in_flight.remove(&u64::from_be_bytes(bytes)) {
            self.waiting_apply.entry(index).or_default().extend(readers);
        }
    }

    /// Abandons rounds in flight longer than `timeout`; their readers join the next round.
    /// Returns whether one was abandoned.
    pub fn requeue_stale(&mut self, now: Instant, timeout: Duration) -> bool {
        let stale: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, (started, _))| now.duration_since(*started) > timeout)
            .map(|(c, _)| *c)
            .collect();
        let mut readers = Vec::new();
        for c in &stale {
            if let Some((_, mut r)) = self.in_flight.remove(c) {
                readers.append(&mut r);
            }
        }
        readers.append(&mut self.queued);
        self.queued = readers;
        !stale.is_empty()
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
        let mut failed: Vec<W> = std::mem::take(&mut self.in_flight)
            .into_values()
            .flat_map(|(_, r)| r)
            .collect();
        failed.append(&mut self.queued);
        failed
    }

    /// Whether a round is in flight (for tests and status).
    pub fn round_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_of_one_pass_share_a_round_and_rounds_pipeline() {
        let now = Instant::now();
        let mut b = ReadBatcher::default();
        b.add("a");
        let r1 = b.start_round(now).expect("first read starts a round");
        assert!(b.start_round(now).is_none(), "nothing left to start");
        b.add("b");
        b.add("c");
        let r2 = b
            .start_round(now)
            .expect("later reads start their own round while the first is in flight");
        assert_ne!(r1, r2);
        b.round_done(&r1, 10);
        assert_eq!(b.released(9), Vec::<&str>::new());
        assert_eq!(b.released(10), vec!["a"]);
        b.round_done(&r2, 12);
        assert!(b.start_round(now).is_none());
        assert_eq!(b.released(15), vec!["b", "c"]);
        assert_eq!(b.rounds, 2);
    }

    #[test]
    fn rounds_in_flight_are_capped() {
        let now = Instant::now();
        let mut b = ReadBatcher::default();
        let mut ctxs = Vec::new();
        for i in 0..MAX_ROUNDS_IN_FLIGHT {
            b.add(i);
            ctxs.push(b.start_round(now).unwrap());
        }
        b.add(999);
        assert!(
            b.start_round(now).is_none(),
            "cap reached: the reader waits"
        );
        b.round_done(&ctxs[0], 1);
        assert!(
            b.start_round(now).is_some(),
            "a finished round frees a slot"
        );
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

    #[test]
    fn without_batching_every_reader_gets_its_own_round() {
        let now = Instant::now();
        let mut b = ReadBatcher::new(false);
        b.add("a");
        b.add("b");
        let r1 = b.start_round(now).expect("a's round");
        let r2 = b
            .start_round(now)
            .expect("b's round, while a's is in flight");
        assert!(b.start_round(now).is_none());
        b.round_done(&r2, 7);
        b.round_done(&r1, 5);
        assert_eq!(b.released(5), vec!["a"]);
        assert_eq!(b.released(7), vec!["b"]);
        assert_eq!(b.rounds, 2);
    }
}
