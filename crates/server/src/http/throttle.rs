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
//! Every limit is a token bucket kept as one instant per key (GCRA: the
//! "theoretical arrival time"): `limit` requests at once, then one every
//! `window / limit`. The keys live in a bounded TTL cache ([`moka`]): an
//! entry goes when its bucket is full again, and past [`CAPACITY`] keys the
//! least useful ones are evicted, so no flood of names or addresses grows it
//! without bound. (An evicted key starts again with a full bucket: a
//! flood big enough to evict costs its sender a fresh limit, never another
//! user a lockout.)

use std::net::IpAddr;
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;

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

/// What a bucket is kept under.
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

/// A token bucket: `limit` at once, refilled over `window`.
#[derive(Debug, Clone, Copy)]
struct Rate {
    limit: u32,
    window: Duration,
}

impl Rate {
    fn per_window(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            window: WINDOW,
        }
    }

    /// The time one token takes to come back.
    fn interval(self) -> Duration {
        self.window / self.limit
    }
}

/// Why a request must wait: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Duration);

/// Expires a bucket when it is full again: keeping it would change nothing.
struct UntilFull;

impl moka::Expiry<Key, Instant> for UntilFull {
    fn expire_after_create(&self, _: &Key, tat: &Instant, now: Instant) -> Option<Duration> {
        Some(tat.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &Key,
        tat: &Instant,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(tat.saturating_duration_since(now))
    }
}

/// The throttles' state; cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    buckets: Cache<Key, Instant>,
    limits: Limits,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .field("keys", &self.buckets.entry_count())
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
            buckets: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilFull)
                .build(),
            limits,
        }
    }

    /// Counts a login request from `ip`; `Err` past the per-address limit.
    pub fn login_request(&self, ip: IpAddr) -> Result<(), Refused> {
        let rate = Rate::per_window(self.limits.login_per_minute);
        self.take(Key::Login(address_key(ip)), rate, Instant::now())
    }

    /// Counts a registration request from `ip`; `Err` past the per-address
    /// limit.
    pub fn register_request(&self, ip: IpAddr) -> Result<(), Refused> {
        let rate = Rate::per_window(self.limits.register_per_minute);
        self.take(Key::Register(address_key(ip)), rate, Instant::now())
    }

    /// Takes a failure slot for a login to `name` (already validated) from
    /// `ip` before its password is checked. `Err` when this address has used
    /// up its failures for the name; otherwise the attempt, which says how
    /// long to wait before checking (the name's soft limit) and which counts
    /// as a failure unless [`Attempt::forget`] gives it back.
    pub fn login_attempt(&self, ip: IpAddr, name: &str) -> Result<Attempt, Refused> {
        self.attempt_at(ip, name, Instant::now())
    }

    fn attempt_at(&self, ip: IpAddr, name: &str, now: Instant) -> Result<Attempt, Refused> {
        let name = name_key(name);
        let ip = address_key(ip);
        let hard = Key::Failures(ip, name.clone());
        self.take(hard.clone(), Rate::per_window(FAILURES), now)?;
        let soft = Key::Name(name);
        let failures = self.record(soft.clone(), Rate::per_window(FAILURES), now);
        Ok(Attempt {
            throttle: self.clone(),
            keys: [hard, soft],
            delay: soft_delay(failures),
        })
    }

    /// Takes a token from a hard bucket, or says how long until one is back.
    fn take(&self, key: Key, rate: Rate, now: Instant) -> Result<(), Refused> {
        let mut outcome = Err(Refused(Duration::ZERO));
        self.buckets.entry(key).and_compute_with(|entry| {
            let tat = entry.map_or(now, |e| e.into_value()).max(now);
            let next = tat + rate.interval();
            let limit = now + rate.window;
            if next > limit {
                outcome = Err(Refused(next - limit));
                Op::Nop
            } else {
                outcome = Ok(());
                Op::Put(next)
            }
        });
        outcome
    }

    /// Counts one in a soft bucket, never refusing: how many were in use
    /// before. The count stops growing at the point where the delay is
    /// longest, so a flood ends [`MAX_DELAY`]'s worth of failures after it
    /// stops, not hours later.
    fn record(&self, key: Key, rate: Rate, now: Instant) -> u32 {
        let most = FAILURES + max_excess();
        let ceiling = now + rate.interval() * most;
        let mut before = 0;
        self.buckets.entry(key).and_compute_with(|entry| {
            let tat = entry.map_or(now, |e| e.into_value()).max(now);
            before = in_use(tat, now, rate);
            Op::Put((tat + rate.interval()).min(ceiling))
        });
        before
    }

    /// Gives a token back (the attempt did not fail).
    fn give_back(&self, key: Key, rate: Rate, now: Instant) {
        self.buckets
            .entry(key)
            .and_compute_with(|entry| match entry {
                Some(entry) => {
                    let tat = entry.into_value();
                    match tat.checked_sub(rate.interval()) {
                        Some(tat) if tat > now => Op::Put(tat),
                        _ => Op::Remove,
                    }
                }
                None => Op::Nop,
            });
    }

    /// How many keys are kept (after pending evictions).
    #[cfg(test)]
    fn keys(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.entry_count()
    }
}

/// A login attempt that holds its failure slots.
#[derive(Debug)]
pub struct Attempt {
    throttle: Throttle,
    keys: [Key; 2],
    delay: Duration,
}

impl Attempt {
    /// How long to wait before checking the password (the name's soft
    /// limit).
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The attempt does not count as a failure: the password was right, or
    /// it was never checked (the server was busy).
    pub fn forget(self) {
        let now = Instant::now();
        for key in self.keys {
            self.throttle
                .give_back(key, Rate::per_window(FAILURES), now);
        }
    }
}

/// The name as throttles count it: trimmed and case-insensitive, as
/// accounts are unique.
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The address as throttles count it: an IPv6 client usually holds a whole
/// /64, so it counts as one address.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
        v4 => v4,
    }
}

/// Tokens of `rate` in use when the bucket's arrival time is `tat`.
fn in_use(tat: Instant, now: Instant, rate: Rate) -> u32 {
    let ahead = tat.saturating_duration_since(now).as_nanos();
    let interval = rate.interval().as_nanos().max(1);
    u32::try_from(ahead.div_ceil(interval)).unwrap_or(u32::MAX)
}

/// Failures past the soft limit at which the delay is longest.
fn max_excess() -> u32 {
    let steps = MAX_DELAY.as_millis() / DELAY_STEP.as_millis().max(1);
    u32::try_from(steps).unwrap_or(u32::MAX)
}

/// The wait for an attempt on a name that failed `failures` times lately.
fn soft_delay(failures: u32) -> Duration {
    match failures.checked_sub(FAILURES) {
        Some(excess) => (DELAY_STEP * excess.saturating_add(1)).min(MAX_DELAY),
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
        assert!(
            wait > Duration::ZERO && wait <= WINDOW / FAILURES,
            "{wait:?}"
        );
        // A slot comes back every 12 s.
        assert!(
            throttle
                .attempt_at(attacker, "alice", now + WINDOW / FAILURES)
                .is_ok()
        );
        // Other names and other addresses are untouched.
        assert!(throttle.attempt_at(attacker, "bob", now).is_ok());
        assert!(
            throttle
                .attempt_at(ip("198.51.100.2"), "alice", now)
                .is_ok()
        );
        drop(held);
    }

    #[test]
    fn a_right_password_gives_its_slot_back() {
        let throttle = Throttle::default();
        let owner = ip("198.51.100.2");
        for _ in 0..FAILURES * 3 {
            throttle.login_attempt(owner, "alice").unwrap().forget();
        }
        assert!(throttle.login_attempt(owner, "alice").is_ok());
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
        // Once the flood stops, the delay ends within a bounded time.
        let later = now + WINDOW / FAILURES * (FAILURES + max_excess() + 1);
        let calm = throttle
            .attempt_at(ip("198.51.100.2"), "alice", later)
            .unwrap();
        assert_eq!(calm.delay(), Duration::ZERO);
    }

    #[test]
    fn requests_per_address_are_limited_and_ipv6_counts_per_64() {
        let throttle = Throttle::new(Limits {
            login_per_minute: 3,
            register_per_minute: 1,
        });
        for _ in 0..3 {
            throttle.login_request(ip("2001:db8::1")).unwrap();
        }
        // The same /64, another interface id.
        assert!(throttle.login_request(ip("2001:db8::ffff:1")).is_err());
        assert!(throttle.login_request(ip("2001:db8:0:1::1")).is_ok());
        // Registrations are counted apart.
        assert!(throttle.register_request(ip("2001:db8::1")).is_ok());
        assert!(throttle.register_request(ip("2001:db8::1")).is_err());
    }

    #[test]
    fn the_map_stays_bounded_after_100_000_names() {
        let throttle = Throttle::with_capacity(Limits::default(), 1_000);
        let attacker = ip("203.0.113.7");
        for i in 0..100_000 {
            // Each is a failure (never given back).
            drop(throttle.login_attempt(attacker, &format!("name{i}")));
            throttle
                .login_request(ip(&format!("10.{}.{}.1", i / 256 % 256, i % 256)))
                .ok();
        }
        let keys = throttle.keys();
        assert!(keys <= 1_000, "{keys} keys kept");
    }
}
