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
use crate::support::{TestApp, WAIT, enter, next};

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

/// A guest client with a client id, as the page connects.
async fn guest(url: &str, client_id: &str) -> NativeClient {
    NativeClient::connect(url, Some(serde_json::json!({ "clientId": client_id })))
        .await
        .expect("connecting")
}

/// Waits (up to `limit`) for the next event that `pick` takes.
async fn wait_for<T>(
    client: &mut NativeClient,
    limit: Duration,
    mut pick: impl FnMut(ServerEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            Ok(event) => {
                if let Some(found) = pick(event) {
                    return found;
                }
            }
            Err(error) => panic!("nothing expected came within {limit:?}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_leave_once_and_its_clients_catch_up_elsewhere() {
    let cluster = Cluster::new().await;
    let grace = ["--presence-grace-secs", "2"];
    let mut doomed = cluster.process(&grace).await;
    let (one, two) = (cluster.node(&grace).await, cluster.node(&grace).await);
    let mut alice = guest(&one.url(), "alice-browser").await;
    enter(&mut alice, "alice").await;
    let mut dave = guest(&two.url(), "dave-browser").await;
    enter(&mut dave, "dave").await;
    let mut bob = guest(&doomed.url, "bob-browser").await;
    enter(&mut bob, "bob").await;
    let mut carol = guest(&doomed.url, "carol-browser").await;
    enter(&mut carol, "carol").await;
    let last_seen = say(&bob, "bob before the crash").await;
    // Everyone has heard everything up to here.
    for client in [&mut alice, &mut dave] {
        wait_for(client, WAIT, |event| match event {
            ServerEvent::NewMessage(message) if message.id == last_seen => Some(()),
            _ => None,
        })
        .await;
    }

    doomed.kill().await;
    drop((bob, carol));
    // Said while bob is away.
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(say(&alice, &format!("while bob was away {i}")).await);
    }
    // Bob's page reconnects to another node at once: he never left.
    let mut bob = guest(&two.url(), "bob-browser").await;
    let login = enter(&mut bob, "bob").await;
    assert!(login.users.contains(&"bob".to_owned()));
    let caught_up: Vec<EventId> = catch_up(&bob, last_seen)
        .await
        .iter()
        .filter(|item| matches!(item, HistoryItem::Message(_)))
        .map(HistoryItem::id)
        .collect();
    assert_eq!(
        caught_up, missed,
        "everything said meanwhile, through catch up"
    );

    // Carol does not come back: she leaves within 30 s (the dead node's
    // heartbeat expires, then her grace period), once, on every node.
    for client in [&mut alice, &mut dave] {
        let left = wait_for(client, Duration::from_secs(30), |event| match event {
            ServerEvent::UserLeft(left) => Some(left),
            ServerEvent::UserJoined(joined) => panic!("nobody joined: {joined:?}"),
            _ => None,
        })
        .await;
        assert_eq!(left.username, "carol");
        assert_eq!(left.num_users, 3, "alice, dave and bob stay");
    }
    let history = catch_up(&alice, 0).await;
    let leaves: Vec<&str> = history
        .iter()
        .filter_map(|item| match item {
            HistoryItem::Left(left) => Some(left.username.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(leaves, ["carol"], "one leave, carol's; bob never left");
    let joins = history
        .iter()
        .filter(|item| matches!(item, HistoryItem::Joined(j) if j.username == "bob"))
        .count();
    assert_eq!(joins, 1, "bob joined once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_flow_while_redis_is_down_and_presence_and_typing_recover() {
    let mut redis = crate::nodes::PrivateRedis::start().await;
    let cluster = Cluster::on_redis(&redis.url()).await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let mut alice = guest(&one.url(), "alice-browser").await;
    enter(&mut alice, "alice").await;
    let mut bob = guest(&two.url(), "bob-browser").await;
    enter(&mut bob, "bob").await;

    redis.stop().await;
    // The conversation does not need Redis: it comes from PostgreSQL.
    for i in 0..5 {
        let id = say(&bob, &format!("without redis {i}")).await;
        let heard = wait_for(&mut alice, Duration::from_secs(10), |event| match event {
            ServerEvent::NewMessage(message) => Some(message.id),
            _ => None,
        })
        .await;
        assert_eq!(heard, id);
    }
    let health = reqwest::get(format!("{}/api/health", one.url()))
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        503,
        "a load balancer can take the node out"
    );

    redis.restart().await;
    // Each node registers its connections again; typing crosses again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut typing_back = false;
    while tokio::time::Instant::now() < deadline && !typing_back {
        bob.emit(&protocol::Typing).await.unwrap();
        typing_back = matches!(
            alice.next_event(Duration::from_millis(1_200)).await,
            Ok(ServerEvent::Typing(_))
        );
        bob.emit(&protocol::StopTyping).await.unwrap();
    }
    assert!(typing_back, "typing crosses nodes again once Redis is back");
    // Each node registers its connections again at its next heartbeat.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while one.state.room.num_users().await != Some(2) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut carol = guest(&one.url(), "carol-browser").await;
    let mut users = enter(&mut carol, "carol").await.users;
    // In the order the nodes registered them again, then carol.
    assert_eq!(users.pop().as_deref(), Some("carol"));
    users.sort();
    assert_eq!(users, ["alice", "bob"], "presence rebuilt");
    let health = reqwest::get(format!("{}/api/health", two.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listening_connection_misses_no_item() {
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let (mut alice, _) = one.join("alice").await;
    let (bob, _) = two.join("bob").await;
    wait_for(&mut alice, WAIT, |event| match event {
        ServerEvent::UserJoined(joined) => Some(joined),
        _ => None,
    })
    .await;
    let channel = one.state.store.channel().unwrap().to_owned();
    let mut db = cluster.schema.connect().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'",
    )
    .bind(&channel)
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(killed, [true, true], "both nodes' listening connections");
    let mut said = Vec::new();
    for i in 0..20 {
        said.push(say(&bob, &format!("after the kill {i}")).await);
    }
    let mut heard = Vec::new();
    while heard.len() < said.len() {
        heard.push(
            wait_for(&mut alice, Duration::from_secs(10), |event| match event {
                ServerEvent::NewMessage(message) => Some(message.id),
                _ => None,
            })
            .await,
        );
    }
    assert_eq!(heard, said, "every item, in order, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_on_one_node_disconnects_the_sockets_on_another() {
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let session: protocol::Session = one.register("erin").await.json().await.unwrap();
    let mut socket = NativeClient::connect(
        &two.url(),
        Some(serde_json::json!({ "token": session.token })),
    )
    .await
    .unwrap();
    enter(&mut socket, "erin").await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/logout", one.url()))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let deadline = tokio::time::Instant::now() + WAIT;
    while socket.is_open() && tokio::time::Instant::now() < deadline {
        let _ = socket.next_raw(Duration::from_millis(200)).await;
    }
    assert!(!socket.is_open(), "the socket on the other node was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_tabs_on_two_nodes_is_one_user() {
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    let (mut alice, _) = one.join("alice").await;
    let session: protocol::Session = one.register("frank").await.json().await.unwrap();
    let auth = || Some(serde_json::json!({ "token": session.token }));
    let mut tab1 = NativeClient::connect(&one.url(), auth()).await.unwrap();
    enter(&mut tab1, "frank").await;
    let mut tab2 = NativeClient::connect(&two.url(), auth()).await.unwrap();
    let login = enter(&mut tab2, "frank").await;
    assert_eq!(login.users, ["alice", "frank"], "one frank");
    tab2.close().await.unwrap();
    let id = say(&tab1, "still here on node 1").await;
    // Alice hears frank join once, his message, and no leave.
    let mut heard = Vec::new();
    loop {
        match next_news(&mut alice).await {
            ServerEvent::UserJoined(joined) => heard.push(format!("+{}", joined.username)),
            ServerEvent::UserLeft(left) => heard.push(format!("-{}", left.username)),
            ServerEvent::NewMessage(message) => {
                assert_eq!(message.id, id);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(heard, ["+frank"]);
    tab1.close().await.unwrap();
    match next_news(&mut alice).await {
        ServerEvent::UserLeft(left) => {
            assert_eq!((left.username.as_str(), left.num_users), ("frank", 1))
        }
        other => panic!("expected frank to leave with his last tab, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_cleanly_hands_its_users_over_at_once() {
    let cluster = Cluster::new().await;
    let grace = ["--presence-grace-secs", "1"];
    let (one, two) = (cluster.node(&grace).await, cluster.node(&grace).await);
    let (mut alice, _) = one.join("alice").await;
    let (_carol, _) = two.join("carol").await;
    wait_for(&mut alice, WAIT, |event| match event {
        ServerEvent::UserJoined(joined) => Some(joined),
        _ => None,
    })
    .await;
    // SIGTERM: carol's connection goes with the node; she gets her grace
    // period (she may come back on another node) and then leaves, without
    // waiting for the node's registration to expire (8 s).
    two.shutdown().await.unwrap();
    let left = wait_for(&mut alice, Duration::from_secs(5), |event| match event {
        ServerEvent::UserLeft(left) => Some(left),
        _ => None,
    })
    .await;
    assert_eq!((left.username.as_str(), left.num_users), ("carol", 1));
}
