//! Starts the Chatroom server: reads the configuration, sets up logging,
//! binds the listener, and serves until SIGINT or SIGTERM.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use server::{AppState, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();

    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).context("parsing the log filter")?)
        .with_ansi(ansi)
        .init();

    let listener = server::bind(config.addr).with_context(|| format!("binding {}", config.addr))?;
    let state = AppState::open(&config).await.context("opening the store")?;
    tracing::info!(database = state.store.kind(), "store ready");
    server::run(listener, state, server::shutdown_signal()).await
}
