//! The Chatroom server: one port serves the server-rendered Leptos app, its
//! static files, a small JSON API, and Socket.IO at `/socket.io/`.
//!
//! - [`config`]: the one [`Config`], from flags and environment variables.
//! - [`state`]: [`AppState`], what every route and socket handler shares.
//! - [`chat`]: the Socket.IO side: connection set-up, one handler per event,
//!   and the room they talk to.
//! - The four parts of the conversation, each with its single-node and
//!   cluster implementations side by side: [`store`], the log (SQLite or
//!   PostgreSQL: durable, one order); [`feed`], which brings every committed
//!   item to this node in that order (in-process, or through PostgreSQL);
//!   [`presence`], who is online (in memory, or in Redis); and [`fanout`],
//!   this node's own connections. [`relay`] carries typing and logouts to
//!   the other nodes (nothing, or Redis pub/sub).
//! - [`auth`]: passwords and login tokens, for the API and sockets alike.
//! - [`client_ip`]: who a client is by address (behind trusted proxies too).
//! - [`cluster`]: this node's id and, in cluster mode, the Redis the nodes
//!   share.
//! - [`http`]: the JSON API routes (accounts, health) and their error type.
//! - [`security`]: the headers on every answer (CSP with a nonce, HSTS …),
//!   the public URL, and the Origin rule for cookie-authenticated sockets.
//! - [`serve`]: the accept loop, with its limits on connections.
//!
//! [`app`] builds the router so tests can call it; [`run`] serves it on a
//! listener the caller bound, so tests bind `127.0.0.1:0`.

pub mod auth;
pub mod chat;
pub mod client_ip;
pub mod cluster;
pub mod config;
pub mod fanout;
pub mod feed;
pub mod http;
pub mod presence;
pub mod relay;
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
    // The pages first, on their own: only their requests look up the
    // visitor's room before rendering.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, page_context, move || {
            app::shell(leptos_options.clone())
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::page::find_visitor,
        ));
    let router = Router::new()
        .nest("/api", http::router())
        .merge(http::forms::router())
        .merge(pages)
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
/// carry, the form's flash message, and the visitor's room if they are
/// logged in.
fn page_context() {
    security::provide_nonce();
    http::forms::page_context();
    http::page::page_context();
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
    let mut tasks = start_feed(&state).await?;
    tasks.push(tokio::spawn(prune_regularly(
        store.clone(),
        state.retention,
    )));
    tasks.push(tokio::spawn(forget_idle_limits(state.limits.clone())));
    tasks.push(tokio::spawn(keep_presence(
        state.room.clone(),
        store.clone(),
    )));
    let connections = state.connections.clone();
    let (router, io) = app(state.clone());
    if let Some(redis) = &state.redis {
        tasks.push(tokio::spawn(relay::redis::receive(
            redis.clone(),
            state.node.clone(),
            state.room.fanout().clone(),
            io.clone(),
        )));
    }
    tracing::info!("listening on http://{addr}");
    serve::serve(listener, router, connections, async move {
        shutdown.await;
        tracing::info!("shutting down: closing every socket");
        io.close().await;
    })
    .await;
    for task in tasks {
        task.abort();
    }
    for left in state.room.presence().stop().await {
        chat::handlers::store_leave(&store, left).await;
    }
    // Last: what the sockets' goodbyes stored is committed before the
    // database closes.
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Connects the store's committed items to this node's fan-out: directly on
/// a single node, through PostgreSQL in a cluster (see [`feed`]).
async fn start_feed(state: &AppState) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let fanout = state.room.fanout().clone();
    let (sink, tasks): (std::sync::Arc<dyn store::Sink>, _) = if state.redis.is_some() {
        let (feed, tasks) = feed::PostgresFeed::start(state.store.clone(), fanout)
            .await
            .context("starting the feed from PostgreSQL")?;
        (std::sync::Arc::new(feed), tasks)
    } else {
        (
            std::sync::Arc::new(feed::LocalFeed::new(fanout)),
            Vec::new(),
        )
    };
    if state.store.deliver_to(sink).is_err() {
        anyhow::bail!("the store already delivers to a feed: one server per state");
    }
    Ok(tasks)
}

/// Every second, lets the users whose grace period is over leave (and, in
/// a cluster, keeps this node registered; see [`presence`]), storing each
/// leave so that everyone hears it.
async fn keep_presence(room: chat::Room, store: store::Store) {
    let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        every_second.tick().await;
        let beat = ticks.is_multiple_of(presence::redis::HEARTBEAT.as_secs().max(1));
        ticks += 1;
        let mut left = if beat {
            room.presence().heartbeat().await
        } else {
            Vec::new()
        };
        left.extend(room.presence().sweep().await);
        for left in left {
            tracing::info!(user = %left.username, "left (grace period over)");
            chat::handlers::store_leave(&store, left).await;
        }
    }
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
