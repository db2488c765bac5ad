//! The benchmark's baseline on the same library as Chatroom: the canonical
//! Socket.IO chat server written the way socketioxide's own chat example
//! writes it, with socketioxide's defaults (buffer sizes, no TCP_NODELAY),
//! usernames in socket extensions, no storage and no auth. It is not part of
//! the product; `bench/run` measures Chatroom against it.
//!
//! `PORT` is required; `PORT=0` picks a free port, and the one line on stdout
//! (`listening on http://127.0.0.1:<port>`) says which.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::{Data, Extension, SocketRef, State};

#[derive(Debug, Clone)]
struct Username(String);

/// How many users entered (the canonical demo's `numUsers`).
#[derive(Debug, Clone, Default)]
struct Users(Arc<AtomicUsize>);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Count {
    num_users: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserEvent<'a> {
    username: &'a str,
    num_users: usize,
}

#[derive(Debug, Serialize)]
struct Said<'a> {
    username: &'a str,
    message: String,
}

#[derive(Debug, Serialize)]
struct Typist<'a> {
    username: &'a str,
}

async fn on_connect(s: SocketRef) {
    s.on(
        "new message",
        async |s: SocketRef, Data(message): Data<String>, Extension(name): Extension<Username>| {
            let said = Said {
                username: &name.0,
                message,
            };
            s.broadcast().emit("new message", &said).await.ok();
        },
    );
    s.on(
        "add user",
        async |s: SocketRef, Data(name): Data<String>, State(users): State<Users>| {
            if s.extensions.get::<Username>().is_some() {
                return;
            }
            let num_users = users.0.fetch_add(1, Ordering::SeqCst) + 1;
            s.extensions.insert(Username(name.clone()));
            s.emit("login", &Count { num_users }).ok();
            let joined = UserEvent {
                username: &name,
                num_users,
            };
            s.broadcast().emit("user joined", &joined).await.ok();
        },
    );
    s.on(
        "typing",
        async |s: SocketRef, Extension(name): Extension<Username>| {
            let typist = Typist { username: &name.0 };
            s.broadcast().emit("typing", &typist).await.ok();
        },
    );
    s.on(
        "stop typing",
        async |s: SocketRef, Extension(name): Extension<Username>| {
            let typist = Typist { username: &name.0 };
            s.broadcast().emit("stop typing", &typist).await.ok();
        },
    );
    s.on_disconnect(async |s: SocketRef, State(users): State<Users>| {
        if let Some(Username(name)) = s.extensions.get::<Username>() {
            let num_users = users.0.fetch_sub(1, Ordering::SeqCst) - 1;
            let left = UserEvent {
                username: &name,
                num_users,
            };
            s.broadcast().emit("user left", &left).await.ok();
        }
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layer, io) = SocketIo::builder()
        .with_state(Users::default())
        .build_layer();
    io.ns("/", on_connect);
    let app = axum::Router::new().layer(layer);

    let port: u16 = std::env::var("PORT")
        .map_err(|_| "PORT must be set (0 picks a free port)")?
        .parse()
        .map_err(|_| "PORT must be a port number")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    // Rust's stdout is line-buffered even into a pipe: the line goes out now.
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}
