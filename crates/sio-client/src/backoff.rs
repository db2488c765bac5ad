//! Exponential backoff with jitter: after a dropped connection, wait
//! `min`, then twice as long, up to `max`, each wait spread by ±50% so that a
//! room full of clients does not come back at the same instant after a
//! server restart.

/// The delays between reconnection attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    min_ms: u32,
    max_ms: u32,
    attempt: u32,
}

impl Backoff {
    /// Delays from `min_ms` doubling up to `max_ms`.
    pub fn new(min_ms: u32, max_ms: u32) -> Self {
        Self {
            min_ms,
            max_ms: max_ms.max(min_ms),
            attempt: 0,
        }
    }

    /// How many delays were handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The next delay; `random` is uniform in [0, 1) and spreads it ±50%.
    pub fn next_delay(&mut self, random: f64) -> u32 {
        let base = u64::from(self.min_ms)
            .saturating_mul(1 << self.attempt.min(20))
            .min(u64::from(self.max_ms));
        self.attempt = self.attempt.saturating_add(1);
        let spread = 0.5 + random.clamp(0.0, 1.0);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let delay = (base as f64 * spread) as u32;
        delay.min(self.max_ms.saturating_add(self.max_ms / 2))
    }

    /// A connection succeeded: start from `min` next time.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(500, 10_000);
        let middle: Vec<u32> = (0..8).map(|_| backoff.next_delay(0.5)).collect();
        assert_eq!(
            middle,
            [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]
        );
        assert_eq!(backoff.attempt(), 8);
        backoff.reset();
        assert_eq!(backoff.next_delay(0.5), 500);
    }

    #[test]
    fn jitter_spreads_half_each_way() {
        let mut low = Backoff::new(1_000, 10_000);
        let mut high = low.clone();
        assert_eq!(low.next_delay(0.0), 500);
        assert_eq!(high.next_delay(0.999_999), 1_499);
        let mut capped = Backoff::new(1_000, 2_000);
        for _ in 0..10 {
            assert!(capped.next_delay(1.0) <= 3_000);
        }
    }
}
