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

pub struct ReadBatcher<W> {
    next_ctx: u64,
    in_flight: Option<(u64, Vec<W>)>,
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
    /// Adds a reader. Returns the context of a round to start now, if one should start.
    pub fn add(&mut self, reader: W) -> Option<Vec<u8>> {
        self.queued.push(reader);
        self.start_round()
    }

    /// Starts a round for the queued readers if none is in flight.
    fn start_round(&mut self) -> Option<Vec<u8>> {
        if self.in_flight.is_some() || self.queued.is_empty() {
            return None;
        }
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        self.rounds += 1;
        self.in_flight = Some((ctx, std::mem::take(&mut self.queued)));
        Some(ctx.to_be_bytes().to_vec())
    }

    /// raft-rs answered a round with `index`. Returns the context of the next round to start,
    /// if readers queued meanwhile. Answers for unknown contexts (from before a reset) are
    /// ignored.
    pub fn round_done(&mut self, ctx: &[u8], index: u64) -> Option<Vec<u8>> {
        let Ok(bytes) = <[u8; 8]>::try_from(ctx) else {
            return None;
        };
        let ctx = u64::from_be_bytes(bytes);
        match self.in_flight.take() {
            Some((c, readers)) if c == ctx => {
                self.waiting_apply.entry(index).or_default().extend(readers);
            }
            other => self.in_flight = other,
        }
        self.start_round()
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
        let mut failed: Vec<W> = self.in_flight.take().map(|(_, r)| r).unwrap_or_default();
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
        let mut b = ReadBatcher::default();
        let r1 = b.add("a").expect("first read starts a round");
        assert!(b.add("b").is_none());
        assert!(b.add("c").is_none());
        let r2 = b
            .round_done(&r1, 10)
            .expect("queued reads start the next round");
        assert_ne!(r1, r2);
        assert_eq!(b.released(9), Vec::<&str>::new());
        assert_eq!(b.released(10), vec!["a"]);
        assert!(b.round_done(&r2, 12).is_none());
        assert_eq!(b.released(15), vec!["b", "c"]);
        assert_eq!(b.rounds, 2);
    }

    #[test]
    fn releasing_everything_does_not_overflow() {
        let mut b = ReadBatcher::default();
        let r = b.add(1).unwrap();
        b.round_done(&r, u64::MAX);
        assert_eq!(b.released(u64::MAX), vec![1]);
    }

    #[test]
    fn stale_round_answers_are_ignored() {
        let mut b = ReadBatcher::default();
        let r1 = b.add(1).unwrap();
        assert_eq!(b.reset(), vec![1]);
        let r2 = b.add(2).unwrap();
        assert!(b.round_done(&r1, 5).is_none());
        assert!(b.round_in_flight());
        assert!(b.round_done(b"bad", 5).is_none());
        b.round_done(&r2, 6);
        assert_eq!(b.released(6), vec![2]);
    }

    #[test]
    fn reset_keeps_readers_with_a_confirmed_index() {
        let mut b = ReadBatcher::default();
        let r1 = b.add(1).unwrap();
        b.add(2);
        let r2 = b.round_done(&r1, 7).unwrap();
        let _ = r2;
        b.add(3);
        assert_eq!(b.reset(), vec![2, 3]);
        assert_eq!(b.released(7), vec![1]);
    }
}
