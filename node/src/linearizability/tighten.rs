//! Closing indeterminate operations early when the history allows it.
//!
//! An indeterminate write stays open until +infinity, and every open operation doubles
//! the configurations the search may have to visit: a long history with a few dozen
//! timeouts would never finish. When every write-like operation of a register writes a
//! distinct value (what the fault suite's workload does, and what any recorder should
//! do), two facts are sound and shrink the problem to the operations that matter:
//!
//! - If some completed operation observed the value `v` (a read returning it, a swap that
//!   expected it), the indeterminate operation that alone produces `v` must have taken
//!   effect before each of those observers, so it returns (at the latest) when the first
//!   observer returned; an indeterminate swap that is observed must also have succeeded.
//! - If no other operation refers to `v` at all, the only use of the operation is to put
//!   some value nobody observes into the register (making a later failed swap's
//!   comparison fail). All such writes are then interchangeable: they are rewritten to
//!   write the one [`UNOBSERVED`] value and marked `fungible`, and the search only ever
//!   tries the earliest-invoked one still open (any linearization using another can swap
//!   the two, since both are callable then and both stay open forever). With
//!   no failed or indeterminate swaps on the register such a write cannot matter and is
//!   dropped.
//! - An unobserved indeterminate swap with no failed swaps around is dropped likewise;
//!   otherwise it is rewritten to swap in [`UNOBSERVED`] too.
//!
//! Histories with repeated values are left untouched (and may be slow to check).

use super::model::{Observed, State};
use super::search::SearchOp;
use super::Call;
use std::collections::{HashMap, HashSet};

/// The value every unobserved indeterminate write is rewritten to. A history that uses
/// it itself is left untouched.
pub const UNOBSERVED: i64 = i64::MIN;

/// What to do with each operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Keep,
    Drop,
}

/// Tightens `ops` in place and says which to drop.
pub fn tighten(ops: &mut [SearchOp], initial: State) -> Vec<Fate> {
    let mut fates = vec![Fate::Keep; ops.len()];
    let produced = |o: &SearchOp| match o.call {
        Call::Write { value } => Some(value),
        Call::Cas { new, .. } => Some(new),
        Call::Read => None,
    };
    let mut seen = HashSet::new();
    let mut referenced: HashSet<i64> = HashSet::new();
    for o in ops.iter() {
        if let Some(v) = produced(o) {
            if Some(v) == initial || v == UNOBSERVED || !seen.insert(v) {
                return fates;
            }
        }
        match (o.call, o.observed) {
            (_, Observed::Read(Some(v))) => {
                referenced.insert(v);
            }
            (Call::Cas { expected, .. }, _) => {
                referenced.insert(expected);
            }
            _ => {}
        }
    }
    if referenced.contains(&UNOBSERVED) {
        return fates;
    }
    // Earliest return of a completed observer of each value.
    let mut first_observer: HashMap<i64, u64> = HashMap::new();
    let mut failed_swaps = false;
    let mut open_swaps_expecting: HashSet<i64> = HashSet::new();
    for o in ops.iter() {
        let observed_value = match (o.call, o.observed) {
            (Call::Read, Observed::Read(Some(v))) => Some(v),
            (Call::Cas { expected, .. }, Observed::Cas(true)) => Some(expected),
            (Call::Cas { .. }, Observed::Cas(false)) => {
                failed_swaps = true;
                None
            }
            (Call::Cas { expected, .. }, Observed::Unknown) => {
                open_swaps_expecting.insert(expected);
                None
            }
            _ => None,
        };
        if let Some(v) = observed_value {
            let t = first_observer.entry(v).or_insert(u64::MAX);
            *t = (*t).min(o.returned);
        }
    }
    for (o, fate) in ops.iter_mut().zip(fates.iter_mut()) {
        if o.observed != Observed::Unknown {
            continue;
        }
        let Some(v) = produced(o) else { continue };
        match first_observer.get(&v) {
            // An observer that returned before this was invoked is a violation the
            // search will find; leave the operation open so the evidence stays intact.
            Some(&bound) if bound >= o.invoked => {
                o.returned = bound;
                if matches!(o.call, Call::Cas { .. }) {
                    o.observed = Observed::Cas(true);
                }
            }
            Some(_) => {}
            None if !failed_swaps && !open_swaps_expecting.contains(&v) => *fate = Fate::Drop,
            None if !referenced.contains(&v) => match o.call {
                Call::Write { .. } => {
                    o.call = Call::Write { value: UNOBSERVED };
                    o.fungible = true;
                }
                // Not interchangeable (it only swaps from `expected`), but the value it
                // would leave is as unobservable as the fungible writes' one, so the
                // search's states merge.
                Call::Cas { expected, .. } => {
                    o.call = Call::Cas {
                        expected,
                        new: UNOBSERVED,
                    }
                }
                Call::Read => {}
            },
            None => {}
        }
    }
    fates
}
