//! Several nodes serving one conversation (cluster mode): real PostgreSQL
//! and Redis, each test with its own schema and Redis prefix (see
//! `nodes.rs`); nodes in this process on 127.0.0.1:0, or as processes of
//! their own where a test kills one.

use std::collections::HashSet;
use std::time::Duration;

use protocol::{
    Ack, CatchUp, EventId, HISTORY_PAGE, HistoryItem, HistoryPage, NewMessage, ServerEvent,
};
use sio_client::native::NativeClient;

use crate::nodes::Cluster;
use crate::support::{TestApp, enter, next};

/// The next event other than typing, within [`WAIT`].
async fn next_news(client: &mut NativeClient) -> ServerEvent {
    loop {
        match next(client).await {
            ServerEvent::Typing(_) | ServerEvent::StopTyping(_) => {}
            other => return other,
        }
    }
}

/// Sends a message and returns the id its ack carries.
async fn say(client: &NativeClient, text: &str) -> EventId {
    match client.request(&NewMessage(text.to_owned())).await {
        Ok(Ack::Ok(message)) => message.id,
        other => panic!("{text:?} was not stored: {other:?}"),
    }
}

/// Everything after `after` through `catch up` on `client`'s node.
async fn catch_up(client: &NativeClient, mut after: EventId) -> Vec<HistoryItem> {
    let mut items = Vec::new();
    loop {
        let page: HistoryPage = match client.request(&CatchUp { after }).await {
            Ok(Ack::Ok(page)) => page,
            other => panic!("catch up refused: {other:?}"),
        };
        items.extend(page.items.iter().cloned());
        match page.items.last() {
            Some(last) if page.more => after = last.id(),
            _ => return items,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_a_join_typing_and_a_leave_cross_nodes() {
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let (mut alice, _) = one.join("alice").await;
    let (mut bob, login) = two.join("bob").await;
    assert_eq!(
        login.users,
        ["alice", "bob"],
        "who is online, from either node"
    );
    assert_eq!(login.num_users, 2);
    match next_news(&mut alice).await {
        ServerEvent::UserJoined(joined) => {
            assert_eq!((joined.username.as_str(), joined.num_users), ("bob", 2));
        }
        other => panic!("expected bob's join, got {other:?}"),
    }

    bob.emit(&protocol::Typing).await.unwrap();
    assert_eq!(
        next(&mut alice).await,
        ServerEvent::Typing(protocol::UserTyping {
            username: "bob".into()
        })
    );
    bob.emit(&protocol::StopTyping).await.unwrap();
    assert_eq!(
        next(&mut alice).await,
        ServerEvent::StopTyping(protocol::UserTyping {
            username: "bob".into()
        })
    );

    let id = say(&bob, "hello from node 2").await;
    match next_news(&mut alice).await {
        ServerEvent::NewMessage(message) => {
            assert_eq!(message.id, id, "the id acked is the id delivered");
            assert_eq!(message.message, "hello from node 2");
        }
        other => panic!("expected bob's message, got {other:?}"),
    }
    let id = say(&alice, "and back from node 1").await;
    match next_news(&mut bob).await {
        ServerEvent::NewMessage(message) => assert_eq!(message.id, id),
        other => panic!("expected alice's message, got {other:?}"),
    }

    bob.close().await.unwrap();
    match next_news(&mut alice).await {
        ServerEvent::UserLeft(left) => {
            assert_eq!((left.username.as_str(), left.num_users), ("bob", 1));
        }
        other => panic!("expected bob's leave, got {other:?}"),
    }
    let health: serde_json::Value = reqwest::get(format!("{}/api/health", two.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["redis"], "ok");
    assert_eq!(health["numUsers"], 1);
    assert_eq!(health["node"], two.state.node.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_on_every_node_sees_one_order() {
    const NODES: usize = 3;
    const SENDERS_PER_NODE: usize = 2;
    const EACH: usize = 60;
    let cluster = Cluster::new().await;
    let mut nodes: Vec<TestApp> = Vec::new();
    for _ in 0..NODES {
        nodes.push(cluster.node(&[]).await);
    }
    let mut listeners = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        listeners.push(node.join(&format!("listener{n}")).await.0);
    }
    let first = nodes[0].state.store.newest_id().await.unwrap();
    // Senders on every node at once, each as fast as its acks come.
    let mut senders = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for s in 0..SENDERS_PER_NODE {
            let url = node.url();
            senders.push(tokio::spawn(async move {
                let mut client = NativeClient::connect(&url, None).await.unwrap();
                enter(&mut client, &format!("sender{n}x{s}")).await;
                let mut acked = Vec::new();
                for i in 0..EACH {
                    acked.push(say(&client, &format!("{n}/{s}/{i}")).await);
                }
                client.close().await.unwrap();
                acked
            }));
        }
    }
    let mut acked = HashSet::new();
    for sender in senders {
        acked.extend(sender.await.unwrap());
    }
    let total = NODES * SENDERS_PER_NODE * EACH;
    assert_eq!(acked.len(), total);
    let mut orders = Vec::new();
    for listener in &mut listeners {
        let mut ids = Vec::new();
        while ids.len() < total {
            if let ServerEvent::NewMessage(message) = next(listener).await {
                ids.push(message.id);
            }
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), acked);
        orders.push(ids);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "one order everywhere"
    );
    assert!(
        orders[0].len() > HISTORY_PAGE,
        "catch up reads several pages"
    );
    for listener in &listeners {
        let messages: Vec<EventId> = catch_up(listener, first)
            .await
            .iter()
            .filter(|item| matches!(item, HistoryItem::Message(_)))
            .map(HistoryItem::id)
            .collect();
        assert_eq!(messages, orders[0], "catch up on any node says the same");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_commits_later_with_a_lower_id_is_not_skipped() {
    // A trigger holds the commit of the message "slow" for a moment after
    // its id is drawn; meanwhile another node commits "fast". Without the
    // ordering lock "fast" would take the next id and commit first, every
    // feed would move past "slow"'s id, and nobody would ever hear it.
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let (mut listener, _) = one.join("listener").await;
    let (slow, _) = one.join("slowpoke").await;
    let (fast, _) = two.join("speedy").await;
    while !matches!(next_news(&mut listener).await, ServerEvent::UserJoined(j) if j.username == "speedy")
    {
    }
    let mut db = cluster.schema.connect().await;
    for statement in [
        "CREATE FUNCTION hold_slow() RETURNS trigger AS $$ BEGIN \
           IF NEW.message = 'slow' THEN PERFORM pg_sleep(1.5); END IF; RETURN NEW; \
         END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER hold_slow BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION hold_slow()",
    ] {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    let slow_sent = tokio::spawn(async move { say(&slow, "slow").await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fast_id = say(&fast, "fast").await;
    let slow_id = slow_sent.await.unwrap();
    assert!(slow_id < fast_id, "ids in commit order");
    let mut heard = Vec::new();
    while heard.len() < 2 {
        if let ServerEvent::NewMessage(message) = next_news(&mut listener).await {
            heard.push((message.id, message.message));
        }
    }
    assert_eq!(
        heard,
        [(slow_id, "slow".to_owned()), (fast_id, "fast".to_owned())]
    );
}
