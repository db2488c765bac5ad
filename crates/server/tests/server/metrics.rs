//! `/metrics`: off by default, on the chat's port with `--metrics on`, on an
//! address of its own with `--metrics-addr`; its counters move with what
//! the server does. The counters are the process's (every test's server
//! counts into them), so tests compare scrapes; the gauges are this
//! server's.

use protocol::{Ack, ErrorCode, NewMessage, event};

use crate::support::{UNLIMITED, spawn_app, spawn_app_with};

/// The value of the sample `name` (with its labels, as written), 0 if absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "a complete exposition");
    text
}

#[tokio::test]
async fn counters_move_with_messages_and_refusals() {
    let mut flags = vec!["--allow-guests", "--metrics", "on"];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let before = scrape(&app.url()).await;

    let (alice, _) = app.join("alice").await;
    let reply = alice
        .request(&NewMessage("hello".to_owned()))
        .await
        .unwrap();
    assert!(matches!(reply, Ack::Ok(_)), "{reply:?}");
    let stranger = app.client().await;
    let refused = stranger
        .request(&NewMessage("not in the room".to_owned()))
        .await
        .unwrap();
    let Ack::Err(error) = refused else {
        panic!("refused: {refused:?}")
    };
    assert_eq!(error.code, ErrorCode::NotJoined);

    let after = scrape(&app.url()).await;
    let moved = |name: &str| sample(&after, name) - sample(&before, name);
    let new_message = format!(
        "chatroom_events_received_total{{event=\"{}\"}}",
        event::NEW_MESSAGE
    );
    assert!(moved(&new_message) >= 2.0, "{after}");
    let add_user = format!(
        "chatroom_events_received_total{{event=\"{}\"}}",
        event::ADD_USER
    );
    assert!(moved(&add_user) >= 1.0, "{after}");
    assert!(
        moved("chatroom_refusals_total{code=\"not_joined\"}") >= 1.0,
        "{after}"
    );
    assert!(moved("chatroom_messages_stored_total") >= 1.0, "{after}");
    assert!(
        moved("chatroom_items_stored_total") >= 2.0,
        "the join too: {after}"
    );
    assert!(moved("chatroom_commit_seconds_count") >= 1.0, "{after}");
    assert!(moved("chatroom_fanout_seconds_count") >= 1.0, "{after}");
    // This server's own gauges: two connections, one of them in the room.
    assert_eq!(sample(&after, "chatroom_connections_open"), 2.0, "{after}");
    assert_eq!(sample(&after, "chatroom_users_online"), 1.0, "{after}");
}

#[tokio::test]
async fn an_event_a_client_made_up_is_not_a_label() {
    let mut flags = vec!["--allow-guests", "--metrics", "on"];
    flags.extend_from_slice(UNLIMITED);
    let app = spawn_app_with(&flags).await;
    let client = app.client().await;
    let made_up = "a name of its own 7f3a";
    client.request_raw(made_up, vec![]).await.unwrap();
    let text = scrape(&app.url()).await;
    assert!(!text.contains(made_up), "{text}");
    assert!(sample(&text, "chatroom_events_received_total{event=\"unknown\"}") >= 1.0);
    assert!(sample(&text, "chatroom_refusals_total{code=\"unknown_event\"}") >= 1.0);
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let app = spawn_app().await;
    let response = reqwest::get(format!("{}/metrics", app.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    // A free port for the metrics: bound, read, released.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = free.local_addr().unwrap().to_string();
    drop(free);
    let app = spawn_app_with(&["--allow-guests", "--metrics-addr", &metrics_addr]).await;
    let client = app.client().await;
    assert!(client.is_open());
    let text = scrape(&format!("http://{metrics_addr}")).await;
    assert_eq!(sample(&text, "chatroom_connections_open"), 1.0, "{text}");
    let chat_port = reqwest::get(format!("{}/metrics", app.url()))
        .await
        .unwrap();
    assert_eq!(chat_port.status(), 404, "not on the chat's port then");
}
