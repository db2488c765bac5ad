//! Who is typing, as this node has told the others: each user's `typing`
//! is broadcast at most once every few seconds, however often their pages
//! say so, and a stop only after a start that was told.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often the others hear that a user is typing, at most, however often
/// their pages say so. Pages repeat `typing` every 3 s while their user
/// types, and a listener's page forgets a typist it heard nothing from for
/// 6 s: a little under 3 s lets every repeat of a real page through.
pub const TYPING_REPEAT: Duration = Duration::from_millis(2_500);

/// How many `typing` broadcasts of one user may follow each other closely
/// (a message sent and the next one started at once is two), after which
/// one a second: a client alternating `typing`, `stop typing` and messages
/// is told to the others at most about twice a second (a start and its
/// stop). A `stop typing` after a `typing` that was told is always told: the
/// canonical demo's pages show a typist until they hear it.
pub const TYPING_BURST: u32 = 3;

/// How often a `typing` broadcast is earned back, past [`TYPING_BURST`].
pub const TYPING_REFILL: Duration = Duration::from_secs(1);

/// The typing state of this node's users, by name key; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Typing(Arc<Mutex<HashMap<String, Typist>>>);

#[derive(Debug)]
struct Typist {
    /// When the others were last told this user is typing, until they hear
    /// it stopped (or a message).
    announced: Option<Instant>,
    /// The `typing` broadcasts this user may still make.
    news: governor::DefaultDirectRateLimiter,
}

impl Typing {
    /// User `key` is typing: whether the others should hear it now.
    pub fn start(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut typists = self.typists();
        let typist = typists.entry(key.to_owned()).or_insert_with(Typist::new);
        let recent = typist
            .announced
            .is_some_and(|at| now.duration_since(at) < TYPING_REPEAT);
        if recent || typist.news.check().is_err() {
            return false;
        }
        typist.announced = Some(now);
        true
    }

    /// User `key` stopped typing: whether the others were told they started.
    pub fn stop(&self, key: &str) -> bool {
        self.typists()
            .get_mut(key)
            .is_some_and(|typist| typist.announced.take().is_some())
    }

    /// User `key` sent a message, which ends their typing line on every
    /// page: their next `typing` is news again (within [`TYPING_BURST`]).
    pub fn sent_message(&self, key: &str) {
        if let Some(typist) = self.typists().get_mut(key) {
            typist.announced = None;
        }
    }

    /// User `key` has no connection on this node any more.
    pub fn forget(&self, key: &str) {
        self.typists().remove(key);
    }

    fn typists(&self) -> MutexGuard<'_, HashMap<String, Typist>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Typist {
    fn new() -> Self {
        let burst = NonZeroU32::new(TYPING_BURST).unwrap_or(NonZeroU32::MIN);
        let quota = governor::Quota::with_period(TYPING_REFILL)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            announced: None,
            news: governor::DefaultDirectRateLimiter::direct(quota),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_told_once_every_few_seconds_and_stopping_once() {
        let typing = Typing::default();
        assert!(typing.start("alice"));
        // However many times: once per TYPING_REPEAT.
        for _ in 0..100 {
            assert!(!typing.start("alice"));
        }
        assert!(typing.stop("alice"));
        assert!(!typing.stop("alice"), "they were told already");
        // A message sent and the next one started at once: news again.
        assert!(typing.start("alice"));
        typing.sent_message("alice");
        assert!(typing.start("alice"), "news again after a message");
        assert!(typing.stop("alice"));
        // Past its burst, a user's typing is news once a second (and so is
        // its stop).
        assert!(!typing.start("alice"));
        assert!(!typing.stop("alice"));
        std::thread::sleep(TYPING_REFILL);
        assert!(typing.start("alice"));
        let mut told = 0;
        for _ in 0..200 {
            told += usize::from(typing.start("alice"));
            told += usize::from(typing.stop("alice"));
            typing.sent_message("alice");
        }
        assert_eq!(told, 1, "only the stop of the one start told");
        assert!(!typing.stop("bob"), "nobody told of bob");
        typing.forget("alice");
        assert!(typing.start("alice"), "a user back is news");
    }
}
