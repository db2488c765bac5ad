//! Bad input: every malformed event gets an error acknowledgement with a
//! reason, changes nothing, and leaves the connection up; an oversized frame
//! is refused by the transport without harming anyone else.

use protocol::{Ack, AckError, AddUser, ErrorCode, NewMessage, ServerEvent};
use serde_json::{Value, json};
use sio_client::native::NativeClient;

use crate::support::{WAIT, next, spawn_app};

/// Sends a raw event with an ack and returns the refusal it must get.
async fn refused(client: &NativeClient, event: &str, args: Vec<Value>) -> AckError {
    let reply = client
        .request_raw(event, args.clone())
        .await
        .unwrap_or_else(|e| {
            panic!("no ack for {event:?} {args:?}: {e}");
        });
    let first = reply.into_iter().next().unwrap_or(Value::Null);
    match serde_json::from_value::<Ack<Value>>(first.clone()) {
        Ok(Ack::Err(error)) => error,
        _ => panic!("{event:?} {args:?} should be refused, got {first}"),
    }
}

#[tokio::test]
async fn events_before_add_user_are_refused() {
    let app = spawn_app().await;
    let client = app.client().await;
    for (event, args) in [
        ("new message", vec![json!("hi")]),
        ("typing", vec![]),
        ("stop typing", vec![]),
    ] {
        let error = refused(&client, event, args).await;
        assert_eq!(error.code, ErrorCode::NotJoined, "{event}");
        assert_eq!(error.message, "enter the room with add user first");
    }
    assert!(client.is_open());
    assert_eq!(app.state.room.num_users().await.unwrap(), 0);
}

#[tokio::test]
async fn bad_names_are_refused_with_reasons() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let cases = [
        (
            vec![json!(42)],
            ErrorCode::InvalidPayload,
            "add user expects the name as a string",
        ),
        (
            vec![json!({"name": "x"})],
            ErrorCode::InvalidPayload,
            "add user expects the name as a string",
        ),
        (
            vec![],
            ErrorCode::InvalidPayload,
            "add user expects the name as a string",
        ),
        (
            vec![json!("   ")],
            ErrorCode::InvalidName,
            "the name is empty",
        ),
        (
            vec![json!("x".repeat(33))],
            ErrorCode::InvalidName,
            "the name is 33 characters long; the limit is 32",
        ),
        (
            vec![json!("a\u{0}b")],
            ErrorCode::InvalidName,
            "the name has control characters",
        ),
    ];
    for (args, code, message) in cases {
        let error = refused(&client, "add user", args.clone()).await;
        assert_eq!(
            (error.code, error.message.as_str()),
            (code, message),
            "{args:?}"
        );
    }
    assert_eq!(
        app.state.room.num_users().await.unwrap(),
        0,
        "nothing changed"
    );
    // The connection survived all of it and can still enter.
    crate::support::enter(&mut client, "fine").await;
}

#[tokio::test]
async fn a_taken_name_is_refused_case_insensitively_and_the_loser_can_pick_another() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("Alice").await;
    let mut other = app.client().await;
    let ack = other.request(&AddUser("ALICE".into())).await.unwrap();
    assert_eq!(
        ack,
        Ack::Err(AckError::new(
            ErrorCode::NameTaken,
            "“Alice” is already taken by someone online"
        ))
    );
    let login = crate::support::enter(&mut other, "alice2").await;
    assert_eq!(login.users, ["Alice", "alice2"]);
    // Alice heard only the successful join.
    assert!(matches!(next(&mut alice).await, ServerEvent::UserJoined(e) if e.username == "alice2"));
}

#[tokio::test]
async fn a_second_add_user_is_refused() {
    let app = spawn_app().await;
    let (alice, _) = app.join("alice").await;
    let error = refused(&alice, "add user", vec![json!("bob")]).await;
    assert_eq!(error.code, ErrorCode::AlreadyJoined);
    assert_eq!(
        error.message,
        "this connection is already in the room as “alice”"
    );
    assert_eq!(app.state.room.num_users().await.unwrap(), 1);
}

/// What a `new message` that is neither a string nor a message object is told.
const NEW_MESSAGE_SHAPE: &str =
    r#"new message expects the text as a string, or {"message": text, "clientId": id}"#;

#[tokio::test]
async fn bad_messages_are_refused_and_nobody_hears_them() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    next(&mut alice).await;
    let cases = [
        (
            vec![json!(7)],
            ErrorCode::InvalidPayload,
            NEW_MESSAGE_SHAPE.to_owned(),
        ),
        (
            vec![json!(["a"])],
            ErrorCode::InvalidPayload,
            NEW_MESSAGE_SHAPE.to_owned(),
        ),
        (
            vec![json!(" \n ")],
            ErrorCode::InvalidMessage,
            "the message is empty".to_owned(),
        ),
        (
            vec![json!("m".repeat(2_001))],
            ErrorCode::InvalidMessage,
            "the message is 2001 characters long; the limit is 2000".to_owned(),
        ),
        (
            vec![json!("bell\u{7}")],
            ErrorCode::InvalidMessage,
            "the message has control characters".to_owned(),
        ),
    ];
    for (args, code, message) in cases {
        let error = refused(&bob, "new message", args.clone()).await;
        assert_eq!((error.code, error.message), (code, message), "{args:?}");
    }
    let error = refused(&bob, "no such event", vec![json!(1)]).await;
    assert_eq!(error.code, ErrorCode::UnknownEvent);
    assert_eq!(error.message, "unknown event “no such event”");

    // A 2,000-character message is fine, and it is the first thing alice hears.
    let Ack::Ok(sent) = bob.request(&NewMessage("m".repeat(2_000))).await.unwrap() else {
        panic!("a message at the limit must pass");
    };
    assert_eq!(next(&mut alice).await, ServerEvent::NewMessage(sent));
    assert!(bob.is_open());
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let app = spawn_app_small().await;
    let (mut alice, _) = app.join("alice").await;
    let (mut mallory, _) = app.join("mallory").await;
    next(&mut alice).await;

    let huge = format!("42[\"new message\",\"{}\"]", "x".repeat(8 * 1024));
    mallory.send_frame(huge).await.unwrap();
    // The server closes mallory's connection...
    let closed = mallory.next_raw(WAIT).await;
    assert!(
        closed.is_err(),
        "mallory's connection should close, got {closed:?}"
    );
    assert!(!mallory.is_open());
    // ...and the room carries on: alice hears mallory leave and can still talk.
    let ServerEvent::UserLeft(left) = next(&mut alice).await else {
        panic!("expected mallory to leave")
    };
    assert_eq!(left.username, "mallory");
    let (mut bob, _) = app.join("bob").await;
    let Ack::Ok(_) = alice.request(&NewMessage("still up".into())).await.unwrap() else {
        panic!("refused");
    };
    assert!(matches!(next(&mut bob).await, ServerEvent::NewMessage(m) if m.message == "still up"));
}

/// A server whose transport refuses payloads over 4 KiB (and whose users
/// leave as soon as their connection breaks).
async fn spawn_app_small() -> crate::support::TestApp {
    crate::support::spawn_app_with(&[
        "--allow-guests",
        "--max-payload",
        "4096",
        "--presence-grace-secs",
        "0",
    ])
    .await
}
