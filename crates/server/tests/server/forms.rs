//! The page's form posts (`POST /login`, `POST /register`): they work
//! without JavaScript, set the cookie and redirect, bring a refusal back to
//! the form once, and never put the password in a URL.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::accounts::closed_app;
use crate::support::TestApp;

/// A client that does not follow redirects, as the test reads them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn submit(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    browser()
        .post(format!("{}{path}", app.url()))
        .header("sec-fetch-site", "same-origin")
        .form(fields)
        .send()
        .await
        .unwrap()
}

pub fn cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `GET path` sending back the cookie a `Set-Cookie` value set.
pub async fn get_with(app: &TestApp, path: &str, set_cookie: &str) -> reqwest::Response {
    browser()
        .get(format!("{}{path}", app.url()))
        .header(COOKIE, set_cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn registering_and_logging_in_by_form_set_the_cookie_and_go_home() {
    let app = closed_app().await;
    let password = "correct horse battery";
    let registered = submit(
        &app,
        "/register",
        &[("username", "alice"), ("password", password)],
    )
    .await;
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(registered.headers()[LOCATION], "/");
    let set = cookies(&registered);
    let session = set
        .iter()
        .find(|c| c.starts_with("chatroom_token=") && !c.contains("Max-Age=0"))
        .expect("the login cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    // The cookie is a login.
    let me = get_with(&app, "/api/me", session).await;
    assert_eq!(me.status(), StatusCode::OK);

    let logged_in = submit(
        &app,
        "/login",
        &[("username", "ALICE"), ("password", password)],
    )
    .await;
    assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(logged_in.headers()[LOCATION], "/");
    assert!(
        cookies(&logged_in)
            .iter()
            .any(|c| c.starts_with("chatroom_token=ey"))
    );
}

#[tokio::test]
async fn a_refused_form_shows_its_reason_once_and_no_password_in_any_url() {
    let app = closed_app().await;
    let password = "not the password";
    let refused = submit(
        &app,
        "/login",
        &[("username", "nobody"), ("password", password)],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    let location = refused.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(location, "/");
    let flash = cookies(&refused)
        .into_iter()
        .find(|c| c.starts_with("chatroom_flash="))
        .expect("the reason's cookie");
    assert!(!flash.contains("password=") && !flash.contains("not%20the"));
    // The page shows it, and clears it so a reload does not.
    let page = get_with(&app, &location, &flash).await;
    let cleared = cookies(&page);
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("chatroom_flash=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("wrong username or password"), "{html}");
    assert!(html.contains(r#"method="post""#) && html.contains(r#"action="/login""#));

    // A refused registration goes back to the register form.
    let weak = submit(
        &app,
        "/register",
        &[("username", "bob"), ("password", "short")],
    )
    .await;
    assert_eq!(weak.headers()[LOCATION], "/?mode=register");
    let flash = cookies(&weak).into_iter().next().unwrap();
    let page = get_with(&app, "/?mode=register", &flash)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("the password must have at least 8 characters"),
        "{page}"
    );
    assert!(page.contains(r#"action="/register""#), "{page}");
    // A missing field is refused the same way.
    let empty = submit(&app, "/login", &[("username", "bob")]).await;
    assert_eq!(empty.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_posted_from_another_site_are_refused() {
    let app = closed_app().await;
    let response = browser()
        .post(format!("{}/register", app.url()))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "mallory"), ("password", "correct horse")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(cookies(&response).is_empty());
}
