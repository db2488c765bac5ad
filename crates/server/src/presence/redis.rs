//! Who is online in a cluster: kept in Redis, shared by every node.
//!
//! Keys (each under the conversation's prefix):
//! - `nodes`: a sorted set of the live nodes, scored by when each one's
//!   registration expires (every node renews its own every
//!   [`HEARTBEAT`]; it expires [`NODE_TTL`] after the last renewal).
//! - `members`: a hash of the users online, name key → JSON `{n, c, a}`
//!   (the name, the client id, the arrival number).
//! - `conns:<key>`: a set of the user's connections, `node|sid`.
//! - `node:<node>`: a hash of a node's connections, sid → name key, so a
//!   dead node's connections can be dropped.
//! - `grace`: a sorted set of the users without a connection, scored by
//!   when their grace period ends.
//! - `arrivals`: a counter, to list users in the order they came.
//!
//! Every change is one Lua script, so it is atomic across nodes: two nodes
//! cannot both let the same name in, and a leave is claimed, stored and told
//! by exactly one node. Times are Redis's own clock (`TIME`).
//!
//! When Redis does not answer, entries are refused as busy (the client
//! retries), leaves wait in this node's memory and are replayed when Redis
//! is back, and the heartbeat registers this node's connections again if
//! Redis lost them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::Script;
use serde::Deserialize;
use socketioxide::socket::Sid;

use super::{Entry, Left, Refusal, Seat};
use crate::cluster::{NodeId, REDIS_TIMEOUT, Redis};

/// How often a node renews its registration.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long after its last heartbeat a node is taken for dead, and its
/// connections dropped (its users then get their grace period).
pub const NODE_TTL: Duration = Duration::from_secs(8);

/// At most this many leaves are claimed by one sweep.
const SWEEP_LIMIT: usize = 100;

/// Enters a connection: refuses a name held by another user, or registers
/// the connection (and the user, if new). Returns `{'taken', name}` or
/// `{'ok', first, users online, name}`. With `again` = '1' (a connection
/// registered again after Redis lost it) nothing is refused: the user was
/// online all along.
const ENTER: &str = r"
local p, key, name, client, node, sid, again = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local raw = redis.call('HGET', p .. ':members', key)
local first = 1
if raw then
  local m = cjson.decode(raw)
  local conns = redis.call('SCARD', p .. ':conns:' .. key)
  local same = (client ~= '' and m.c == client) or (client == '' and m.c == '' and conns == 0)
  if not same and again ~= '1' then return {'taken', m.n} end
  first = 0
  name = m.n
else
  local arrival = redis.call('INCR', p .. ':arrivals')
  redis.call('HSET', p .. ':members', key, cjson.encode({n = name, c = client, a = arrival}))
end
redis.call('ZREM', p .. ':grace', key)
redis.call('SADD', p .. ':conns:' .. key, node .. '|' .. sid)
redis.call('HSET', p .. ':node:' .. node, sid, key)
return {'ok', first, redis.call('HLEN', p .. ':members'), name}
";

/// Takes a connection out. Returns `{'left', name, users online}` when its
/// user leaves now, `{'grace'}` when they got their grace period, `{}`
/// otherwise.
const LEAVE: &str = r"
local p, key, node, sid, at_once, grace = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
redis.call('SREM', p .. ':conns:' .. key, node .. '|' .. sid)
redis.call('HDEL', p .. ':node:' .. node, sid)
if redis.call('SCARD', p .. ':conns:' .. key) > 0 then return {} end
local raw = redis.call('HGET', p .. ':members', key)
if not raw then return {} end
if at_once == '1' then
  redis.call('HDEL', p .. ':members', key)
  redis.call('ZREM', p .. ':grace', key)
  return {'left', cjson.decode(raw).n, redis.call('HLEN', p .. ':members')}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', p .. ':grace', now + grace, key)
return {'grace'}
";

/// Drops the connections of dead nodes (their users get the grace period),
/// then claims the users whose grace is over. Returns `name, users online`
/// pairs, flattened, for the users who leave now.
const SWEEP: &str = r"
local p, grace, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, node in ipairs(redis.call('ZRANGEBYSCORE', p .. ':nodes', '-inf', now)) do
  redis.call('ZREM', p .. ':nodes', node)
  local conns = redis.call('HGETALL', p .. ':node:' .. node)
  for i = 1, #conns, 2 do
    local sid, key = conns[i], conns[i + 1]
    redis.call('SREM', p .. ':conns:' .. key, node .. '|' .. sid)
    if redis.call('SCARD', p .. ':conns:' .. key) == 0 and redis.call('HEXISTS', p .. ':members', key) == 1 then
      redis.call('ZADD', p .. ':grace', 'NX', now + grace, key)
    end
  end
  redis.call('DEL', p .. ':node:' .. node)
end
local left = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', p .. ':grace', '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', p .. ':grace', key)
  if redis.call('SCARD', p .. ':conns:' .. key) == 0 then
    local raw = redis.call('HGET', p .. ':members', key)
    if raw then
      redis.call('HDEL', p .. ':members', key)
      table.insert(left, cjson.decode(raw).n)
      table.insert(left, redis.call('HLEN', p .. ':members'))
    end
  end
end
return left
";

/// Renews a node's registration; returns 1 when it was not registered (a
/// new node, or Redis lost it, or it was taken for dead).
const HEARTBEAT_SCRIPT: &str = r"
local p, node, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', p .. ':nodes', now + ttl, node)
";

/// Marks a stopping node as dead now, so the next sweep on any node takes
/// out whatever connections it still had (their users get the grace
/// period) rather than waiting for its registration to expire.
const STOP: &str = r"
local p, node = ARGV[1], ARGV[2]
redis.call('ZADD', p .. ':nodes', 0, node)
return 1
";

/// A user as kept in `members`.
#[derive(Debug, Deserialize)]
struct Member {
    /// The name.
    n: String,
    /// The arrival number.
    a: u64,
}

/// The users online, in Redis; cheap to clone.
#[derive(Debug, Clone)]
pub struct Members {
    redis: Redis,
    node: NodeId,
    /// Leaves that could not reach Redis, replayed when it is back.
    pending: Arc<Mutex<Vec<PendingLeave>>>,
    scripts: Arc<Scripts>,
}

#[derive(Debug)]
struct Scripts {
    enter: Script,
    leave: Script,
    sweep: Script,
    heartbeat: Script,
    stop: Script,
}

#[derive(Debug, Clone)]
struct PendingLeave {
    key: String,
    sid: Sid,
    at_once: bool,
}

/// Runs a Redis call within [`REDIS_TIMEOUT`].
async fn timed<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Members {
    /// The users of the conversation in `redis`, as node `node` sees them.
    pub fn new(redis: Redis, node: NodeId) -> Self {
        Self {
            redis,
            node,
            pending: Arc::default(),
            scripts: Arc::new(Scripts {
                enter: Script::new(ENTER),
                leave: Script::new(LEAVE),
                sweep: Script::new(SWEEP),
                heartbeat: Script::new(HEARTBEAT_SCRIPT),
                stop: Script::new(STOP),
            }),
        }
    }

    fn prefix(&self) -> &str {
        self.redis.prefix()
    }

    /// Connection `sid` of user `key` enters as `name`.
    pub async fn enter(
        &self,
        key: &str,
        name: &str,
        client_id: Option<&str>,
        sid: Sid,
    ) -> Result<Entry, Refusal> {
        let mut connection = self.redis.connection();
        let mut invocation = self.scripts.enter.prepare_invoke();
        invocation
            .arg(self.prefix())
            .arg(key)
            .arg(name)
            .arg(client_id.unwrap_or(""))
            .arg(&self.node.0)
            .arg(sid.to_string())
            .arg("0");
        let answer: Vec<redis::Value> = timed(invocation.invoke_async(&mut connection))
            .await
            .map_err(|error| {
                tracing::warn!(%error, "presence: Redis does not answer; an entry is refused");
                Refusal::Unavailable
            })?;
        let text =
            |i: usize| -> Option<String> { redis::from_redis_value(answer.get(i)?.clone()).ok() };
        let number =
            |i: usize| -> Option<usize> { redis::from_redis_value(answer.get(i)?.clone()).ok() };
        match text(0).as_deref() {
            Some("ok") => Ok(Entry {
                first: number(1) == Some(1),
                num_users: number(2).unwrap_or(1),
                name: text(3).unwrap_or_else(|| name.to_owned()),
            }),
            Some("taken") => Err(Refusal::Taken(text(1).unwrap_or_default())),
            _ => {
                tracing::error!(?answer, "presence: an unexpected answer to an entry");
                Err(Refusal::Unavailable)
            }
        }
    }

    /// Connection `sid` of user `key` went.
    pub async fn leave(&self, key: &str, sid: Sid, at_once: bool, grace: Duration) -> Option<Left> {
        let leave = PendingLeave {
            key: key.to_owned(),
            sid,
            at_once,
        };
        match self.run_leave(&leave, grace).await {
            Ok(left) => left,
            Err(error) => {
                tracing::warn!(%error, "presence: Redis does not answer; a leave waits for it");
                self.pending().push(leave);
                None
            }
        }
    }

    async fn run_leave(
        &self,
        leave: &PendingLeave,
        grace: Duration,
    ) -> Result<Option<Left>, String> {
        let mut connection = self.redis.connection();
        let mut invocation = self.scripts.leave.prepare_invoke();
        invocation
            .arg(self.prefix())
            .arg(&leave.key)
            .arg(&self.node.0)
            .arg(leave.sid.to_string())
            .arg(if leave.at_once { "1" } else { "0" })
            .arg(millis(grace));
        let answer: Vec<redis::Value> = timed(invocation.invoke_async(&mut connection)).await?;
        let text =
            |i: usize| -> Option<String> { redis::from_redis_value(answer.get(i)?.clone()).ok() };
        if text(0).as_deref() != Some("left") {
            return Ok(None);
        }
        let num_users = answer
            .get(2)
            .and_then(|v| redis::from_redis_value::<usize>(v.clone()).ok())
            .unwrap_or(0);
        Ok(text(1).map(|username| Left {
            username,
            num_users,
        }))
    }

    /// Drops dead nodes' connections and claims the users whose grace is over.
    pub async fn sweep(&self, grace: Duration) -> Vec<Left> {
        let mut connection = self.redis.connection();
        let mut invocation = self.scripts.sweep.prepare_invoke();
        invocation
            .arg(self.prefix())
            .arg(millis(grace))
            .arg(SWEEP_LIMIT);
        let answer: Vec<redis::Value> = match timed(invocation.invoke_async(&mut connection)).await
        {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(%error, "presence: could not sweep");
                return Vec::new();
            }
        };
        answer
            .chunks_exact(2)
            .filter_map(|pair| {
                Some(Left {
                    username: redis::from_redis_value(pair[0].clone()).ok()?,
                    num_users: redis::from_redis_value(pair[1].clone()).ok()?,
                })
            })
            .collect()
    }

    /// Renews this node's registration; registers `seats` again if Redis
    /// lost them; replays the leaves that waited. Returns the users who
    /// left in the replay.
    pub async fn heartbeat(&self, seats: &[(Sid, Seat)], grace: Duration) -> Vec<Left> {
        let mut connection = self.redis.connection();
        let mut invocation = self.scripts.heartbeat.prepare_invoke();
        invocation
            .arg(self.prefix())
            .arg(&self.node.0)
            .arg(millis(NODE_TTL));
        let added: i64 = match timed(invocation.invoke_async(&mut connection)).await {
            Ok(added) => added,
            Err(error) => {
                tracing::warn!(%error, node = %self.node, "presence: Redis does not answer the heartbeat");
                return Vec::new();
            }
        };
        if added == 1 && !seats.is_empty() {
            tracing::warn!(
                connections = seats.len(),
                "presence: Redis had lost this node; registering its connections again"
            );
            for (sid, seat) in seats {
                let mut invocation = self.scripts.enter.prepare_invoke();
                invocation
                    .arg(self.prefix())
                    .arg(&seat.key)
                    .arg(&seat.name)
                    .arg(seat.client_id.as_deref().unwrap_or(""))
                    .arg(&self.node.0)
                    .arg(sid.to_string())
                    .arg("1");
                let registered = invocation.invoke_async::<Vec<redis::Value>>(&mut connection);
                if let Err(error) = timed(registered).await {
                    tracing::warn!(%error, "presence: could not register a connection again");
                    return Vec::new();
                }
            }
        }
        let waiting = std::mem::take(&mut *self.pending());
        let mut left = Vec::new();
        for (i, leave) in waiting.iter().enumerate() {
            match self.run_leave(leave, grace).await {
                Ok(gone) => left.extend(gone),
                Err(_) => {
                    self.pending().extend(waiting[i..].iter().cloned());
                    break;
                }
            }
        }
        left
    }

    /// This node stops: it is taken for dead now, so the next sweep (on
    /// whichever node) drops its connections.
    pub async fn stop(&self) {
        let mut connection = self.redis.connection();
        let mut invocation = self.scripts.stop.prepare_invoke();
        invocation.arg(self.prefix()).arg(&self.node.0);
        if let Err(error) = timed(invocation.invoke_async::<i64>(&mut connection)).await {
            tracing::warn!(%error, "presence: could not unregister this node");
        }
    }

    /// Who is online, in the order they came (empty when Redis does not
    /// answer).
    pub async fn users(&self) -> Vec<String> {
        let mut connection = self.redis.connection();
        let members: Vec<String> = match timed(
            redis::cmd("HVALS")
                .arg(self.redis.key("members"))
                .query_async(&mut connection),
        )
        .await
        {
            Ok(members) => members,
            Err(error) => {
                tracing::warn!(%error, "presence: could not read who is online");
                return Vec::new();
            }
        };
        let mut members: Vec<Member> = members
            .iter()
            .filter_map(|raw| serde_json::from_str(raw).ok())
            .collect();
        members.sort_by_key(|m| m.a);
        members.into_iter().map(|m| m.n).collect()
    }

    /// How many users are online.
    pub async fn count(&self) -> Option<usize> {
        let mut connection = self.redis.connection();
        timed(
            redis::cmd("HLEN")
                .arg(self.redis.key("members"))
                .query_async(&mut connection),
        )
        .await
        .ok()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<PendingLeave>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
