//! Starts the Chatroom server: reads the configuration, sets up logging,
//! binds the listener, and serves until SIGINT or SIGTERM.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use server::config::LogFormat;
use server::{AppState, Config};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of the system allocator: every delivery allocates and
/// frees frames across threads, and with glibc's malloc that churn cost a
/// fifth of the server's time. In the benchmark it took 1,000 clients
/// entering at once from 1.6 s to 1.2 s and the highest sustained fan-out
/// from 400–500 to 600 messages a second, for about 5 kB more per idle
/// connection (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();

    let filter = EnvFilter::try_new(&config.log).context("parsing the log filter")?;
    match config.log_format {
        LogFormat::Text => {
            let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(ansi)
                .init();
        }
        // One object a line, the event's fields flattened beside `message`,
        // as log collectors (Loki, Elasticsearch, journald's JSON) take them.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .init(),
    }

    let listener = server::bind(config.addr).with_context(|| format!("binding {}", config.addr))?;
    let state = AppState::open(&config)
        .await
        .context("opening the store and the token secret")?;
    tracing::info!(
        node = %state.node,
        database = state.store.kind(),
        cluster = state.redis.is_some(),
        "store ready"
    );
    server::run(listener, state, server::shutdown_signal()).await
}
