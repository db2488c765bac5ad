//! The exact JSON of every event and acknowledgement. A change here is a
//! change to the wire format: clients written for the canonical chat demo,
//! and older pages still open, depend on it.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use protocol::{
    Account, Ack, AckError, AddUser, ApiError, CatchUp, ChatMessage, ClientEvent, ConnectAuth,
    Credentials, DecodeError, ErrorCode, History, HistoryItem, HistoryPage, Login, MessagePayload,
    NewMessage, NewMessageWithId, Notice, ServerEvent, Session, StopTyping, Typing, UserEvent,
    UserTyping, event,
};
use serde_json::{Value, json};

fn wire<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

fn message() -> ChatMessage {
    ChatMessage {
        username: "alice".into(),
        message: "<b>hi</b> & bye".into(),
        id: 42,
        timestamp: 1_795_400_000_123,
    }
}

fn joined(id: u64) -> UserEvent {
    UserEvent {
        username: "bob".into(),
        num_users: 2,
        id,
        timestamp: 1_795_400_000_456,
    }
}

fn login() -> Login {
    Login {
        num_users: 2,
        username: "bob".into(),
        users: vec!["alice".into(), "bob".into()],
        history: HistoryPage {
            items: vec![
                HistoryItem::Message(message()),
                HistoryItem::Joined(joined(43)),
            ],
            more: true,
        },
    }
}

fn message_json() -> Value {
    json!({
        "username": "alice",
        "message": "<b>hi</b> & bye",
        "id": 42,
        "timestamp": 1_795_400_000_123_i64,
    })
}

fn login_json() -> Value {
    json!({
        "numUsers": 2,
        "username": "bob",
        "users": ["alice", "bob"],
        "history": {
            "items": [
                { "type": "message", "username": "alice", "message": "<b>hi</b> & bye", "id": 42, "timestamp": 1_795_400_000_123_i64 },
                { "type": "joined", "username": "bob", "numUsers": 2, "id": 43, "timestamp": 1_795_400_000_456_i64 },
            ],
            "more": true,
        },
    })
}

#[test]
fn event_names_are_the_demos() {
    assert_eq!(
        [
            event::ADD_USER,
            event::NEW_MESSAGE,
            event::TYPING,
            event::STOP_TYPING,
            event::LOGIN,
            event::USER_JOINED,
            event::USER_LEFT,
        ],
        [
            "add user",
            "new message",
            "typing",
            "stop typing",
            "login",
            "user joined",
            "user left"
        ]
    );
    assert_eq!(AddUser::NAME, "add user");
    assert_eq!(NewMessage::NAME, "new message");
    assert_eq!(Typing::NAME, "typing");
    assert_eq!(StopTyping::NAME, "stop typing");
    assert_eq!((event::HISTORY, event::CATCH_UP), ("history", "catch up"));
    assert_eq!((History::NAME, CatchUp::NAME), ("history", "catch up"));
}

#[test]
fn client_payloads() {
    assert_eq!(wire(&AddUser("alice".into())), json!("alice"));
    assert_eq!(wire(&NewMessage("hello".into())), json!("hello"));
    // Unit payloads serialize to null, which the clients send as no argument.
    assert_eq!(wire(&Typing), Value::Null);
    assert_eq!(wire(&StopTyping), Value::Null);
    assert_eq!(wire(&ConnectAuth::default()), json!({}));
    assert_eq!(
        wire(&ConnectAuth {
            token: None,
            client_id: Some("c1".into())
        }),
        json!({ "clientId": "c1" })
    );
    assert_eq!(
        wire(&ConnectAuth {
            token: Some("t.o.k".into()),
            client_id: None
        }),
        json!({ "token": "t.o.k" })
    );
    assert_eq!(
        wire(&Credentials {
            username: "alice".into(),
            password: "correct horse".into()
        }),
        json!({ "username": "alice", "password": "correct horse" })
    );
    assert_eq!(
        wire(&Session {
            user: Account {
                id: 7,
                username: "alice".into()
            },
            token: "t.o.k".into(),
            expires_at: 1_795_400_000_000,
        }),
        json!({ "user": { "id": 7, "username": "alice" }, "token": "t.o.k", "expiresAt": 1_795_400_000_000_i64 })
    );
    assert_eq!(
        wire(&ApiError {
            error: "login required".into()
        }),
        json!({ "error": "login required" })
    );
    assert_eq!(wire(&History { before: 40 }), json!({ "before": 40 }));
    assert_eq!(wire(&CatchUp { after: 41 }), json!({ "after": 41 }));
    let parsed: ConnectAuth =
        serde_json::from_value(json!({ "clientId": "c1", "extra": 1 })).unwrap();
    assert_eq!(parsed.client_id.as_deref(), Some("c1"));
}

/// `new message` from a client: the demo's plain string, or an object with
/// the client's id for the message (sent again, it is stored once).
#[test]
fn new_message_payloads() {
    assert_eq!(NewMessageWithId::NAME, event::NEW_MESSAGE);
    let with_id = NewMessageWithId {
        message: "hello".into(),
        client_id: "k7Fq-2_x".into(),
    };
    assert_eq!(
        wire(&with_id),
        json!({ "message": "hello", "clientId": "k7Fq-2_x" })
    );
    let read = |value: Value| serde_json::from_value::<MessagePayload>(value);
    assert_eq!(
        read(json!("hello")).unwrap(),
        MessagePayload::Text("hello".into())
    );
    assert_eq!(
        read(json!({ "message": "hello", "clientId": "k7Fq-2_x" })).unwrap(),
        MessagePayload::WithId(with_id.clone())
    );
    assert_eq!(
        read(wire(&with_id)).unwrap().into_parts(),
        ("hello".to_owned(), Some("k7Fq-2_x".to_owned()))
    );
    assert_eq!(
        read(json!("hi")).unwrap().into_parts(),
        ("hi".to_owned(), None)
    );
    // Not a message: a number, an object without its text or its id, a
    // client id that is not a string.
    for bad in [
        json!(7),
        json!(null),
        json!({ "message": "hello" }),
        json!({ "clientId": "a" }),
        json!({ "message": "hello", "clientId": 7 }),
    ] {
        assert!(read(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn server_events() {
    let joined = UserEvent {
        username: "carol".into(),
        num_users: 3,
        id: 7,
        timestamp: 1_000,
    };
    let cases = [
        (ServerEvent::Login(login()), "login", login_json()),
        (
            ServerEvent::UserJoined(joined.clone()),
            "user joined",
            json!({ "username": "carol", "numUsers": 3, "id": 7, "timestamp": 1_000 }),
        ),
        (
            ServerEvent::UserLeft(joined),
            "user left",
            json!({ "username": "carol", "numUsers": 3, "id": 7, "timestamp": 1_000 }),
        ),
        (
            ServerEvent::NewMessage(message()),
            "new message",
            message_json(),
        ),
        (
            ServerEvent::Typing(UserTyping {
                username: "dave".into(),
            }),
            "typing",
            json!({ "username": "dave" }),
        ),
        (
            ServerEvent::StopTyping(UserTyping {
                username: "dave".into(),
            }),
            "stop typing",
            json!({ "username": "dave" }),
        ),
        (
            ServerEvent::SessionExpired(Notice {
                message: "session expired".into(),
            }),
            "session expired",
            json!({ "message": "session expired" }),
        ),
        (
            ServerEvent::TooSlow(Notice {
                message: "too slow".into(),
            }),
            "too slow",
            json!({ "message": "too slow" }),
        ),
        (
            ServerEvent::Flooding(Notice {
                message: "slow down".into(),
            }),
            "flooding",
            json!({ "message": "slow down" }),
        ),
    ];
    for (event, name, json) in cases {
        assert_eq!(event.name(), name);
        assert_eq!(wire(&event), json, "{name}");
        assert_eq!(
            ServerEvent::decode(name, json).as_ref(),
            Ok(&event),
            "{name} round trip"
        );
    }
}

#[test]
fn decoding_refuses_what_it_does_not_know() {
    assert_eq!(
        ServerEvent::decode("chat", json!({})),
        Err(DecodeError::UnknownEvent("chat".into()))
    );
    let err = ServerEvent::decode("user joined", json!({ "username": "x" })).unwrap_err();
    assert!(
        matches!(&err, DecodeError::BadPayload { event: "user joined", reason } if reason.contains("numUsers")),
        "{err}"
    );
}

#[test]
fn acks() {
    assert_eq!(wire(&Ack::Ok(message())), json!({ "data": message_json() }));
    let refused: Ack<ChatMessage> = Ack::Err(AckError::new(
        ErrorCode::InvalidMessage,
        "the message is empty",
    ));
    assert_eq!(
        wire(&refused),
        json!({ "error": { "code": "invalid_message", "message": "the message is empty" } })
    );
    let parsed: Ack<Login> = serde_json::from_value(json!({ "data": login_json() })).unwrap();
    assert_eq!(parsed.into_result(), Ok(login()));
    let page = HistoryPage {
        items: vec![HistoryItem::Left(joined(44))],
        more: false,
    };
    assert_eq!(
        wire(&Ack::Ok(page)),
        json!({ "data": { "items": [
            { "type": "left", "username": "bob", "numUsers": 2, "id": 44, "timestamp": 1_795_400_000_456_i64 },
        ], "more": false } })
    );
}

#[test]
fn refusals_say_when_to_try_again() {
    let limited: Ack<()> = Ack::Err(AckError::retry_after(
        ErrorCode::RateLimited,
        "slow down: you can send again in 3 s",
        std::time::Duration::from_millis(2_500),
    ));
    let json = json!({ "error": {
        "code": "rate_limited",
        "message": "slow down: you can send again in 3 s",
        "retryAfterMs": 2_500,
    } });
    assert_eq!(wire(&limited), json);
    let parsed: Ack<()> = serde_json::from_value(json).unwrap();
    let error = parsed.into_result().unwrap_err();
    assert_eq!(
        error.retry_after_duration(),
        Some(std::time::Duration::from_millis(2_500))
    );
    // Refusals without a wait carry no field, as before.
    assert_eq!(
        wire(&AckError::new(ErrorCode::Busy, "x")),
        json!({ "code": "busy", "message": "x" })
    );
}

#[test]
fn error_codes() {
    let codes = [
        (ErrorCode::InvalidPayload, "invalid_payload"),
        (ErrorCode::InvalidName, "invalid_name"),
        (ErrorCode::NameTaken, "name_taken"),
        (ErrorCode::InvalidMessage, "invalid_message"),
        (ErrorCode::NotJoined, "not_joined"),
        (ErrorCode::AlreadyJoined, "already_joined"),
        (ErrorCode::UnknownEvent, "unknown_event"),
        (ErrorCode::Internal, "internal"),
        (ErrorCode::NameMismatch, "name_mismatch"),
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::Busy, "busy"),
    ];
    for (code, text) in codes {
        assert_eq!(wire(&code), json!(text));
    }
}
