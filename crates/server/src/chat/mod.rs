//! The Socket.IO side of the chat: the namespace's set-up, the handlers (one
//! per event, in [`handlers`]), the room they talk to ([`room`], over
//! presence, the fan-out, [`typing`] and the relay), and what a client may
//! send ([`limits`]) in which order ([`turn`]).
//!
//! Connections are authenticated in connect middleware: a login token (the
//! handshake's `auth.token`, or the browser's cookie) is verified, by the
//! same code as the HTTP API, before the socket joins; without one, the
//! connection is refused with "login required" unless guests are allowed.
//! A connection that only the cookie authenticates must come from a page of
//! the server's own origin ([`crate::security`]'s Origin rule).
//! A socket whose token expires is told so and disconnected.
//!
//! Handlers are registered in connect middleware too, which socketioxide runs
//! before it answers the client's CONNECT. The connect handler itself runs as
//! a task after that answer, so a client that emits `add user` the moment it
//! is connected could otherwise beat the registration and lose the event.

pub mod handlers;
pub mod limits;
pub mod room;
pub mod turn;
pub mod typing;

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use protocol::{ConnectAuth, Notice, ServerEvent, event};
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;

pub use limits::Limits;
pub use room::Room;

use crate::AppState;
use crate::auth::{self, Tokens, Unidentified};
use crate::client_ip::client_ip;
use crate::security::{CrossSite, Security};
use crate::store::Store;

/// The WebSocket read buffer per connection, in bytes. Clients send short
/// events; a larger frame is read in several steps. (socketioxide's default,
/// 4 KiB, is most of an idle connection's memory.)
const WS_READ_BUFFER: usize = 1024;

/// The longest client id a browser may send (it sends a UUID).
const CLIENT_ID_MAX_LEN: usize = 64;

/// How long a client has, after its transport opened, to send the Socket.IO
/// CONNECT: a real client sends it at once, and a connection that never
/// does holds a slot for nothing (socketioxide's default is 45 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who a connection is, from its handshake; kept in the socket's extensions
/// for `add user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Logged in: the account's id and name.
    User { id: i64, username: String },
    /// A guest, with the browser's client id if it sent one.
    Guest { client_id: Option<String> },
}

/// The task that disconnects a socket when its login expires; stopped when
/// the socket goes first.
#[derive(Debug, Clone)]
pub struct ExpiryTimer(pub tokio::task::AbortHandle);

/// Room settings the socket handlers read.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Whether connections without a login may enter.
    pub allow_guests: bool,
    /// What each account and connection may send and hold.
    pub limits: Limits,
    /// Whose `X-Forwarded-For` names the client (for guests' addresses).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
}

pub use crate::relay::{session_room, user_room};

/// Why a connection was refused before it joined; the client receives the
/// text in its `connect_error`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The handshake's `auth` payload is not a JSON object of the expected shape.
    #[error("malformed auth payload: {0}")]
    MalformedAuth(String),
    /// No valid login ("login required", "session expired", …).
    #[error("{0}")]
    Unidentified(#[from] Unidentified),
    /// The login cookie came from another origin's page.
    #[error(transparent)]
    CrossSite(#[from] CrossSite),
    /// The account (or the guest's address) has all its sockets open.
    #[error("{0}")]
    TooManySockets(#[from] limits::TooManySockets),
    /// The account was disconnected for flooding a moment ago.
    #[error("{0}")]
    CoolingDown(#[from] limits::CoolingDown),
}

/// The Socket.IO layer for the router, and the handle to close every socket.
pub fn layer(state: &AppState) -> (SocketIoLayer, SocketIo) {
    // One limit for both transports: long-polling payloads, and WebSocket
    // messages and frames (which socketioxide limits separately).
    let ws_limit = usize::try_from(state.max_payload).unwrap_or(usize::MAX);
    // The chat sends no binary data: a packet announcing attachments is
    // refused, and its connection closed, before anything is buffered.
    let parser = socketioxide::ParserConfig::common()
        .max_incoming_binaries(0)
        .max_incoming_binary_buf_size(0);
    let (layer, io) = SocketIo::builder()
        .with_parser(parser)
        .connect_timeout(CONNECT_TIMEOUT)
        .max_payload(state.max_payload)
        .max_buffer_size(state.send_queue)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .ws_max_message_size(ws_limit)
        .ws_max_frame_size(ws_limit)
        .with_state(state.room.clone())
        .with_state(state.store.clone())
        .with_state(state.tokens.clone())
        .with_state(state.security.clone())
        .with_state(ChatSettings {
            allow_guests: state.allow_guests,
            limits: state.limits.clone(),
            trusted_proxies: state.trusted_proxies.clone(),
        })
        .build_layer();
    // Middlewares run last-added first: authenticate, then register.
    io.ns("/", on_connect.with(register_handlers).with(authenticate));
    (layer, io)
}

/// Copies a Socket.IO request's URI and headers out of hyper's read buffer.
///
/// socketioxide keeps every connection's handshake request (for the cookie,
/// the address) as long as the connection lives. hyper parses a request's
/// headers as slices of its 8 KiB read buffer, so keeping them kept the
/// whole buffer alive: about a third of an idle connection's memory (see
/// BENCHMARKS.md). Owned copies of the few headers let it go.
pub async fn detach_handshake(request: axum::extract::Request) -> axum::extract::Request {
    if !request.uri().path().starts_with("/socket.io") {
        return request;
    }
    let (mut parts, body) = request.into_parts();
    parts.headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
            let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
            Some((name, value))
        })
        .collect();
    if let Ok(uri) = parts.uri.to_string().parse() {
        parts.uri = uri;
    }
    axum::extract::Request::from_parts(parts, body)
}

/// Finds out who connects: a login token from the handshake's `auth` or the
/// browser's cookie, verified; or a guest, when guests are allowed. Refuses
/// anything else with a reason the client can show.
async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<ConnectAuth>,
    State(tokens): State<Tokens>,
    State(store): State<Store>,
    State(settings): State<ChatSettings>,
    State(security): State<Security>,
) -> Result<(), ConnectError> {
    let auth = auth.map_err(|e| ConnectError::MalformedAuth(e.to_string()))?;
    if let Some(id) = &auth.client_id
        && (id.is_empty() || id.len() > CLIENT_ID_MAX_LEN)
    {
        return Err(ConnectError::MalformedAuth(format!(
            "clientId must be 1 to {CLIENT_ID_MAX_LEN} bytes"
        )));
    }
    let headers = &s.req_parts().headers;
    if let Err(refused) = security.check_handshake(headers, auth.token.is_some()) {
        tracing::info!(socket = %s.id, reason = %refused, "connection refused");
        return Err(refused.into());
    }
    let token = auth
        .token
        .or_else(|| auth::token_from_headers(headers, security.cookie));
    let (identity, account, claims) = match auth::identify(&tokens, &store, token.as_deref()).await
    {
        Ok((user, claims)) => {
            let account = format!("user:{}", user.id);
            let identity = Identity::User {
                id: user.id,
                username: user.username,
            };
            (identity, account, Some(claims))
        }
        Err(Unidentified::Missing) if settings.allow_guests => {
            // A guest has no account: its address stands for one.
            let parts = s.req_parts();
            let address = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or_else(
                    || "unknown".to_owned(),
                    |info| {
                        let ip = client_ip(info.0, &parts.headers, &settings.trusted_proxies);
                        crate::client_ip::address_key(ip).to_string()
                    },
                );
            let identity = Identity::Guest {
                client_id: auth.client_id,
            };
            (identity, format!("guest:{address}"), None)
        }
        Err(why) => {
            tracing::info!(socket = %s.id, reason = %why, "connection refused");
            return Err(why.into());
        }
    };
    settings
        .limits
        .cooling_down(&account)
        .inspect_err(|error| {
            tracing::info!(socket = %s.id, %account, %error, "connection refused");
        })?;
    let slot = settings.limits.hold_socket(&account).inspect_err(|error| {
        tracing::info!(socket = %s.id, %account, %error, "connection refused");
    })?;
    s.extensions.insert(turn::Connection::new(
        account,
        slot,
        settings.limits.clone(),
    ));
    if let Some(claims) = claims {
        s.join(session_room(&claims.jti));
        if let Identity::User { id, .. } = &identity {
            s.join(user_room(*id));
        }
        let left = claims.expires_at() - crate::store::now_millis();
        let timer = tokio::spawn(expire(
            s.clone(),
            Duration::from_millis(left.max(0).unsigned_abs()),
        ));
        s.extensions.insert(ExpiryTimer(timer.abort_handle()));
    }
    s.extensions.insert(identity);
    Ok(())
}

/// At its login's expiry, tells the socket why and disconnects it.
async fn expire(s: SocketRef, after: Duration) {
    tokio::time::sleep(after).await;
    let notice = ServerEvent::SessionExpired(Notice {
        message: "session expired: log in again".to_owned(),
    });
    if let Err(error) = s.emit(notice.name(), &notice) {
        tracing::debug!(socket = %s.id, %error, "could not tell an expired socket");
    }
    tracing::info!(socket = %s.id, "session expired");
    if let Err(error) = s.disconnect() {
        tracing::debug!(%error, "expired socket was already gone");
    }
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
