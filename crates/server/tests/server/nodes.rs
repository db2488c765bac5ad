//! Test support for cluster mode: a shared setting for several nodes (one
//! PostgreSQL schema, one Redis key prefix, one token secret), so that each
//! test's nodes form a cluster of their own beside other tests' on the same
//! PostgreSQL and Redis.

use std::sync::Arc;

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
