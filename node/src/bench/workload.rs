//! What the load generator sends, independent of the target: workloads, the operation
//! kinds they mix, and the parameters every request builder needs.

use rand::Rng;

/// The `--workload` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// New rows (ReefDB) / new keys (etcd).
    Insert,
    /// Overwrite preloaded rows / keys.
    Update,
    /// Read one preloaded row / key.
    PointRead,
    /// Read `--scan` consecutive preloaded rows / keys.
    RangeRead,
    /// Point reads and updates, `--read-percent` of them reads.
    Mixed,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Insert => "insert",
            Workload::Update => "update",
            Workload::PointRead => "point-read",
            Workload::RangeRead => "range-read",
            Workload::Mixed => "mixed",
        }
    }

    /// Whether it reads or overwrites preloaded rows.
    pub fn needs_rows(self) -> bool {
        self != Workload::Insert
    }
}

/// One kind of request; each gets its own latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Insert,
    Update,
    PointRead,
    RangeRead,
}

impl OpKind {
    pub const ALL: [OpKind; 4] = [
        OpKind::Insert,
        OpKind::Update,
        OpKind::PointRead,
        OpKind::RangeRead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Insert => "insert",
            OpKind::Update => "update",
            OpKind::PointRead => "point-read",
            OpKind::RangeRead => "range-read",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Everything request builders need to know.
#[derive(Debug, Clone)]
pub struct Params {
    pub workload: Workload,
    /// Statements (ReefDB) or operations (etcd txn) per request.
    pub batch: u32,
    /// Preloaded rows, ids 1..=rows.
    pub rows: u64,
    pub value_size: usize,
    /// Rows per range read.
    pub scan: u64,
    /// Share of reads in the mixed workload, 0..=100.
    pub read_percent: u32,
    pub level: Option<String>,
    pub table: String,
}

impl Params {
    /// The kind of the next request.
    pub fn pick<R: Rng>(&self, rng: &mut R) -> OpKind {
        match self.workload {
            Workload::Insert => OpKind::Insert,
            Workload::Update => OpKind::Update,
            Workload::PointRead => OpKind::PointRead,
            Workload::RangeRead => OpKind::RangeRead,
            Workload::Mixed => {
                if rng.random_range(0..100) < self.read_percent {
                    OpKind::PointRead
                } else {
                    OpKind::Update
                }
            }
        }
    }

    /// The kinds this workload can produce.
    pub fn kinds(&self) -> Vec<OpKind> {
        match self.workload {
            Workload::Insert => vec![OpKind::Insert],
            Workload::Update => vec![OpKind::Update],
            Workload::PointRead => vec![OpKind::PointRead],
            Workload::RangeRead => vec![OpKind::RangeRead],
            Workload::Mixed => vec![OpKind::Update, OpKind::PointRead],
        }
    }

    /// A uniformly random preloaded id.
    pub fn random_id<R: Rng>(&self, rng: &mut R) -> u64 {
        rng.random_range(1..=self.rows.max(1))
    }

    /// A random first id of a range that fits in the preloaded rows.
    pub fn random_range_start<R: Rng>(&self, rng: &mut R) -> u64 {
        let last_start = self.rows.saturating_sub(self.scan) + 1;
        rng.random_range(1..=last_start)
    }

    /// A value of `value_size` JSON-safe bytes, distinct per (client, seq).
    pub fn value(&self, client: usize, seq: u64, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        let _ = write!(out, "c{client}s{seq}-");
        while out.len() < self.value_size {
            out.push('x');
        }
        out.truncate(self.value_size.max(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn params(workload: Workload) -> Params {
        Params {
            workload,
            batch: 1,
            rows: 100,
            value_size: 16,
            scan: 10,
            read_percent: 90,
            level: None,
            table: "bench".into(),
        }
    }

    #[test]
    fn mixed_follows_the_read_share_and_ids_stay_in_range() {
        let p = params(Workload::Mixed);
        let mut rng = StdRng::seed_from_u64(1);
        let reads = (0..10_000)
            .filter(|_| p.pick(&mut rng) == OpKind::PointRead)
            .count();
        assert!((8_700..9_300).contains(&reads), "{reads}");
        for _ in 0..1000 {
            assert!((1..=100).contains(&p.random_id(&mut rng)));
            let s = p.random_range_start(&mut rng);
            assert!(s >= 1 && s + p.scan - 1 <= 100, "{s}");
        }
        let mut v = String::new();
        p.value(3, 77, &mut v);
        assert_eq!(v, "c3s77-xxxxxxxxxx");
        assert_eq!(p.kinds(), vec![OpKind::Update, OpKind::PointRead]);
    }
}
