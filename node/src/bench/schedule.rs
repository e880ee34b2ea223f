//! Open-loop send times, so that latency is measured from when a request *should* have
//! been sent (coordinated omission: a stalled server must not also stall the clock).
//!
//! With a total rate R over N clients, the k-th request overall is due at k/R; client c
//! owns every k ≡ c (mod N), i.e. its i-th request is due at (c + i·N)/R. The clients are
//! thus staggered evenly and together send exactly R per second.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    rate: f64,
    clients: u64,
    client: u64,
}

impl Schedule {
    /// `rate` is requests per second over all `clients`; `client` < `clients`.
    pub fn new(start: Instant, rate: f64, clients: u64, client: u64) -> Schedule {
        debug_assert!(rate > 0.0 && client < clients);
        Schedule {
            start,
            rate,
            clients,
            client,
        }
    }

    /// Offset from the start at which this client's `i`-th request is due.
    pub fn offset(&self, i: u64) -> Duration {
        let k = self.client as f64 + i as f64 * self.clients as f64;
        Duration::from_secs_f64(k / self.rate)
    }

    pub fn intended(&self, i: u64) -> Instant {
        self.start + self.offset(i)
    }

    /// How many of this client's requests fall due strictly before `t`.
    pub fn due_by(&self, t: Instant) -> u64 {
        self.due_before(t.saturating_duration_since(self.start))
    }

    /// How many of this client's requests fall due strictly before `offset`.
    pub fn due_before(&self, offset: Duration) -> u64 {
        // Smallest i with (client + i·N)/R >= offset.
        let k = offset.as_secs_f64() * self.rate;
        let first_k_not_due = k.ceil() as u64;
        if first_k_not_due <= self.client {
            0
        } else {
            (first_k_not_due - self.client).div_ceil(self.clients)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_together_send_exactly_the_rate_evenly_spaced() {
        let start = Instant::now();
        let (rate, n) = (1000.0, 4u64);
        let mut all: Vec<Duration> = (0..n)
            .flat_map(|c| {
                let s = Schedule::new(start, rate, n, c);
                (0..250).map(move |i| s.offset(i))
            })
            .collect();
        all.sort();
        for (k, d) in all.iter().enumerate() {
            let want = Duration::from_secs_f64(k as f64 / rate);
            assert!(
                d.abs_diff(want) < Duration::from_nanos(10),
                "k={k}: {d:?} vs {want:?}"
            );
        }
        // One second holds exactly `rate` due times.
        let due: u64 = (0..n)
            .map(|c| Schedule::new(start, rate, n, c).due_before(Duration::from_secs(1)))
            .sum();
        assert_eq!(due, 1000);
    }

    #[test]
    fn due_counts_match_offsets() {
        let start = Instant::now();
        for (rate, n, c) in [(10.0, 3, 0), (10.0, 3, 2), (7.5, 5, 4), (1e5, 64, 63)] {
            let s = Schedule::new(start, rate, n, c);
            for ms in [0u64, 1, 99, 100, 101, 1000, 12_345] {
                let until = Duration::from_millis(ms);
                let brute = (0..100_000u64).take_while(|&i| s.offset(i) < until).count() as u64;
                assert_eq!(
                    s.due_before(until),
                    brute,
                    "rate {rate} n {n} c {c} until {ms}ms"
                );
            }
        }
        assert_eq!(
            Schedule::new(start, 2.0, 1, 0).intended(3),
            start + Duration::from_millis(1500)
        );
    }
}
