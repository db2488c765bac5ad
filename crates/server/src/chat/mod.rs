//! The Socket.IO side of the chat: the namespace's set-up, the handlers (one
//! per event, in [`handlers`]), and the room's presence ([`room`]).
//!
//! Handlers are registered in connect middleware, which socketioxide runs
//! before it answers the client's CONNECT. The connect handler itself runs as
//! a task after that answer, so a client that emits `add user` the moment it
//! is connected could otherwise beat the registration and lose the event.

pub mod handlers;
pub mod room;

use std::convert::Infallible;

use protocol::{ConnectAuth, event};
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;

pub use room::Room;

use crate::AppState;

/// The Socket.IO room every connection that entered the chat is in; sockets
/// still on the entry form are not, so they hear nothing.
pub const ROOM: &str = "chat";

/// The longest client id a browser may send (it sends a UUID).
const CLIENT_ID_MAX_LEN: usize = 64;

/// The connection's client id from its handshake, if it sent one; kept in the
/// socket's extensions for `add user`.
#[derive(Debug, Clone)]
pub struct ClientId(pub Option<String>);

/// Why a connection was refused before it joined; the client receives the
/// text in its `connect_error`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The handshake's `auth` payload is not a JSON object of the expected shape.
    #[error("malformed auth payload: {0}")]
    MalformedAuth(String),
}

/// The Socket.IO layer for the router, and the handle to close every socket.
pub fn layer(state: &AppState) -> (SocketIoLayer, SocketIo) {
    // One limit for both transports: long-polling payloads, and WebSocket
    // messages and frames (which socketioxide limits separately).
    let ws_limit = usize::try_from(state.max_payload).unwrap_or(usize::MAX);
    let (layer, io) = SocketIo::builder()
        .max_payload(state.max_payload)
        .ws_max_message_size(ws_limit)
        .ws_max_frame_size(ws_limit)
        .with_state(state.room.clone())
        .with_state(state.store.clone())
        .build_layer();
    // Middlewares run last-added first: read the handshake, then register.
    io.ns("/", on_connect.with(register_handlers).with(read_auth));
    (layer, io)
}

/// Reads the handshake's `auth` payload (a demo client sends none, which is
/// fine) and refuses the connection when it is malformed.
async fn read_auth(s: SocketRef, TryData(auth): TryData<ConnectAuth>) -> Result<(), ConnectError> {
    let auth = auth.map_err(|e| ConnectError::MalformedAuth(e.to_string()))?;
    if let Some(id) = &auth.client_id
        && (id.is_empty() || id.len() > CLIENT_ID_MAX_LEN)
    {
        return Err(ConnectError::MalformedAuth(format!(
            "clientId must be 1 to {CLIENT_ID_MAX_LEN} bytes"
        )));
    }
    s.extensions.insert(ClientId(auth.client_id));
    Ok(())
}

/// Registers one handler per event before the client is told it is connected.
async fn register_handlers(s: SocketRef) -> Result<(), Infallible> {
    s.on(event::ADD_USER, handlers::add_user);
    s.on(event::NEW_MESSAGE, handlers::new_message);
    s.on(event::TYPING, handlers::typing);
    s.on(event::STOP_TYPING, handlers::stop_typing);
    s.on(event::HISTORY, handlers::history);
    s.on(event::CATCH_UP, handlers::catch_up);
    s.on_fallback(handlers::unknown_event);
    s.on_disconnect(handlers::disconnect);
    Ok(())
}

async fn on_connect(s: SocketRef) {
    tracing::info!(socket = %s.id, transport = ?s.transport_type(), "connected");
}
