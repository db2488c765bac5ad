//! Test support for cluster mode: a shared setting for several nodes (one
//! PostgreSQL schema, one Redis key prefix, one token secret), so that each
//! test's nodes form a cluster of their own beside other tests' on the same
//! PostgreSQL and Redis.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{PostgresSchema, TestApp, UNLIMITED, spawn_app_on, unique_name};

/// The machine's Redis (the machine starts it; `scripts/test` too).
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// What a test's nodes share.
pub struct Cluster {
    /// The conversation's schema, dropped at the end of the test.
    pub schema: PostgresSchema,
    /// The Redis URL.
    pub redis_url: String,
    /// This test's Redis key and channel prefix.
    pub prefix: String,
    /// The token secret every node signs with.
    pub secret: String,
}

impl Cluster {
    /// A cluster on the machine's Redis, with its own schema and prefix.
    pub async fn new() -> Self {
        Self::on_redis(REDIS).await
    }

    /// A cluster on the Redis at `redis_url` (a test's private one).
    pub async fn on_redis(redis_url: &str) -> Self {
        Self {
            schema: PostgresSchema::new().await,
            redis_url: redis_url.to_owned(),
            prefix: format!("test-{}", unique_name()),
            secret: format!("secret-{}-0123456789abcdef0123456789", unique_name()),
        }
    }

    /// The flags that make a server a node of this cluster.
    pub fn flags(&self) -> Vec<String> {
        [
            "--database-url",
            &self.schema.url,
            "--redis-url",
            &self.redis_url,
            "--redis-prefix",
            &self.prefix,
            "--jwt-secret",
            &self.secret,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// A node in this process, open to guests, without rate limits, with
    /// `extra` flags.
    pub async fn node(&self, extra: &[&str]) -> TestApp {
        let data = Arc::new(tempfile::tempdir().expect("a data directory"));
        let flags = self.flags();
        let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
        all.push("--allow-guests");
        all.extend_from_slice(UNLIMITED);
        all.extend_from_slice(extra);
        spawn_app_on(data, &all).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The test's keys go with it (the schema drops itself).
        let (url, pattern) = (self.redis_url.clone(), format!("{}:*", self.prefix));
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = redis::Client::open(url)?;
                let mut connection = client.get_multiplexed_async_connection().await?;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut connection)
                    .await?;
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL")
                        .arg(keys)
                        .query_async(&mut connection)
                        .await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(cleaned, Ok(Ok(()))) {
            eprintln!("could not remove a test's Redis keys: {cleaned:?}");
        }
    }
}

/// A server as a process of its own (so a test can kill it): a node of a
/// cluster, or a single server.
pub struct NodeProcess {
    child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its data directory, when it is the process's own.
    _data: Option<tempfile::TempDir>,
}

impl NodeProcess {
    /// Starts `target/…/server` with `flags` (and a data directory and site
    /// root of its own) and waits until it listens.
    pub async fn start(flags: &[String]) -> Self {
        let data = tempfile::tempdir().expect("a data directory");
        let mut node = Self::start_in(data.path(), data.path(), flags).await;
        node._data = Some(data);
        node
    }

    /// Starts `target/…/server` with `flags` on the data directory `data`
    /// (kept across restarts), serving `site`, and waits until it listens.
    pub async fn start_in(
        data: &std::path::Path,
        site: &std::path::Path,
        flags: &[String],
    ) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .arg("--data-dir")
            .arg(data)
            .arg("--site-root")
            .arg(site)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            // Only what the flags say.
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("CHATROOM_JWT_SECRET")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the server binary");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("reading the log") {
                if let Some(at) = line.find("listening on ") {
                    return line[at + "listening on ".len()..].trim().to_owned();
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .expect("the server starts");
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url,
            _data: None,
        }
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing the server");
    }
}

impl Cluster {
    /// A node as a process of its own, open to guests, without rate limits.
    pub async fn process(&self, extra: &[&str]) -> NodeProcess {
        let mut flags = self.flags();
        flags.push("--allow-guests".to_owned());
        flags.extend(UNLIMITED.iter().map(|f| (*f).to_owned()));
        flags.extend(extra.iter().map(|f| (*f).to_owned()));
        NodeProcess::start(&flags).await
    }
}

/// A Redis server of the test's own on a free port, which it can stop and
/// start again (on the same port).
pub struct PrivateRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    /// Starts `redis-server` on a free port, keeping nothing on disk.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGKILL: whatever it held is gone).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("stopping redis-server");
        }
    }

    /// Starts it (again), empty, and waits until it answers.
    pub async fn restart(&mut self) {
        self.stop().await;
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting redis-server (Debian's redis-server package)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        for _ in 0..100 {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }
}
