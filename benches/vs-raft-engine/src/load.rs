//! What both logs are asked to do, and what is recorded of it: 1 KiB entries whose payloads
//! exist before the append (Raft hands a log entries it already holds), per-append latency
//! in µs, wall time, and the whole process's CPU time per append.

use hdrhistogram::Histogram;
use raft::eraftpb::Entry;
use std::time::Instant;

/// Concurrent appenders in the group-commit load.
pub const TASKS: u64 = 64;

thread_local! {
    static PAYLOADS: Vec<bytes::Bytes> =
        (0..251u8).map(|b| bytes::Bytes::from(vec![b; 1024])).collect();
}

pub fn entry(index: u64) -> Entry {
    Entry {
        index,
        term: 1,
        data: PAYLOADS.with(|p| p[(index % 251) as usize].clone()),
        ..Entry::default()
    }
}

pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

/// User + system CPU of the whole process (every thread either log starts), in µs.
fn process_cpu_us() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// One measured phase of one log.
pub struct Run {
    pub hist: Histogram<u64>,
    began: Instant,
    cpu_began: f64,
    secs: f64,
    cpu_us: f64,
    pub entries_per_s: f64,
    pub cpu_us_per_append: f64,
}

impl Run {
    pub fn start() -> Run {
        Run {
            hist: hist(),
            began: Instant::now(),
            cpu_began: process_cpu_us(),
            secs: 0.0,
            cpu_us: 0.0,
            entries_per_s: 0.0,
            cpu_us_per_append: 0.0,
        }
    }

    pub fn record(&mut self, t: Instant) {
        let _ = self.hist.record(t.elapsed().as_micros() as u64);
    }

    /// Ends the timed part (before any bookkeeping that should not count).
    pub fn stop(&mut self) {
        if self.secs == 0.0 {
            self.secs = self.began.elapsed().as_secs_f64();
            self.cpu_us = process_cpu_us() - self.cpu_began;
        }
    }

    pub fn finish(&mut self, appends: u64) {
        self.stop();
        self.entries_per_s = appends as f64 / self.secs;
        self.cpu_us_per_append = self.cpu_us / appends as f64;
    }
}
