//! A receiver that stops reading is never skipped silently: when its send
//! queue is full it is told `too slow` and disconnected, everything it did
//! get is an unbroken prefix of the conversation, the others carry on, and
//! on reconnecting it catches up on exactly the rest.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use protocol::{Ack, CatchUp, EventId, HistoryItem, NewMessage, event};
use serde_json::Value;
use sio_client::native::NativeClient;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::support::{enter, spawn_app_with};

type Raw = WebSocketStream<tokio::net::TcpStream>;

/// A client with a tiny receive buffer that enters as `name` over a raw
/// WebSocket, so the test decides when (and whether) it reads.
async fn stalled_client(addr: std::net::SocketAddr, name: &str) -> Raw {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = client_async(url, tcp).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with('0'), "open");
    ws.send(Message::text("40")).await.unwrap();
    let connected = next_text(&mut ws).await.unwrap();
    assert!(connected.starts_with("40"), "connected: {connected}");
    let add = format!("42{}", serde_json::json!([event::ADD_USER, name]));
    ws.send(Message::text(add)).await.unwrap();
    loop {
        let text = next_text(&mut ws).await.unwrap();
        if text.starts_with(&format!("42[\"{}\"", event::LOGIN)) {
            return ws;
        }
    }
}

/// The next text frame but pings (answered here); `None` once the
/// connection is closed.
async fn next_text(ws: &mut Raw) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "2" => {
                ws.send(Message::text("3")).await.ok()?;
            }
            Ok(Some(Ok(Message::Text(text)))) => return Some(text.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => return None,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("nothing from the server for 10 s (a silent skip?)"),
        }
    }
}

/// The ids of every message after `after`, oldest first, by `catch up`.
async fn message_ids_after(client: &NativeClient, mut after: EventId) -> Vec<EventId> {
    let mut ids = Vec::new();
    loop {
        let page = match client.request(&CatchUp { after }).await.unwrap() {
            Ack::Ok(page) => page,
            Ack::Err(error) => panic!("catch up refused: {error}"),
        };
        for item in &page.items {
            if let HistoryItem::Message(m) = item {
                ids.push(m.id);
            }
        }
        match page.items.last() {
            Some(last) if page.more => after = last.id(),
            _ => return ids,
        }
    }
}

/// Waits until the store holds `count` messages; their ids, oldest first.
/// (Read from the store itself: a `catch up` from the sender would wait
/// behind its own burst, however long the machine takes over it.)
async fn wait_for_messages(store: &server::store::Store, count: usize) -> Vec<EventId> {
    for _ in 0..600 {
        let mut ids = Vec::new();
        let mut after = 0;
        loop {
            let page = store.after(after, 1_000).await.unwrap();
            ids.extend(page.items.iter().filter_map(|item| match item {
                HistoryItem::Message(m) => Some(m.id),
                _ => None,
            }));
            match page.items.last() {
                Some(last) if page.more => after = last.id(),
                _ => break,
            }
        }
        if ids.len() >= count {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {count} messages were not all stored in 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_falls_behind_is_disconnected_with_a_reason_and_catches_up() {
    let mut flags = vec!["--allow-guests", "--send-queue", "16"];
    flags.extend_from_slice(crate::support::UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let mut alice = app.client().await;
    enter(&mut alice, "alice").await;
    let mut bob = stalled_client(app.addr, "bob").await;

    // Bob reads nothing while Alice talks: far more than his queue, the
    // WebSocket's write buffer and both TCP buffers hold (about 8 MB).
    let text = "x".repeat(1900);
    let count = 4000;
    for i in 0..count {
        alice
            .emit(&NewMessage(format!("{i} {text}")))
            .await
            .unwrap();
    }
    let said = wait_for_messages(&app.state.store, count).await;

    // Now Bob reads what he was sent: a prefix of the conversation without
    // a gap, then why he is being dropped, then the end of the connection.
    let mut got: Vec<EventId> = Vec::new();
    let mut told = None;
    let mut disconnected = false;
    while let Some(frame) = next_text(&mut bob).await {
        if frame.starts_with("41") {
            disconnected = true;
            break;
        }
        let Some(json) = frame.strip_prefix("42") else {
            continue;
        };
        let args: Vec<Value> = serde_json::from_str(json).unwrap();
        match args[0].as_str().unwrap() {
            event::NEW_MESSAGE => {
                assert!(told.is_none(), "nothing after the notice");
                got.push(args[1]["id"].as_u64().unwrap());
            }
            event::TOO_SLOW => told = Some(args[1]["message"].as_str().unwrap().to_owned()),
            _ => {}
        }
    }
    let told = told.expect("bob was told why");
    assert!(told.starts_with("too slow"), "{told}");
    assert!(disconnected, "then disconnected (not just closed)");
    assert!(got.len() < said.len(), "bob did fall behind: {}", got.len());
    assert_eq!(got, said[..got.len()], "what bob got is an unbroken prefix");

    // Alice was never disturbed.
    let mut said = said;
    match alice
        .request(&NewMessage("still here".into()))
        .await
        .unwrap()
    {
        Ack::Ok(message) => said.push(message.id),
        Ack::Err(error) => panic!("alice refused after bob's drop: {error}"),
    }

    // Bob comes back and catches up on exactly what he missed.
    let (bob, _) = app.join("bob").await;
    let caught_up = message_ids_after(&bob, got.last().copied().unwrap_or(0)).await;
    let mut whole = got.clone();
    whole.extend(caught_up);
    assert_eq!(whole, said, "every message exactly once, in order");
}
