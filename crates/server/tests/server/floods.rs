//! Nobody can take the room down: one connection's events are handled in
//! the order it sent them, a client flooding any event is refused with a
//! time to wait and then disconnected while everyone else chats on, and an
//! account holds a bounded number of sockets.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use protocol::{Ack, AddUser, ErrorCode, NewMessage, ServerEvent, Session, event};
use serde_json::{Value, json};
use sio_client::native::{NativeClient, NativeError};

use crate::support::{TestApp, UNLIMITED, WAIT, enter, spawn_app_with};

/// Registers an account and returns its token.
async fn register(app: &TestApp, username: &str) -> String {
    let session: Session = app.register(username).await.json().await.unwrap();
    session.token
}

/// A logged-in client that entered the room.
async fn logged_in(app: &TestApp, username: &str) -> NativeClient {
    let token = register(app, username).await;
    let mut client = NativeClient::connect(&app.url(), Some(json!({ "token": token })))
        .await
        .unwrap();
    enter(&mut client, username).await;
    client
}

/// Bursts of several hundred messages from several senders at once, sent
/// without waiting for acknowledgements: every receiver sees each sender's
/// messages in the order sent. (socketioxide handles each event in a task
/// of its own; before events took turns per connection, 22–51 of 500 were
/// delivered out of order.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_senders_burst_arrives_in_the_order_sent() {
    const SENDERS: usize = 4;
    const BURST: usize = 400;
    let mut flags = vec!["--allow-guests"];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let (mut receiver, _) = app.join("receiver").await;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        senders.push(app.join(&format!("sender{s}")).await.0);
    }
    // Everyone is in: what the receiver hears from now on is messages.
    for _ in 0..SENDERS {
        match receiver.next_event(WAIT).await.unwrap() {
            ServerEvent::UserJoined(_) => {}
            other => panic!("expected a join, got {other:?}"),
        }
    }
    join_all(senders.iter().enumerate().map(|(s, sender)| async move {
        for i in 0..BURST {
            sender.emit(&NewMessage(format!("{s} {i}"))).await.unwrap();
        }
    }))
    .await;

    let mut next_of: HashMap<String, usize> = HashMap::new();
    let mut received = Vec::new();
    while received.len() < SENDERS * BURST {
        match receiver.next_event(WAIT).await.unwrap() {
            ServerEvent::NewMessage(message) => received.push(message),
            other => panic!("expected messages only, got {other:?}"),
        }
    }
    let mut last_id = 0;
    for message in received {
        assert!(message.id > last_id, "ids grow in delivery order");
        last_id = message.id;
        let (sender, i) = message.message.split_once(' ').unwrap();
        let expected = next_of.entry(sender.to_owned()).or_default();
        assert_eq!(
            i.parse::<usize>().unwrap(),
            *expected,
            "sender {sender}'s messages out of order"
        );
        *expected += 1;
    }
    assert_eq!(next_of.len(), SENDERS);
    assert!(next_of.values().all(|&n| n == BURST));
}

/// What a flooding connection got back before the server closed it.
#[derive(Debug, Default)]
struct Flood {
    /// Refusals with `rate_limited`, each with a time to wait.
    rate_limited: usize,
    /// Whether it was told `flooding` before it was disconnected.
    told: bool,
}

/// Sends `event` as fast as it can (with an ack when `ack`), until the
/// server disconnects the client; at most `max` events.
async fn flood(
    mut client: NativeClient,
    event: &'static str,
    args: Vec<Value>,
    ack: bool,
) -> Flood {
    let mut flood = Flood::default();
    for _ in 0..5_000 {
        if ack {
            match client.request_raw(event, args.clone()).await {
                Ok(reply) => {
                    if reply[0]["error"]["code"] == "rate_limited" {
                        let wait = reply[0]["error"]["retryAfterMs"].as_u64().unwrap();
                        assert!(wait > 0, "a refusal says when to try again");
                        flood.rate_limited += 1;
                    }
                }
                Err(NativeError::Closed | NativeError::Timeout) => break,
                Err(other) => panic!("{other}"),
            }
        } else if client.emit_raw(event, args.clone()).await.is_err() {
            break;
        }
        if !client.is_open() {
            break;
        }
    }
    // Whatever the server sent before it closed the connection.
    while let Ok((name, _)) = client.next_raw(WAIT).await {
        if name == event::FLOODING {
            flood.told = true;
        }
    }
    assert!(!client.is_open(), "{event}: the flooder was disconnected");
    flood
}

/// One client floods each event at full speed while two others chat: the
/// chat goes on (every message arrives, in order, and nobody else is
/// disconnected), the flooders get `rate_limited` with a time to wait, and
/// then `flooding` and a disconnect. Typing is told to the others once
/// however often it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flooders_are_refused_then_disconnected_while_others_chat() {
    // The defaults, as a real server has them.
    let app = spawn_app_with(&[]).await;
    let alice = logged_in(&app, "alice").await;
    let mut bob = logged_in(&app, "bob").await;
    let messenger = logged_in(&app, "mallory").await;
    let reader = logged_in(&app, "rita").await;
    let typist = logged_in(&app, "tina").await;
    // Bob hears the three flooders come in.
    for _ in 0..3 {
        assert!(matches!(
            bob.next_event(WAIT).await.unwrap(),
            ServerEvent::UserJoined(_)
        ));
    }

    let floods = tokio::spawn(async move {
        tokio::join!(
            flood(messenger, event::NEW_MESSAGE, vec![json!("spam")], true),
            flood(
                reader,
                event::HISTORY,
                vec![json!({ "before": 1_000_000 })],
                true
            ),
            flood(typist, event::TYPING, vec![], false),
        )
    });
    let chat = tokio::spawn(async move {
        for i in 0..20 {
            let ack = alice
                .request(&NewMessage(format!("hello {i}")))
                .await
                .unwrap();
            assert!(matches!(ack, Ack::Ok(_)), "alice's message {i}: {ack:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        alice
    });

    let mut heard = Vec::new();
    let mut typing_told = 0;
    while heard.len() < 20 {
        match bob.next_event(WAIT).await.unwrap() {
            ServerEvent::NewMessage(m) if m.username == "alice" => heard.push(m.message),
            ServerEvent::Typing(t) if t.username == "tina" => typing_told += 1,
            _ => {}
        }
    }
    let expected: Vec<String> = (0..20).map(|i| format!("hello {i}")).collect();
    assert_eq!(heard, expected, "every message, in order");
    let alice = chat.await.unwrap();

    let (messages, reads, typing) = floods.await.unwrap();
    for (event, flood) in [
        ("new message", &messages),
        ("history", &reads),
        ("typing", &typing),
    ] {
        assert!(flood.told, "{event}: told flooding before the disconnect");
    }
    assert!(messages.rate_limited > 0, "{messages:?}");
    assert!(reads.rate_limited > 0, "{reads:?}");
    // Whatever bob heard of tina's hundreds of typing events after the
    // first: at most one more per 2.5 s.
    while let Ok(event) = bob.next_event(Duration::from_millis(300)).await {
        if matches!(&event, ServerEvent::Typing(t) if t.username == "tina") {
            typing_told += 1;
        }
    }
    assert!(
        (1..=2).contains(&typing_told),
        "typing told {typing_told} times"
    );
    // Alice and bob are still in the room and served.
    assert!(alice.is_open() && bob.is_open());
    let page = bob
        .request_raw(event::CATCH_UP, vec![json!({ "after": 0 })])
        .await
        .unwrap();
    assert!(page[0]["data"]["items"].is_array(), "{page:?}");
}

/// An account holds a bounded number of sockets: one more is refused with
/// the reason, and a closed one frees its place.
#[tokio::test]
async fn an_account_has_a_bounded_number_of_sockets() {
    let app = spawn_app_with(&["--sockets-per-account", "2"]).await;
    let token = register(&app, "alice").await;
    let auth = || Some(json!({ "token": token.clone() }));
    let first = NativeClient::connect(&app.url(), auth()).await.unwrap();
    let _second = NativeClient::connect(&app.url(), auth()).await.unwrap();
    match NativeClient::connect(&app.url(), auth()).await {
        Err(NativeError::ConnectError(reason)) => assert_eq!(
            reason,
            "too many connections for this account (2 open); close a tab and try again"
        ),
        Err(other) => panic!("expected connect_error, got {other}"),
        Ok(client) => panic!("a third socket was let in: {}", client.sid()),
    }
    // Another account is not affected.
    let bob = register(&app, "bob").await;
    NativeClient::connect(&app.url(), Some(json!({ "token": bob })))
        .await
        .unwrap();
    first.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match NativeClient::connect(&app.url(), auth()).await {
            Ok(_) => break,
            Err(error) if tokio::time::Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the closed socket's place was not freed: {error}"),
        }
    }
}

/// A guest who disconnects while their `add user` waits on the database
/// (here, a lock held on the accounts table) is not entered after their
/// disconnect ran: nobody stays "online" for ever.
#[tokio::test]
async fn a_guest_gone_while_entering_does_not_stay_online() {
    let db = crate::support::PostgresSchema::new().await;
    let mut flags = vec!["--allow-guests", "--database-url", db.url.as_str()];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let client = app.client().await;

    let mut lock = db.connect().await;
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    // The guest's name is checked against the accounts: that waits.
    client.emit(&AddUser("ghost".to_owned())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();

    // The entry completes and the disconnect after it takes the guest out.
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.state.room.num_users().await.unwrap() != 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.state.room.num_users().await.unwrap(),
        0,
        "the ghost stayed online"
    );
    let history = app.state.store.after(0, 10).await.unwrap();
    let kinds: Vec<&str> = history
        .items
        .iter()
        .map(|item| match item {
            protocol::HistoryItem::Joined(_) => "joined",
            protocol::HistoryItem::Left(_) => "left",
            protocol::HistoryItem::Message(_) => "message",
        })
        .collect();
    assert_eq!(
        kinds,
        ["joined", "left"],
        "joined, then left, in that order"
    );
}

/// `rate_limited` is refused quickly and says so in words people read.
#[tokio::test]
async fn a_refusal_says_when_to_send_again() {
    let app = spawn_app_with(&["--message-burst", "2", "--message-rate", "6"]).await;
    let alice = logged_in(&app, "alice").await;
    for i in 0..2 {
        let ack = alice.request(&NewMessage(format!("{i}"))).await.unwrap();
        assert!(matches!(ack, Ack::Ok(_)));
    }
    let Ack::Err(error) = alice.request(&NewMessage("2".into())).await.unwrap() else {
        panic!("the third message should be refused");
    };
    assert_eq!(error.code, ErrorCode::RateLimited);
    let wait = error.retry_after_duration().unwrap();
    assert!(
        wait > Duration::from_secs(8) && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
    assert_eq!(error.message, "slow down: you can send again in 10 s");
    assert!(alice.is_open(), "one refusal is no reason to disconnect");
}

/// A database that stops answering (here, a lock held on the conversation's
/// table) costs a sender an `internal` refusal within the database timeout,
/// not a hang; the connection stays up and the chat goes on once it is back.
#[tokio::test]
async fn a_stalled_database_is_answered_internal_in_bounded_time() {
    let db = crate::support::PostgresSchema::new().await;
    let mut flags = vec![
        "--allow-guests",
        "--database-url",
        db.url.as_str(),
        "--database-timeout-secs",
        "1",
    ];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let (alice, _) = app.join("alice").await;
    let (mut bob, _) = app.join("bob").await;

    let mut lock = db.connect().await;
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    // The client gives up after 5 s: the answer comes before that.
    let Ack::Err(error) = alice.request(&NewMessage("lost".into())).await.unwrap() else {
        panic!("a message cannot be stored while the table is locked");
    };
    assert_eq!(error.code, ErrorCode::Internal);
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();

    let ack = alice.request(&NewMessage("back".into())).await.unwrap();
    assert!(matches!(ack, Ack::Ok(_)), "{ack:?}");
    match bob.next_event(WAIT).await.unwrap() {
        ServerEvent::NewMessage(m) => assert_eq!(m.message, "back", "the refused one never came"),
        other => panic!("expected alice's message, got {other:?}"),
    }
}

/// A connection disconnected for flooding cannot come straight back: its
/// account's new connections are refused for the cool-down, saying how
/// long; other accounts connect as usual.
#[tokio::test]
async fn a_flooder_is_kept_out_for_the_cool_down() {
    let app = spawn_app_with(&["--event-burst", "5", "--refusals-before-disconnect", "1"]).await;
    let token = register(&app, "mallory").await;
    let mallory = NativeClient::connect(&app.url(), Some(json!({ "token": token.clone() })))
        .await
        .unwrap();
    let flood = flood(mallory, event::TYPING, vec![], false).await;
    assert!(flood.told, "told flooding");
    match NativeClient::connect(&app.url(), Some(json!({ "token": token }))).await {
        Err(NativeError::ConnectError(reason)) => assert!(
            reason.starts_with("disconnected for flooding: you can connect again in "),
            "{reason}"
        ),
        Err(other) => panic!("expected connect_error, got {other}"),
        Ok(client) => panic!("the flooder came straight back: {}", client.sid()),
    }
    let _alice = logged_in(&app, "alice").await;
}
