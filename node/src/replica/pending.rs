//! Clients waiting for their proposals to apply.
//!
//! After `propose`, the leader knows the log index its entry took and the term it was
//! proposed in. The client is answered when that index applies: with the results if the
//! entry there still has the proposal's term, with an error if a new leader overwrote the
//! index with something else. Waiters are never answered "success" on guesswork: the only
//! success is seeing our own entry apply. Leadership loss alone does not fail a waiter,
//! because an entry proposed by a deposed leader may still commit under the next one.

use std::collections::BTreeMap;

/// What happened to a proposal.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The entry at the proposal's index is the proposal: it applied.
    Applied,
    /// Another entry (from a later term) took the index: the proposal was lost.
    Overwritten {
        proposed_term: u64,
        applied_term: u64,
    },
}

pub struct Pending<W> {
    by_index: BTreeMap<u64, (u64, W)>,
}

impl<W> Default for Pending<W> {
    fn default() -> Self {
        Pending {
            by_index: BTreeMap::new(),
        }
    }
}

impl<W> Pending<W> {
    /// Records a waiter for the entry proposed at `index` in `term`. A previous waiter at
    /// the same index can only be from an older term whose entry was truncated; it is
    /// returned so the caller can fail it.
    pub fn insert(&mut self, index: u64, term: u64, waiter: W) -> Option<(u64, W)> {
        self.by_index.insert(index, (term, waiter))
    }

    /// An entry applied at `index` with `term`: returns its waiter, if any, with the outcome.
    pub fn applied(&mut self, index: u64, term: u64) -> Option<(W, Outcome)> {
        let (proposed_term, w) = self.by_index.remove(&index)?;
        let outcome = if proposed_term == term {
            Outcome::Applied
        } else {
            Outcome::Overwritten {
                proposed_term,
                applied_term: term,
            }
        };
        Some((w, outcome))
    }

    /// A snapshot jumped the state machine to `index`: proposals at or below it were either
    /// applied inside the snapshot or overwritten, and the node cannot tell which, so they
    /// are returned for an "outcome unknown" answer.
    pub fn drain_through(&mut self, index: u64) -> Vec<W> {
        let rest = match index.checked_add(1) {
            Some(next) => self.by_index.split_off(&next),
            None => Default::default(),
        };
        std::mem::replace(&mut self.by_index, rest)
            .into_values()
            .map(|(_, w)| w)
            .collect()
    }

    /// Every waiter, for shutdown.
    pub fn drain_all(&mut self) -> Vec<W> {
        std::mem::take(&mut self.by_index)
            .into_values()
            .map(|(_, w)| w)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_entry_applies_and_foreign_entry_overwrites() {
        let mut p = Pending::default();
        p.insert(5, 2, "a");
        p.insert(6, 2, "b");
        assert_eq!(p.applied(5, 2), Some(("a", Outcome::Applied)));
        assert_eq!(
            p.applied(6, 3),
            Some((
                "b",
                Outcome::Overwritten {
                    proposed_term: 2,
                    applied_term: 3
                }
            ))
        );
        assert_eq!(p.applied(7, 3), None);
        assert!(p.is_empty());
    }

    #[test]
    fn reproposal_at_same_index_returns_the_stale_waiter() {
        let mut p = Pending::default();
        p.insert(5, 2, "old");
        assert_eq!(p.insert(5, 4, "new"), Some((2, "old")));
        assert_eq!(p.applied(5, 4), Some(("new", Outcome::Applied)));
    }

    #[test]
    fn snapshot_drains_covered_waiters_only() {
        let mut p = Pending::default();
        for i in 1..=6 {
            p.insert(i, 1, i);
        }
        assert_eq!(p.drain_through(4), vec![1, 2, 3, 4]);
        assert_eq!(p.len(), 2);
        assert_eq!(p.drain_all(), vec![5, 6]);
    }
}
