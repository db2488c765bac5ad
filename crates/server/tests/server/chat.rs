//! The canonical chat flow over real connections: join, talk, type, leave.

use protocol::{
    Ack, ChatMessage, HistoryItem, NewMessage, ServerEvent, StopTyping, Typing, UserTyping,
};

use crate::support::{next, spawn_app};

#[tokio::test]
async fn users_join_and_everyone_else_hears_it() {
    let app = spawn_app().await;
    let (mut alice, login) = app.join("alice").await;
    assert_eq!(
        (login.num_users, login.users.as_slice()),
        (1, &["alice".to_owned()][..])
    );

    let (mut bob, login) = app.join("  bob ").await;
    assert_eq!(login.username, "bob", "names are trimmed");
    assert_eq!(login.users, ["alice", "bob"]);
    assert_eq!(login.num_users, 2);

    let ServerEvent::UserJoined(joined) = next(&mut alice).await else {
        panic!("alice should hear bob join");
    };
    assert_eq!((joined.username.as_str(), joined.num_users), ("bob", 2));
    assert!(joined.timestamp > 1_700_000_000_000);
    // Bob's login ends with the very join alice heard, after alice's own.
    let history = &login.history.items;
    assert_eq!(history.last(), Some(&HistoryItem::Joined(joined.clone())));
    assert!(matches!(&history[history.len() - 2], HistoryItem::Joined(e) if e.username == "alice"));

    let (_carol, carol) = app.join("carol").await;
    for client in [&mut alice, &mut bob] {
        match next(client).await {
            ServerEvent::UserJoined(e) => {
                assert_eq!((e.username.as_str(), e.num_users), ("carol", 3))
            }
            other => panic!("expected carol's join, got {other:?}"),
        }
    }
    let carol_joined = carol.history.items.last().map(HistoryItem::id);
    assert!(carol_joined > Some(joined.id), "ids grow");
}

#[tokio::test]
async fn a_message_reaches_everyone_but_the_sender_who_gets_the_ack() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("alice").await;
    let (mut bob, _) = app.join("bob").await;
    let (mut carol, _) = app.join("carol").await;
    // Drain the joins.
    next(&mut alice).await;
    next(&mut alice).await;
    next(&mut bob).await;

    let ack = bob
        .request(&NewMessage(" hello & <b>all</b> ".into()))
        .await
        .unwrap();
    let Ack::Ok(sent) = ack else {
        panic!("refused: {ack:?}")
    };
    assert_eq!(
        (sent.username.as_str(), sent.message.as_str()),
        ("bob", "hello & <b>all</b>")
    );
    for client in [&mut alice, &mut carol] {
        assert_eq!(next(client).await, ServerEvent::NewMessage(sent.clone()));
    }

    // Bob's next event is alice's message, not an echo of his own.
    let Ack::Ok(reply) = alice.request(&NewMessage("hi bob".into())).await.unwrap() else {
        panic!("alice's message refused");
    };
    assert_eq!(next(&mut bob).await, ServerEvent::NewMessage(reply.clone()));
    assert!(reply.id > sent.id);
}

#[tokio::test]
async fn messages_without_an_ack_are_still_delivered() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    next(&mut alice).await;
    bob.emit(&NewMessage("no ack wanted".into())).await.unwrap();
    let ServerEvent::NewMessage(ChatMessage {
        username, message, ..
    }) = next(&mut alice).await
    else {
        panic!("expected bob's message");
    };
    assert_eq!(
        (username.as_str(), message.as_str()),
        ("bob", "no ack wanted")
    );
}

#[tokio::test]
async fn typing_and_stop_typing_reach_the_others() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    next(&mut alice).await;

    bob.emit(&Typing).await.unwrap();
    let bob_typing = UserTyping {
        username: "bob".into(),
    };
    assert_eq!(
        next(&mut alice).await,
        ServerEvent::Typing(bob_typing.clone())
    );
    bob.emit(&StopTyping).await.unwrap();
    assert_eq!(next(&mut alice).await, ServerEvent::StopTyping(bob_typing));
}

#[tokio::test]
async fn leaving_is_announced_with_the_new_count_only_for_users_who_joined() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    let (carol, _) = app.join("carol").await;
    next(&mut alice).await;
    next(&mut alice).await;

    // A connection that never entered leaves silently...
    let lurker = app.client().await;
    lurker.close().await.unwrap();
    bob.close().await.unwrap();
    let ServerEvent::UserLeft(left) = next(&mut alice).await else {
        panic!("expected bob to leave");
    };
    assert_eq!((left.username.as_str(), left.num_users), ("bob", 2));

    // ...and the next thing alice hears is carol leaving, not the lurker.
    carol.close().await.unwrap();
    let ServerEvent::UserLeft(left) = next(&mut alice).await else {
        panic!("expected carol to leave");
    };
    assert_eq!((left.username.as_str(), left.num_users), ("carol", 1));
    assert_eq!(app.state.room.num_users().await.unwrap(), 1);
}

#[tokio::test]
async fn tabs_of_one_browser_are_one_user() {
    let app = spawn_app().await;
    let (mut bob, _) = app.join("bob").await;
    let auth = serde_json::json!({ "clientId": "browser-1" });
    let mut tab1 = sio_client::native::NativeClient::connect(&app.url(), Some(auth.clone()))
        .await
        .unwrap();
    let mut tab2 = sio_client::native::NativeClient::connect(&app.url(), Some(auth))
        .await
        .unwrap();
    crate::support::enter(&mut tab1, "alice").await;
    let second = crate::support::enter(&mut tab2, "Alice").await;
    assert_eq!(second.username, "alice");
    assert_eq!(second.users, ["bob", "alice"], "alice is online once");
    assert_eq!(second.num_users, 2);

    // Bob heard one join; a message from tab 2 reaches tab 1 too.
    assert!(matches!(next(&mut bob).await, ServerEvent::UserJoined(e) if e.username == "alice"));
    let Ack::Ok(sent) = tab2
        .request(&NewMessage("from tab 2".into()))
        .await
        .unwrap()
    else {
        panic!("refused");
    };
    assert_eq!(next(&mut tab1).await, ServerEvent::NewMessage(sent.clone()));
    assert_eq!(next(&mut bob).await, ServerEvent::NewMessage(sent));

    // Closing one tab is not leaving; closing the last is.
    tab1.close().await.unwrap();
    let Ack::Ok(still) = tab2
        .request(&NewMessage("still here".into()))
        .await
        .unwrap()
    else {
        panic!("refused");
    };
    assert_eq!(next(&mut bob).await, ServerEvent::NewMessage(still));
    tab2.close().await.unwrap();
    let ServerEvent::UserLeft(left) = next(&mut bob).await else {
        panic!("expected alice to leave")
    };
    assert_eq!((left.username.as_str(), left.num_users), ("alice", 1));
}
