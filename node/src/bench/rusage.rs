//! The load generator's own CPU use (getrusage), so a report can show that the generator
//! was not the bottleneck of what it measured.

use std::time::Duration;

/// User and system CPU time consumed by this process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    pub fn now() -> CpuTime {
        // SAFETY: getrusage only writes into the struct we pass; a zeroed rusage is a
        // valid value of that plain C struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        if rc != 0 {
            return CpuTime::default();
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        CpuTime {
            user: tv(ru.ru_utime),
            system: tv(ru.ru_stime),
        }
    }

    /// CPU used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(&self) -> Duration {
        self.user + self.system
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burning_cpu_shows_up() {
        // Burn until getrusage reports 20 ms of CPU: on a loaded machine that can take far
        // longer than 20 ms of wall time, so only a generous wall deadline bounds the test.
        let before = CpuTime::now();
        let mut x: u64 = 1;
        let t = std::time::Instant::now();
        let used = loop {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            let used = CpuTime::now().since(&before);
            if used.total() >= Duration::from_millis(20) || t.elapsed() > Duration::from_secs(60) {
                break used;
            }
        };
        std::hint::black_box(x);
        assert!(used.total() >= Duration::from_millis(20), "{used:?}");
    }
}
