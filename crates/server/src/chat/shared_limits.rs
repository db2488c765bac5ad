//! The limits' counts kept in Redis, so that they hold across the nodes of
//! a cluster (`--redis-url`): the login and registration throttles
//! ([`crate::http::throttle`]) and what an account may send and hold
//! ([`super::limits`]). Each count is one Lua script, atomic across nodes,
//! timed by Redis's own clock (`TIME`), so nodes with skewed clocks agree.
//!
//! Keys (each under the conversation's prefix, then `limits:`):
//! - `win:<what>`: a hash of a sliding-window count, window number → events
//!   (this window's and the one before, as [`crate::http::throttle`] counts).
//! - `rate:<class>:<account>`: an account's GCRA bucket, the theoretical
//!   arrival time in microseconds.
//! - `cool:<account>`: present while the account cools down after flooding.
//! - `sockets:<account>`: a hash of the account's open sockets, node id →
//!   count; only nodes alive in the presence's `nodes` set count, so a dead
//!   node's sockets stop counting when its registration expires.
//!
//! Redis down or slow ([`REDIS_TIMEOUT`]): every call answers `None`, and
//! the caller counts in its own memory instead (today's single-node limits:
//! it fails open to the local limiter, never closed). After a failure the
//! node stays local for [`RETRY_AFTER`] rather than waiting on Redis for
//! each event, and says so in its log at most that often.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::Script;

use crate::cluster::{NodeId, REDIS_TIMEOUT, Redis};

/// How long the node counts locally after Redis failed, before it asks
/// Redis again.
pub const RETRY_AFTER: Duration = Duration::from_secs(3);

/// A sliding-window count. `ARGV`: the mode (`take` counts one if it stays
/// within the limit, `record` always counts one, `give` takes one back), the
/// limit, the window in ms. Returns `{counted, previous, current, ms into the
/// window}` as they stand before this call's change.
const WINDOW: &str = r"
local key, mode, limit, w = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = math.floor(now / w)
local into = now - n * w
local cur = tonumber(redis.call('HGET', key, tostring(n)) or '0')
local prev = tonumber(redis.call('HGET', key, tostring(n - 1)) or '0')
for _, field in ipairs(redis.call('HKEYS', key)) do
  if tonumber(field) < n - 1 then redis.call('HDEL', key, field) end
end
if mode == 'give' then
  if cur > 0 then redis.call('HINCRBY', key, tostring(n), -1)
  elseif prev > 0 then redis.call('HINCRBY', key, tostring(n - 1), -1) end
  return {1, prev, cur, into}
end
if mode == 'take' and prev * (1 - into / w) + cur + 1 > limit then
  return {0, prev, cur, into}
end
redis.call('HINCRBY', key, tostring(n), 1)
redis.call('PEXPIRE', key, 2 * w - into)
return {1, prev, cur, into}
";

/// Spends one from a GCRA bucket. `ARGV`: the emission interval and the
/// burst tolerance, in µs. Returns 0 when spent, else the µs to wait.
const SPEND: &str = r"
local key, interval, tolerance = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or '0')
if tat < now then tat = now end
if now < tat - tolerance then return math.max(1, tat - tolerance - now) end
local after = tat + interval
redis.call('SET', key, string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1)
return 0
";

/// Takes one of an account's sockets if the live nodes hold fewer than the
/// cap. `KEYS`: the account's hash, the presence's `nodes` set; `ARGV`: this
/// node, the cap. Returns `{taken, open before}`.
const HOLD: &str = r"
local key, nodes, node, cap = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', key)
local open = 0
for i = 1, #all, 2 do
  local other, count = all[i], tonumber(all[i + 1])
  local expires = redis.call('ZSCORE', nodes, other)
  if other == node or (expires and tonumber(expires) > now) then
    open = open + count
  else
    redis.call('HDEL', key, other)
  end
end
if open >= cap then return {0, open} end
redis.call('HINCRBY', key, node, 1)
redis.call('PEXPIRE', key, 86400000)
return {1, open}
";

/// Gives one of this node's sockets of an account back. `KEYS`: the
/// account's hash; `ARGV`: this node.
const RELEASE: &str = r"
local key, node = KEYS[1], ARGV[1]
if redis.call('HINCRBY', key, node, -1) <= 0 then redis.call('HDEL', key, node) end
return 1
";

/// A sliding-window count as Redis had it before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Whether one was counted (`take` within the limit, or any `record`).
    pub counted: bool,
    /// Events in the window before.
    pub previous: u32,
    /// Events in this window.
    pub current: u32,
    /// How far into this window Redis's clock is.
    pub into: Duration,
}

/// What a sliding-window call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMode {
    /// Counts one if it stays within the limit.
    Take,
    /// Counts one whatever the count.
    Record,
    /// Takes one back.
    Give,
}

impl WindowMode {
    fn name(self) -> &'static str {
        match self {
            Self::Take => "take",
            Self::Record => "record",
            Self::Give => "give",
        }
    }
}

/// The limits' counts in the cluster's Redis; cheap to clone.
#[derive(Clone)]
pub struct SharedLimits(Arc<Inner>);

struct Inner {
    redis: Redis,
    /// This node, the field its sockets are counted under.
    node: NodeId,
    window: Script,
    spend: Script,
    hold: Script,
    release: Script,
    /// Until when Redis is skipped after a failure.
    local_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("redis", &self.0.redis)
            .field("node", &self.0.node)
            .finish_non_exhaustive()
    }
}

impl SharedLimits {
    /// Counts in `redis`, this node being `node`.
    pub fn new(redis: Redis, node: NodeId) -> Self {
        Self(Arc::new(Inner {
            redis,
            node,
            window: Script::new(WINDOW),
            spend: Script::new(SPEND),
            hold: Script::new(HOLD),
            release: Script::new(RELEASE),
            local_until: Mutex::new(None),
        }))
    }

    fn key(&self, name: &str) -> String {
        self.0.redis.key(&format!("limits:{name}"))
    }

    /// Runs `call` on Redis within [`REDIS_TIMEOUT`]; `None` when it fails,
    /// or when Redis failed within [`RETRY_AFTER`] (then nothing is sent).
    async fn run<T, F>(&self, what: &str, call: F) -> Option<T>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let now = Instant::now();
        if self.local_until().is_some_and(|until| now < until) {
            return None;
        }
        let error = match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(value)) => {
                if self.local_until().take().is_some() {
                    tracing::info!("redis answers again: limits count across nodes");
                }
                return Some(value);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        let mut until = self.local_until();
        if until.is_none_or(|until| Instant::now() >= until) {
            tracing::warn!(%error, what, "redis unavailable: limits count on this node only for now");
        }
        *until = Some(Instant::now() + RETRY_AFTER);
        None
    }

    fn local_until(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.0
            .local_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts in the sliding window `name` of length `window` (see
    /// [`WindowMode`]).
    pub async fn window(
        &self,
        name: &str,
        mode: WindowMode,
        limit: u32,
        window: Duration,
    ) -> Option<WindowCount> {
        let mut invocation = self.0.window.key(self.key(&format!("win:{name}")));
        invocation
            .arg(mode.name())
            .arg(limit)
            .arg(millis(window).max(1));
        let mut connection = self.0.redis.connection();
        let (counted, previous, current, into): (i64, i64, i64, i64) = self
            .run("throttle", invocation.invoke_async(&mut connection))
            .await?;
        Some(WindowCount {
            counted: counted == 1,
            previous: u32::try_from(previous.max(0)).unwrap_or(u32::MAX),
            current: u32::try_from(current.max(0)).unwrap_or(u32::MAX),
            into: Duration::from_millis(into.max(0).unsigned_abs()),
        })
    }

    /// Spends one from the bucket `name` (`burst` at once, then one every
    /// `interval`); `Some(Err(wait))` when it is empty.
    pub async fn spend(
        &self,
        name: &str,
        interval: Duration,
        burst: u32,
    ) -> Option<Result<(), Duration>> {
        let interval = micros(interval).max(1);
        let tolerance = interval.saturating_mul(u64::from(burst.max(1) - 1));
        let mut invocation = self.0.spend.key(self.key(&format!("rate:{name}")));
        invocation.arg(interval).arg(tolerance);
        let mut connection = self.0.redis.connection();
        let wait: i64 = self
            .run("rate", invocation.invoke_async(&mut connection))
            .await?;
        Some(match wait {
            0 => Ok(()),
            wait => Err(Duration::from_micros(wait.max(1).unsigned_abs())),
        })
    }

    /// Refuses `account` for `period` on every node.
    pub async fn cool_down(&self, account: &str, period: Duration) {
        let mut connection = self.0.redis.connection();
        let mut set = redis::cmd("SET");
        set.arg(self.key(&format!("cool:{account}")))
            .arg(1)
            .arg("PX")
            .arg(millis(period).max(1));
        let _ = self
            .run("cool-down", set.query_async::<()>(&mut connection))
            .await;
    }

    /// How long `account` still cools down, if it does (`Some(None)`: not).
    pub async fn cooling_down(&self, account: &str) -> Option<Option<Duration>> {
        let mut connection = self.0.redis.connection();
        let mut ttl = redis::cmd("PTTL");
        ttl.arg(self.key(&format!("cool:{account}")));
        let left = self
            .run("cool-down", ttl.query_async::<i64>(&mut connection))
            .await?;
        Some((left > 0).then(|| Duration::from_millis(left.unsigned_abs())))
    }

    /// Takes one of `account`'s sockets on this node if the live nodes hold
    /// fewer than `cap`; `Some(Err(open))` when they hold them all.
    pub async fn hold_socket(&self, account: &str, cap: usize) -> Option<Result<(), usize>> {
        let mut invocation = self.0.hold.key(self.key(&format!("sockets:{account}")));
        invocation
            .key(self.0.redis.key("nodes"))
            .arg(&self.0.node.0)
            .arg(cap);
        let mut connection = self.0.redis.connection();
        let (taken, open): (i64, i64) = self
            .run("socket cap", invocation.invoke_async(&mut connection))
            .await?;
        let open = usize::try_from(open.max(0)).unwrap_or(usize::MAX);
        Some(if taken == 1 { Ok(()) } else { Err(open) })
    }

    /// Gives back one of `account`'s sockets on this node.
    pub async fn release_socket(&self, account: &str) {
        let mut invocation = self.0.release.key(self.key(&format!("sockets:{account}")));
        invocation.arg(&self.0.node.0);
        let mut connection = self.0.redis.connection();
        let _ = self
            .run::<i64, _>("socket cap", invocation.invoke_async(&mut connection))
            .await;
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
