//! Throttles for logins and registrations, built so that they can be
//! neither raced nor turned against the account's owner:
//!
//! - **Per address** (hard): at most `--login-per-minute` login and
//!   `--register-per-minute` registration requests a minute; over it, 429.
//! - **Per name and address** (hard): at most [`FAILURES`] failed logins a
//!   minute. The slot is taken *before* the password is verified, so a
//!   burst of concurrent guesses gets at most [`FAILURES`] verifications and
//!   429 for the rest; a right password gives the slot back.
//! - **Per name** (soft): past [`FAILURES`] failures a minute from anywhere,
//!   each further attempt on that name waits first, a little longer each
//!   time (up to [`MAX_DELAY`]), but is then checked: an attacker spread over
//!   many addresses slows guessing on a name down, yet cannot lock its owner
//!   out.
//!
//! Every limit counts in a sliding window of a minute, estimated from two
//! counters per key (this minute's, and the last one's weighted by how much
//! of it still falls in the window), so a key costs a few bytes however high
//! its limit. The keys live in a bounded TTL cache ([`moka`]): an entry goes
//! once its counts have aged out, and past [`CAPACITY`] keys the least
//! useful ones are evicted, so no flood of names or addresses grows it
//! without bound. (An evicted key starts again from zero: a flood big
//! enough to evict costs its sender a fresh limit, never another user a
//! lockout.)
//!
//! In cluster mode the same counts are kept in Redis
//! ([`SharedLimits::window`]), so they add up across nodes; the windows
//! are then aligned to Redis's clock rather than to a key's first event.
//! When Redis does not answer, each check counts in this node's cache
//! instead, as a single node does.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;

use crate::chat::shared_limits::{SharedLimits, WindowCount, WindowMode};
use crate::client_ip::address_key;

/// Failed logins allowed per name and address (hard), and per name before
/// attempts are delayed (soft), in [`WINDOW`].
pub const FAILURES: u32 = 5;

/// The window every limit is counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How much longer each attempt on a name waits per failure past the soft
/// limit.
pub const DELAY_STEP: Duration = Duration::from_millis(500);

/// The longest an attempt on a name under attack waits before it is checked.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The most keys kept: about 300 bytes each, so some 15 MB at worst.
pub const CAPACITY: u64 = 50_000;

/// The per-address request limits (`--login-per-minute`,
/// `--register-per-minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Login requests per address per minute.
    pub login_per_minute: u32,
    /// Registration requests per address per minute.
    pub register_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_per_minute: 30,
            register_per_minute: 10,
        }
    }
}

/// What a count is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Login requests from an address.
    Login(IpAddr),
    /// Registration requests from an address.
    Register(IpAddr),
    /// Failed logins for a name from an address.
    Failures(IpAddr, String),
    /// Failed logins for a name from anywhere.
    Name(String),
}

impl Key {
    /// Its name in Redis (a name is last, after its length: any name and
    /// any address make one key).
    fn shared(&self) -> String {
        match self {
            Self::Login(ip) => format!("login:{ip}"),
            Self::Register(ip) => format!("register:{ip}"),
            Self::Failures(ip, name) => format!("failures:{ip}:{}:{name}", name.len()),
            Self::Name(name) => format!("name:{name}"),
        }
    }
}

/// Events of one key in the sliding window: this window's count and the
/// previous one's.
#[derive(Debug, Clone, Copy)]
struct Count {
    /// When this window began.
    start: Instant,
    /// Events in the window before.
    previous: u32,
    /// Events in this window.
    current: u32,
}

impl Count {
    fn new(now: Instant) -> Self {
        Self {
            start: now,
            previous: 0,
            current: 0,
        }
    }

    /// The count Redis had, as of `now`.
    fn shared(count: WindowCount, now: Instant) -> Self {
        Self {
            start: now.checked_sub(count.into).unwrap_or(now),
            previous: count.previous,
            current: count.current,
        }
    }

    /// The counts as they stand at `now`: windows that ended are moved on.
    fn at(mut self, now: Instant) -> Self {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= WINDOW * 2 {
            return Self::new(now);
        }
        if elapsed >= WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.start += WINDOW;
        }
        self
    }

    /// About how many events fell in the minute before `now` (the previous
    /// window weighted by the part of it still inside).
    fn estimate(&self, now: Instant) -> f64 {
        let into = now.saturating_duration_since(self.start).as_secs_f64() / WINDOW.as_secs_f64();
        f64::from(self.previous) * (1.0 - into).max(0.0) + f64::from(self.current)
    }

    /// Whether one more stays within `limit`.
    fn fits(&self, now: Instant, limit: u32) -> bool {
        self.estimate(now) + 1.0 <= f64::from(limit)
    }

    /// How long until one more fits within `limit`.
    fn wait(&self, now: Instant, limit: u32) -> Duration {
        let room = f64::from(limit) - 1.0;
        let (previous, current) = (f64::from(self.previous), f64::from(self.current));
        // The point, in windows after `start`, where the estimate has fallen
        // to `room`.
        let at = if current <= room {
            if previous > 0.0 {
                1.0 - (room - current) / previous
            } else {
                0.0
            }
        } else {
            // Not in this window: in the next one, this one's count decays.
            2.0 - room / current
        };
        let until = self.start + WINDOW.mul_f64(at.max(0.0));
        until
            .saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }
}

/// Why a request must wait: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Duration);

/// Expires a key once both its windows have ended: it counts nothing then.
struct AgedOut;

impl AgedOut {
    fn left(count: &Count, now: Instant) -> Option<Duration> {
        Some((count.start + WINDOW * 2).saturating_duration_since(now))
    }
}

impl moka::Expiry<Key, Count> for AgedOut {
    fn expire_after_create(&self, _: &Key, count: &Count, now: Instant) -> Option<Duration> {
        Self::left(count, now)
    }

    fn expire_after_update(
        &self,
        _: &Key,
        count: &Count,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::left(count, now)
    }
}

/// The throttles' state; cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    counts: Cache<Key, Count>,
    limits: Limits,
    /// The cluster's counts, in cluster mode.
    shared: Option<SharedLimits>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .field("keys", &self.counts.entry_count())
            .finish()
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Throttle {
    /// Throttles with these per-address limits, keeping at most [`CAPACITY`]
    /// keys.
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, CAPACITY)
    }

    fn with_capacity(limits: Limits, capacity: u64) -> Self {
        Self {
            counts: Cache::builder()
                .max_capacity(capacity)
                .expire_after(AgedOut)
                .build(),
            limits,
            shared: None,
        }
    }

    /// These throttles, counting across nodes in `shared` (cluster mode)
    /// when it is there.
    pub fn in_cluster(mut self, shared: Option<SharedLimits>) -> Self {
        self.shared = shared;
        self
    }

    /// Counts a login request from `ip`; `Err` past the per-address limit.
    pub async fn login_request(&self, ip: IpAddr) -> Result<(), Refused> {
        let limit = self.limits.login_per_minute;
        self.take_anywhere(Key::Login(address_key(ip)), limit).await
    }

    /// Counts a registration request from `ip`; `Err` past the per-address
    /// limit.
    pub async fn register_request(&self, ip: IpAddr) -> Result<(), Refused> {
        let limit = self.limits.register_per_minute;
        self.take_anywhere(Key::Register(address_key(ip)), limit)
            .await
    }

    /// Takes a failure slot for a login to `name` (already validated) from
    /// `ip` before its password is checked. `Err` when this address has used
    /// up its failures for the name; otherwise the attempt, which says how
    /// long to wait before checking (the name's soft limit) and which counts
    /// as a failure unless [`Attempt::forget`] gives it back.
    pub async fn login_attempt(&self, ip: IpAddr, name: &str) -> Result<Attempt, Refused> {
        if let Some(shared) = &self.shared
            && let Some(attempt) = self.shared_attempt(shared, ip, name).await
        {
            return attempt;
        }
        self.attempt_at(ip, name, Instant::now())
    }

    /// [`Self::login_attempt`] counted in Redis; `None` when Redis failed.
    async fn shared_attempt(
        &self,
        shared: &SharedLimits,
        ip: IpAddr,
        name: &str,
    ) -> Option<Result<Attempt, Refused>> {
        let key = name_key(name);
        let hard = Key::Failures(address_key(ip), key.clone());
        if let Err(refused) = self.take_shared(shared, &hard, FAILURES).await? {
            return Some(Err(refused));
        }
        let soft = Key::Name(key);
        let now = Instant::now();
        let count = shared
            .window(&soft.shared(), WindowMode::Record, 0, WINDOW)
            .await;
        let Some(count) = count else {
            // The slot taken in Redis stays taken (a failure, at worst):
            // this attempt counts locally from here.
            return Some(self.attempt_at(ip, name, now));
        };
        // Whole events, rounded down; the cast saturates.
        let failures = Count::shared(count, now).estimate(now) as u32;
        Some(Ok(Attempt {
            throttle: self.clone(),
            keys: [hard, soft],
            delay: soft_delay(failures),
            shared: true,
        }))
    }

    /// Counts one under a hard `limit` in Redis, or else here.
    async fn take_anywhere(&self, key: Key, limit: u32) -> Result<(), Refused> {
        if let Some(shared) = &self.shared
            && let Some(taken) = self.take_shared(shared, &key, limit).await
        {
            return taken;
        }
        self.take(key, limit, Instant::now())
    }

    /// Counts one under a hard `limit` in Redis; `None` when Redis failed.
    async fn take_shared(
        &self,
        shared: &SharedLimits,
        key: &Key,
        limit: u32,
    ) -> Option<Result<(), Refused>> {
        let limit = limit.max(1);
        let count = shared
            .window(&key.shared(), WindowMode::Take, limit, WINDOW)
            .await?;
        let now = Instant::now();
        Some(if count.counted {
            Ok(())
        } else {
            Err(Refused(Count::shared(count, now).wait(now, limit)))
        })
    }

    fn attempt_at(&self, ip: IpAddr, name: &str, now: Instant) -> Result<Attempt, Refused> {
        let name = name_key(name);
        let hard = Key::Failures(address_key(ip), name.clone());
        self.take(hard.clone(), FAILURES, now)?;
        let soft = Key::Name(name);
        let failures = self.record(soft.clone(), now);
        Ok(Attempt {
            throttle: self.clone(),
            keys: [hard, soft],
            delay: soft_delay(failures),
            shared: false,
        })
    }

    /// Counts one under a hard `limit`, or says how long until one fits.
    fn take(&self, key: Key, limit: u32, now: Instant) -> Result<(), Refused> {
        let limit = limit.max(1);
        let mut outcome = Ok(());
        self.counts.entry(key).and_compute_with(|entry| {
            let mut count = entry.map_or(Count::new(now), |e| e.into_value()).at(now);
            if count.fits(now, limit) {
                count.current = count.current.saturating_add(1);
                Op::Put(count)
            } else {
                outcome = Err(Refused(count.wait(now, limit)));
                Op::Nop
            }
        });
        outcome
    }

    /// Counts one, never refusing: about how many there were in the minute
    /// before. (Two windows after a flood stops, it has aged out.)
    fn record(&self, key: Key, now: Instant) -> u32 {
        let mut before = 0.0;
        self.counts.entry(key).and_compute_with(|entry| {
            let mut count = entry.map_or(Count::new(now), |e| e.into_value()).at(now);
            before = count.estimate(now);
            count.current = count.current.saturating_add(1);
            Op::Put(count)
        });
        // Whole events, rounded down; the cast saturates.
        before as u32
    }

    /// Takes one back (the attempt did not fail).
    fn give_back(&self, key: Key, now: Instant) {
        self.counts
            .entry(key)
            .and_compute_with(|entry| match entry {
                Some(entry) => {
                    let mut count = entry.into_value().at(now);
                    if count.current > 0 {
                        count.current -= 1;
                    } else {
                        count.previous = count.previous.saturating_sub(1);
                    }
                    if count.current == 0 && count.previous == 0 {
                        Op::Remove
                    } else {
                        Op::Put(count)
                    }
                }
                None => Op::Nop,
            });
    }

    /// How many keys are kept (after pending evictions).
    #[cfg(test)]
    fn keys(&self) -> u64 {
        self.counts.run_pending_tasks();
        self.counts.entry_count()
    }
}

/// A login attempt that holds its failure slots.
#[derive(Debug)]
pub struct Attempt {
    throttle: Throttle,
    keys: [Key; 2],
    delay: Duration,
    /// Whether its slots were taken in Redis.
    shared: bool,
}

impl Attempt {
    /// How long to wait before checking the password (the name's soft
    /// limit).
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The attempt does not count as a failure: the password was right, or
    /// it was never checked (the server was busy).
    pub async fn forget(self) {
        if self.shared
            && let Some(shared) = &self.throttle.shared
        {
            for key in &self.keys {
                // If Redis fails now, the slot stays taken: a failure more,
                // never a guess more.
                let _ = shared
                    .window(&key.shared(), WindowMode::Give, 0, WINDOW)
                    .await;
            }
            return;
        }
        let now = Instant::now();
        for key in self.keys {
            self.throttle.give_back(key, now);
        }
    }
}

/// The name as throttles count it: by its key, as accounts are unique, so
/// look-alike spellings of one name share its count.
fn name_key(name: &str) -> String {
    protocol::name_key(name)
}

/// The wait for an attempt on a name that failed `failures` times lately.
fn soft_delay(failures: u32) -> Duration {
    match failures.checked_sub(FAILURES) {
        Some(excess) => DELAY_STEP
            .saturating_mul(excess.saturating_add(1))
            .min(MAX_DELAY),
        None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn failures_per_name_and_address_are_taken_before_checking() {
        let throttle = Throttle::default();
        let now = Instant::now();
        let attacker = ip("203.0.113.7");
        // Five attempts at once all hold a slot; the sixth waits, whatever
        // its password.
        let held: Vec<Attempt> = (0..FAILURES)
            .map(|_| throttle.attempt_at(attacker, "Alice", now).unwrap())
            .collect();
        let Err(Refused(wait)) = throttle.attempt_at(attacker, "alice ", now) else {
            panic!("the sixth attempt must be refused");
        };
        // The count slides: in the next minute the five decay, and the
        // sixth fits once they weigh four.
        assert_eq!(wait, WINDOW + WINDOW / FAILURES);
        assert!(
            throttle
                .attempt_at(attacker, "alice", now + WINDOW / 2)
                .is_err()
        );
        assert!(
            throttle
                .attempt_at(attacker, "alice", now + WINDOW)
                .is_err()
        );
        assert!(throttle.attempt_at(attacker, "alice", now + wait).is_ok());
        // Other names and other addresses are untouched.
        assert!(throttle.attempt_at(attacker, "bob", now).is_ok());
        assert!(
            throttle
                .attempt_at(ip("198.51.100.2"), "alice", now)
                .is_ok()
        );
        drop(held);
    }

    #[tokio::test]
    async fn a_right_password_gives_its_slot_back() {
        let throttle = Throttle::default();
        let owner = ip("198.51.100.2");
        for _ in 0..FAILURES * 3 {
            throttle
                .login_attempt(owner, "alice")
                .await
                .unwrap()
                .forget()
                .await;
        }
        assert!(throttle.login_attempt(owner, "alice").await.is_ok());
    }

    #[test]
    fn the_name_limit_delays_and_never_refuses() {
        let throttle = Throttle::default();
        let now = Instant::now();
        // An attacker with many addresses fails on one name.
        for i in 0..FAILURES {
            let attempt = throttle
                .attempt_at(ip(&format!("10.0.0.{i}")), "alice", now)
                .unwrap();
            assert_eq!(attempt.delay(), Duration::ZERO);
        }
        let mut last = Duration::ZERO;
        for i in 0..100 {
            let attempt = throttle
                .attempt_at(ip(&format!("10.0.1.{i}")), "alice", now)
                .unwrap();
            assert!(attempt.delay() >= last && attempt.delay() <= MAX_DELAY);
            last = attempt.delay();
        }
        assert_eq!(last, MAX_DELAY);
        // The owner, from an address of their own, is delayed but let in.
        let owner = throttle
            .attempt_at(ip("198.51.100.2"), "alice", now)
            .unwrap();
        assert_eq!(owner.delay(), MAX_DELAY);
        // Two minutes after the flood stops, the delay is gone.
        let later = now + WINDOW * 2;
        let calm = throttle
            .attempt_at(ip("198.51.100.2"), "alice", later)
            .unwrap();
        assert_eq!(calm.delay(), Duration::ZERO);
    }

    #[tokio::test]
    async fn requests_per_address_are_limited_and_ipv6_counts_per_64() {
        let throttle = Throttle::new(Limits {
            login_per_minute: 3,
            register_per_minute: 1,
        });
        for _ in 0..3 {
            throttle.login_request(ip("2001:db8::1")).await.unwrap();
        }
        // The same /64, another interface id.
        assert!(
            throttle
                .login_request(ip("2001:db8::ffff:1"))
                .await
                .is_err()
        );
        assert!(throttle.login_request(ip("2001:db8:0:1::1")).await.is_ok());
        // Registrations are counted apart.
        assert!(throttle.register_request(ip("2001:db8::1")).await.is_ok());
        assert!(throttle.register_request(ip("2001:db8::1")).await.is_err());
    }

    #[tokio::test]
    async fn the_map_stays_bounded_after_100_000_names() {
        let throttle = Throttle::with_capacity(Limits::default(), 1_000);
        let attacker = ip("203.0.113.7");
        for i in 0..100_000 {
            // Each is a failure (never given back).
            drop(throttle.login_attempt(attacker, &format!("name{i}")).await);
            throttle
                .login_request(ip(&format!("10.{}.{}.1", i / 256 % 256, i % 256)))
                .await
                .ok();
        }
        let keys = throttle.keys();
        assert!(keys <= 1_000, "{keys} keys kept");
    }
}
