//! Messages sent with a client id (`{"message": …, "clientId": …}`) are
//! stored once per sender: a repeat, whether a retry after a lost
//! acknowledgement, a copy from another tab or from another node, is
//! answered with the stored message and heard by nobody. On SQLite and
//! PostgreSQL, one node and two.

use protocol::{
    Ack, AckError, CatchUp, ChatMessage, ErrorCode, HistoryItem, NewMessage, NewMessageWithId,
    ServerEvent,
};
use serde_json::json;
use sio_client::native::NativeClient;

use crate::nodes::Cluster;
use crate::support::{PostgresSchema, TestApp, UNLIMITED, enter, next, spawn_app, spawn_app_with};

fn with_id(text: &str, client_id: &str) -> NewMessageWithId {
    NewMessageWithId {
        message: text.to_owned(),
        client_id: client_id.to_owned(),
    }
}

/// Sends and expects the stored message back.
async fn send(client: &NativeClient, message: &NewMessageWithId) -> ChatMessage {
    match client.request(message).await {
        Ok(Ack::Ok(stored)) => stored,
        other => panic!("{message:?} was not stored: {other:?}"),
    }
}

/// The messages of the whole conversation, as `catch up` reads it.
async fn stored_messages(client: &NativeClient) -> Vec<ChatMessage> {
    let Ok(Ack::Ok(page)) = client.request(&CatchUp { after: 0 }).await else {
        panic!("catch up refused");
    };
    assert!(!page.more, "a short conversation fits one page");
    page.items
        .into_iter()
        .filter_map(|item| match item {
            HistoryItem::Message(message) => Some(message),
            _ => None,
        })
        .collect()
}

/// The next message `client` hears, past joins and typing.
async fn next_message(client: &mut NativeClient) -> ChatMessage {
    loop {
        if let ServerEvent::NewMessage(message) = next(client).await {
            return message;
        }
    }
}

/// Alice sends a message with an id, then again (as after a lost ack, the
/// first time without asking for one at all), then a plain one: bob hears
/// the first and the plain one, nothing between.
async fn a_repeat_is_answered_with_the_stored_message(app: &TestApp) {
    let (alice, _) = app.join("alice").await;
    let (mut bob, _) = app.join("bob").await;
    let hello = with_id("hello", "c-1_A");
    // The ack is "lost": the client never asked for it.
    alice.emit(&hello).await.unwrap();
    let heard = next_message(&mut bob).await;
    assert_eq!(
        (heard.username.as_str(), heard.message.as_str()),
        ("alice", "hello")
    );
    let again = send(&alice, &hello).await;
    assert_eq!(again, heard, "the same id and timestamp");
    let third = send(&alice, &hello).await;
    assert_eq!(third, heard);

    // The plain string of the demo still works, and it is the next thing bob
    // hears: the repeats went to nobody.
    let Ok(Ack::Ok(plain)) = alice.request(&NewMessage("plain".into())).await else {
        panic!("a plain message was refused");
    };
    assert_eq!(next_message(&mut bob).await, plain);

    // The same id from another sender is another message.
    let bobs = send(&bob, &with_id("hello", "c-1_A")).await;
    assert_ne!(bobs.id, heard.id);
    let texts: Vec<(String, String)> = stored_messages(&alice)
        .await
        .into_iter()
        .map(|m| (m.username, m.message))
        .collect();
    assert_eq!(
        texts,
        [
            ("alice".to_owned(), "hello".to_owned()),
            ("alice".to_owned(), "plain".to_owned()),
            ("bob".to_owned(), "hello".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_repeat_is_answered_with_the_stored_message_on_sqlite() {
    let app = spawn_app().await;
    a_repeat_is_answered_with_the_stored_message(&app).await;
}

#[tokio::test]
async fn a_repeat_is_answered_with_the_stored_message_on_postgres() {
    let schema = PostgresSchema::new().await;
    let mut flags = vec!["--allow-guests", "--database-url", &schema.url];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    a_repeat_is_answered_with_the_stored_message(&app).await;
}

/// Two tabs of one guest (one browser client id) send the same message at
/// once, each several times: one message, heard once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_from_two_tabs_at_once_are_one_message() {
    let app = spawn_app().await;
    let (mut bob, _) = app.join("bob").await;
    let url = app.url();
    let tab = || NativeClient::connect(&url, Some(json!({ "clientId": "browser-1" })));
    let (mut tab1, mut tab2) = (tab().await.unwrap(), tab().await.unwrap());
    enter(&mut tab1, "carol").await;
    enter(&mut tab2, "carol").await;
    let message = with_id("from both tabs", "same-id");
    let sends = (0..4).map(|i| {
        let tab = if i % 2 == 0 { &tab1 } else { &tab2 };
        tab.request(&message)
    });
    let acks = futures::future::join_all(sends).await;
    let stored: Vec<ChatMessage> = acks
        .into_iter()
        .map(|ack| match ack {
            Ok(Ack::Ok(stored)) => stored,
            other => panic!("refused: {other:?}"),
        })
        .collect();
    assert!(stored.windows(2).all(|w| w[0] == w[1]), "{stored:?}");
    let heard = next_message(&mut bob).await;
    assert_eq!(heard, stored[0]);
    let Ok(Ack::Ok(after)) = bob.request(&NewMessage("after".into())).await else {
        panic!("refused");
    };
    assert_eq!(
        next_message(&mut tab1).await,
        after,
        "tab 1 heard the copy from tab 2 no more than bob did"
    );
    let count = stored_messages(&bob)
        .await
        .iter()
        .filter(|m| m.message == "from both tabs")
        .count();
    assert_eq!(count, 1);
}

/// One account on two nodes sends the same message from both: the
/// PostgreSQL index keeps one, and a third node's listener hears it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_on_two_nodes_are_one_message() {
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let (mut bob, _) = two.join("bob").await;
    let session: protocol::Session = one.register("frank").await.json().await.unwrap();
    let auth = || Some(json!({ "token": session.token }));
    let mut on_one = NativeClient::connect(&one.url(), auth()).await.unwrap();
    enter(&mut on_one, "frank").await;
    let mut on_two = NativeClient::connect(&two.url(), auth()).await.unwrap();
    enter(&mut on_two, "frank").await;
    for round in 0..5 {
        let message = with_id(&format!("round {round}"), &format!("round-{round}"));
        let (a, b) = tokio::join!(on_one.request(&message), on_two.request(&message));
        let (Ok(Ack::Ok(a)), Ok(Ack::Ok(b))) = (a, b) else {
            panic!("a copy was refused");
        };
        assert_eq!(a, b, "both nodes answer with the one stored message");
        assert_eq!(next_message(&mut bob).await, a);
    }
    let Ok(Ack::Ok(last)) = on_one.request(&NewMessage("last".into())).await else {
        panic!("refused");
    };
    assert_eq!(next_message(&mut bob).await, last, "no copy came between");
    let rounds = stored_messages(&bob)
        .await
        .iter()
        .filter(|m| m.message.starts_with("round "))
        .count();
    assert_eq!(rounds, 5);
}

/// Sends `payload` as a `new message` and expects a refusal.
async fn refusal(client: &NativeClient, payload: serde_json::Value) -> AckError {
    let reply = client
        .request_raw(protocol::event::NEW_MESSAGE, vec![payload.clone()])
        .await
        .unwrap();
    let first = reply.into_iter().next().unwrap_or_default();
    match serde_json::from_value::<Ack<ChatMessage>>(first).unwrap() {
        Ack::Err(error) => error,
        Ack::Ok(stored) => panic!("{payload} was stored: {stored:?}"),
    }
}

/// A client id that is empty, too long or has other characters is refused
/// with the reason; nothing is stored.
#[tokio::test]
async fn a_bad_client_id_is_refused() {
    let app = spawn_app().await;
    let (alice, _) = app.join("alice").await;
    let cases = [
        (json!(""), "the clientId is empty"),
        (
            json!("x".repeat(65)),
            "the clientId is 65 characters long; the limit is 64",
        ),
        (
            json!("no spaces"),
            "the clientId may only hold A-Z, a-z, 0-9, _ and -",
        ),
    ];
    for (client_id, reason) in cases {
        let error = refusal(&alice, json!({ "message": "hi", "clientId": client_id })).await;
        assert_eq!(
            (error.code, error.message.as_str()),
            (ErrorCode::InvalidPayload, reason)
        );
    }
    // An object without its text, or with a number for its id, is no message.
    for payload in [
        json!({ "clientId": "abc" }),
        json!({ "message": "hi", "clientId": 7 }),
    ] {
        assert_eq!(
            refusal(&alice, payload).await.code,
            ErrorCode::InvalidPayload
        );
    }
    assert!(
        stored_messages(&alice).await.is_empty(),
        "nothing was stored"
    );
}
