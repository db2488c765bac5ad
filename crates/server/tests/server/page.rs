//! The page's first render: the room with its recent history and who is
//! online for a visitor whose login cookie holds, the login form for anyone
//! else (no cookie, a logged-out one); and the log-out forms, which work
//! before the page has hydrated.

use protocol::{Ack, NewMessage};
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::forms::{browser, cookies, get_with, submit};
use crate::support::{TestApp, spawn_app};

/// The login cookie a register by form set.
async fn registered_cookie(app: &TestApp, name: &str) -> String {
    let response = submit(
        app,
        "/register",
        &[("username", name), ("password", "correct horse battery")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("chatroom_token=ey"))
        .expect("the login cookie")
}

/// A log-out form posted with `cookie`, from `site` (`Sec-Fetch-Site`).
async fn post_with(app: &TestApp, path: &str, cookie: &str, site: &str) -> reqwest::Response {
    browser()
        .post(format!("{}{path}", app.url()))
        .header("sec-fetch-site", site)
        .header(reqwest::header::COOKIE, cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap()
}

async fn page(app: &TestApp, cookie: Option<&str>) -> String {
    let response = match cookie {
        Some(cookie) => get_with(app, "/", cookie).await,
        None => browser().get(app.url()).send().await.unwrap(),
    };
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_logged_in_visitor_gets_the_room_with_its_history_as_text() {
    let app = spawn_app().await;
    let (bob, _) = app.join("bob").await;
    let hostile = "</script><script>alert(1)</script> <b>hi</b> & bye";
    let Ack::Ok(_) = bob.request(&NewMessage(hostile.into())).await.unwrap() else {
        panic!("bob's message refused");
    };
    let cookie = registered_cookie(&app, "alice").await;

    let html = page(&app, Some(&cookie)).await;
    assert!(html.contains(r#"id="room""#), "{html}");
    assert!(!html.contains(r#"id="auth""#), "no login form: {html}");
    // Bob is online, Alice is shown in the room she is about to enter.
    assert!(html.contains(">bob<") && html.contains(">alice<"), "{html}");
    // Bob's message, as text: escaped in the markup, and in the data the
    // page hydrates from no `</script>` closes the script it is in.
    assert!(
        html.contains(
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;hi&lt;/b&gt; &amp; bye"
        ),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("<b>hi</b>"), "{html}");

    // Anyone else gets the login form, and nothing of the conversation.
    let anonymous = page(&app, None).await;
    assert!(anonymous.contains(r#"id="auth""#) && !anonymous.contains(r#"id="room""#));
    assert!(!anonymous.contains("alert(1)"), "{anonymous}");
}

#[tokio::test]
async fn logging_out_by_form_ends_the_session_and_the_room_in_the_page() {
    let app = spawn_app().await;
    let cookie = registered_cookie(&app, "alice").await;
    assert!(page(&app, Some(&cookie)).await.contains(r#"id="room""#));

    let response = post_with(&app, "/logout", &cookie, "same-origin").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
    assert!(
        cookies(&response)
            .iter()
            .any(|c| c.starts_with("chatroom_token=;") && c.contains("Max-Age=0")),
        "the cookie is cleared"
    );
    // The old cookie, sent again, is no login: the form, and 401 from the API.
    let html = page(&app, Some(&cookie)).await;
    assert!(html.contains(r#"id="auth""#) && !html.contains(r#"id="room""#));
    let me = get_with(&app, "/api/me", &cookie).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logging_out_everywhere_by_form_ends_every_session() {
    let app = spawn_app().await;
    let laptop = registered_cookie(&app, "alice").await;
    let phone = submit(
        &app,
        "/login",
        &[("username", "alice"), ("password", "correct horse battery")],
    )
    .await;
    let phone = cookies(&phone)
        .into_iter()
        .find(|c| c.starts_with("chatroom_token=ey"))
        .unwrap();

    let response = post_with(&app, "/logout-all", &phone, "same-origin").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for cookie in [&laptop, &phone] {
        assert!(page(&app, Some(cookie)).await.contains(r#"id="auth""#));
    }

    // From another site, the forms are refused and end nothing.
    let cookie = registered_cookie(&app, "bob").await;
    for path in ["/logout", "/logout-all"] {
        let response = post_with(&app, path, &cookie, "cross-site").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert!(page(&app, Some(&cookie)).await.contains(r#"id="room""#));
}
