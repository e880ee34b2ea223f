//! Histories of register operations, as clients record them.
//!
//! Each client thread owns a [`Recorder`] (no locks while a test runs); recorders share a
//! [`Clock`] so their timestamps are comparable, and are merged into one [`History`] at
//! the end. A history is plain data with a stable JSON form, so a failing run can save it
//! and the checker can replay it later (`History::load` + `check`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Register values. Tests map their payloads to integers.
pub type Value = i64;

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Call {
    Read,
    Write {
        value: Value,
    },
    /// Set to `new` if the register holds `expected` (e.g. `UPDATE .. SET v = new WHERE
    /// v = expected`, judged by rows_affected).
    Cas {
        expected: Value,
        new: Value,
    },
}

/// How the operation ended, from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// A read completed; `None` means the register was absent (never written).
    Read { value: Option<Value> },
    /// A write was acknowledged.
    Written,
    /// A compare-and-set completed; `succeeded` says whether the comparison held.
    Cas { succeeded: bool },
    /// Definitely took no effect (refused before it could be applied).
    Failed,
    /// May or may not have taken effect, at any time after its invocation, even after
    /// the client gave up (a timeout, a connection lost after sending).
    Indeterminate,
}

/// One operation of one client on one register. Times are nanoseconds since the
/// history's [`Clock`] started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub client: u32,
    pub key: String,
    pub call: Call,
    pub invoked_ns: u64,
    /// When the client saw the outcome (or gave up). Ignored for indeterminate outcomes,
    /// which the checker treats as open-ended.
    pub completed_ns: u64,
    pub outcome: Outcome,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let call = match self.call {
            Call::Read => "read".to_string(),
            Call::Write { value } => format!("write {value}"),
            Call::Cas { expected, new } => format!("cas {expected}->{new}"),
        };
        let outcome = match self.outcome {
            Outcome::Read { value: Some(v) } => format!("saw {v}"),
            Outcome::Read { value: None } => "saw nothing".to_string(),
            Outcome::Written => "ok".to_string(),
            Outcome::Cas { succeeded: true } => "swapped".to_string(),
            Outcome::Cas { succeeded: false } => "compare failed".to_string(),
            Outcome::Failed => "failed".to_string(),
            Outcome::Indeterminate => "indeterminate".to_string(),
        };
        let end = if self.outcome == Outcome::Indeterminate {
            "?".to_string()
        } else {
            format!("{:.3}ms", self.completed_ns as f64 / 1e6)
        };
        write!(
            f,
            "client {} {} key {:?} -> {} [{:.3}ms .. {}]",
            self.client,
            call,
            self.key,
            outcome,
            self.invoked_ns as f64 / 1e6,
            end
        )
    }
}

/// A monotonic time origin shared by every recorder of one history.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// An invoked operation awaiting its outcome. Completing consumes it, so an operation
/// cannot be completed twice.
#[must_use = "complete the operation, or it is recorded as indeterminate"]
#[derive(Debug)]
pub struct Pending {
    index: usize,
}

/// One client's log. Keep one per thread; merge with [`History::from_recorders`].
#[derive(Debug)]
pub struct Recorder {
    client: u32,
    clock: Clock,
    ops: Vec<Operation>,
    completed: Vec<bool>,
}

impl Recorder {
    pub fn new(client: u32, clock: Clock) -> Recorder {
        Recorder {
            client,
            clock,
            ops: Vec::new(),
            completed: Vec::new(),
        }
    }

    /// Records the invocation; call just before sending the request.
    pub fn invoke(&mut self, key: impl Into<String>, call: Call) -> Pending {
        let now = self.clock.now_ns();
        self.ops.push(Operation {
            client: self.client,
            key: key.into(),
            call,
            invoked_ns: now,
            completed_ns: now,
            outcome: Outcome::Indeterminate,
        });
        self.completed.push(false);
        Pending {
            index: self.ops.len() - 1,
        }
    }

    /// Records the outcome; call as soon as the response (or the failure) is seen.
    pub fn complete(&mut self, pending: Pending, outcome: Outcome) {
        let now = self.clock.now_ns();
        let op = &mut self.ops[pending.index];
        op.completed_ns = now.max(op.invoked_ns);
        op.outcome = outcome;
        self.completed[pending.index] = true;
    }

    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    /// The log; operations never completed are indeterminate, ending now.
    pub fn finish(mut self) -> Vec<Operation> {
        let now = self.clock.now_ns();
        for (op, done) in self.ops.iter_mut().zip(&self.completed) {
            if !done {
                op.completed_ns = now.max(op.invoked_ns);
                op.outcome = Outcome::Indeterminate;
            }
        }
        self.ops
    }
}

/// Why a history could not be loaded or is not well formed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read or write history file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("history JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("operation {index} ({op}) is invalid: {reason}")]
    Invalid {
        index: usize,
        op: String,
        reason: String,
    },
}

/// Every operation of a test run, plus the registers' initial values (absent unless
/// given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub initial: BTreeMap<String, Value>,
    pub ops: Vec<Operation>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Merges per-thread recorders.
    pub fn from_recorders(recorders: impl IntoIterator<Item = Recorder>) -> History {
        let mut h = History::new();
        for r in recorders {
            h.ops.extend(r.finish());
        }
        h.ops.sort_by_key(|o| (o.invoked_ns, o.client));
        h
    }

    pub fn push(&mut self, op: Operation) {
        self.ops.push(op);
    }

    /// Declares a register's value before the first operation.
    pub fn with_initial(mut self, key: impl Into<String>, value: Value) -> History {
        self.initial.insert(key.into(), value);
        self
    }

    pub fn to_json(&self) -> String {
        // Serializing plain data to a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<History, HistoryError> {
        let h: History = serde_json::from_str(text)?;
        h.validate()?;
        Ok(h)
    }

    pub fn save(&self, path: &Path) -> Result<(), HistoryError> {
        std::fs::write(path, self.to_json()).map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<History, HistoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        History::from_json(&text)
    }

    /// Outcomes must fit their calls, and nothing may complete before it was invoked.
    pub fn validate(&self) -> Result<(), HistoryError> {
        for (index, op) in self.ops.iter().enumerate() {
            let invalid = |reason: &str| HistoryError::Invalid {
                index,
                op: op.to_string(),
                reason: reason.to_string(),
            };
            let fits = matches!(
                (op.call, op.outcome),
                (_, Outcome::Failed | Outcome::Indeterminate)
                    | (Call::Read, Outcome::Read { .. })
                    | (Call::Write { .. }, Outcome::Written)
                    | (Call::Cas { .. }, Outcome::Cas { .. })
            );
            if !fits {
                return Err(invalid("the outcome does not belong to the call"));
            }
            if op.outcome != Outcome::Indeterminate && op.completed_ns < op.invoked_ns {
                return Err(invalid("completed before it was invoked"));
            }
        }
        Ok(())
    }
}
