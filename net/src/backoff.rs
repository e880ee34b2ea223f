//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! Full jitter (a uniform delay between zero and the capped exponential) keeps nodes that lost
//! a peer at the same moment from all redialling it in lockstep.

use std::time::Duration;

use rand::Rng;

pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            failures: 0,
        }
    }

    /// The ceiling of the next delay: base * 2^failures, capped.
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_below_the_ceiling() {
        let base = Duration::from_millis(10);
        let cap = Duration::from_millis(1000);
        let mut b = Backoff::new(base, cap);
        let mut ceilings = Vec::new();
        for _ in 0..40 {
            let ceiling = b.ceiling();
            let d = b.next_delay();
            assert!(d <= ceiling, "{d:?} > {ceiling:?}");
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(&ceilings[..8], &[10, 20, 40, 80, 160, 320, 640, 1000]);
        assert!(ceilings[8..].iter().all(|&c| c == 1000));
        // Jitter: many draws at the cap are not all equal.
        let draws: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(draws.len() > 1);
        b.reset();
        assert_eq!(b.ceiling(), base);
    }
}
