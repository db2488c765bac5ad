//! The Chatroom server: one port serves the server-rendered Leptos app, its
//! static files, a small JSON API, and Socket.IO at `/socket.io/`.
//!
//! - [`config`]: the one [`Config`], from flags and environment variables.
//! - [`state`]: [`AppState`], what every route and socket handler shares.
//! - [`chat`]: the Socket.IO side: connection set-up, one handler per event,
//!   and the room's presence (who is online under which name).
//! - [`auth`]: passwords and login tokens, for the API and sockets alike.
//! - [`client_ip`]: who a client is by address (behind trusted proxies too).
//! - [`http`]: the JSON API routes (accounts, health) and their error type.
//! - [`security`]: the headers on every answer (CSP with a nonce, HSTS …),
//!   the public URL, and the Origin rule for cookie-authenticated sockets.
//! - [`store`]: the conversation in SQLite or PostgreSQL; the only SQL.
//! - [`serve`]: the accept loop, with its limits on connections.
//!
//! [`app`] builds the router so tests can call it; [`run`] serves it on a
//! listener the caller bound, so tests bind `127.0.0.1:0`.

pub mod auth;
pub mod chat;
pub mod client_ip;
pub mod config;
pub mod http;
pub mod security;
pub mod serve;
pub mod state;
pub mod store;

use std::future::Future;

use anyhow::Context;
use axum::Router;
use leptos_axum::{LeptosRoutes, generate_route_list};
use socketioxide::SocketIo;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;

/// Builds the whole HTTP service: API routes, the Leptos pages and files, and
/// the Socket.IO layer. Also returns the Socket.IO handle, to close every
/// socket on shutdown.
pub fn app(mut state: AppState) -> (Router, SocketIo) {
    let (socket_layer, io) = chat::layer(&state);
    state.io = Some(io.clone());
    let routes = generate_route_list(app::App);
    let leptos_options = state.leptos_options.clone();
    let router = Router::new()
        .nest("/api", http::router())
        .merge(http::forms::router())
        .leptos_routes_with_context(&state, routes, page_context, move || {
            app::shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(page_context, app::shell))
        .layer(socket_layer)
        .layer(axum::middleware::map_request(chat::detach_handshake))
        .layer(axum::middleware::from_fn_with_state(
            state.security.clone(),
            security::headers,
        ))
        .with_state(state);
    (router, io)
}

/// What every page render gets from its request: the CSP nonce its scripts
/// carry, and the form's flash message.
fn page_context() {
    security::provide_nonce();
    http::forms::page_context();
}

/// Connections the kernel may hold for the server to accept. Browsers
/// reconnecting after a restart arrive all at once; with the usual 1,024 (or
/// Node's 511) the queue overflows, and every connection it drops waits a
/// second for its SYN to be retransmitted. (The kernel caps this at
/// `net.core.somaxconn`.)
pub const LISTEN_BACKLOG: u32 = 8192;

/// Binds `addr` with a listen queue of [`LISTEN_BACKLOG`].
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves the app on `listener` until `shutdown` completes, then disconnects
/// every socket (clients see the server closing and start reconnecting) and
/// lets in-flight HTTP requests finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("reading the listener's address")?;
    let store = state.store.clone();
    let pruning = tokio::spawn(prune_regularly(store.clone(), state.retention));
    let forgetting = tokio::spawn(forget_idle_limits(state.limits.clone()));
    let connections = state.connections.clone();
    let (router, io) = app(state);
    tracing::info!("listening on http://{addr}");
    serve::serve(listener, router, connections, async move {
        shutdown.await;
        tracing::info!("shutting down: closing every socket");
        io.close().await;
    })
    .await;
    pruning.abort();
    forgetting.abort();
    // Last: what the sockets' goodbyes stored is committed before the
    // database closes.
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Applies the retention settings at start and then every minute.
async fn prune_regularly(store: store::Store, retention: store::Retention) {
    if retention == store::Retention::default() {
        return;
    }
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        match store.prune(retention).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention: deleted old items"),
            Err(error) => tracing::error!(%error, "retention: pruning failed"),
        }
    }
}

/// Forgets, every minute, the rate-limit buckets of accounts that have been
/// quiet long enough to have full ones, so their memory stays bounded.
async fn forget_idle_limits(limits: chat::Limits) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        limits.forget_idle();
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
