//! Generators of protocol values and of hostile input, for the property tests
//! that fuzz the codec, the payloads and the server (README, "Fuzzing").
//! Behind the `proptest` feature, which only tests turn on: the browser and
//! the server never compile it.
//!
//! They live here, next to the types, so every crate's tests throw the same
//! input at their layer: arbitrary JSON of any shape, text with the
//! characters that break naive code (controls, bidi and zero-width marks,
//! astral characters, lengths around the limits), every event name, and
//! well-formed values of every payload.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use crate::{
    AckError, ChatMessage, ErrorCode, HistoryItem, HistoryPage, Login, MESSAGE_MAX_CHARS, Notice,
    ServerEvent, USERNAME_MAX_CHARS, UserEvent, UserTyping, event,
};

/// Every event name the protocol knows, client and server side.
pub const EVENT_NAMES: &[&str] = &[
    event::ADD_USER,
    event::NEW_MESSAGE,
    event::TYPING,
    event::STOP_TYPING,
    event::LOGIN,
    event::USER_JOINED,
    event::USER_LEFT,
    event::SESSION_EXPIRED,
    event::TOO_SLOW,
    event::FLOODING,
    event::HISTORY,
    event::CATCH_UP,
];

/// The names of the events a client may send.
pub const CLIENT_EVENT_NAMES: &[&str] = &event::FROM_CLIENT;

/// Characters that break code which assumes ASCII, printable text or one
/// byte per character.
const TRICKY: &str = " \t\n\r\u{0}\u{7}\u{1b}\u{7f}\u{85}\u{a0}\u{ad}\u{200b}\u{200d}\u{202e}\
    \u{2028}\u{3000}\u{feff}\u{fffd}éа😀\u{10ffff}\"\\,/[]{}-049";

/// Text: any Unicode, runs of the tricky characters, and long strings around
/// the name and message limits.
pub fn text() -> BoxedStrategy<String> {
    let tricky = || prop::sample::select(TRICKY.chars().collect::<Vec<_>>());
    prop_oneof![
        4 => any::<String>(),
        3 => prop::collection::vec(tricky(), 0..12)
            .prop_map(|chars| chars.into_iter().collect()),
        2 => "[a-zA-Z0-9 ]{0,40}",
        1 => (tricky(), USERNAME_MAX_CHARS - 2..USERNAME_MAX_CHARS + 3)
            .prop_map(|(c, n)| std::iter::repeat_n(c, n).collect::<String>() + "x"),
        1 => (MESSAGE_MAX_CHARS - 2..MESSAGE_MAX_CHARS + 3)
            .prop_map(|n| "m".repeat(n)),
    ]
    .boxed()
}

/// A JSON number: small and extreme integers, and finite floats (JSON has
/// no NaN or infinity).
pub fn number() -> BoxedStrategy<Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-3i64..1_000).prop_map(Number::from),
        (prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO)
            .prop_filter_map("finite", Number::from_f64),
    ]
    .boxed()
}

/// Any JSON value, nested a few levels deep.
pub fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// Any JSON object, sometimes with the fields the protocol's payloads use.
pub fn json_object() -> BoxedStrategy<Map<String, Value>> {
    let key = prop_oneof![
        2 => prop::sample::select(&[
            "username", "message", "id", "timestamp", "numUsers", "users", "history", "items",
            "more", "type", "before", "after", "token", "clientId", "password", "data", "error",
            "code", "sid",
        ][..])
        .prop_map(str::to_owned),
        1 => text(),
    ];
    prop::collection::vec((key, json()), 0..6)
        .prop_map(|fields| fields.into_iter().collect())
        .boxed()
}

/// A payload for an event: any JSON, or an object with the protocol's field
/// names (which gets further into the decoders).
pub fn payload() -> BoxedStrategy<Value> {
    prop_oneof![json(), json_object().prop_map(Value::Object)].boxed()
}

/// An event name: one the protocol knows, or any text.
pub fn event_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(EVENT_NAMES).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// Every refusal code.
pub fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(
        &[
            ErrorCode::InvalidPayload,
            ErrorCode::InvalidName,
            ErrorCode::NameTaken,
            ErrorCode::InvalidMessage,
            ErrorCode::NotJoined,
            ErrorCode::Internal,
            ErrorCode::AlreadyJoined,
            ErrorCode::NameMismatch,
            ErrorCode::UnknownEvent,
            ErrorCode::RateLimited,
            ErrorCode::Busy,
        ][..],
    )
}

/// A refusal.
pub fn ack_error() -> impl Strategy<Value = AckError> {
    (error_code(), text(), prop::option::of(any::<u64>())).prop_map(
        |(code, message, retry_after_ms)| AckError {
            code,
            message,
            retry_after_ms,
        },
    )
}

/// A chat message as the server sends it.
pub fn chat_message() -> impl Strategy<Value = ChatMessage> {
    (text(), text(), any::<u64>(), any::<i64>()).prop_map(|(username, message, id, timestamp)| {
        ChatMessage {
            username,
            message,
            id,
            timestamp,
        }
    })
}

/// A join or a leave.
pub fn user_event() -> impl Strategy<Value = UserEvent> {
    (text(), any::<usize>(), any::<u64>(), any::<i64>()).prop_map(
        |(username, num_users, id, timestamp)| UserEvent {
            username,
            num_users,
            id,
            timestamp,
        },
    )
}

/// A stored item of the conversation.
pub fn history_item() -> impl Strategy<Value = HistoryItem> {
    prop_oneof![
        chat_message().prop_map(HistoryItem::Message),
        user_event().prop_map(HistoryItem::Joined),
        user_event().prop_map(HistoryItem::Left),
    ]
}

/// A page of history.
pub fn history_page() -> impl Strategy<Value = HistoryPage> {
    (prop::collection::vec(history_item(), 0..4), any::<bool>())
        .prop_map(|(items, more)| HistoryPage { items, more })
}

/// A `login`.
pub fn login() -> impl Strategy<Value = Login> {
    (
        any::<usize>(),
        text(),
        prop::collection::vec(text(), 0..4),
        history_page(),
    )
        .prop_map(|(num_users, username, users, history)| Login {
            num_users,
            username,
            users,
            history,
        })
}

/// Every event the server sends.
pub fn server_event() -> impl Strategy<Value = ServerEvent> {
    let notice = || text().prop_map(|message| Notice { message });
    let typing = || text().prop_map(|username| UserTyping { username });
    prop_oneof![
        login().prop_map(ServerEvent::Login),
        user_event().prop_map(ServerEvent::UserJoined),
        user_event().prop_map(ServerEvent::UserLeft),
        chat_message().prop_map(ServerEvent::NewMessage),
        typing().prop_map(ServerEvent::Typing),
        typing().prop_map(ServerEvent::StopTyping),
        notice().prop_map(ServerEvent::SessionExpired),
        notice().prop_map(ServerEvent::TooSlow),
        notice().prop_map(ServerEvent::Flooding),
    ]
}
