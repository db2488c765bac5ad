//! Names nobody can fake: look-alikes ("аlice" with a Cyrillic а), other
//! normalization forms and invisible or bidirectional characters are refused,
//! for accounts and for guests online; keys from before the rule are remade
//! when the store opens.

use std::sync::Arc;

use protocol::{Account, Ack, AckError, AddUser, ErrorCode, Session};
use reqwest::StatusCode;
use serde_json::json;

use crate::accounts::{error_of, login, post, register};
use crate::support::{TestApp, enter, spawn_app, spawn_app_on, spawn_app_with};

/// A Cyrillic а (U+0430) followed by "lice": looks exactly like "alice".
const CYRILLIC_ALICE: &str = "\u{430}lice";

async fn register_refusal(app: &TestApp, username: &str) -> (StatusCode, String) {
    let response = post(
        app,
        "/api/register",
        json!({ "username": username, "password": "correct horse" }),
    )
    .await;
    error_of(response).await
}

/// `add user` as `name` from a new guest connection; the refusal.
async fn guest_refusal(app: &TestApp, name: &str) -> AckError {
    let guest = app.client().await;
    match guest.request(&AddUser(name.into())).await.unwrap() {
        Ack::Err(error) => error,
        Ack::Ok(login) => panic!("{name:?} should have been refused, entered as {login:?}"),
    }
}

#[tokio::test]
async fn a_look_alike_of_an_account_cannot_be_registered() {
    let app = spawn_app_with(&[]).await;
    register(&app, "alice").await;
    assert_eq!(
        register_refusal(&app, CYRILLIC_ALICE).await,
        (
            StatusCode::CONFLICT,
            format!("“{CYRILLIC_ALICE}” is too similar to an existing name")
        )
    );
    assert_eq!(
        register_refusal(&app, "ALICE").await,
        (StatusCode::CONFLICT, "the name “ALICE” is taken".to_owned())
    );
    assert_eq!(
        register_refusal(&app, "al\u{200B}ice").await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the name has an invisible character (U+200B)".to_owned()
        )
    );
    assert_eq!(
        register_refusal(&app, "\u{202E}ecila").await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the name has a bidirectional control character (U+202E)".to_owned()
        )
    );
    // An NFD spelling registers as NFC, and then is the same name.
    let zoe = register(&app, "Zoe\u{308}").await;
    assert_eq!(zoe.user.username, "Zo\u{EB}");
    assert_eq!(
        register_refusal(&app, "zoe\u{308}").await,
        (
            StatusCode::CONFLICT,
            "the name “zo\u{EB}” is taken".to_owned()
        )
    );
    // A right-to-left name is a name like any other.
    assert_eq!(register(&app, "سارا").await.user.username, "سارا");
}

#[tokio::test]
async fn a_guest_cannot_take_a_look_alike_of_a_registered_name() {
    let app = spawn_app().await;
    register(&app, "alice").await;
    let error = guest_refusal(&app, CYRILLIC_ALICE).await;
    assert_eq!(
        error,
        AckError::new(
            ErrorCode::NameTaken,
            format!("“{CYRILLIC_ALICE}” is too similar to an existing name")
        )
    );
    assert_eq!(
        app.state.room.num_users().await.unwrap(),
        0,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_guest_cannot_take_a_look_alike_of_a_name_online() {
    let app = spawn_app().await;
    let (_bob, _) = app.join("bob").await;
    // A Cyrillic о, then the digit zero.
    for look_alike in ["b\u{43E}b", "b0b"] {
        let error = guest_refusal(&app, look_alike).await;
        assert_eq!(
            error,
            AckError::new(
                ErrorCode::NameTaken,
                format!("“{look_alike}” is too similar to an existing name")
            )
        );
    }
    assert_eq!(
        app.state.room.num_users().await.unwrap(),
        1,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_nfd_form_of_a_name_online_is_the_same_name() {
    let app = spawn_app().await;
    // Enters in NFD; is in the room in NFC.
    let (_zoe, login) = app.join("Zoe\u{308}").await;
    assert_eq!(login.username, "Zo\u{EB}");
    let error = guest_refusal(&app, "Zoe\u{308}").await;
    assert_eq!(
        error,
        AckError::new(
            ErrorCode::NameTaken,
            "“Zo\u{EB}” is already taken by someone online"
        )
    );
    assert_eq!(app.state.room.num_users().await.unwrap(), 1);
}

#[tokio::test]
async fn invisible_and_reordering_names_are_refused_in_the_room() {
    let app = spawn_app().await;
    let mut guest = app.client().await;
    for (name, reason) in [
        (
            "\u{202E}ecila",
            "the name has a bidirectional control character (U+202E)",
        ),
        (
            "\u{2067}bob",
            "the name has a bidirectional control character (U+2067)",
        ),
        (
            "b\u{200D}ob",
            "the name has an invisible character (U+200D)",
        ),
        (
            "\u{200B}\u{200B}",
            "the name has an invisible character (U+200B)",
        ),
        ("\u{2800}", "the name has no visible character"),
    ] {
        let ack = guest.request(&AddUser(name.into())).await.unwrap();
        assert_eq!(
            ack,
            Ack::Err(AckError::new(ErrorCode::InvalidName, reason)),
            "{name:?}"
        );
    }
    assert_eq!(
        app.state.room.num_users().await.unwrap(),
        0,
        "nothing changed"
    );
    enter(&mut guest, "سارا").await;
}

/// Where the PostgreSQL test runs (the machine's local server, trust auth).
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Runs SQL on the database the server uses, behind its back.
async fn execute(url: &str, statements: &[&str]) {
    if url.starts_with("postgres:") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
}

/// Starts a server on `data` with `database` (a URL, or `None` for SQLite
/// in `data`).
async fn start(data: &Arc<tempfile::TempDir>, database: Option<&str>) -> TestApp {
    let flags: Vec<&str> = database.map_or_else(Vec::new, |url| vec!["--database-url", url]);
    spawn_app_on(Arc::clone(data), &flags).await
}

/// A database from before the rule: keys are lower-cased names, and two
/// accounts ("Alice" and a Cyrillic "аlice") look alike. After a restart,
/// the older keeps the key, both still log in and keep their sessions, and
/// no new look-alike can register.
async fn old_keys_are_remade(database: Option<&str>) {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let raw_url = database.map_or_else(
        || format!("sqlite://{}", data.path().join("chatroom.db").display()),
        str::to_owned,
    );
    let app = start(&data, database).await;
    let alice = register(&app, "Alice").await;
    register(&app, "bob").await;
    app.shutdown().await.unwrap();
    // What an upgraded database holds before the server's start-up step:
    // keys by the old rule, marked as such by migration 0003.
    execute(
        &raw_url,
        &[
            "UPDATE users SET name_key = lower(username), name_key_rule = 'lowercase'",
            "INSERT INTO users (username, name_key, name_key_rule, password_hash, created_at) \
             SELECT '\u{430}lice', '\u{430}lice', 'lowercase', password_hash, created_at \
             FROM users WHERE username = 'Alice'",
        ],
    )
    .await;

    let app = start(&data, database).await;
    let logged_in = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Session>().await.unwrap().user
    };
    let latin = logged_in(login(&app, "alice", "correct horse").await).await;
    assert_eq!(
        (latin.id, latin.username.as_str()),
        (alice.user.id, "Alice")
    );
    let cyrillic = logged_in(login(&app, CYRILLIC_ALICE, "correct horse").await).await;
    assert_eq!(cyrillic.username, CYRILLIC_ALICE);
    assert_ne!(cyrillic.id, latin.id);
    assert_eq!(
        logged_in(login(&app, "BOB", "correct horse").await)
            .await
            .username,
        "bob"
    );
    // The session from before the restart still names its account.
    let me: Account = reqwest::Client::new()
        .get(format!("{}/api/me", app.url()))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.username, "Alice");
    for (name, refusal) in [
        // The set-aside account's own name is taken; other spellings of
        // it look like the older account's.
        (CYRILLIC_ALICE, "the name “\u{430}lice” is taken"),
        (
            "\u{410}lice",
            "“\u{410}lice” is too similar to an existing name",
        ),
        ("b0b", "“b0b” is too similar to an existing name"),
        ("ALICE", "the name “ALICE” is taken"),
    ] {
        assert_eq!(
            register_refusal(&app, name).await,
            (StatusCode::CONFLICT, refusal.to_owned()),
            "{name:?}"
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn old_keys_are_remade_on_sqlite() {
    old_keys_are_remade(None).await;
}

#[tokio::test]
async fn old_keys_are_remade_on_postgres() {
    let schema = format!("names_{}", std::process::id());
    execute(POSTGRES, &[&format!("CREATE SCHEMA {schema}")]).await;
    let url = format!("{POSTGRES}?options=-c%20search_path%3D{schema}");
    // The schema goes whether the test passes or not.
    let outcome = tokio::spawn(async move { old_keys_are_remade(Some(&url)).await }).await;
    execute(POSTGRES, &[&format!("DROP SCHEMA {schema} CASCADE")]).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
