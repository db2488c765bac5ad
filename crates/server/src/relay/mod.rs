//! The relay: what other nodes must hear at once but nobody keeps (typing,
//! and logouts that must close a session's sockets wherever they are).
//!
//! On a single node there is nobody to tell: [`Relay::Local`] sends nothing.
//! In a cluster, [`redis`] publishes each signal on one Redis channel that
//! every node subscribes to. Delivery is at most once, which suits these:
//! a lost `typing` is repeated by the typist's page within seconds, and a
//! logged-out token is refused on its next use anyway (the store revoked
//! it). Chat messages, joins and leaves never go this way: they come from
//! the store's feed.

pub mod redis;

use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;

/// The Socket.IO room of one login's sockets, so logging out can find them.
pub fn session_room(jti: &str) -> String {
    format!("session:{jti}")
}

/// The Socket.IO room of all an account's sockets, so "log out everywhere"
/// can find them.
pub fn user_room(id: i64) -> String {
    format!("user:{id}")
}

/// Disconnects this node's sockets in a Socket.IO room.
pub async fn disconnect(io: &SocketIo, room: String) {
    if let Err(error) = io.to(room).disconnect().await {
        tracing::warn!(%error, "could not disconnect a logged-out session's sockets");
    }
}

/// Something the other nodes must act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// A user is typing: tell this node's listeners.
    Typing { username: String },
    /// A user stopped typing.
    StopTyping { username: String },
    /// A login was ended: close its sockets (by its token's id).
    EndSession { jti: String },
    /// Every login of an account was ended: close all its sockets.
    EndSessions { user_id: i64 },
}

/// Where signals go; cheap to clone.
#[derive(Debug, Clone)]
pub enum Relay {
    /// A single node: nowhere.
    Local,
    /// A cluster: to every other node, through Redis.
    Redis(std::sync::Arc<redis::RedisRelay>),
}

impl Relay {
    /// Tells the other nodes (without waiting; a failure is logged).
    pub fn send(&self, signal: Signal) {
        if let Self::Redis(relay) = self {
            relay.send(signal);
        }
    }
}
