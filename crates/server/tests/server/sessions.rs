//! Ending sessions: a logged-out token is refused everywhere, and "log out
//! everywhere" ends every session of the account and disconnects its
//! sockets.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sio_client::native::{NativeClient, NativeError};

use crate::accounts::{closed_app, error_of, login, refusal, register};
use crate::support::{TestApp, WAIT, enter};

async fn me(app: &TestApp, token: &str) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/me", app.url()))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::OK {
        return (StatusCode::OK, String::new());
    }
    error_of(response).await
}

async fn post_with(app: &TestApp, path: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}{path}", app.url()))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn login_token(app: &TestApp, name: &str) -> String {
    let response = login(app, name, "correct horse").await;
    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap();
    session["token"].as_str().unwrap().to_owned()
}

async fn socket(app: &TestApp, token: &str) -> NativeClient {
    NativeClient::connect(&app.url(), Some(json!({ "token": token })))
        .await
        .unwrap()
}

fn logged_out() -> (StatusCode, String) {
    (
        StatusCode::UNAUTHORIZED,
        "logged out: log in again".to_owned(),
    )
}

#[tokio::test]
async fn a_logged_out_token_is_refused_by_the_api_and_sockets() {
    let app = closed_app().await;
    let first = register(&app, "alice").await.token;
    let second = login_token(&app, "alice").await;
    assert_eq!(me(&app, &first).await.0, StatusCode::OK);
    assert_eq!(
        post_with(&app, "/api/logout", &first).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(&app, &first).await, logged_out());
    assert_eq!(
        refusal(&app, Some(json!({ "token": first }))).await,
        "logged out: log in again"
    );
    // Another login of the same account goes on.
    assert_eq!(me(&app, &second).await.0, StatusCode::OK);
    let mut alice = socket(&app, &second).await;
    enter(&mut alice, "alice").await;
    // Logging out twice is harmless.
    assert_eq!(
        post_with(&app, "/api/logout", &first).await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn revocations_outlive_a_restart() {
    let app = closed_app().await;
    let token = register(&app, "alice").await.token;
    assert_eq!(
        post_with(&app, "/api/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    let data = app.data.clone();
    app.shutdown().await.unwrap();
    let app = crate::support::spawn_app_on(data, &[]).await;
    assert_eq!(me(&app, &token).await, logged_out());
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session_and_socket() {
    let app = closed_app().await;
    let phone = register(&app, "alice").await.token;
    let laptop = login_token(&app, "alice").await;
    let bob = register(&app, "bob").await.token;
    let mut on_phone = socket(&app, &phone).await;
    let mut on_laptop = socket(&app, &laptop).await;
    let mut bobs = socket(&app, &bob).await;
    enter(&mut on_phone, "alice").await;
    enter(&mut on_laptop, "alice").await;
    enter(&mut bobs, "bob").await;

    assert_eq!(
        post_with(&app, "/api/logout-all", &laptop).await,
        StatusCode::NO_CONTENT
    );
    for client in [&mut on_phone, &mut on_laptop] {
        loop {
            match client.next_raw(WAIT).await {
                Err(NativeError::Closed) => break,
                Ok(_) => continue, // events that came before the cut
                Err(other) => panic!("expected the socket closed, got {other}"),
            }
        }
    }
    for token in [&phone, &laptop] {
        assert_eq!(me(&app, token).await, logged_out());
        assert_eq!(
            refusal(&app, Some(json!({ "token": token }))).await,
            "logged out: log in again"
        );
    }
    // Bob is untouched; alice logs in afresh.
    assert_eq!(me(&app, &bob).await.0, StatusCode::OK);
    let again = login_token(&app, "alice").await;
    assert_eq!(me(&app, &again).await.0, StatusCode::OK);
    enter(&mut socket(&app, &again).await, "alice").await;
    // It needs a login.
    assert_eq!(
        post_with(&app, "/api/logout-all", "not.a.token").await,
        StatusCode::UNAUTHORIZED
    );
}
