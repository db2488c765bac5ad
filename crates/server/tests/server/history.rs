//! History that survives: the recent conversation at entry, scrollback,
//! catching up after a reconnection, across restarts, and after a crash.

use std::sync::Arc;

use protocol::{Ack, CatchUp, ChatMessage, EventId, History, HistoryItem, HistoryPage, NewMessage};
use sio_client::native::NativeClient;

use crate::nodes::NodeProcess;
use crate::support::{enter, next, spawn_app, spawn_app_on};

async fn say(client: &NativeClient, text: &str) -> ChatMessage {
    match client.request(&NewMessage(text.into())).await.unwrap() {
        Ack::Ok(message) => message,
        Ack::Err(error) => panic!("{text:?} refused: {error}"),
    }
}

async fn ask<E: protocol::ClientEvent<Reply = HistoryPage>>(
    client: &NativeClient,
    request: &E,
) -> HistoryPage {
    match client.request(request).await.unwrap() {
        Ack::Ok(page) => page,
        Ack::Err(error) => panic!("refused: {error}"),
    }
}

fn texts(items: &[HistoryItem]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| match i {
            HistoryItem::Message(m) => Some(m.message.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_newcomer_sees_the_recent_conversation_and_can_scroll_back() {
    let app = spawn_app().await;
    let (alice, _) = app.join("alice").await;
    for i in 1..=120 {
        say(&alice, &format!("m{i}")).await;
    }
    let (bob, login) = app.join("bob").await;
    let page = login.history;
    assert_eq!(page.items.len(), protocol::HISTORY_PAGE);
    assert!(page.more);
    assert!(matches!(page.items.last(), Some(HistoryItem::Joined(e)) if e.username == "bob"));
    let newest: Vec<String> = (72..=120).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(&page.items), newest);

    // Scroll back to the beginning, a page at a time.
    let mut seen = page.items.clone();
    let mut pages = 1;
    let mut more = page.more;
    while more {
        let before = seen[0].id();
        let older = ask(&bob, &History { before }).await;
        assert!(older.items.iter().all(|i| i.id() < before));
        more = older.more;
        seen.splice(0..0, older.items);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert!(seen.windows(2).all(|w| w[0].id() < w[1].id()));
    let all: Vec<String> = (1..=120).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(&seen), all);
    assert!(matches!(&seen[0], HistoryItem::Joined(e) if e.username == "alice"));
}

#[tokio::test]
async fn a_client_back_from_a_drop_gets_exactly_what_it_missed() {
    let app = spawn_app().await;
    let (alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    let seen = say(&bob, "before the drop").await.id;
    bob.close().await.unwrap();

    let missed: Vec<String> = (1..=130).map(|i| format!("missed {i}")).collect();
    for text in &missed {
        say(&alice, text).await;
    }
    let (bob, _) = app.join("bob").await;
    let mut caught_up = Vec::new();
    let mut after = seen;
    loop {
        let page = ask(&bob, &CatchUp { after }).await;
        assert!(page.items.iter().all(|i| i.id() > after));
        caught_up.extend(page.items.iter().cloned());
        match page.items.last() {
            Some(last) if page.more => after = last.id(),
            _ => break,
        }
    }
    assert!(
        caught_up.windows(2).all(|w| w[0].id() < w[1].id()),
        "in order, once each"
    );
    assert_eq!(texts(&caught_up), missed);
    assert!(matches!(caught_up.first(), Some(HistoryItem::Left(e)) if e.username == "bob"));
    assert!(matches!(caught_up.last(), Some(HistoryItem::Joined(e)) if e.username == "bob"));
}

#[tokio::test]
async fn history_survives_a_restart() {
    let app = spawn_app().await;
    let data = Arc::clone(&app.data);
    let (alice, _) = app.join("alice").await;
    let first = say(&alice, "said before the restart").await;
    drop(alice);
    app.shutdown().await.unwrap();

    let mut flags = vec!["--allow-guests"];
    flags.extend_from_slice(crate::support::UNLIMITED);
    let app = spawn_app_on(data, &flags).await;
    let (mut bob, login) = app.join("bob").await;
    assert!(
        login
            .history
            .items
            .contains(&HistoryItem::Message(first.clone()))
    );
    let page = ask(&bob, &CatchUp { after: first.id }).await;
    assert!(matches!(page.items.last(), Some(HistoryItem::Joined(e)) if e.username == "bob"));
    let (carol, _) = app.join("carol").await;
    assert!(say(&carol, "after").await.id > first.id, "ids keep growing");
    assert!(matches!(
        next(&mut bob).await,
        protocol::ServerEvent::UserJoined(_)
    ));
}

#[tokio::test]
async fn bad_history_requests_are_refused() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let reply = client
        .request_raw("history", vec![serde_json::json!({ "before": 5 })])
        .await
        .unwrap();
    assert_eq!(reply[0]["error"]["code"], "not_joined");
    enter(&mut client, "alice").await;
    for (event, args) in [
        ("history", vec![serde_json::json!("5")]),
        ("history", vec![serde_json::json!({ "before": -1 })]),
        ("catch up", vec![]),
    ] {
        let reply = client.request_raw(event, args.clone()).await.unwrap();
        assert_eq!(
            reply[0]["error"]["code"], "invalid_payload",
            "{event} {args:?}"
        );
    }
    assert!(client.is_open());
}

/// The server binary on `data`, as a process of its own so it can be
/// killed, open to guests and without rate limits.
async fn start_server(data: &std::path::Path, site: &std::path::Path) -> NodeProcess {
    let mut flags = vec!["--allow-guests".to_owned()];
    flags.extend(crate::support::UNLIMITED.iter().map(|f| (*f).to_owned()));
    NodeProcess::start_in(data, site, &flags).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_a_kill() {
    const SENDERS: usize = 8;
    let data = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), site.path()).await;

    // Senders talk as fast as their acks allow, recording what was acknowledged.
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<(EventId, String)>();
    for s in 0..SENDERS {
        let (url, acked_tx) = (server.url.clone(), acked_tx.clone());
        tokio::spawn(async move {
            let mut client = NativeClient::connect(&url, None).await.unwrap();
            enter(&mut client, &format!("sender{s}")).await;
            for i in 0.. {
                let text = format!("s{s} #{i}");
                match client.request(&NewMessage(text.clone())).await {
                    Ok(Ack::Ok(message)) => {
                        if acked_tx.send((message.id, text)).is_err() {
                            return;
                        }
                    }
                    _ => return, // the server is gone
                }
            }
        });
    }
    drop(acked_tx);
    let mut acked = Vec::new();
    while acked.len() < 300 {
        acked.push(acked_rx.recv().await.expect("acks keep coming"));
    }
    // Kill it hard in the middle of the stream, then collect what was
    // acknowledged before it died.
    server.kill().await;
    while let Some(more) = acked_rx.recv().await {
        acked.push(more);
    }

    let server = start_server(data.path(), site.path()).await;
    let mut reader = NativeClient::connect(&server.url, None).await.unwrap();
    enter(&mut reader, "reader").await;
    let mut stored = std::collections::HashMap::new();
    let mut order = Vec::new();
    let mut after = 0;
    loop {
        let page = ask(&reader, &CatchUp { after }).await;
        for item in &page.items {
            order.push(item.id());
            if let HistoryItem::Message(m) = item {
                stored.insert(m.id, m.message.clone());
            }
        }
        match page.items.last() {
            Some(last) if page.more => after = last.id(),
            _ => break,
        }
    }
    assert!(order.windows(2).all(|w| w[0] < w[1]), "stored in order");
    for (id, text) in &acked {
        assert_eq!(stored.get(id), Some(text), "acknowledged message {id} lost");
    }
    assert!(acked.len() >= 300);
}
