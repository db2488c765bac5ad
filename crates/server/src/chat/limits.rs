//! How much a client may send and hold: token buckets (GCRA, from
//! `governor`) per account and per connection, with a refusal that says when
//! to try again, and a cap on each account's open sockets.
//!
//! Every event a connection sends spends from its connection's bucket
//! (`--event-rate`, `--event-burst`), which caps the raw rate whatever the
//! event. Events that cost the server work also spend from their account's
//! bucket, shared by all of its tabs: messages (disk and everyone's
//! bandwidth), reads of the history (the read pool that logins need too) and
//! entries (a join, stored). Guests have no account: their address is their
//! key. A connection that goes on after being refused spends from a small
//! bucket of refusals, and is disconnected with a reason when it is empty.
//!
//! The defaults leave room for what people do: a burst of 20 messages (a
//! queue of messages written offline, sent at once on reconnecting) and one
//! a second after it, a reconnect catching up page by page, a handful of
//! tabs entering together after a restart.
//!
//! In cluster mode the account's buckets, its cool-down and its count of
//! open sockets are kept in Redis ([`super::shared_limits`]), so an account
//! with tabs on two nodes gets one limit, not two; a connection's own
//! buckets stay on its node. When Redis does not answer, each check falls
//! back to this node's own count, as a single node does.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use protocol::{AckError, ErrorCode};

use super::shared_limits::SharedLimits;

/// What a class of event may cost: so many a minute, after a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many may be sent at once, after a quiet spell.
    pub burst: u32,
    /// How many a minute may follow, evenly spread.
    pub per_minute: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let per_minute = NonZeroU32::new(self.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::per_minute(per_minute).allow_burst(burst)
    }

    /// The time between two events once the burst is spent.
    fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }
}

/// The limits in force (see the `Config` settings of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    /// Any event, per connection.
    pub events: Rate,
    /// `new message`, per account.
    pub messages: Rate,
    /// `history` and `catch up`, per account.
    pub reads: Rate,
    /// `add user`, per account.
    pub entries: Rate,
    /// Refusals a connection may collect before it is disconnected; one is
    /// forgiven every [`REFUSAL_FORGIVEN_EVERY`].
    pub refusals: u32,
    /// Events one connection may have in progress at once (sent, not yet
    /// answered).
    pub in_flight: usize,
    /// Sockets one account (or one guest address) may have open at once.
    pub sockets_per_account: usize,
    /// How long an account disconnected for flooding is refused new
    /// connections.
    pub flooding_cooldown: Duration,
}

/// How often a connection's count of refusals goes down by one.
pub const REFUSAL_FORGIVEN_EVERY: Duration = Duration::from_secs(5);

/// Which bucket of its account an event spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `new message`.
    Message,
    /// `history`, `catch up`.
    Read,
    /// `add user`.
    Entry,
    /// Everything else (`typing`, `stop typing`, unknown events): only the
    /// connection's bucket.
    Other,
}

impl Class {
    /// Its name in the keys of the shared buckets.
    fn name(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Read => "read",
            Self::Entry => "entry",
            Self::Other => "other",
        }
    }
}

/// The accounts' buckets and the settings, shared by every connection;
/// cheap to clone.
#[derive(Clone)]
pub struct Limits(Arc<Accounts>);

struct Accounts {
    settings: RateSettings,
    messages: DefaultKeyedRateLimiter<String>,
    reads: DefaultKeyedRateLimiter<String>,
    entries: DefaultKeyedRateLimiter<String>,
    /// Open sockets by account; an account with none has no entry.
    sockets: Mutex<HashMap<String, usize>>,
    /// Accounts disconnected for flooding, until when they are refused.
    cooling: Mutex<HashMap<String, Instant>>,
    /// The cluster's counts, in cluster mode.
    shared: Option<SharedLimits>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("settings", &self.0.settings)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// Buckets for `settings`, all full.
    pub fn new(settings: RateSettings) -> Self {
        Self::in_cluster(settings, None)
    }

    /// Buckets for `settings`, counted across nodes in `shared` when it is
    /// there (cluster mode).
    pub fn in_cluster(settings: RateSettings, shared: Option<SharedLimits>) -> Self {
        Self(Arc::new(Accounts {
            settings,
            messages: DefaultKeyedRateLimiter::keyed(settings.messages.quota()),
            reads: DefaultKeyedRateLimiter::keyed(settings.reads.quota()),
            entries: DefaultKeyedRateLimiter::keyed(settings.entries.quota()),
            sockets: Mutex::new(HashMap::new()),
            cooling: Mutex::new(HashMap::new()),
            shared,
        }))
    }

    /// Whether the accounts' limits count across nodes (then an event's
    /// account check is [`Self::check_anywhere`], awaited).
    pub fn is_shared(&self) -> bool {
        self.0.shared.is_some()
    }

    /// `account` was disconnected for flooding: its new connections are
    /// refused for the cool-down, so a script cannot come straight back
    /// (and re-enter, and be told to everyone) to flood again.
    /// In cluster mode every node refuses it (the other nodes a moment
    /// later: Redis is told in the background).
    pub fn cool_down(&self, account: &str) {
        let period = self.0.settings.flooding_cooldown;
        self.cooling()
            .insert(account.to_owned(), Instant::now() + period);
        if let Some(shared) = self.0.shared.clone()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let account = account.to_owned();
            runtime.spawn(async move { shared.cool_down(&account, period).await });
        }
    }

    /// How long `account` must still wait before connecting, if it must, on
    /// any node.
    pub async fn cooling_down(&self, account: &str) -> Result<(), CoolingDown> {
        self.cooling_down_here(account)?;
        if let Some(shared) = &self.0.shared
            && let Some(Some(left)) = shared.cooling_down(account).await
        {
            return Err(CoolingDown(left));
        }
        Ok(())
    }

    /// How long `account` must still wait before connecting to this node.
    fn cooling_down_here(&self, account: &str) -> Result<(), CoolingDown> {
        let now = Instant::now();
        let mut cooling = self.cooling();
        match cooling.get(account) {
            Some(until) if *until > now => Err(CoolingDown(*until - now)),
            Some(_) => {
                cooling.remove(account);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn cooling(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0
            .cooling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one of `account`'s sockets, given back when the slot drops;
    /// refused when the account has all its sockets open (on the live
    /// nodes, in cluster mode).
    pub async fn hold_socket(&self, account: &str) -> Result<SocketSlot, TooManySockets> {
        let cap = self.0.settings.sockets_per_account;
        let shared = match &self.0.shared {
            Some(shared) => match shared.hold_socket(account, cap).await {
                Some(Ok(())) => true,
                Some(Err(open)) => return Err(TooManySockets(open)),
                None => false,
            },
            None => false,
        };
        self.hold_socket_here(account, shared)
    }

    /// Takes one of `account`'s sockets on this node; `shared` when it was
    /// counted in Redis too (then only the cluster's cap applies here).
    fn hold_socket_here(&self, account: &str, shared: bool) -> Result<SocketSlot, TooManySockets> {
        let mut sockets = self
            .0
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = sockets.entry(account.to_owned()).or_insert(0);
        if !shared && *open >= self.0.settings.sockets_per_account {
            return Err(TooManySockets(*open));
        }
        *open += 1;
        Ok(SocketSlot {
            limits: self.clone(),
            account: account.to_owned(),
            shared,
        })
    }

    /// Gives one of `account`'s sockets back in Redis, in the background.
    fn release_shared(&self, account: &str) {
        if let Some(shared) = self.0.shared.clone()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let account = account.to_owned();
            runtime.spawn(async move { shared.release_socket(&account).await });
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> RateSettings {
        self.0.settings
    }

    /// Spends one event of `class` from `account`'s bucket; the refusal says
    /// how long to wait.
    pub fn check(&self, account: &str, class: Class) -> Result<(), AckError> {
        let limiter = match class {
            Class::Message => &self.0.messages,
            Class::Read => &self.0.reads,
            Class::Entry => &self.0.entries,
            Class::Other => return Ok(()),
        };
        let key = account.to_owned();
        limiter
            .check_key(&key)
            .map_err(|not_until| slow_down(not_until.wait_time_from(limiter.clock().now())))
    }

    /// Spends one event of `class` from `account`'s bucket, shared by the
    /// nodes in cluster mode (in this node's bucket when Redis does not
    /// answer).
    pub async fn check_anywhere(&self, account: &str, class: Class) -> Result<(), AckError> {
        let rate = match class {
            Class::Message => self.0.settings.messages,
            Class::Read => self.0.settings.reads,
            Class::Entry => self.0.settings.entries,
            Class::Other => return Ok(()),
        };
        if let Some(shared) = &self.0.shared {
            let bucket = format!("{}:{account}", class.name());
            if let Some(spent) = shared.spend(&bucket, rate.interval(), rate.burst).await {
                return spent.map_err(slow_down);
            }
        }
        self.check(account, class)
    }

    /// Forgets the buckets that are full again, so that the memory they take
    /// follows the accounts active lately, not every account ever seen.
    pub fn forget_idle(&self) {
        for limiter in [&self.0.messages, &self.0.reads, &self.0.entries] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.cooling().retain(|_, until| *until > now);
    }

    /// How many accounts have a bucket that is not full.
    pub fn tracked(&self) -> usize {
        self.0.messages.len() + self.0.reads.len() + self.0.entries.len()
    }

    /// A connection's own buckets.
    pub fn for_connection(&self) -> ConnectionLimits {
        let settings = self.0.settings;
        let refusals = NonZeroU32::new(settings.refusals.max(1)).unwrap_or(NonZeroU32::MIN);
        let forgiving = Quota::with_period(REFUSAL_FORGIVEN_EVERY)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(refusals);
        ConnectionLimits {
            events: DefaultDirectRateLimiter::direct(settings.events.quota()),
            refusals: DefaultDirectRateLimiter::direct(forgiving),
        }
    }
}

/// One open socket of an account (see [`Limits::hold_socket`]).
pub struct SocketSlot {
    limits: Limits,
    account: String,
    /// Whether it is counted in Redis too.
    shared: bool,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self
            .limits
            .0
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = sockets.get_mut(&self.account) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                sockets.remove(&self.account);
            }
        }
        drop(sockets);
        if self.shared {
            self.limits.release_shared(&self.account);
        }
    }
}

/// An account has this many sockets open already, its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many connections for this account ({0} open); close a tab and try again")]
pub struct TooManySockets(pub usize);

/// An account disconnected for flooding tries to connect before its
/// cool-down is over; it may in this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("disconnected for flooding: you can connect again in {} s", .0.as_millis().div_ceil(1000))]
pub struct CoolingDown(pub Duration);

/// One connection's buckets.
pub struct ConnectionLimits {
    events: DefaultDirectRateLimiter,
    refusals: DefaultDirectRateLimiter,
}

impl ConnectionLimits {
    /// Spends one event from the connection's bucket.
    pub fn check_event(&self) -> Result<(), AckError> {
        self.events
            .check()
            .map_err(|not_until| slow_down(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Counts a refusal; `false` once the connection has had more than its
    /// share and should be disconnected.
    pub fn tolerate_refusal(&self) -> bool {
        self.refusals.check().is_ok()
    }
}

/// The refusal for an event over a limit: the wait, rounded up to a second
/// for people, exact for programs.
pub fn slow_down(wait: Duration) -> AckError {
    let wait = wait.max(Duration::from_millis(1));
    let secs = wait.as_millis().div_ceil(1000);
    AckError::retry_after(
        ErrorCode::RateLimited,
        format!("slow down: you can send again in {secs} s"),
        wait,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RateSettings {
        RateSettings {
            events: Rate {
                burst: 5,
                per_minute: 60,
            },
            messages: Rate {
                burst: 3,
                per_minute: 6,
            },
            reads: Rate {
                burst: 2,
                per_minute: 60,
            },
            entries: Rate {
                burst: 1,
                per_minute: 1,
            },
            refusals: 2,
            in_flight: 4,
            sockets_per_account: 2,
            flooding_cooldown: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn a_flooder_cools_down_alone() {
        let limits = Limits::new(settings());
        assert_eq!(limits.cooling_down("user:1").await, Ok(()));
        limits.cool_down("user:1");
        let CoolingDown(wait) = limits.cooling_down("user:1").await.unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        assert_eq!(
            CoolingDown(wait).to_string(),
            "disconnected for flooding: you can connect again in 10 s"
        );
        assert_eq!(
            limits.cooling_down("user:2").await,
            Ok(()),
            "others are apart"
        );
        let quick = Limits::new(RateSettings {
            flooding_cooldown: Duration::from_millis(1),
            ..settings()
        });
        quick.cool_down("user:1");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            quick.cooling_down("user:1").await,
            Ok(()),
            "over after its time"
        );
        quick.cool_down("user:3");
        std::thread::sleep(Duration::from_millis(5));
        quick.forget_idle();
        assert!(
            quick.cooling().is_empty(),
            "expired cool-downs are forgotten"
        );
    }

    #[tokio::test]
    async fn an_account_holds_a_few_sockets_at_most() {
        let limits = Limits::new(settings());
        let first = limits.hold_socket("user:1").await.unwrap();
        let _second = limits.hold_socket("user:1").await.unwrap();
        assert_eq!(
            limits.hold_socket("user:1").await.err(),
            Some(TooManySockets(2))
        );
        assert!(
            limits.hold_socket("user:2").await.is_ok(),
            "others are apart"
        );
        drop(first);
        assert!(
            limits.hold_socket("user:1").await.is_ok(),
            "a closed socket frees its slot"
        );
    }

    #[test]
    fn an_account_gets_its_burst_then_waits() {
        let limits = Limits::new(settings());
        for _ in 0..3 {
            assert_eq!(limits.check("user:1", Class::Message), Ok(()));
        }
        let refused = limits.check("user:1", Class::Message).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        // 6 a minute: the next one in about 10 s.
        let wait = refused.retry_after_duration().unwrap();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert_eq!(refused.message, "slow down: you can send again in 10 s");
        // Another account, and another class of the same account, are apart.
        assert_eq!(limits.check("user:2", Class::Message), Ok(()));
        assert_eq!(limits.check("user:1", Class::Read), Ok(()));
        assert_eq!(limits.check("user:1", Class::Other), Ok(()));
    }

    #[test]
    fn a_connection_is_forgiven_a_few_refusals_only() {
        let limits = Limits::new(settings());
        let connection = limits.for_connection();
        for _ in 0..5 {
            assert_eq!(connection.check_event(), Ok(()));
        }
        assert_eq!(
            connection.check_event().unwrap_err().code,
            ErrorCode::RateLimited
        );
        assert!(connection.tolerate_refusal());
        assert!(connection.tolerate_refusal());
        assert!(
            !connection.tolerate_refusal(),
            "the third refusal is one too many"
        );
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limits = Limits::new(RateSettings {
            entries: Rate {
                burst: 1,
                // Refills at once: the bucket is full again straight away.
                per_minute: 60_000_000,
            },
            ..settings()
        });
        for id in 0..1_000 {
            assert_eq!(limits.check(&format!("user:{id}"), Class::Entry), Ok(()));
        }
        assert_eq!(limits.tracked(), 1_000);
        std::thread::sleep(Duration::from_millis(5));
        limits.forget_idle();
        assert_eq!(limits.tracked(), 0);
    }
}
