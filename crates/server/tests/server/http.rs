//! HTTP: the server-rendered page, the health check, and JSON errors.

use crate::support::spawn_app;

#[tokio::test]
async fn the_page_is_rendered_on_the_server_with_the_login_form() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url()).await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Chatroom</title>"), "{html}");
    // Without a login the server renders the login form, never the room.
    assert!(html.contains(r#"<form id="auth""#), "{html}");
    assert!(
        html.contains(r#"<label for="password">Password</label>"#),
        "{html}"
    );
    assert!(!html.contains(r#"id="room""#), "{html}");
    assert!(
        html.contains("/pkg/chatroom.js"),
        "the hydration script: {html}"
    );
}

#[tokio::test]
async fn health_reports_the_users_online() {
    let app = spawn_app().await;
    let _alice = app.join("alice").await;
    let response = reqwest::get(format!("{}/api/health", app.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let node = app.state.node.to_string();
    assert!(!node.is_empty());
    assert_eq!(
        body,
        serde_json::json!({
            "status": "ok", "node": node, "database": "ok", "redis": "off", "numUsers": 1
        })
    );
}

#[tokio::test]
async fn health_is_503_when_the_database_does_not_answer() {
    let app = spawn_app().await;
    app.state.store.close().await;
    let response = reqwest::get(format!("{}/api/health", app.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "status": "unavailable", "node": app.state.node.to_string(),
            "database": "unreachable", "redis": "off", "numUsers": 0
        })
    );
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = spawn_app().await;
    let response = reqwest::get(format!("{}/api/nope", app.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "an API error is JSON"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "error": "no such API route" }));
}

#[tokio::test]
async fn a_wrong_method_on_an_api_route_is_a_json_405() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/health", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": "this API route does not take that method" })
    );
}

#[tokio::test]
async fn bad_socket_io_requests_are_json_400s() {
    let app = spawn_app().await;
    let response = reqwest::get(format!("{}/socket.io/?EIO=3&transport=polling", app.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "code": "5", "message": "Unsupported protocol version" })
    );
}
