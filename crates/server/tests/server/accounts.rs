//! Accounts over real HTTP and Socket.IO: register, log in, throttling, log
//! out, `/api/me`, and tokens checked on every connection.

use std::time::Duration;

use protocol::{Ack, AddUser, ErrorCode, ServerEvent, Session};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sio_client::native::{NativeClient, NativeError};

use crate::support::{TestApp, WAIT, enter, spawn_app_with};

pub async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", app.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn register(app: &TestApp, username: &str) -> Session {
    let response = post(
        app,
        "/api/register",
        json!({ "username": username, "password": "correct horse" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

pub async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

pub async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/login",
        json!({ "username": username, "password": password }),
    )
    .await
}

/// Connects with `auth` and returns the server's `connect_error` reason.
async fn refusal(app: &TestApp, auth: Option<Value>) -> String {
    match NativeClient::connect(&app.url(), auth).await {
        Err(NativeError::ConnectError(reason)) => reason,
        Err(other) => panic!("expected connect_error, got {other}"),
        Ok(client) => panic!("should have been refused, got socket {}", client.sid()),
    }
}

fn set_cookie(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn closed_app() -> TestApp {
    spawn_app_with(&[]).await
}

#[tokio::test]
async fn register_sets_an_http_only_cookie_and_names_are_unique() {
    let app = closed_app().await;
    let response = post(
        &app,
        "/api/register",
        json!({ "username": " Alice ", "password": "correct horse" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("chatroom_token="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session: Session = response.json().await.unwrap();
    assert_eq!(session.user.username, "Alice");
    assert!(cookie.contains(&session.token));

    let taken = post(
        &app,
        "/api/register",
        json!({ "username": "alice", "password": "another one" }),
    )
    .await;
    assert_eq!(
        error_of(taken).await,
        (StatusCode::CONFLICT, "the name “alice” is taken".to_owned())
    );
    let weak = post(
        &app,
        "/api/register",
        json!({ "username": "bob", "password": "short" }),
    )
    .await;
    assert_eq!(
        error_of(weak).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the password must have at least 8 characters".to_owned()
        )
    );
    let bad_name = post(
        &app,
        "/api/register",
        json!({ "username": "x".repeat(33), "password": "long enough" }),
    )
    .await;
    assert_eq!(bad_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let malformed = post(&app, "/api/register", json!({ "username": 5 })).await;
    let (status, message) = error_of(malformed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("username"), "{message}");
}

#[tokio::test]
async fn login_me_and_logout() {
    let app = closed_app().await;
    register(&app, "alice").await;
    let response = login(&app, "ALICE", "correct horse").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie(&response);
    let session: Session = response.json().await.unwrap();
    let client = reqwest::Client::new();
    let me = |header: (&'static str, String)| {
        client
            .get(format!("{}/api/me", app.url()))
            .header(header.0, header.1)
            .send()
    };
    let by_cookie = me(("cookie", cookie.split(';').next().unwrap().to_owned()))
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
    assert_eq!(
        by_cookie.json::<Value>().await.unwrap(),
        json!({ "id": session.user.id, "username": "alice" })
    );
    let by_bearer = me(("authorization", format!("Bearer {}", session.token)))
        .await
        .unwrap();
    assert_eq!(by_bearer.status(), StatusCode::OK);
    let anonymous = client
        .get(format!("{}/api/me", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(anonymous).await,
        (StatusCode::UNAUTHORIZED, "login required".to_owned())
    );
    let forged = me(("authorization", "Bearer not.a.token".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        error_of(forged).await,
        (
            StatusCode::UNAUTHORIZED,
            "invalid session: log in again".to_owned()
        )
    );

    let out = client
        .post(format!("{}/api/logout", app.url()))
        .header("authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn wrong_names_and_passwords_look_alike_and_are_throttled() {
    let app = closed_app().await;
    register(&app, "alice").await;
    let wrong_password = login(&app, "alice", "wrong horse").await;
    let unknown_user = login(&app, "nobody", "wrong horse").await;
    let a = error_of(wrong_password).await;
    assert_eq!(
        a,
        (
            StatusCode::UNAUTHORIZED,
            "wrong username or password".to_owned()
        )
    );
    assert_eq!(error_of(unknown_user).await, a);
    for _ in 0..3 {
        login(&app, "alice", "wrong horse").await;
    }
    // Five failures for alice this minute (and six from this address): even
    // the right password now waits.
    let throttled = login(&app, "alice", "correct horse").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let (_, message) = error_of(throttled).await;
    assert!(
        message.starts_with("too many failed logins; try again in "),
        "{message}"
    );
}

#[tokio::test]
async fn sockets_need_a_valid_token_when_guests_are_not_allowed() {
    let app = closed_app().await;
    let refused = |auth: Option<Value>| refusal(&app, auth);
    assert_eq!(refused(None).await, "login required");
    assert_eq!(
        refused(Some(json!({ "token": "forged.token.here" }))).await,
        "invalid session: log in again"
    );
    let session = register(&app, "alice").await;
    let mut parts: Vec<&str> = session.token.split('.').collect();
    let tampered_payload = parts[1].chars().rev().collect::<String>();
    parts[1] = &tampered_payload;
    assert_eq!(
        refused(Some(json!({ "token": parts.join(".") }))).await,
        "invalid session: log in again"
    );

    // A valid token enters under the account's name only.
    let mut alice = NativeClient::connect(&app.url(), Some(json!({ "token": session.token })))
        .await
        .unwrap();
    let refused_name = alice.request(&AddUser("mallory".into())).await.unwrap();
    let Ack::Err(error) = refused_name else {
        panic!("should be refused")
    };
    assert_eq!(
        (error.code, error.message.as_str()),
        (ErrorCode::NameMismatch, "you are logged in as “alice”")
    );
    let login = enter(&mut alice, "ALICE").await;
    assert_eq!(login.username, "alice");
}

#[tokio::test]
async fn an_expired_token_is_refused_and_a_connected_socket_is_cut_at_expiry() {
    let app = spawn_app_with(&["--token-ttl-secs", "2"]).await;
    let session = register(&app, "alice").await;
    let mut alice =
        NativeClient::connect(&app.url(), Some(json!({ "token": session.token.clone() })))
            .await
            .unwrap();
    enter(&mut alice, "alice").await;
    // At expiry the server says why, then disconnects.
    let notice = alice.next_event(Duration::from_secs(5)).await.unwrap();
    assert!(
        matches!(notice, ServerEvent::SessionExpired(n) if n.message == "session expired: log in again")
    );
    assert!(matches!(
        alice.next_raw(WAIT).await,
        Err(NativeError::Closed)
    ));
    assert_eq!(
        refusal(&app, Some(json!({ "token": session.token }))).await,
        "session expired"
    );
}

#[tokio::test]
async fn logout_disconnects_that_sessions_sockets() {
    let app = closed_app().await;
    let session = register(&app, "alice").await;
    let mut alice =
        NativeClient::connect(&app.url(), Some(json!({ "token": session.token.clone() })))
            .await
            .unwrap();
    enter(&mut alice, "alice").await;
    let out = reqwest::Client::new()
        .post(format!("{}/api/logout", app.url()))
        .header("authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(matches!(
        alice.next_raw(WAIT).await,
        Err(NativeError::Closed)
    ));
}

#[tokio::test]
async fn guests_cannot_take_a_registered_name() {
    let app = spawn_app_with(&["--allow-guests"]).await;
    register(&app, "alice").await;
    let mut guest = app.client().await;
    let Ack::Err(error) = guest.request(&AddUser("Alice".into())).await.unwrap() else {
        panic!("a guest must not take a registered name");
    };
    assert_eq!(error.code, ErrorCode::NameTaken);
    assert_eq!(
        error.message,
        "“Alice” belongs to a registered user; log in to use it"
    );
    enter(&mut guest, "guest1").await;
}

#[tokio::test]
async fn a_token_for_a_deleted_account_is_refused() {
    let app = closed_app().await;
    let session = register(&app, "alice").await;
    // Delete the account behind the server's back, as an operator would.
    let db = app.data.path().join("chatroom.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(session.user.id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        refusal(&app, Some(json!({ "token": session.token }))).await,
        "login required: the account no longer exists"
    );
}
