//! The idempotency table: results of recently applied batches by `(client_id, seq)`, so a
//! batch that is proposed twice (a retried request, a re-proposal after a leader change)
//! applies once and the retry gets the recorded result. It is part of the replicated state:
//! every replica keeps and forgets the same entries at the same index, and snapshots carry
//! it.
//!
//! Bounded by two generations: entries go into `current`; when it holds half the capacity it
//! becomes `previous` and the old `previous` is dropped whole. So between capacity/2 and
//! capacity of the most recent results are remembered, and recording costs one map insert
//! (no per-entry eviction bookkeeping on the apply path).

use std::sync::Arc;

use crate::pmap::PMap;
use crate::result::{BatchResult, ExecResult, StatementResult};

/// A recorded batch result. The common case, one write without `RETURNING`, is kept inline:
/// publishing a view between entries makes the next write copy the map leaf it lands in,
/// and inline entries copy as plain memory rather than one reference count each.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    Exec {
        last_insert_id: i64,
        rows_affected: i64,
    },
    Shared(Arc<BatchResult>),
}

impl Recorded {
    pub fn new(r: &BatchResult) -> Recorded {
        match r.as_slice() {
            [StatementResult::Exec(ExecResult {
                last_insert_id,
                rows_affected,
                returning: None,
            })] => Recorded::Exec {
                last_insert_id: *last_insert_id,
                rows_affected: *rows_affected,
            },
            _ => Recorded::Shared(Arc::new(r.clone())),
        }
    }

    /// The result as it was returned.
    pub fn result(&self) -> BatchResult {
        match self {
            Recorded::Exec {
                last_insert_id,
                rows_affected,
            } => vec![StatementResult::Exec(ExecResult {
                last_insert_id: *last_insert_id,
                rows_affected: *rows_affected,
                returning: None,
            })],
            Recorded::Shared(r) => (**r).clone(),
        }
    }
}

/// One generation: results by `(client_id, seq)`.
pub type Generation = PMap<(u64, u64), Recorded>;

#[derive(Clone, Debug, Default)]
pub struct DedupTable {
    current: Generation,
    previous: Generation,
}

impl DedupTable {
    pub fn get(&self, client_id: u64, seq: u64) -> Option<&Recorded> {
        let k = (client_id, seq);
        self.current.get(&k).or_else(|| self.previous.get(&k))
    }

    /// Record a result; keeps at least the last `capacity / 2` and at most `capacity`.
    pub fn record(&mut self, client_id: u64, seq: u64, result: &BatchResult, capacity: usize) {
        let half = (capacity / 2).max(1);
        if self.current.len() >= half {
            self.previous = std::mem::take(&mut self.current);
        }
        self.previous.remove(&(client_id, seq));
        self.current.insert((client_id, seq), Recorded::new(result));
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries, older generation first, each generation in key order:
    /// `(client_id, seq, result)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &Recorded)> + '_ {
        self.previous
            .iter()
            .chain(self.current.iter())
            .map(|(k, r)| (k.0, k.1, r))
    }

    /// The two generations, older first (for a snapshot to store and restore as they are).
    pub fn generations(&self) -> (&Generation, &Generation) {
        (&self.previous, &self.current)
    }

    /// Rebuild from stored generations (snapshot restore).
    pub fn from_generations(previous: Generation, current: Generation) -> DedupTable {
        DedupTable { current, previous }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_two_generations() {
        let mut d = DedupTable::default();
        for s in 0..10u64 {
            d.record(7, s, &vec![], 4);
        }
        // Capacity 4: generations of 2; the last 2..4 entries are remembered.
        assert!(d.len() <= 4 && d.len() >= 2);
        assert!(d.get(7, 9).is_some());
        assert!(d.get(7, 8).is_some());
        assert!(d.get(7, 5).is_none());
        let seqs: Vec<u64> = d.iter().map(|(_, s, _)| s).collect();
        assert_eq!(seqs, vec![6, 7, 8, 9]);
        // Recording a key again moves it to the current generation.
        d.record(7, 6, &vec![], 4);
        assert!(d.get(7, 6).is_some());
    }
}
