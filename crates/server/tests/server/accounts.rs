//! Accounts over real HTTP and Socket.IO: register, log in, throttling, log
//! out, `/api/me`, and tokens checked on every connection; and the attacks
//! on them (floods of registrations and guesses, lockouts, big bodies).

use std::net::IpAddr;
use std::time::Duration;

use protocol::{Ack, AddUser, ErrorCode, NewMessage, ServerEvent, Session};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sio_client::native::{NativeClient, NativeError};

use crate::support::{TestApp, WAIT, enter, next, spawn_app_with};

pub(crate) async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", app.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn register(app: &TestApp, username: &str) -> Session {
    let response = post(
        app,
        "/api/register",
        json!({ "username": username, "password": "correct horse" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

pub(crate) async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(crate) async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/login",
        json!({ "username": username, "password": password }),
    )
    .await
}

/// Connects with `auth` and returns the server's `connect_error` reason.
pub(crate) async fn refusal(app: &TestApp, auth: Option<Value>) -> String {
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

pub(crate) async fn closed_app() -> TestApp {
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
    for _ in 0..4 {
        login(&app, "alice", "wrong horse").await;
    }
    // Five failures for alice from this address this minute: even the right
    // password now waits, from here.
    let throttled = login(&app, "alice", "correct horse").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Five failures within the minute: the sixth fits once they have
    // slid far enough out of it.
    assert!((1..=120).contains(&retry), "{retry}");
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

/// A login from `ip` through a trusted proxy at 127.0.0.1.
async fn login_via_proxy(app: &TestApp, ip: &str, username: &str, password: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/api/login", app.url()))
        .header("x-forwarded-for", ip)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn concurrent_wrong_logins_verify_at_most_the_limit() {
    // Per-address limits out of the way: this is the name's own limit.
    let app = spawn_app_with(&["--login-per-minute", "1000"]).await;
    register(&app, "alice").await;
    let hashed_before = app.state.passwords.done();
    let guesses: Vec<_> = (0..200)
        .map(|i| {
            let url = app.url();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/api/login"))
                    .json(&json!({ "username": "alice", "password": format!("guess {i}") }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(wrong <= 5, "{wrong} guesses were checked");
    assert_eq!(wrong + throttled, 200, "{statuses:?}");
    // Only the checked guesses cost a hash.
    assert_eq!(app.state.passwords.done() - hashed_before, wrong as u64);
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_owner_out() {
    let app = closed_app().await;
    register(&app, "alice").await;
    // The attacker, at 127.0.0.1, uses up its guesses on alice.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(login(&app, "alice", "wrong horse").await.status());
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 3]);
    // The owner, from another address (127.0.0.2 is loopback too), is let in.
    let owner = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let response = owner
        .post(format!("{}/api/login", app.url()))
        .json(&json!({ "username": "alice", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn many_addresses_slow_a_name_down_but_the_owner_still_logs_in() {
    // A queue long enough for every guess: this is about the name's limit.
    let app = spawn_app_with(&["--trusted-proxies", "127.0.0.1", "--hash-queue", "100"]).await;
    register(&app, "alice").await;
    // An attacker with twenty addresses, two guesses each, all at once: past
    // five failures on the name, each further guess waits before its check.
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let url = app.url();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/api/login"))
                    .header("x-forwarded-for", format!("203.0.113.{}", i % 20))
                    .json(&json!({ "username": "alice", "password": "wrong horse" }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for guess in guesses {
        assert_eq!(guess.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    // The owner, at an address of their own behind the same proxy.
    assert_eq!(
        login_via_proxy(&app, "198.51.100.2", "alice", "correct horse").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    // Without trusted proxies the header is the client's own word: a forged
    // address per guess changes nothing, the peer is throttled.
    let app = closed_app().await;
    register(&app, "alice").await;
    let mut last = StatusCode::OK;
    for i in 0..6 {
        last = login_via_proxy(&app, &format!("192.0.2.{i}"), "alice", "wrong horse").await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);

    // Behind a trusted proxy each forwarded address is a client of its own.
    let app = spawn_app_with(&["--trusted-proxies", "127.0.0.0/8"]).await;
    register(&app, "alice").await;
    for _ in 0..5 {
        login_via_proxy(&app, "192.0.2.1", "alice", "wrong horse").await;
    }
    assert_eq!(
        login_via_proxy(&app, "192.0.2.1", "alice", "correct horse").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_via_proxy(&app, "192.0.2.2", "alice", "correct horse").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn addresses_are_limited_per_minute() {
    let app = spawn_app_with(&["--register-per-minute", "2", "--login-per-minute", "3"]).await;
    register(&app, "alice").await;
    register(&app, "bob").await;
    let third = post(
        &app,
        "/api/register",
        json!({ "username": "carol", "password": "correct horse" }),
    )
    .await;
    assert!(third.headers().contains_key("retry-after"));
    let (status, message) = error_of(third).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        message.starts_with("too many registrations from your address; try again in "),
        "{message}"
    );
    for name in ["alice", "bob", "alice"] {
        assert_eq!(
            login(&app, name, "correct horse").await.status(),
            StatusCode::OK
        );
    }
    let (status, message) = error_of(login(&app, "bob", "correct horse").await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        message.starts_with("too many login attempts from your address"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_any_hashing() {
    let app = closed_app().await;
    register(&app, "alice").await;
    let hashed = app.state.passwords.done();
    // A name or password no account can have is simply wrong.
    for (name, password) in [
        ("alice", "x".repeat(5_000)),
        ("", "correct horse".to_owned()),
        (&*"a".repeat(40), "correct horse".to_owned()),
        ("alice", String::new()),
    ] {
        assert_eq!(
            error_of(login(&app, name, &password).await).await,
            (
                StatusCode::UNAUTHORIZED,
                "wrong username or password".to_owned()
            )
        );
    }
    // A taken name is answered before the new password is hashed.
    let taken = post(
        &app,
        "/api/register",
        json!({ "username": "ALICE", "password": "another horse" }),
    )
    .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let weak = post(
        &app,
        "/api/register",
        json!({ "username": "bob", "password": "x".repeat(1_025) }),
    )
    .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.state.passwords.done(), hashed);
}

#[tokio::test]
async fn a_big_body_is_a_json_413() {
    let app = closed_app().await;
    for path in ["/api/login", "/api/register"] {
        let response = post(
            &app,
            path,
            json!({ "username": "alice", "password": "x".repeat(9_000) }),
        )
        .await;
        assert_eq!(
            error_of(response).await,
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than 8192 bytes".to_owned()
            )
        );
    }
}

#[tokio::test]
async fn a_registration_storm_gets_503s_while_the_room_chats_on() {
    let app = spawn_app_with(&[
        "--allow-guests",
        "--register-per-minute",
        "1000",
        "--hash-concurrency",
        "1",
        "--hash-queue",
        "2",
    ])
    .await;
    let (mut alice, _) = app.join("alice").await;
    let (mut bob, _) = app.join("bob").await;
    next(&mut alice).await; // bob joined
    let storm: Vec<_> = (0..100)
        .map(|i| {
            let url = app.url();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/api/register"))
                    .json(&json!({ "username": format!("user{i}"), "password": "correct horse" }))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    // Meanwhile the server answers and the room talks.
    let health = reqwest::get(format!("{}/api/health", app.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ack = alice
        .request(&NewMessage("still here?".into()))
        .await
        .unwrap();
    assert!(matches!(ack, Ack::Ok(_)), "{ack:?}");
    match next(&mut bob).await {
        ServerEvent::NewMessage(m) => assert_eq!(m.message, "still here?"),
        other => panic!("expected alice's message, got {other:?}"),
    }

    let (mut created, mut busy) = (0_u64, 0_u64);
    for response in storm {
        let response = response.await.unwrap();
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                let (_, message) = error_of(response).await;
                assert_eq!(message, "the server is busy; try again in a moment");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0 && created > 0, "{created} created, {busy} busy");
    assert_eq!(created + busy, 100);
    // Refused registrations cost no hash.
    assert_eq!(app.state.passwords.done(), created);
}
