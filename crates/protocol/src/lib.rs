//! The chat protocol: every event the browser and the server exchange over
//! Socket.IO, as Rust types both sides compile against.
//!
//! It is a superset of the canonical Socket.IO chat demo (`add user`,
//! `new message`, `typing`, `stop typing`, `login`, `user joined`,
//! `user left`): the demo's fields keep their names and shapes, and the extra
//! fields (ids, timestamps, the online list) are ones a demo client ignores.
//!
//! - [`event`] names every event; no other crate spells an event name.
//! - [`ClientEvent`] types are what a client emits, each with the type its
//!   acknowledgement carries ([`ClientEvent::Reply`]).
//! - [`ServerEvent`] is everything the server emits to clients.
//! - [`Ack`] is the answer to an event sent with an acknowledgement: the data,
//!   or an [`AckError`] with a machine-readable [`ErrorCode`] and a reason a
//!   person can read.
//! - [`HistoryItem`] and [`HistoryPage`] are the stored conversation, sent
//!   on entry, for scrollback ([`History`]) and after a reconnection
//!   ([`CatchUp`]).
//! - [`validate_username`], [`validate_message`] and [`validate_client_id`]
//!   hold the input limits, so
//!   the browser refuses what the server would refuse, with the same words;
//!   [`name_key`] is the one rule for when two names are the same name.
//!
//! - `strategies` (feature `proptest`, tests only): generators of every
//!   payload and of hostile input, for the property tests.
//!
//! This crate does no I/O and compiles for native targets and wasm32 alike.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod names;
#[cfg(feature = "proptest")]
pub mod strategies;
mod validate;

pub use names::{looks_alike, name_key, name_key_rule, too_similar};
pub use validate::{
    CLIENT_ID_MAX_CHARS, MAX_COMBINING_MARKS, MESSAGE_MAX_CHARS, MESSAGE_MAX_LINES,
    USERNAME_MAX_CHARS, validate_client_id, validate_message, validate_username,
};

/// The names of the events on the wire, as the canonical chat demo spells them.
pub mod event {
    /// Client → server: enter the room under a name (payload: the name).
    pub const ADD_USER: &str = "add user";
    /// Both ways: a chat message (client → server: its text, or
    /// [`NewMessageWithId`](crate::NewMessageWithId); server → clients: a
    /// [`ChatMessage`](crate::ChatMessage)).
    pub const NEW_MESSAGE: &str = "new message";
    /// Both ways: someone started typing (client → server: no payload).
    pub const TYPING: &str = "typing";
    /// Both ways: someone stopped typing (client → server: no payload).
    pub const STOP_TYPING: &str = "stop typing";
    /// Server → the joining connection only: it is in the room.
    pub const LOGIN: &str = "login";
    /// Server → everyone else: a user entered the room.
    pub const USER_JOINED: &str = "user joined";
    /// Server → everyone else: a user's last connection left the room.
    pub const USER_LEFT: &str = "user left";
    /// Server → one connection: its login ran out; it is disconnected next.
    pub const SESSION_EXPIRED: &str = "session expired";
    /// Server → one connection: it fell too far behind to be sent the room's
    /// events; it is disconnected next, and catches up when it reconnects.
    pub const TOO_SLOW: &str = "too slow";
    /// Server → one connection: it kept sending after being told to slow
    /// down; it is disconnected next.
    pub const FLOODING: &str = "flooding";
    /// Client → server: the page of history before an id (scrollback).
    pub const HISTORY: &str = "history";
    /// Client → server: everything after an id (catching up after a
    /// reconnection).
    pub const CATCH_UP: &str = "catch up";

    /// Every event a client may send.
    pub const FROM_CLIENT: [&str; 6] = [
        ADD_USER,
        NEW_MESSAGE,
        TYPING,
        STOP_TYPING,
        HISTORY,
        CATCH_UP,
    ];
}

/// How many items a page of history holds at most.
pub const HISTORY_PAGE: usize = 50;

/// A server-assigned id of a message or a join/leave; ids only ever grow.
pub type EventId = u64;

/// Milliseconds since the Unix epoch (UTC), as JavaScript's `Date.now()`.
pub type Timestamp = i64;

/// An event a client emits, with the data its acknowledgement carries.
///
/// An event whose payload serializes to `null` (a unit struct such as
/// [`Typing`]) is sent with no argument, as the demo client sends it.
pub trait ClientEvent: Serialize {
    /// The event's name on the wire.
    const NAME: &'static str;
    /// What a successful acknowledgement carries.
    type Reply: Serialize + DeserializeOwned;
}

/// `add user`: enter the room under this name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AddUser(pub String);

impl ClientEvent for AddUser {
    const NAME: &'static str = event::ADD_USER;
    type Reply = Login;
}

/// `new message`: say this in the room. The payload is the text, as the
/// demo client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewMessage(pub String);

impl ClientEvent for NewMessage {
    const NAME: &'static str = event::NEW_MESSAGE;
    type Reply = ChatMessage;
}

/// `new message` with the id its client gave it:
/// `{"message": "…", "clientId": "…"}`. A message is stored once per sender
/// and client id: sent again (a retry after a lost acknowledgement, a copy
/// from another tab), it is answered with the message as stored the first
/// time, and nobody hears it twice. The id is 1 to [`CLIENT_ID_MAX_CHARS`]
/// of `A-Z a-z 0-9 _ -` ([`validate_client_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessageWithId {
    /// What to say (the same rules as [`NewMessage`]).
    pub message: String,
    /// The client's id for this message.
    pub client_id: String,
}

impl ClientEvent for NewMessageWithId {
    const NAME: &'static str = event::NEW_MESSAGE;
    type Reply = ChatMessage;
}

/// Every payload a `new message` may carry: the demo's plain text, or the
/// text with a client id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessagePayload {
    /// `"hello"`.
    Text(String),
    /// `{"message": "hello", "clientId": "…"}`.
    WithId(NewMessageWithId),
}

impl MessagePayload {
    /// The text and the client id, if one came.
    pub fn into_parts(self) -> (String, Option<String>) {
        match self {
            Self::Text(text) => (text, None),
            Self::WithId(NewMessageWithId { message, client_id }) => (message, Some(client_id)),
        }
    }
}

/// `typing`: this user started typing. Sent without a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing;

impl ClientEvent for Typing {
    const NAME: &'static str = event::TYPING;
    type Reply = ();
}

/// `stop typing`: this user stopped typing. Sent without a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopTyping;

impl ClientEvent for StopTyping {
    const NAME: &'static str = event::STOP_TYPING;
    type Reply = ();
}

/// `history`: the page of messages and activity just before `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The oldest id the client has; the page ends just before it.
    pub before: EventId,
}

impl ClientEvent for History {
    const NAME: &'static str = event::HISTORY;
    type Reply = HistoryPage;
}

/// `catch up`: everything after `after`, oldest first, a page at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUp {
    /// The newest id the client has shown.
    pub after: EventId,
}

impl ClientEvent for CatchUp {
    const NAME: &'static str = event::CATCH_UP;
    type Reply = HistoryPage;
}

/// One page of the room's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Messages, joins and leaves, in id order.
    pub items: Vec<HistoryItem>,
    /// Whether there is more in the direction asked (older for `history`,
    /// newer for `catch up`).
    pub more: bool,
}

/// A stored item of the conversation: `{"type": "message", …}` with the
/// fields of a `new message`, or `{"type": "joined" | "left", …}` with those
/// of `user joined` / `user left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HistoryItem {
    /// Someone said something.
    Message(ChatMessage),
    /// Someone entered the room.
    Joined(UserEvent),
    /// Someone's last connection left.
    Left(UserEvent),
}

impl HistoryItem {
    /// The item's id.
    pub fn id(&self) -> EventId {
        match self {
            Self::Message(m) => m.id,
            Self::Joined(e) | Self::Left(e) => e.id,
        }
    }

    /// When it happened.
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Self::Message(m) => m.timestamp,
            Self::Joined(e) | Self::Left(e) => e.timestamp,
        }
    }
}

/// The Socket.IO handshake's `auth` payload. Every field is optional, so a
/// demo client that sends none still connects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectAuth {
    /// A login token (JWT) from `/api/login` or `/api/register`, for clients
    /// that cannot send the browser's cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A random id the browser keeps for as long as it lives (local storage):
    /// connections that share it and a name are one user with several tabs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// `POST /api/register` and `POST /api/login`: who, and the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The account's name (the chat name rules apply).
    pub username: String,
    /// At least [`PASSWORD_MIN_CHARS`] characters.
    pub password: String,
}

/// The shortest password accepted.
pub const PASSWORD_MIN_CHARS: usize = 8;

/// The longest password accepted (hashing is deliberately slow).
pub const PASSWORD_MAX_CHARS: usize = 1_024;

/// An account, as the API shows it (`GET /api/me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's id.
    pub id: i64,
    /// Its name.
    pub username: String,
}

/// The answer to a successful register or login. The browser also gets the
/// token as an HttpOnly cookie; other clients send it in the Socket.IO
/// handshake (`auth.token`) or as `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Who is logged in.
    pub user: Account,
    /// The login token (JWT, HS256).
    pub token: String,
    /// When it expires (ms since the Unix epoch).
    pub expires_at: Timestamp,
}

/// Every API error: `{"error": "<message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for people.
    pub error: String,
}

/// `login`: sent to a connection once it is in the room (and the
/// acknowledgement of its `add user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// How many users are online, this one included.
    #[serde(rename = "numUsers")]
    pub num_users: usize,
    /// The name this connection is in the room under (trimmed).
    pub username: String,
    /// Everyone online now, this user included, in the order they came.
    pub users: Vec<String>,
    /// The recent conversation (at most [`HISTORY_PAGE`] items, oldest
    /// first), ending with this user's join when it is their first connection.
    pub history: HistoryPage,
}

/// `user joined` and `user left`: a user entered the room or their last
/// connection left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEvent {
    /// Who came or went.
    pub username: String,
    /// How many users are online after this.
    #[serde(rename = "numUsers")]
    pub num_users: usize,
    /// Server-assigned id, from the same sequence as messages.
    pub id: EventId,
    /// When it happened.
    pub timestamp: Timestamp,
}

/// `new message` from the server: a message someone said in the room. It is
/// also the acknowledgement of the sender's own `new message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub username: String,
    /// What they said, exactly as stored (plain text, never HTML).
    pub message: String,
    /// Server-assigned id, from the same sequence as joins and leaves.
    pub id: EventId,
    /// When the server received it.
    pub timestamp: Timestamp,
}

/// `typing` and `stop typing` from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTyping {
    /// Who started or stopped typing.
    pub username: String,
}

/// Everything the server emits. It serializes as its payload alone;
/// [`ServerEvent::name`] gives the event name it travels under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ServerEvent {
    /// `login`, to the joining connection.
    Login(Login),
    /// `user joined`, to everyone else.
    UserJoined(UserEvent),
    /// `user left`, to everyone else.
    UserLeft(UserEvent),
    /// `new message`, to everyone but the sender.
    NewMessage(ChatMessage),
    /// `typing`, to everyone else.
    Typing(UserTyping),
    /// `stop typing`, to everyone else.
    StopTyping(UserTyping),
    /// `session expired`, to a connection whose login ran out.
    SessionExpired(Notice),
    /// `too slow`, to a connection whose send queue overflowed.
    TooSlow(Notice),
    /// `flooding`, to a connection that ignored its rate limits.
    Flooding(Notice),
}

/// A message from the server to one connection, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What happened.
    pub message: String,
}

/// An event from the server that this protocol does not describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// No server event has this name.
    UnknownEvent(String),
    /// The name is known but the payload is not of its shape.
    BadPayload {
        /// The event's name.
        event: &'static str,
        /// What serde said about the payload.
        reason: String,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownEvent(name) => write!(f, "unknown server event {name:?}"),
            Self::BadPayload { event, reason } => write!(f, "bad {event:?} payload: {reason}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl ServerEvent {
    /// The name this event travels under.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Login(_) => event::LOGIN,
            Self::UserJoined(_) => event::USER_JOINED,
            Self::UserLeft(_) => event::USER_LEFT,
            Self::NewMessage(_) => event::NEW_MESSAGE,
            Self::Typing(_) => event::TYPING,
            Self::StopTyping(_) => event::STOP_TYPING,
            Self::SessionExpired(_) => event::SESSION_EXPIRED,
            Self::TooSlow(_) => event::TOO_SLOW,
            Self::Flooding(_) => event::FLOODING,
        }
    }

    /// Reads an event received under `name` with payload `data`.
    pub fn decode(name: &str, data: serde_json::Value) -> Result<Self, DecodeError> {
        fn payload<T: DeserializeOwned>(
            event: &'static str,
            data: serde_json::Value,
        ) -> Result<T, DecodeError> {
            serde_json::from_value(data).map_err(|e| DecodeError::BadPayload {
                event,
                reason: e.to_string(),
            })
        }
        Ok(match name {
            event::LOGIN => Self::Login(payload(event::LOGIN, data)?),
            event::USER_JOINED => Self::UserJoined(payload(event::USER_JOINED, data)?),
            event::USER_LEFT => Self::UserLeft(payload(event::USER_LEFT, data)?),
            event::NEW_MESSAGE => Self::NewMessage(payload(event::NEW_MESSAGE, data)?),
            event::TYPING => Self::Typing(payload(event::TYPING, data)?),
            event::STOP_TYPING => Self::StopTyping(payload(event::STOP_TYPING, data)?),
            event::SESSION_EXPIRED => Self::SessionExpired(payload(event::SESSION_EXPIRED, data)?),
            event::TOO_SLOW => Self::TooSlow(payload(event::TOO_SLOW, data)?),
            event::FLOODING => Self::Flooding(payload(event::FLOODING, data)?),
            other => return Err(DecodeError::UnknownEvent(other.to_owned())),
        })
    }
}

/// The answer to an event sent with an acknowledgement:
/// `{"data": …}` on success, `{"error": {"code": …, "message": …}}` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ack<T> {
    /// It worked; here is the result.
    #[serde(rename = "data")]
    Ok(T),
    /// It was refused; nothing changed.
    #[serde(rename = "error")]
    Err(AckError),
}

impl<T> Ack<T> {
    /// The acknowledgement as a `Result`.
    pub fn into_result(self) -> Result<T, AckError> {
        match self {
            Self::Ok(data) => Ok(data),
            Self::Err(error) => Err(error),
        }
    }
}

impl<T> From<Result<T, AckError>> for Ack<T> {
    fn from(result: Result<T, AckError>) -> Self {
        match result {
            Ok(data) => Self::Ok(data),
            Err(error) => Self::Err(error),
        }
    }
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckError {
    /// What kind of refusal, for programs.
    pub code: ErrorCode,
    /// The reason, for people.
    pub message: String,
    /// When trying again may work, in milliseconds from now (with
    /// [`ErrorCode::RateLimited`] and [`ErrorCode::Busy`]).
    #[serde(
        rename = "retryAfterMs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_ms: Option<u64>,
}

impl AckError {
    /// A refusal of kind `code` with a reason a person can read.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A refusal that may succeed when tried again after `wait`.
    pub fn retry_after(code: ErrorCode, message: impl Into<String>, wait: Duration) -> Self {
        Self {
            retry_after_ms: Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
            ..Self::new(code, message)
        }
    }

    /// How long to wait before trying again, if the refusal says.
    pub fn retry_after_duration(&self) -> Option<Duration> {
        self.retry_after_ms.map(Duration::from_millis)
    }
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AckError {}

/// The kinds of refusal, as snake_case strings on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The payload is not of the event's type (a number where a string was due).
    InvalidPayload,
    /// The name is empty, too long, or has control, bidirectional control
    /// or invisible characters, or too many marks on a character.
    InvalidName,
    /// Someone else online (or, for a guest, an account) has this name or
    /// one that looks like it ([`name_key`]).
    NameTaken,
    /// The message is empty, too long, has too many lines, control
    /// characters, or too many marks on a character.
    InvalidMessage,
    /// The connection has not entered the room with `add user` yet.
    NotJoined,
    /// The server could not do it (its storage failed); nothing changed, and
    /// trying again later may work.
    Internal,
    /// The connection is already in the room.
    AlreadyJoined,
    /// A logged-in connection asked for a name other than its account's.
    NameMismatch,
    /// The server has no handler for this event.
    UnknownEvent,
    /// This connection or account sent too many events too fast; the refusal
    /// says when to try again. A connection that keeps going is disconnected.
    RateLimited,
    /// The server is too busy to take this now (its write queue is full);
    /// nothing changed, and trying again shortly may work.
    Busy,
}
