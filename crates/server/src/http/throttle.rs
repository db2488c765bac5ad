//! Failed-login throttling: at most [`MAX_FAILURES`] failures a minute per
//! username and per client address; past that, logins are refused with a
//! time to wait, whether the password is right or not.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures allowed per key in [`WINDOW`].
pub const MAX_FAILURES: usize = 5;

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Recent failures by key ("user:alice", "addr:127.0.0.1"); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Throttle(Arc<Mutex<HashMap<String, VecDeque<Instant>>>>);

impl Throttle {
    /// `Err(wait)` if any key has had too many failures lately.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                if times.len() >= MAX_FAILURES
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(WINDOW - now.duration_since(*oldest));
                }
            }
        }
        failures.retain(|_, times| !times.is_empty());
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failure against every key.
    pub fn fail(&self, keys: &[String]) {
        let now = Instant::now();
        let mut failures = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_failure_in_a_minute_waits() {
        let throttle = Throttle::default();
        let keys = ["user:alice".to_owned(), "addr:127.0.0.1".to_owned()];
        for _ in 0..MAX_FAILURES {
            assert_eq!(throttle.check(&keys), Ok(()));
            throttle.fail(&keys);
        }
        let wait = throttle.check(&keys).unwrap_err();
        assert!(wait > Duration::from_secs(55) && wait <= WINDOW, "{wait:?}");
        // Another user from another address is not affected.
        assert_eq!(
            throttle.check(&["user:bob".to_owned(), "addr:10.0.0.2".to_owned()]),
            Ok(())
        );
        // The same address is, whoever it tries.
        assert!(
            throttle
                .check(&["user:bob".to_owned(), "addr:127.0.0.1".to_owned()])
                .is_err()
        );
    }
}
