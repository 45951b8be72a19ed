//! Exponential backoff with jitter after failed iterations.

use std::time::Duration;

/// `base * 2^(failures - 1)`, capped at `max`, then jittered by up to ±20 % (never above `max`).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff starting at `base` (the `retry_delay` setting) and capped at `max`. `seed` makes the
    /// jitter reproducible (tests); `None` seeds from the OS.
    pub fn new(base: Duration, max: Duration, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        Backoff { base, max, rng }
    }

    /// The delay after `failures` consecutive failures (1 = the first failure).
    pub fn delay(&mut self, failures: u32) -> Duration {
        if self.base.is_zero() || failures == 0 {
            return Duration::ZERO;
        }
        let exp = failures.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp).min(self.max);
        let jitter = 0.8 + 0.4 * self.rng.f64();
        raw.mul_f64(jitter).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_within_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(10), Some(1));
        let d1 = b.delay(1).as_secs_f64();
        let d2 = b.delay(2).as_secs_f64();
        let d5 = b.delay(5).as_secs_f64();
        assert!((1.6..=2.4).contains(&d1), "{d1}");
        assert!((3.2..=4.8).contains(&d2), "{d2}");
        assert!((8.0..=10.0).contains(&d5), "{d5}");
    }

    #[test]
    fn zero_base_means_no_wait() {
        let mut b = Backoff::new(Duration::ZERO, Duration::from_secs(10), None);
        assert_eq!(b.delay(3), Duration::ZERO);
    }
}
