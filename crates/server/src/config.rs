//! The server's configuration: one struct, read from flags and environment
//! variables (`server --help` lists them). Nothing else reads the environment.
//!
//! The `LEPTOS_*` variables keep the names cargo-leptos sets, so
//! `cargo leptos watch` and `cargo leptos serve` configure the server without
//! a config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::security::Origin;

/// `server --version`: the crate's version and the git commit it was built
/// from ("unknown" outside a git checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CHATROOM_GIT_COMMIT"),
    ")"
);

/// How to run the chat server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "server",
    version = VERSION,
    about = "Chatroom: a self-hosted real-time chat server"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the log says which).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder with the built site: the WASM, JS and CSS under `pkg/` and the
    /// files from `public/`, as `cargo leptos build` writes it.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Name of the generated files under `pkg/` (cargo-leptos's `name`).
    #[arg(long, env = "LEPTOS_OUTPUT_NAME", default_value = "chatroom")]
    pub output_name: String,

    /// Sub-folder of the site root that holds the generated files.
    #[arg(long, env = "LEPTOS_SITE_PKG_DIR", default_value = "pkg")]
    pub site_pkg_dir: String,

    /// The file naming the content hashes of the site's WASM, JS and CSS
    /// (cargo-leptos's `hash-files`), relative to the server's executable,
    /// where cargo-leptos writes it. Without it the names of the site's
    /// files tell the hashes (see the `site` module).
    #[arg(long, env = "LEPTOS_HASH_FILE_NAME", default_value = "hash.txt")]
    pub hash_file: PathBuf,

    /// Port of cargo-leptos's live-reload socket (used by `cargo leptos watch`).
    #[arg(long, env = "LEPTOS_RELOAD_PORT", default_value_t = 3001)]
    pub reload_port: u32,

    /// Largest Engine.IO payload a client may send, in bytes. A larger frame
    /// is refused by the transport and that connection is closed; the server
    /// and every other connection carry on. Chat messages are limited to 2,000
    /// characters, far below this.
    #[arg(long, env = "CHATROOM_MAX_PAYLOAD", default_value_t = 64 * 1024)]
    pub max_payload: u64,

    /// How many packets may wait in one connection's send queue. A client
    /// that falls further behind (a stalled tab, a congested link) is told
    /// `too slow` and disconnected, and catches up from the history when it
    /// reconnects; nothing is skipped silently. Queues grow only as needed.
    #[arg(long, env = "CHATROOM_SEND_QUEUE", default_value_t = 1024)]
    pub send_queue: usize,

    /// Where the server keeps its data: the SQLite database `chatroom.db`
    /// (created on first start, with the folder) unless `--database-url` says
    /// otherwise.
    #[arg(long, env = "CHATROOM_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// A database to use instead of the file in the data directory:
    /// `postgres://user@host/db` for PostgreSQL (several servers can share
    /// it), or `sqlite://path/to/file.db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Seconds the database may take to commit a batch of messages (reads get
    /// half); past it the senders are answered `internal`, and the health
    /// check says the database is unreachable.
    #[arg(long, env = "CHATROOM_DATABASE_TIMEOUT_SECS", default_value_t = 10)]
    pub database_timeout_secs: u64,

    /// Redis (`redis://host:6379`) shared by several Chatroom servers
    /// (nodes) serving one conversation: turns cluster mode on. Presence,
    /// typing, logouts and the failed-login throttle go through it; the
    /// messages themselves reach every node from PostgreSQL. Needs a
    /// PostgreSQL `--database-url` and a `--jwt-secret` shared by the nodes.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// What every Redis key and channel of this conversation starts with, so
    /// several conversations (or test runs) can share one Redis.
    #[arg(long, env = "CHATROOM_REDIS_PREFIX", default_value = "chatroom")]
    pub redis_prefix: String,

    /// This node's name in the log, in `/api/health` and in Redis; unique
    /// per running node. Default: the host's name, the process id and a
    /// random suffix.
    #[arg(long, env = "CHATROOM_NODE_ID")]
    pub node_id: Option<String>,

    /// Seconds a user whose last connection dropped (a reload, a network
    /// blip, a node's crash) stays online before the others hear `user left`;
    /// back within it, they never left. A client that disconnects on purpose
    /// (its Socket.IO disconnect, a logout) leaves at once. 0 turns the grace
    /// period off.
    #[arg(long, env = "CHATROOM_PRESENCE_GRACE_SECS", default_value_t = 15)]
    pub presence_grace_secs: u64,

    /// Delete messages and joins/leaves older than this many days; 0 keeps
    /// them forever.
    #[arg(long, env = "CHATROOM_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u64,

    /// Keep at most this many of the newest messages and joins/leaves; 0
    /// keeps them all.
    #[arg(long, env = "CHATROOM_RETENTION_MAX_ITEMS", default_value_t = 0)]
    pub retention_max_items: u64,

    /// Secret that signs login tokens, at least 32 bytes. Without it, one is
    /// generated on first start and kept in the data directory (`jwt-secret`,
    /// mode 0600).
    #[arg(long, env = "CHATROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// How long a login lasts, in seconds (12 hours by default).
    #[arg(long, env = "CHATROOM_TOKEN_TTL_SECS", default_value_t = 12 * 3600)]
    pub token_ttl_secs: u64,

    /// How many password hashes (registrations, logins) may run at once;
    /// each takes about 19 MiB and a core for a moment. Default: the number
    /// of CPU cores.
    #[arg(long, env = "CHATROOM_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<std::num::NonZeroUsize>,

    /// How many registrations and logins may wait for a hash beyond those
    /// running; past that the server answers 503 with `Retry-After` at once.
    #[arg(long, env = "CHATROOM_HASH_QUEUE", default_value_t = 32)]
    pub hash_queue: usize,

    /// Login requests allowed per client address per minute (then 429).
    #[arg(long, env = "CHATROOM_LOGIN_PER_MINUTE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_per_minute: u32,

    /// Registrations allowed per client address per minute (then 429).
    #[arg(long, env = "CHATROOM_REGISTER_PER_MINUTE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub register_per_minute: u32,

    /// Reverse proxies whose `X-Forwarded-For` names the client, as CIDRs or
    /// addresses, comma-separated (`127.0.0.1,10.0.0.0/8`). Empty by default:
    /// the header is ignored and the TCP peer is the client.
    #[arg(long, env = "CHATROOM_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::client_ip::parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Let connections without a login enter with `add user` under a name no
    /// account owns, as clients of the canonical Socket.IO chat demo do. Off
    /// by default: they are refused with "login required".
    #[arg(long, env = "CHATROOM_ALLOW_GUESTS")]
    pub allow_guests: bool,

    /// Events of any kind one connection may send a minute, after its burst
    /// (`--event-burst`); over it, events are refused with `rate_limited`
    /// and the time to wait.
    #[arg(long, env = "CHATROOM_EVENT_RATE", default_value_t = 1_200)]
    pub event_rate: u32,

    /// Events of any kind one connection may send at once, after a quiet spell.
    #[arg(long, env = "CHATROOM_EVENT_BURST", default_value_t = 100)]
    pub event_burst: u32,

    /// Messages one account (all its tabs together) may send a minute,
    /// after its burst (`--message-burst`).
    #[arg(long, env = "CHATROOM_MESSAGE_RATE", default_value_t = 60)]
    pub message_rate: u32,

    /// Messages one account may send at once, after a quiet spell (messages
    /// written offline go out together when the page reconnects).
    #[arg(long, env = "CHATROOM_MESSAGE_BURST", default_value_t = 20)]
    pub message_burst: u32,

    /// Pages of history (`history`, `catch up`) one account may read a
    /// minute, after its burst (`--read-burst`).
    #[arg(long, env = "CHATROOM_READ_RATE", default_value_t = 300)]
    pub read_rate: u32,

    /// Pages of history one account may read at once (a page that was
    /// offline for long catches up page by page).
    #[arg(long, env = "CHATROOM_READ_BURST", default_value_t = 60)]
    pub read_burst: u32,

    /// Entries (`add user`) one account may make a minute, after its burst
    /// (`--entry-burst`).
    #[arg(long, env = "CHATROOM_ENTRY_RATE", default_value_t = 30)]
    pub entry_rate: u32,

    /// Entries one account may make at once (its tabs reconnecting together
    /// after a restart).
    #[arg(long, env = "CHATROOM_ENTRY_BURST", default_value_t = 10)]
    pub entry_burst: u32,

    /// Refusals for a limit one connection is forgiven (one more every 5 s);
    /// a connection that goes on is told `flooding` and disconnected.
    #[arg(
        long,
        env = "CHATROOM_REFUSALS_BEFORE_DISCONNECT",
        default_value_t = 20
    )]
    pub refusals_before_disconnect: u32,

    /// Seconds an account (a guest: its address) disconnected for flooding
    /// is refused new connections, with a `connect_error` saying how long.
    #[arg(long, env = "CHATROOM_FLOODING_COOLDOWN_SECS", default_value_t = 10)]
    pub flooding_cooldown_secs: u64,

    /// Events one connection may have in progress at once (sent, not yet
    /// answered); more are refused with `rate_limited`.
    #[arg(long, env = "CHATROOM_EVENTS_IN_FLIGHT", default_value_t = 64)]
    pub events_in_flight: usize,

    /// Socket.IO connections one account may have open at once (its tabs
    /// and devices); guests count per address. More are refused with a
    /// `connect_error` saying why.
    #[arg(long, env = "CHATROOM_SOCKETS_PER_ACCOUNT", default_value_t = 20)]
    pub sockets_per_account: usize,

    /// TCP connections one client address may have open at once (IPv6
    /// addresses count per /64); more are answered 429 and closed. 0 means
    /// no limit.
    #[arg(long, env = "CHATROOM_CONNECTIONS_PER_ADDRESS", default_value_t = 256)]
    pub connections_per_address: usize,

    /// Seconds a client has to send a request's headers, and that an idle
    /// keep-alive connection may wait for its next request, before it is
    /// closed (slow or stalled clients hold no connection for long).
    #[arg(long, env = "CHATROOM_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Where users reach the server, as an origin
    /// (`https://chat.example.com`). With `https://`, the login cookie is
    /// `Secure` and named `__Host-chatroom_token`, and every answer carries
    /// `Strict-Transport-Security`. Socket.IO connections that the cookie
    /// authenticates must come from a page of this origin. Without it, the
    /// server answers over plain HTTP as the request's `Host` says.
    #[arg(long, env = "CHATROOM_PUBLIC_URL")]
    pub public_url: Option<Origin>,

    /// Set by `cargo leptos watch`: the page may connect to its live-reload
    /// socket (on `--reload-port`), which the Content-Security-Policy
    /// otherwise forbids. Never needed in production.
    #[arg(long, env = "LEPTOS_WATCH", value_parser = clap::builder::FalseyValueParser::new())]
    pub live_reload: bool,

    /// Prometheus metrics at `/metrics` on the chat's own port: `off` or
    /// `on`. Anyone who reaches the chat can read them then; a separate
    /// address (`--metrics-addr`) keeps them private.
    #[arg(long, env = "CHATROOM_METRICS", value_enum, default_value = "off")]
    pub metrics: crate::metrics::Mode,

    /// Serve the metrics at `/metrics` on this address of their own
    /// (`127.0.0.1:9100`) instead of the chat's port.
    #[arg(long, env = "CHATROOM_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// How log lines are written: `text` for people, `json` (one object a
    /// line) for log collectors.
    #[arg(long, env = "CHATROOM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// What to log, in tracing's filter syntax (`info`, `server=debug,info`, …).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// A secret from the configuration; never printed.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl Config {
    /// Refuses cluster mode (`--redis-url`) without what every node must
    /// share: a PostgreSQL database and the token secret.
    pub fn check_cluster(&self) -> Result<(), crate::cluster::ClusterError> {
        use crate::cluster::ClusterError;
        if self.redis_url.is_none() {
            return Ok(());
        }
        let postgres = self
            .database_url
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres:") || url.starts_with("postgresql:"));
        if !postgres {
            return Err(ClusterError::NeedsPostgres);
        }
        if self.jwt_secret.is_none() {
            return Err(ClusterError::NeedsSharedSecret);
        }
        Ok(())
    }

    /// The rate limits as the chat takes them.
    pub fn rate_settings(&self) -> crate::chat::limits::RateSettings {
        use crate::chat::limits::{Rate, RateSettings};
        RateSettings {
            events: Rate {
                burst: self.event_burst,
                per_minute: self.event_rate,
            },
            messages: Rate {
                burst: self.message_burst,
                per_minute: self.message_rate,
            },
            reads: Rate {
                burst: self.read_burst,
                per_minute: self.read_rate,
            },
            entries: Rate {
                burst: self.entry_burst,
                per_minute: self.entry_rate,
            },
            refusals: self.refusals_before_disconnect,
            in_flight: self.events_in_flight.max(1),
            sockets_per_account: self.sockets_per_account.max(1),
            flooding_cooldown: std::time::Duration::from_secs(self.flooding_cooldown_secs),
        }
    }

    /// The database's time limits as the store takes them.
    pub fn database_timeouts(&self) -> crate::store::Timeouts {
        let commit = std::time::Duration::from_secs(self.database_timeout_secs.max(1));
        crate::store::Timeouts {
            commit,
            read: commit / 2,
        }
    }

    /// How many password hashes may run at once: the setting, or the number
    /// of cores.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            std::num::NonZeroUsize::get,
        )
    }

    /// The per-address login and registration limits.
    pub fn login_limits(&self) -> crate::http::throttle::Limits {
        crate::http::throttle::Limits {
            login_per_minute: self.login_per_minute,
            register_per_minute: self.register_per_minute,
        }
    }

    /// Where the metrics are served.
    pub fn metrics(&self) -> crate::metrics::Exposure {
        use crate::metrics::{Exposure, Mode};
        match (self.metrics_addr, self.metrics) {
            (Some(addr), _) => Exposure::Separate(addr),
            (None, Mode::On) => Exposure::SamePort,
            (None, Mode::Off) => Exposure::Off,
        }
    }

    /// The retention settings as the store takes them.
    pub fn retention(&self) -> crate::store::Retention {
        crate::store::Retention {
            max_age: (self.retention_days > 0)
                .then(|| std::time::Duration::from_secs(self.retention_days * 86_400)),
            max_items: (self.retention_max_items > 0).then_some(self.retention_max_items),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn every_setting_is_documented_with_its_variable() {
        let command = Config::command();
        command.clone().debug_assert();
        for arg in command.get_arguments().filter(|a| a.get_long().is_some()) {
            let name = arg.get_id();
            if ["help", "version"].contains(&name.as_str()) {
                continue;
            }
            assert!(arg.get_help().is_some(), "--{name} has no help");
            assert!(
                arg.get_env().is_some(),
                "--{name} has no environment variable"
            );
        }
    }

    #[test]
    fn the_secret_is_never_printed() {
        let config = Config::try_parse_from(["server", "--jwt-secret", "hunter2hunter2"]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(
            config.jwt_secret.map(|s| s.0).as_deref(),
            Some("hunter2hunter2")
        );
    }

    #[test]
    fn defaults_serve_a_laptop() {
        let config = Config::try_parse_from(["server", "--log", "warn"]).unwrap();
        if std::env::var_os("DATABASE_URL").is_none() {
            assert_eq!(config.database_url, None);
        }
        assert_eq!(config.max_payload, 65_536);
        assert_eq!(config.log, "warn");
        assert_eq!(config.output_name, "chatroom");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!((config.retention_days, config.retention_max_items), (0, 0));
        assert!(
            !config.allow_guests,
            "the room is closed to guests by default"
        );
        assert!(config.trusted_proxies.is_empty(), "no header is believed");
        assert_eq!(
            (config.login_per_minute, config.register_per_minute),
            (30, 10)
        );
        assert_eq!((config.hash_concurrency, config.hash_queue), (None, 32));
        assert!(config.hash_concurrency() >= 1);
        if std::env::var_os("CHATROOM_PUBLIC_URL").is_none() {
            assert_eq!(config.public_url, None, "plain HTTP by default");
        }
    }

    #[test]
    fn cluster_mode_needs_postgres_and_a_shared_secret() {
        let redis = ["server", "--redis-url", "redis://127.0.0.1:6379"];
        let config = |extra: &[&str]| {
            let mut config =
                Config::try_parse_from(redis.iter().chain(extra)).expect("valid flags");
            // Whatever the shell running the tests says.
            if !extra.contains(&"--database-url") {
                config.database_url = None;
            }
            if !extra.contains(&"--jwt-secret") {
                config.jwt_secret = None;
            }
            config
        };
        let error = config(&[]).check_cluster().unwrap_err().to_string();
        assert!(error.contains("PostgreSQL --database-url"), "{error}");
        let sqlite = config(&["--database-url", "sqlite://chat.db"]);
        assert!(sqlite.check_cluster().is_err());
        let no_secret = config(&["--database-url", "postgres://localhost/chat"]);
        let error = no_secret.check_cluster().unwrap_err().to_string();
        assert!(error.contains("--jwt-secret"), "{error}");
        let secret = "0123456789abcdef0123456789abcdef";
        let ok = config(&[
            "--database-url",
            "postgres://localhost/chat",
            "--jwt-secret",
            secret,
        ]);
        assert!(ok.check_cluster().is_ok());
        let mut single = config(&[]);
        single.redis_url = None;
        assert!(single.check_cluster().is_ok(), "one node needs neither");
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let config =
            Config::try_parse_from(["server", "--trusted-proxies", "127.0.0.1,10.0.0.0/8"])
                .unwrap();
        let proxies = crate::client_ip::TrustedProxies::new(config.trusted_proxies);
        assert!(proxies.contains("10.2.3.4".parse().unwrap()));
        assert!(proxies.contains("127.0.0.1".parse().unwrap()));
        assert!(!proxies.contains("127.0.0.2".parse().unwrap()));
        let wrong = Config::try_parse_from(["server", "--trusted-proxies", "proxy.local"]);
        assert!(wrong.unwrap_err().to_string().contains("proxy.local"));
        assert!(Config::try_parse_from(["server", "--login-per-minute", "0"]).is_err());
    }

    #[test]
    fn the_public_url_is_an_origin() {
        let config =
            Config::try_parse_from(["server", "--public-url", "https://chat.example.com/"])
                .unwrap();
        assert_eq!(
            config.public_url.map(|url| url.to_string()).as_deref(),
            Some("https://chat.example.com")
        );
        let error = Config::try_parse_from(["server", "--public-url", "chat.example.com"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("https://"), "{error}");
    }
}
