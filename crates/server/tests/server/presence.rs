//! The presence grace period on a single node: a connection that drops
//! and comes back within it (a reload, a blip) is no leave and no join for
//! anyone; one that does not come back leaves when it ends; a client that
//! disconnects on purpose leaves at once.

use std::time::Duration;

use protocol::{Ack, CatchUp, HistoryItem, HistoryPage, NewMessage, ServerEvent};
use sio_client::native::NativeClient;

use crate::support::{UNLIMITED, enter, next, spawn_app_with};

async fn guest(url: &str, client_id: &str) -> NativeClient {
    NativeClient::connect(url, Some(serde_json::json!({ "clientId": client_id })))
        .await
        .expect("connecting")
}

#[tokio::test]
async fn a_dropped_user_back_within_the_grace_period_never_left() {
    let mut flags = vec!["--allow-guests", "--presence-grace-secs", "2"];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let mut alice = guest(&app.url(), "alice-browser").await;
    enter(&mut alice, "alice").await;
    let mut bob = guest(&app.url(), "bob-browser").await;
    enter(&mut bob, "bob").await;
    assert!(matches!(next(&mut alice).await, ServerEvent::UserJoined(_)));

    // Bob's connection drops (no goodbye: the page reloads) and his page
    // comes back at once.
    drop(bob);
    let mut bob = guest(&app.url(), "bob-browser").await;
    let login = enter(&mut bob, "bob").await;
    assert_eq!(login.users, ["alice", "bob"]);
    let Ack::Ok(said) = bob.request(&NewMessage("I'm back".into())).await.unwrap() else {
        panic!("refused");
    };
    // Past the grace period: alice heard nothing but his message.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    match next(&mut alice).await {
        ServerEvent::NewMessage(message) => assert_eq!(message.id, said.id),
        other => panic!("alice should hear only bob's message, got {other:?}"),
    }
    assert_eq!(app.state.room.num_users().await, Some(2));

    // Dropped and not back: he leaves when the grace period ends, once.
    drop(bob);
    let before = tokio::time::Instant::now();
    match alice.next_event(Duration::from_secs(10)).await.unwrap() {
        ServerEvent::UserLeft(left) => {
            assert_eq!((left.username.as_str(), left.num_users), ("bob", 1));
        }
        other => panic!("expected bob to leave, got {other:?}"),
    }
    assert!(
        before.elapsed() >= Duration::from_millis(1_500),
        "not before the grace period"
    );
    let Ack::Ok(page) = alice.request(&CatchUp { after: 0 }).await.unwrap() else {
        panic!("catch up refused");
    };
    let page: HistoryPage = page;
    let lines: Vec<String> = page
        .items
        .iter()
        .map(|item| match item {
            HistoryItem::Joined(j) => format!("+{}", j.username),
            HistoryItem::Left(l) => format!("-{}", l.username),
            HistoryItem::Message(m) => m.message.clone(),
        })
        .collect();
    assert_eq!(lines, ["+alice", "+bob", "I'm back", "-bob"]);
}

#[tokio::test]
async fn a_client_that_says_goodbye_leaves_at_once() {
    let mut flags = vec!["--allow-guests", "--presence-grace-secs", "60"];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let (mut alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    assert!(matches!(next(&mut alice).await, ServerEvent::UserJoined(_)));
    bob.close().await.unwrap();
    match next(&mut alice).await {
        ServerEvent::UserLeft(left) => assert_eq!(left.username, "bob"),
        other => panic!("expected bob to leave at once, got {other:?}"),
    }
}
