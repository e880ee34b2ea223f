//! The sequential specification of one register: which (state, operation, outcome)
//! steps are legal, and the state after each.
//!
//! Outcomes that carry no information (an indeterminate write or compare-and-set) are
//! modelled as always taking effect when linearized. That loses nothing: the search may
//! place such an operation after every other one, which is indistinguishable from it never
//! happening (the Knossos/Porcupine treatment of "info" operations).

use super::history::{Call, Outcome, Value};

/// The register's state: `None` until first written.
pub type State = Option<Value>;

/// What the checker knows about an operation's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Read(State),
    Written,
    Cas(bool),
    /// Indeterminate: no constraint on the result.
    Unknown,
}

impl Observed {
    /// `None` for outcomes that carry no constraint and have no effect (failed
    /// operations, unanswered reads): the checker drops those.
    pub fn from_outcome(call: Call, outcome: Outcome) -> Option<Observed> {
        match (call, outcome) {
            (_, Outcome::Failed) => None,
            (Call::Read, Outcome::Indeterminate) => None,
            (_, Outcome::Indeterminate) => Some(Observed::Unknown),
            (_, Outcome::Read { value }) => Some(Observed::Read(value)),
            (_, Outcome::Written) => Some(Observed::Written),
            (_, Outcome::Cas { succeeded }) => Some(Observed::Cas(succeeded)),
        }
    }
}

/// The state after applying `call` with result `observed` to `state`, or `None` if that
/// result is impossible in that state.
pub fn step(state: State, call: Call, observed: Observed) -> Option<State> {
    match (call, observed) {
        (Call::Read, Observed::Read(seen)) => (seen == state).then_some(state),
        (Call::Read, _) => Some(state),
        (Call::Write { value }, _) => Some(Some(value)),
        (Call::Cas { expected, new }, Observed::Cas(true)) => {
            (state == Some(expected)).then_some(Some(new))
        }
        (Call::Cas { expected, .. }, Observed::Cas(false)) => {
            (state != Some(expected)).then_some(state)
        }
        (Call::Cas { expected, new }, _) => Some(if state == Some(expected) {
            Some(new)
        } else {
            state
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_steps() {
        let w = Call::Write { value: 5 };
        let cas = Call::Cas {
            expected: 5,
            new: 6,
        };
        let table: &[(State, Call, Observed, Option<State>)] = &[
            (None, Call::Read, Observed::Read(None), Some(None)),
            (None, Call::Read, Observed::Read(Some(1)), None),
            (Some(1), Call::Read, Observed::Read(Some(1)), Some(Some(1))),
            (Some(1), w, Observed::Written, Some(Some(5))),
            (Some(1), w, Observed::Unknown, Some(Some(5))),
            (Some(5), cas, Observed::Cas(true), Some(Some(6))),
            (Some(4), cas, Observed::Cas(true), None),
            (Some(4), cas, Observed::Cas(false), Some(Some(4))),
            (None, cas, Observed::Cas(false), Some(None)),
            (Some(5), cas, Observed::Cas(false), None),
            (Some(5), cas, Observed::Unknown, Some(Some(6))),
            (Some(4), cas, Observed::Unknown, Some(Some(4))),
        ];
        for (i, (state, call, obs, want)) in table.iter().enumerate() {
            assert_eq!(step(*state, *call, *obs), *want, "row {i}");
        }
        assert_eq!(Observed::from_outcome(w, Outcome::Failed), None);
        assert_eq!(
            Observed::from_outcome(Call::Read, Outcome::Indeterminate),
            None
        );
        assert_eq!(
            Observed::from_outcome(cas, Outcome::Indeterminate),
            Some(Observed::Unknown)
        );
    }
}
