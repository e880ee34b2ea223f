//! A linearizability checker for histories of keyed registers (read, write,
//! compare-and-set), used by the fault suite and the integration tests to judge what
//! clients observed while nodes crashed, paused and partitioned.
//!
//! Why our own: the histories come from real HTTP clients with three outcomes (ok, failed,
//! indeterminate), and the verdict has to explain itself when it fails. The method is
//! Wing–Gong search with Lowe's memoization ([`search`]), made tractable by
//! P-compositionality: a history is linearizable iff each register's sub-history is, so
//! every key is checked on its own (in parallel). Failed operations are dropped (they took
//! no effect); indeterminate writes and compare-and-sets stay open until +infinity, as
//! Knossos and Porcupine treat them. The check is bounded by time and memory and answers
//! "unknown" instead of running away.
//!
//! ```
//! use reefdb::linearizability::{check, Call, CheckOptions, Clock, History, Outcome, Recorder};
//! let clock = Clock::start();
//! let mut rec = Recorder::new(1, clock); // one per client thread
//! let p = rec.invoke("x", Call::Write { value: 1 });
//! rec.complete(p, Outcome::Written);
//! let p = rec.invoke("x", Call::Read);
//! rec.complete(p, Outcome::Read { value: Some(1) });
//! let history = History::from_recorders([rec]);
//! let report = check(&history, &CheckOptions::default()).unwrap();
//! assert!(report.is_linearizable(), "{}", report);
//! ```

pub mod history;
pub mod model;
pub mod search;
pub mod tighten;

#[cfg(test)]
mod tests;

pub use history::{
    Call, Clock, History, HistoryError, Operation, Outcome, Pending, Recorder, Value,
};

use model::{Observed, State};
use search::{Abort, Budget, SearchOp};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bounds on one check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Wall-clock budget for the whole history.
    pub timeout: Duration,
    /// Memory budget for one key's memoization cache.
    pub max_memo_bytes: usize,
    /// Keys checked in parallel.
    pub threads: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Duration::from_secs(60),
            max_memo_bytes: 1 << 30,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// At least one register's history has no linearization.
    NotLinearizable,
    /// No violation found, but at least one register could not be decided in budget.
    Unknown,
}

/// A register whose history has no linearization, with where the search got stuck.
#[derive(Debug, Clone)]
pub struct Violation {
    pub key: String,
    /// The longest linearizable prefix the search found, in order.
    pub prefix: Vec<Operation>,
    /// The register's value after that prefix.
    pub state: Option<Value>,
    /// The operation that completed while no legal next step could account for it.
    pub blocking: Operation,
    /// Every operation that could have come next; none was legal.
    pub candidates: Vec<Operation>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            Some(tighten::UNOBSERVED) => "a value no operation observed".to_string(),
            Some(v) => v.to_string(),
            None => "absent".to_string(),
        };
        writeln!(
            f,
            "key {:?} is not linearizable: after {} operations the register holds {}, and \
             none of the operations that may come next is legal before this one completes:",
            self.key,
            self.prefix.len(),
            state
        )?;
        writeln!(f, "  must precede: {}", self.blocking)?;
        for c in &self.candidates {
            writeln!(f, "  candidate:    {c}")?;
        }
        const TAIL: usize = 10;
        let skip = self.prefix.len().saturating_sub(TAIL);
        if skip > 0 {
            writeln!(
                f,
                "  linearized prefix (last {TAIL} of {}):",
                self.prefix.len()
            )?;
        } else if !self.prefix.is_empty() {
            writeln!(f, "  linearized prefix:")?;
        }
        for op in &self.prefix[skip..] {
            writeln!(f, "    {op}")?;
        }
        Ok(())
    }
}

/// The answer for one register.
#[derive(Debug, Clone)]
pub enum KeyVerdict {
    Linearizable,
    Violation(Box<Violation>),
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct KeyReport {
    pub key: String,
    /// Operations that took part (failed ones and unanswered reads are dropped).
    pub ops: usize,
    pub verdict: KeyVerdict,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub verdict: Verdict,
    /// One entry per key, in key order.
    pub keys: Vec<KeyReport>,
    pub elapsed: Duration,
}

impl CheckReport {
    pub fn is_linearizable(&self) -> bool {
        self.verdict == Verdict::Linearizable
    }

    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.keys.iter().filter_map(|k| match &k.verdict {
            KeyVerdict::Violation(v) => Some(v.as_ref()),
            _ => None,
        })
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: usize = self.keys.iter().map(|k| k.ops).sum();
        writeln!(
            f,
            "linearizability: {:?} ({} keys, {} operations, {:.2?})",
            self.verdict,
            self.keys.len(),
            ops,
            self.elapsed
        )?;
        for k in &self.keys {
            match &k.verdict {
                KeyVerdict::Linearizable => {}
                KeyVerdict::Violation(v) => write!(f, "{v}")?,
                KeyVerdict::Unknown(why) => {
                    writeln!(f, "key {:?} ({} operations): unknown, {why}", k.key, k.ops)?
                }
            }
        }
        Ok(())
    }
}

/// Checks every register of `history`.
pub fn check(history: &History, options: &CheckOptions) -> Result<CheckReport, HistoryError> {
    history.validate()?;
    let started = Instant::now();
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let keys: Vec<(&str, Vec<&Operation>)> = by_key.into_iter().collect();
    let budget = Budget {
        deadline: started + options.timeout,
        max_memo_bytes: options.max_memo_bytes,
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<KeyReport>>> = Mutex::new(vec![None; keys.len()]);
    let threads = options.threads.clamp(1, keys.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((key, ops)) = keys.get(i) else { break };
                let initial = history.initial.get(*key).copied();
                let report = check_key(key, ops, initial, &budget);
                if let Ok(mut r) = results.lock() {
                    r[i] = Some(report);
                }
            });
        }
    });
    let keys: Vec<KeyReport> = results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let verdict = if keys
        .iter()
        .any(|k| matches!(k.verdict, KeyVerdict::Violation(_)))
    {
        Verdict::NotLinearizable
    } else if keys
        .iter()
        .any(|k| matches!(k.verdict, KeyVerdict::Unknown(_)))
    {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    };
    Ok(CheckReport {
        verdict,
        keys,
        elapsed: started.elapsed(),
    })
}

fn check_key(key: &str, ops: &[&Operation], initial: State, budget: &Budget) -> KeyReport {
    let started = Instant::now();
    let mut kept: Vec<&Operation> = Vec::with_capacity(ops.len());
    let mut search_ops: Vec<SearchOp> = Vec::with_capacity(ops.len());
    for op in ops {
        if let Some(observed) = Observed::from_outcome(op.call, op.outcome) {
            search_ops.push(SearchOp {
                call: op.call,
                observed,
                invoked: op.invoked_ns,
                returned: if observed == Observed::Unknown {
                    u64::MAX
                } else {
                    op.completed_ns
                },
                fungible: false,
            });
            kept.push(op);
        }
    }
    let fates = tighten::tighten(&mut search_ops, initial);
    let (search_ops, kept): (Vec<SearchOp>, Vec<&Operation>) = search_ops
        .into_iter()
        .zip(kept)
        .zip(fates)
        .filter(|(_, fate)| *fate == tighten::Fate::Keep)
        .map(|(pair, _)| pair)
        .unzip();
    let open = search_ops.iter().filter(|o| o.returned == u64::MAX).count();
    let verdict = match search::search(&search_ops, initial, budget) {
        search::Outcome::Linearizable => KeyVerdict::Linearizable,
        search::Outcome::NotLinearizable(stuck) => {
            let pick = |i: usize| kept[i].clone();
            KeyVerdict::Violation(Box::new(Violation {
                key: key.to_string(),
                prefix: stuck.prefix.iter().map(|&i| pick(i)).collect(),
                state: stuck.state,
                blocking: pick(stuck.blocking),
                candidates: stuck.candidates.iter().map(|&i| pick(i)).collect(),
            }))
        }
        search::Outcome::Unknown(abort) => KeyVerdict::Unknown(match abort {
            Abort::Deadline => {
                format!("the time budget ran out ({open} indeterminate operations stayed open)")
            }
            Abort::Memory { entries, bytes } => format!(
                "the memo cache reached {entries} configurations (~{} MiB), over budget \
                 ({open} indeterminate operations stayed open)",
                bytes >> 20
            ),
        }),
    };
    KeyReport {
        key: key.to_string(),
        ops: search_ops.len(),
        verdict,
        elapsed: started.elapsed(),
    }
}
