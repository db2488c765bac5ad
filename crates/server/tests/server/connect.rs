//! Connecting: events sent the instant a connection is up are never lost,
//! malformed handshakes are refused with a reason, and shutdown is clean.

use futures::future::join_all;
use protocol::{Ack, AddUser};
use serde_json::json;
use sio_client::native::{NativeClient, NativeError};

use crate::support::spawn_app;

/// socketioxide answers CONNECT and only then runs the connect handler as a
/// task, so a client that emits at once races whatever that handler does
/// before registering the event handlers. Handlers registered there after
/// any await (one `yield_now` is enough) lose some of these 300 clients'
/// events and this test fails; registered in the middleware, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_user_sent_the_moment_the_connection_is_up_is_answered() {
    const CLIENTS: usize = 300;
    let app = spawn_app().await;
    let url = app.url();
    let clients = join_all((0..CLIENTS).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = NativeClient::connect(&url, None).await?;
            let ack = client.request(&AddUser(format!("user{i}"))).await?;
            Ok::<_, NativeError>((client, ack))
        })
    }))
    .await;
    let mut entered = 0;
    let mut keep = Vec::new();
    for (i, joined) in clients.into_iter().enumerate() {
        let (client, ack) = joined
            .expect("task")
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        match ack {
            Ack::Ok(login) => {
                assert_eq!(login.username, format!("user{i}"));
                entered += 1;
            }
            Ack::Err(error) => panic!("client {i} refused: {error}"),
        }
        keep.push(client);
    }
    assert_eq!(entered, CLIENTS);
    assert_eq!(app.state.room.num_users().await.unwrap(), CLIENTS);
}

#[tokio::test]
async fn a_malformed_auth_payload_is_refused_with_a_reason() {
    let app = spawn_app().await;
    for (auth, reason) in [
        (json!({ "clientId": 5 }), "malformed auth payload: "),
        (
            json!({ "clientId": "x".repeat(65) }),
            "malformed auth payload: clientId must be 1 to 64 bytes",
        ),
    ] {
        match NativeClient::connect(&app.url(), Some(auth.clone())).await {
            Err(NativeError::ConnectError(message)) => {
                assert!(message.starts_with(reason), "{auth}: {message}");
            }
            Err(other) => panic!("{auth}: expected connect_error, got {other}"),
            Ok(_) => panic!("{auth}: should have been refused"),
        }
    }
    // A well-formed one is fine.
    NativeClient::connect(&app.url(), Some(json!({ "clientId": "abc" })))
        .await
        .unwrap();
}

#[tokio::test]
async fn shutdown_disconnects_sockets_and_returns() {
    let app = spawn_app().await;
    let (mut alice, _) = app.join("alice").await;
    app.shutdown().await.expect("run returns Ok");
    let after = alice.next_raw(crate::support::WAIT).await;
    assert!(matches!(after, Err(NativeError::Closed)), "got {after:?}");
}
