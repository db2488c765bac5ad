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
//! - [`site`]: the built site's files (embedded or from disk), compressed
//!   once and cached by content hash; [`metrics`]: the Prometheus counters
//!   at `/metrics`.
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
pub mod metrics;
pub mod presence;
pub mod relay;
pub mod security;
pub mod serve;
pub mod site;
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
    let not_found = not_found_page(&state);
    // The pages on their own: only their requests look up the visitor's
    // room before rendering.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, page_context, move || {
            app::shell(leptos_options.clone())
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::page::find_visitor,
        ));
    let mut router = Router::new();
    if state.metrics == metrics::Exposure::SamePort {
        router = router.route("/metrics", axum::routing::get(metrics::handler));
    }
    let router = router
        .nest("/api", http::router())
        .merge(http::forms::router())
        .merge(pages)
        // Pages and JSON, compressed as they are sent; not the site's files
        // (the fallback, compressed once: see `site`), nor Socket.IO (its
        // layer answers before this one).
        .layer(tower_http::compression::CompressionLayer::new())
        .fallback(move |site, request| site::serve_or(site, request, not_found.clone()))
        .layer(socket_layer)
        .layer(axum::middleware::map_request(chat::detach_handshake))
        .layer(axum::middleware::from_fn_with_state(
            state.security.clone(),
            security::headers,
        ))
        .with_state(state);
    (router, io)
}

/// The app's 404 page, for what is neither a route nor a site file.
fn not_found_page(
    state: &AppState,
) -> impl Fn(
    axum::extract::Request,
) -> std::pin::Pin<Box<dyn Future<Output = axum::response::Response> + Send>>
+ Clone
+ Send
+ 'static {
    let options = state.leptos_options.clone();
    let state = state.clone();
    let render = leptos_axum::render_app_async_stream_with_context(
        move || {
            leptos::prelude::provide_context(state.clone());
            page_context();
        },
        move || app::shell(options.clone()),
    );
    move |request| {
        let render = render.clone();
        Box::pin(async move {
            let mut response = render(request).await;
            // Unless the page chose another status (a redirect).
            if response.status() == axum::http::StatusCode::OK {
                *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
            }
            response
        })
    }
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
    // Before anything starts: a taken metrics address stops the start.
    let metrics_listener = match state.metrics {
        metrics::Exposure::Separate(metrics_addr) => Some(
            bind(metrics_addr)
                .with_context(|| format!("binding {metrics_addr} for the metrics"))?,
        ),
        _ => None,
    };
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
    if let Some(metrics_listener) = metrics_listener {
        tracing::info!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        let mut metrics_state = state.clone();
        metrics_state.io = Some(io.clone());
        // Stopped with the other tasks below, once the chat has stopped.
        let metrics = axum::serve(metrics_listener, metrics::router(metrics_state));
        tasks.push(tokio::spawn(async move {
            if let Err(error) = metrics.await {
                tracing::error!(%error, "the metrics listener failed");
            }
        }));
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
