//! Fuzzing every payload's decoding (README, "Fuzzing"): whatever JSON
//! arrives for an event, decoding it gives the event or an error and never
//! panics, and what decodes encodes back to the same value; every server
//! event survives the trip through its name and payload; the input limits
//! never panic and accept nothing they would then refuse.
//!
//! `PROPTEST_CASES=20000 cargo test -p protocol --test payload_fuzz` runs it
//! long; cases that once failed are kept beside this file
//! (`payload_fuzz.proptest-regressions`) and replayed first.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use protocol::strategies::{
    ack_error, chat_message, event_name, history_page, login, payload, server_event, text,
};
use protocol::{
    Account, Ack, AckError, AddUser, ApiError, CatchUp, ChatMessage, ConnectAuth, Credentials,
    DecodeError, ErrorCode, History, HistoryItem, HistoryPage, Login, MESSAGE_MAX_CHARS,
    MessagePayload, NewMessage, NewMessageWithId, Notice, ServerEvent, Session, StopTyping, Typing,
    USERNAME_MAX_CHARS, UserEvent, UserTyping, validate_message, validate_username,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes `value` as a `T`: an error is fine, a panic is not, and a value
/// that decodes must encode to JSON that decodes to the same value.
fn decodes_or_refuses<T>(value: &Value) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    if let Ok(decoded) = serde_json::from_value::<T>(value.clone()) {
        let encoded = serde_json::to_value(&decoded).expect("serializable");
        prop_assert_eq!(serde_json::from_value::<T>(encoded).ok(), Some(decoded));
    }
    Ok(())
}

/// Every type that is read from the wire or from an API body, tried on one
/// value.
fn every_payload(value: &Value) -> Result<(), TestCaseError> {
    // What clients send (socket events, the handshake, API bodies).
    decodes_or_refuses::<AddUser>(value)?;
    decodes_or_refuses::<NewMessage>(value)?;
    decodes_or_refuses::<MessagePayload>(value)?;
    decodes_or_refuses::<Typing>(value)?;
    decodes_or_refuses::<StopTyping>(value)?;
    decodes_or_refuses::<History>(value)?;
    decodes_or_refuses::<CatchUp>(value)?;
    decodes_or_refuses::<ConnectAuth>(value)?;
    decodes_or_refuses::<Credentials>(value)?;
    // What the server answers (acks, API answers, history).
    decodes_or_refuses::<Ack<Value>>(value)?;
    decodes_or_refuses::<Ack<Login>>(value)?;
    decodes_or_refuses::<Ack<ChatMessage>>(value)?;
    decodes_or_refuses::<Ack<HistoryPage>>(value)?;
    decodes_or_refuses::<Ack<()>>(value)?;
    decodes_or_refuses::<AckError>(value)?;
    decodes_or_refuses::<ErrorCode>(value)?;
    decodes_or_refuses::<HistoryItem>(value)?;
    decodes_or_refuses::<UserEvent>(value)?;
    decodes_or_refuses::<UserTyping>(value)?;
    decodes_or_refuses::<Notice>(value)?;
    decodes_or_refuses::<Session>(value)?;
    decodes_or_refuses::<Account>(value)?;
    decodes_or_refuses::<ApiError>(value)
}

proptest! {
    /// Any JSON value, for every payload type.
    #[test]
    fn any_payload_decodes_or_is_refused(value in payload()) {
        every_payload(&value)?;
    }

    /// Any text as a JSON body: refused or read, never a panic.
    #[test]
    fn any_body_text_decodes_or_is_refused(body in text()) {
        if let Ok(value) = serde_json::from_str::<Value>(&body) {
            every_payload(&value)?;
        }
        let _ = serde_json::from_str::<Credentials>(&body);
        let _ = serde_json::from_str::<ConnectAuth>(&body);
    }

    /// Any event name with any payload: a server event whose name is the one
    /// it came under, and which re-encodes to itself, or an error naming
    /// what was wrong.
    #[test]
    fn any_server_event_decodes_or_is_refused(name in event_name(), data in payload()) {
        match ServerEvent::decode(&name, data) {
            Ok(event) => {
                prop_assert_eq!(event.name(), name.as_str());
                let again = serde_json::to_value(&event).expect("serializable");
                prop_assert_eq!(ServerEvent::decode(&name, again), Ok(event));
            }
            Err(DecodeError::UnknownEvent(unknown)) => prop_assert_eq!(unknown, name),
            Err(DecodeError::BadPayload { event, .. }) => prop_assert_eq!(event, name.as_str()),
        }
    }

    /// Every server event survives the trip through its name and payload.
    #[test]
    fn server_events_round_trip(event in server_event()) {
        let data = serde_json::to_value(&event).expect("serializable");
        prop_assert_eq!(ServerEvent::decode(event.name(), data), Ok(event));
    }

    /// Every acknowledgement survives the trip through JSON.
    #[test]
    fn acks_round_trip(
        login in login(),
        message in chat_message(),
        page in history_page(),
        error in ack_error(),
    ) {
        round_trip(&Ack::Ok(login))?;
        round_trip(&Ack::Ok(message))?;
        round_trip(&Ack::Ok(page))?;
        round_trip(&Ack::<()>::Err(error))?;
    }

    /// Every client event survives the trip through JSON.
    #[test]
    fn client_events_round_trip(
        name in text(),
        password in text(),
        id in any::<u64>(),
        token in prop::option::of(text()),
        client_id in prop::option::of(text()),
    ) {
        round_trip(&AddUser(name.clone()))?;
        round_trip(&NewMessage(name.clone()))?;
        round_trip(&MessagePayload::Text(name.clone()))?;
        round_trip(&MessagePayload::WithId(NewMessageWithId {
            message: name.clone(),
            client_id: password.clone(),
        }))?;
        round_trip(&History { before: id })?;
        round_trip(&CatchUp { after: id })?;
        round_trip(&ConnectAuth { token, client_id })?;
        round_trip(&Credentials { username: name, password })?;
        round_trip(&Typing)?;
        round_trip(&StopTyping)?;
    }

    /// A name the limits accept is trimmed, 1 to 32 characters without
    /// control characters, and accepted again as it is; a refusal says
    /// `invalid_name`.
    #[test]
    fn names_are_checked_once_and_for_all(raw in text()) {
        match validate_username(&raw).map(|name| name.to_string()) {
            Ok(name) => {
                prop_assert_eq!(name.trim(), name.as_str());
                let chars = name.chars().count();
                prop_assert!((1..=USERNAME_MAX_CHARS).contains(&chars));
                prop_assert!(!name.chars().any(char::is_control));
                let again = validate_username(&name).map(|n| n.to_string());
                prop_assert_eq!(again, Ok(name));
            }
            Err(error) => prop_assert_eq!(error.code, ErrorCode::InvalidName),
        }
    }

    /// Likewise for messages: 1 to 2,000 characters, line breaks and tabs
    /// the only control characters, accepted again as they are.
    #[test]
    fn messages_are_checked_once_and_for_all(raw in text()) {
        match validate_message(&raw).map(|text| text.to_string()) {
            Ok(text) => {
                prop_assert_eq!(text.trim(), text.as_str());
                let chars = text.chars().count();
                prop_assert!((1..=MESSAGE_MAX_CHARS).contains(&chars));
                prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                let again = validate_message(&text).map(|t| t.to_string());
                prop_assert_eq!(again, Ok(text));
            }
            Err(error) => prop_assert_eq!(error.code, ErrorCode::InvalidMessage),
        }
    }
}

fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = serde_json::to_value(value).expect("serializable");
    prop_assert_eq!(
        &serde_json::from_value::<T>(json).expect("decodable"),
        value
    );
    Ok(())
}
