//! The idempotency table: results of recently applied batches by `(client_id, seq)`, so a
//! batch that is proposed twice (a retried request, a re-proposal after a leader change)
//! applies once and the retry gets the recorded result. It is bounded (oldest entries go
//! first) and it is part of the replicated state: every replica evicts the same entries at
//! the same index, and snapshots carry it.

use std::sync::Arc;

use imbl::OrdMap;

use crate::result::BatchResult;

#[derive(Clone, Debug, Default)]
pub struct DedupTable {
    /// (client_id, seq) -> (insertion number, result).
    entries: OrdMap<(u64, u64), (u64, Arc<BatchResult>)>,
    /// insertion number -> key, for evicting the oldest.
    order: OrdMap<u64, (u64, u64)>,
    next: u64,
}

impl DedupTable {
    pub fn get(&self, client_id: u64, seq: u64) -> Option<&Arc<BatchResult>> {
        self.entries.get(&(client_id, seq)).map(|(_, r)| r)
    }

    /// Record a result, evicting the oldest entries beyond `capacity`.
    pub fn record(&mut self, client_id: u64, seq: u64, result: Arc<BatchResult>, capacity: usize) {
        let n = self.next;
        self.next += 1;
        if let Some((old, _)) = self.entries.insert((client_id, seq), (n, result)) {
            self.order.remove(&old);
        }
        self.order.insert(n, (client_id, seq));
        while self.entries.len() > capacity.max(1) {
            let Some(&(oldest, key)) = self.order.get_min() else {
                break;
            };
            self.order.remove(&oldest);
            self.entries.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries oldest first: `(client_id, seq, result)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &Arc<BatchResult>)> + '_ {
        self.order
            .iter()
            .filter_map(move |(_, k)| self.entries.get(k).map(|(_, r)| (k.0, k.1, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let mut d = DedupTable::default();
        for s in 0..10u64 {
            d.record(7, s, Arc::new(vec![]), 4);
        }
        assert_eq!(d.len(), 4);
        assert!(d.get(7, 5).is_none());
        assert!(d.get(7, 6).is_some());
        let seqs: Vec<u64> = d.iter().map(|(_, s, _)| s).collect();
        assert_eq!(seqs, vec![6, 7, 8, 9]);
    }
}
