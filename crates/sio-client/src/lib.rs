//! A Socket.IO v5 / Engine.IO v4 client over WebSocket, typed against the
//! chat's `protocol` crate.
//!
//! - [`codec`]: the wire format, without I/O; shared by both clients.
//! - [`backoff`]: when to try again after the connection dropped.
//! - `Client` (wasm32 only): the browser's client over gloo-net's WebSocket,
//!   with acks, timeouts, a ping watchdog and reconnection.
//! - [`native`] (feature `native`): a tokio client for the server's tests and
//!   load generation.
//!
//! No maintained Rust Socket.IO client compiles to wasm32, hence this one. It
//! speaks only what the chat needs: the default namespace, text packets, the
//! WebSocket transport.

pub mod backoff;
pub mod codec;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
pub use browser::{Client, ClientOptions, Handlers};

#[cfg(feature = "native")]
pub mod native;

use std::fmt;

/// The state of a connection, for the UI to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first attempt is in progress.
    Connecting,
    /// Connected: the server acknowledged the Socket.IO CONNECT.
    Online,
    /// The connection dropped; attempt `attempt` starts in `delay_ms`.
    Reconnecting {
        /// Which attempt comes next, from 1.
        attempt: u32,
        /// How long until it starts (ms).
        delay_ms: u32,
    },
    /// The server refused the connection (`connect_error`). Like
    /// socket.io-client, the client does not retry by itself: the reason
    /// (say, an expired login) needs the app to act.
    Refused {
        /// The server's reason.
        reason: String,
    },
    /// Closed by the app.
    Closed,
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting…"),
            Self::Online => f.write_str("online"),
            Self::Reconnecting { delay_ms, .. } => {
                write!(f, "reconnecting in {} s", delay_ms.div_ceil(1000))
            }
            Self::Refused { reason } => write!(f, "refused: {reason}"),
            Self::Closed => f.write_str("closed"),
        }
    }
}

/// Why a request got no answer, or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Nothing was sent: the connection is not up.
    #[error("not connected to the server; try again when back online")]
    NotConnected,
    /// The server did not answer in time.
    #[error("no answer from the server in time")]
    Timeout,
    /// The connection dropped before the answer came.
    #[error("the connection dropped before the server answered")]
    Disconnected,
    /// The server refused; nothing changed.
    #[error("{0}")]
    Refused(protocol::AckError),
    /// The answer was not of the expected shape.
    #[error("unexpected answer from the server: {0}")]
    BadReply(String),
}

/// Reads an ack's arguments as the answer to `E`.
pub fn decode_reply<T: serde::de::DeserializeOwned>(
    args: Vec<serde_json::Value>,
) -> Result<T, RequestError> {
    let first = args.into_iter().next().unwrap_or(serde_json::Value::Null);
    let ack: protocol::Ack<T> =
        serde_json::from_value(first).map_err(|e| RequestError::BadReply(e.to_string()))?;
    ack.into_result().map_err(RequestError::Refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{AckError, ErrorCode};
    use serde_json::json;

    #[test]
    fn states_read_well() {
        let waiting = ConnectionState::Reconnecting {
            attempt: 3,
            delay_ms: 3_200,
        };
        assert_eq!(waiting.to_string(), "reconnecting in 4 s");
        assert_eq!(ConnectionState::Connecting.to_string(), "connecting…");
        let refused = ConnectionState::Refused {
            reason: "login required".into(),
        };
        assert_eq!(refused.to_string(), "refused: login required");
    }

    #[test]
    fn replies_decode_to_data_or_refusal() {
        assert_eq!(decode_reply::<u32>(vec![json!({"data": 5})]), Ok(5));
        let refusal = decode_reply::<u32>(vec![
            json!({"error": {"code": "not_joined", "message": "no"}}),
        ]);
        assert_eq!(
            refusal,
            Err(RequestError::Refused(AckError::new(
                ErrorCode::NotJoined,
                "no"
            )))
        );
        assert!(matches!(
            decode_reply::<u32>(vec![]),
            Err(RequestError::BadReply(_))
        ));
        assert!(matches!(
            decode_reply::<u32>(vec![json!({"data": "x"})]),
            Err(RequestError::BadReply(_))
        ));
    }
}
