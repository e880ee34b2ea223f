//! Counts and latency histograms of one interval or a whole run, per operation kind.
//!
//! Each worker fills its own `Tally` and hands it over by message every quarter second,
//! so no lock is taken on the request path; the collector adds them up.

use super::workload::OpKind;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Distinct error kinds kept before the rest are lumped together (error strings come from
/// servers, so their variety is not ours to bound).
const MAX_ERROR_KINDS: usize = 64;
const OTHER_ERRORS: &str = "other errors (too many kinds to list)";

/// Significant figures of the latency histograms.
pub const SIGFIG: u8 = 3;

#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency in microseconds of successful requests, per kind (indexed by OpKind).
    pub latency: [Histogram<u64>; 4],
    pub requests: [u64; 4],
    pub statements: u64,
    pub errors: BTreeMap<String, u64>,
    /// Open loop: requests that fell due but were never sent before the deadline.
    pub not_sent: u64,
}

fn hist() -> Histogram<u64> {
    // Auto-resizing, so an idle kind costs a few bytes and any latency fits.
    Histogram::new(SIGFIG).unwrap_or_else(|_| unreachable!("3 significant figures is valid"))
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            latency: [hist(), hist(), hist(), hist()],
            requests: [0; 4],
            statements: 0,
            errors: BTreeMap::new(),
            not_sent: 0,
        }
    }
}

impl Tally {
    pub fn record(&mut self, kind: OpKind, micros: u64, statements: u64) {
        let h = &mut self.latency[kind.index()];
        // `record` grows an auto-resizing histogram; only absurd values fail, and those
        // are clamped rather than lost.
        if h.record(micros.max(1)).is_err() {
            h.saturating_record(micros.max(1));
        }
        self.requests[kind.index()] += 1;
        self.statements += statements;
    }

    pub fn error(&mut self, kind: &str) {
        self.add_error(kind, 1);
    }

    fn add_error(&mut self, kind: &str, n: u64) {
        if let Some(c) = self.errors.get_mut(kind) {
            *c += n;
        } else if self.errors.len() < MAX_ERROR_KINDS {
            self.errors.insert(kind.to_string(), n);
        } else {
            *self.errors.entry(OTHER_ERRORS.to_string()).or_default() += n;
        }
    }

    pub fn add(&mut self, other: &Tally) {
        for i in 0..4 {
            // Both sides auto-resize, so adding cannot fail.
            let _ = self.latency[i].add(&other.latency[i]);
            self.requests[i] += other.requests[i];
        }
        self.statements += other.statements;
        for (k, n) in &other.errors {
            self.add_error(k, *n);
        }
        self.not_sent += other.not_sent;
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.iter().sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// All kinds in one histogram.
    pub fn merged(&self) -> Histogram<u64> {
        let mut h = hist();
        for l in &self.latency {
            let _ = h.add(l);
        }
        h
    }

    pub fn kind(&self, kind: OpKind) -> &Histogram<u64> {
        &self.latency[kind.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_and_bounds_error_kinds() {
        let mut a = Tally::default();
        a.record(OpKind::Insert, 100, 2);
        a.record(OpKind::PointRead, 5_000_000_000, 1);
        a.error("timeout");
        let mut b = Tally::default();
        b.record(OpKind::Insert, 300, 2);
        b.error("timeout");
        for i in 0..100 {
            b.error(&format!("sql: error {i}"));
        }
        a.add(&b);
        assert_eq!(a.total_requests(), 3);
        assert_eq!(a.statements, 5);
        assert_eq!(a.errors["timeout"], 2);
        assert!(a.errors.len() <= MAX_ERROR_KINDS + 1);
        assert!(a.errors[OTHER_ERRORS] > 0);
        assert_eq!(a.total_errors(), 102);
        assert_eq!(a.kind(OpKind::Insert).len(), 2);
        assert_eq!(a.merged().len(), 3);
        assert!(a.merged().max() >= 4_990_000_000);
    }
}
