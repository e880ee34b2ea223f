//! The Wing–Gong linearizability search with Lowe's memoization, for one register.
//!
//! The history is a list of call and return events in time order. The search walks it
//! from the front: a call whose operation is legal in the current state is linearized
//! (its call and return are unlinked from the list, dancing-links style) and the walk
//! restarts; reaching a return means the operation that returns there had to be
//! linearized already, so the search backtracks. A cache of (linearized set, state)
//! configurations already explored (Lowe) prunes the permutations that lead to the same
//! place, which makes typical histories near-linear. Indeterminate operations return at
//! +infinity, so they may be linearized anywhere after their call, including never.
//!
//! Operations open until +infinity get two more rules, both from the fact that such an
//! operation can always be linearized last instead: one is never linearized where it
//! would change nothing while closed operations remain, and a configuration is skipped
//! when the same configuration without one of them was already reached ([`dominated`]).
//!
//! The search is bounded by a deadline and a memory budget for the cache, and says
//! "unknown" rather than running away.

use super::history::Call;
use super::model::{step, Observed, State};
use std::collections::HashSet;
use std::time::Instant;

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy)]
pub struct SearchOp {
    pub call: Call,
    pub observed: Observed,
    pub invoked: u64,
    /// `u64::MAX` for indeterminate operations.
    pub returned: u64,
    /// An unobserved indeterminate write, interchangeable with every other such write
    /// (see `tighten`): only the earliest-invoked open one is ever tried.
    pub fungible: bool,
}

/// Why the search could not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    Deadline,
    Memory { entries: usize, bytes: usize },
}

/// Where the search got furthest before proving there is no linearization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// Operation indices of the longest linearizable prefix found.
    pub prefix: Vec<usize>,
    /// The register's state after that prefix.
    pub state: State,
    /// The operation whose return was reached while it was not yet linearizable.
    pub blocking: usize,
    /// The operations that could have come next; none of them is legal.
    pub candidates: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Linearizable,
    NotLinearizable(Stuck),
    Unknown(Abort),
}

/// Limits for one search.
pub struct Budget {
    pub deadline: Instant,
    pub max_memo_bytes: usize,
}

const NIL: usize = usize::MAX;

/// The linearized set followed by the register state, as one word slice: the cache key.
/// Kept in one reused buffer so that a lookup allocates nothing; only a new
/// configuration is copied into the cache.
struct Config {
    words: Vec<u64>,
    set_words: usize,
}

impl Config {
    fn new(n: usize) -> Config {
        let set_words = n.div_ceil(64);
        Config {
            words: vec![0; set_words + 2],
            set_words,
        }
    }
    fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }
    /// The key for the current set with `state`.
    fn key(&mut self, state: State) -> &[u64] {
        let (tag, value) = match state {
            None => (0, 0),
            // Two's-complement bits of the value; the tag keeps None apart from 0.
            Some(v) => (1, v as u64),
        };
        self.words[self.set_words] = tag;
        self.words[self.set_words + 1] = value;
        &self.words
    }
}

/// Doubly-linked event list; node `2*i` is op i's call, `2*i+1` its return.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl Events {
    fn new(ops: &[SearchOp]) -> Events {
        let n = ops.len();
        let mut order: Vec<usize> = (0..2 * n).collect();
        // Calls before returns at equal times: touching operations count as concurrent,
        // which never reports a violation that real time does not force.
        order.sort_by_key(|&e| {
            let op = &ops[e / 2];
            let is_return = e % 2 == 1;
            let t = if is_return { op.returned } else { op.invoked };
            (t, is_return, e / 2)
        });
        let head = 2 * n;
        let mut next = vec![NIL; 2 * n + 1];
        let mut prev = vec![NIL; 2 * n + 1];
        let mut last = head;
        for &e in &order {
            next[last] = e;
            prev[e] = last;
            last = e;
        }
        Events { next, prev, head }
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }

    /// Removes op `i`'s call and return; undone by `restore` in LIFO order.
    fn lift(&mut self, i: usize) {
        self.unlink(2 * i);
        self.unlink(2 * i + 1);
    }

    fn restore(&mut self, i: usize) {
        self.relink(2 * i + 1);
        self.relink(2 * i);
    }

    fn first(&self) -> usize {
        self.next[self.head]
    }
}

/// Decides whether `ops` on one register, starting from `initial`, are linearizable.
pub fn search(ops: &[SearchOp], initial: State, budget: &Budget) -> Outcome {
    let n = ops.len();
    if n == 0 {
        return Outcome::Linearizable;
    }
    let mut events = Events::new(ops);
    let mut linearized = Config::new(n);
    let mut cache: HashSet<Box<[u64]>> = HashSet::new();
    // Key words, the boxed slice's pointer and length, and the table's per-entry overhead.
    let entry_bytes = linearized.words.len() * 8 + 16 + 8;
    // (op linearized, state before it, whether it was tried in the open pass)
    let mut stack: Vec<(usize, State, bool)> = Vec::with_capacity(n);
    // Candidates of a configuration are tried in two passes over the list: operations
    // with a return first, then the open ones. Trying an open operation only once nothing
    // else works lets `dominated` prune (an open operation linearized early rarely helps,
    // and exploring that first would repeat the whole rest of the search with it in).
    let mut open_pass = false;
    let mut state = initial;
    let mut best: Option<Stuck> = None;
    let mut entry = events.first();
    let mut steps: u64 = 0;
    let mut fungible: Vec<usize> = (0..n).filter(|&i| ops[i].fungible).collect();
    fungible.sort_by_key(|&i| (ops[i].invoked, i));
    let open: Vec<usize> = (0..n).filter(|&i| ops[i].returned == u64::MAX).collect();
    let mut closed_left = n - open.len();
    cache.insert(linearized.key(initial).into());

    while events.first() != NIL {
        steps += 1;
        if steps.is_multiple_of(1024) {
            if Instant::now() >= budget.deadline {
                return Outcome::Unknown(Abort::Deadline);
            }
            let bytes = cache.len().saturating_mul(entry_bytes);
            if bytes > budget.max_memo_bytes {
                return Outcome::Unknown(Abort::Memory {
                    entries: cache.len(),
                    bytes,
                });
            }
        }
        // The list always ends with a return (every call precedes its own), so the
        // walk meets a return before running off the end.
        debug_assert_ne!(entry, NIL);
        let op = entry / 2;
        if entry.is_multiple_of(2) {
            let o = &ops[op];
            let is_open = o.returned == u64::MAX;
            let skip =
                is_open != open_pass || (o.fungible && !fungible_turn(op, &fungible, &linearized));
            if !skip {
                if let Some(after) = step(state, o.call, o.observed)
                    // An open operation that changes nothing here can go last instead;
                    // trying it now would only multiply the configurations.
                    .filter(|after| !is_open || *after != state || closed_left == 0)
                {
                    linearized.set(op);
                    if !cache.contains(linearized.key(after))
                        && !dominated(&mut linearized, after, op, &open, &cache)
                    {
                        cache.insert(linearized.key(after).into());
                        stack.push((op, state, open_pass));
                        closed_left -= usize::from(!is_open);
                        state = after;
                        events.lift(op);
                        entry = events.first();
                        open_pass = false;
                        continue;
                    }
                    linearized.clear(op);
                }
            }
            entry = events.next[entry];
        } else if !open_pass && !open.is_empty() {
            // Every closed candidate failed: now try the open ones.
            open_pass = true;
            entry = events.first();
        } else {
            if best.as_ref().is_none_or(|b| stack.len() > b.prefix.len()) {
                best = Some(stuck_at(&events, &stack, state, op));
            }
            let Some((undo, before, pass)) = stack.pop() else {
                return Outcome::NotLinearizable(best.unwrap_or_else(|| Stuck {
                    prefix: Vec::new(),
                    state: initial,
                    blocking: op,
                    candidates: Vec::new(),
                }));
            };
            state = before;
            closed_left += usize::from(ops[undo].returned != u64::MAX);
            linearized.clear(undo);
            events.restore(undo);
            entry = events.next[2 * undo];
            open_pass = pass;
        }
    }
    Outcome::Linearizable
}

/// Whether a configuration already explored (or being explored) can do everything the
/// configuration (`linearized`, `state`) can: the same one without some open
/// operation. An open operation can always be linearized last instead (it returns at
/// +infinity and its effect is unconstrained), so the smaller configuration's
/// continuations include ours. Without this, every open operation would double the
/// search for the rest of the history.
///
/// `just` (the operation linearized to reach this configuration) is exempt: the
/// configuration without it is our parent, still being explored, and "linearize it last
/// instead" would be this very step once nothing else is left.
fn dominated(
    linearized: &mut Config,
    state: State,
    just: usize,
    open: &[usize],
    cache: &HashSet<Box<[u64]>>,
) -> bool {
    for &o in open {
        if o != just && linearized.get(o) {
            linearized.clear(o);
            let hit = cache.contains(linearized.key(state));
            linearized.set(o);
            if hit {
                return true;
            }
        }
    }
    false
}

/// Whether fungible op `op` may be tried now: only the earliest-invoked open one, so the
/// linearized fungible writes are always a prefix of them in invocation order.
fn fungible_turn(op: usize, fungible: &[usize], linearized: &Config) -> bool {
    fungible.iter().find(|&&i| !linearized.get(i)) == Some(&op)
}

fn stuck_at(
    events: &Events,
    stack: &[(usize, State, bool)],
    state: State,
    blocking: usize,
) -> Stuck {
    let mut candidates = Vec::new();
    let mut e = events.first();
    while e != NIL && e != 2 * blocking + 1 {
        if e.is_multiple_of(2) {
            candidates.push(e / 2);
        }
        e = events.next[e];
    }
    Stuck {
        prefix: stack.iter().map(|(op, _, _)| *op).collect(),
        state,
        blocking,
        candidates,
    }
}
