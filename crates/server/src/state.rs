//! What the routes and socket handlers share: the Leptos options (for
//! rendering pages and serving files), the chat room, the store, and the
//! transport limits.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use std::time::Duration;

use socketioxide::SocketIo;

use crate::Config;
use crate::auth::{AuthError, Passwords, Tokens};
use crate::chat::shared_limits::SharedLimits;
use crate::chat::{Limits, Room};
use crate::client_ip::TrustedProxies;
use crate::cluster::{ClusterError, NodeId, Redis};
use crate::fanout::Fanout;
use crate::http::Throttle;
use crate::presence::Presence;
use crate::relay::{Relay, redis::RedisRelay};
use crate::security::Security;
use crate::site::Site;
use crate::store::{Retention, Store, StoreError};

/// Why the state could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store would not open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token secret could not be read or made.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Cluster mode is misconfigured, or Redis does not answer.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Shared by every route and socket handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Where the built site lives and what its files are called.
    pub leptos_options: LeptosOptions,
    /// The built site's files, from the binary or from `--site-root`.
    pub site: Site,
    /// This node's id (in the log, `/api/health` and Redis).
    pub node: NodeId,
    /// The Redis shared by the nodes, in cluster mode (`--redis-url`).
    pub redis: Option<Redis>,
    /// Who is online, this node's listeners, typing.
    pub room: Room,
    /// Tells the other nodes what they must act on (typing, logouts).
    pub relay: Relay,
    /// The conversation, kept.
    pub store: Store,
    /// How long the conversation is kept.
    pub retention: Retention,
    /// Issues and checks login tokens.
    pub tokens: Tokens,
    /// Limits logins and registrations per address and name.
    pub throttle: Throttle,
    /// What each account and connection may send and hold.
    pub limits: Limits,
    /// The transport's limits on connections.
    pub connections: ConnectionSettings,
    /// Hashes and checks passwords, a bounded number at once.
    pub passwords: Passwords,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Whether connections without a login may enter.
    pub allow_guests: bool,
    /// The Socket.IO handle (set by [`crate::app`]), to disconnect a logged-out
    /// browser's sockets.
    pub io: Option<SocketIo>,
    /// Largest Engine.IO payload a client may send, in bytes.
    pub max_payload: u64,
    /// Packets one connection's send queue holds (see [`Config::send_queue`]).
    pub send_queue: usize,
    /// The security headers' settings, the login cookie, the Origin rule.
    pub security: Security,
    /// Where `/metrics` is served, if anywhere.
    pub metrics: crate::metrics::Exposure,
}

impl AppState {
    /// The state for a server configured by `config`: opens (and if need be
    /// creates and migrates) its store.
    pub async fn open(config: &Config) -> Result<Self, StartError> {
        config.check_cluster()?;
        let node = NodeId::new(config.node_id.as_deref());
        // The secret first: a weak one stops the start before the database
        // is touched.
        let tokens = Tokens::load(
            config.jwt_secret.as_ref().map(|s| s.0.as_str()),
            &config.data_dir,
            Duration::from_secs(config.token_ttl_secs),
        )?;
        let store = Store::open_with(
            config.database_url.as_deref(),
            &config.data_dir,
            config.database_timeouts(),
        )
        .await?;
        let redis = match &config.redis_url {
            Some(url) => Some(Redis::connect(url, &config.redis_prefix).await?),
            None => None,
        };
        let shared_limits = redis
            .as_ref()
            .map(|redis| SharedLimits::new(redis.clone(), node.clone()));
        let grace = Duration::from_secs(config.presence_grace_secs);
        let (presence, relay) = match &redis {
            Some(redis) => (
                Presence::in_redis(
                    crate::presence::redis::Members::new(redis.clone(), node.clone()),
                    grace,
                ),
                Relay::Redis(std::sync::Arc::new(RedisRelay::new(
                    redis.clone(),
                    node.clone(),
                ))),
            ),
            None => (Presence::in_memory(grace), Relay::Local),
        };
        let trusted_proxies = TrustedProxies::new(config.trusted_proxies.iter().copied());
        let site = Site::open(std::path::Path::new(&config.site_root));
        site.compress_ahead();
        let hash_file = site.hash_file(&beside_exe(&config.hash_file), &config.output_name);
        let leptos_options = LeptosOptions::builder()
            .hash_files(hash_file.is_some())
            .hash_file(
                hash_file
                    .unwrap_or_else(|| config.hash_file.clone())
                    .to_string_lossy()
                    .into(),
            )
            .output_name(config.output_name.as_str())
            .site_root(config.site_root.as_str())
            .site_pkg_dir(config.site_pkg_dir.as_str())
            .site_addr(config.addr)
            .reload_port(config.reload_port)
            .build();
        Ok(Self {
            leptos_options,
            site,
            node,
            redis,
            room: Room::new(presence, Fanout::default(), relay.clone()),
            relay,
            store,
            retention: config.retention(),
            tokens,
            limits: Limits::in_cluster(config.rate_settings(), shared_limits.clone()),
            connections: ConnectionSettings {
                per_address: config.connections_per_address,
                header_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
                trusted_proxies: trusted_proxies.clone(),
            },
            throttle: Throttle::new(config.login_limits()).in_cluster(shared_limits),
            passwords: Passwords::new(config.hash_concurrency(), config.hash_queue),
            trusted_proxies,
            allow_guests: config.allow_guests,
            io: None,
            max_payload: config.max_payload,
            send_queue: config.send_queue.max(16),
            security: Security::new(
                config.public_url.clone(),
                config.live_reload.then_some(config.reload_port),
            ),
            metrics: config.metrics(),
        })
    }
}

/// Limits on TCP connections, applied as they are accepted.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Open connections per client address; 0 means no limit.
    pub per_address: usize,
    /// Proxies, whose connections carry many clients' requests: not capped
    /// per address (the proxy counts its clients).
    pub trusted_proxies: TrustedProxies,
    /// How long a client may take to send a request's headers, or stay idle
    /// between requests.
    pub header_timeout: Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("node", &self.node)
            .field("store", &self.store.kind())
            .field("cluster", &self.redis.is_some())
            .field("allow_guests", &self.allow_guests)
            .finish_non_exhaustive()
    }
}

/// `path` as Leptos finds it: relative to the folder of the server's
/// executable (where cargo-leptos writes its hash file), unless absolute.
fn beside_exe(path: &std::path::Path) -> std::path::PathBuf {
    let folder = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_default();
    folder.join(path)
}

impl FromRef<AppState> for Site {
    fn from_ref(state: &AppState) -> Self {
        state.site.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
