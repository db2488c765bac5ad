//! What makes several Chatroom processes (nodes) one chat: this node's id,
//! and the Redis connection the nodes share (cluster mode, `--redis-url`).
//!
//! A single node has no Redis: presence and typing live in its memory and
//! the messages go straight from its store's writer to its connections. In
//! cluster mode the conversation still comes from PostgreSQL (the feed, see
//! [`crate::feed`]), while Redis carries what is shared but not kept:
//! who is online ([`crate::presence`]), typing and logouts
//! ([`crate::relay`]), and the failed-login throttle.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `--redis-url` without a PostgreSQL database: SQLite is one process's.
    #[error(
        "--redis-url (REDIS_URL) needs a PostgreSQL --database-url (DATABASE_URL): every node must share the conversation"
    )]
    NeedsPostgres,
    /// `--redis-url` without a shared token secret.
    #[error(
        "--redis-url (REDIS_URL) needs --jwt-secret (CHATROOM_JWT_SECRET), the same on every node: a generated secret differs per node"
    )]
    NeedsSharedSecret,
    /// Redis refused the URL or the connection.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// How long one Redis command may take before the node treats Redis as
/// down (and carries on without it: see the README's "Running several
/// nodes").
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's name: unique per running process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(pub String);

impl NodeId {
    /// The configured id, or the host's name, the process id and a random
    /// suffix (a restarted process is a new node).
    pub fn new(configured: Option<&str>) -> Self {
        if let Some(id) = configured.map(str::trim).filter(|id| !id.is_empty()) {
            return Self(id.to_owned());
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".to_owned());
        Self(format!(
            "{host}-{}-{}",
            std::process::id(),
            crate::auth::random_hex(3)
        ))
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Redis the nodes share; cheap to clone. Commands go through a
/// connection that reconnects by itself after Redis restarts.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects to `url` (RESP3, so a subscription survives a reconnect);
    /// every key and channel starts with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let client = client(url)?;
        let connection =
            ConnectionManager::new_with_config(client.clone(), manager_config()).await?;
        Ok(Self {
            client,
            connection,
            prefix: prefix.to_owned(),
        })
    }

    /// A command connection (shared, multiplexed, reconnecting).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The Redis client, to open connections of one's own (subscriptions).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// What this conversation's keys and channels start with (then `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full name of this conversation's key or channel `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Whether Redis answers, within [`REDIS_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection();
        let _: () = redis::cmd("PING").query_async(&mut connection).await?;
        Ok(())
    }
}

/// A client for `url`, speaking RESP3.
fn client(url: &str) -> Result<redis::Client, redis::RedisError> {
    let info = redis::IntoConnectionInfo::into_connection_info(url)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings))
}

/// How the shared connections behave: a bounded wait per command, quick
/// reconnection attempts.
pub fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(2))
}
