//! The page's login and register forms, posted the browser's own way
//! (`application/x-www-form-urlencoded`), so they work before the page has
//! hydrated and without JavaScript at all, and a password never ends up in
//! a URL. (Once hydrated, the page submits in place through `/api`.)
//!
//! `POST /logout` and `POST /logout-all` end this session or every session
//! of the account, as the API's do, then redirect to `/` with the cookie
//! cleared: the logged-in page's buttons work before hydration too.
//!
//! `POST /login` and `POST /register` run the API's own checks and limits
//! ([`Entry::check`]); then they
//! redirect (303) to `/` with the login cookie set, or back to the form
//! with the reason in a short-lived cookie ([`FLASH_COOKIE`]) that the page
//! shows once ([`page_context`]). The reason travels in a cookie, not the
//! URL, so no link can make the page show words the server never said.

use std::net::IpAddr;

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use protocol::Credentials;

use super::ClientIp;
use super::accounts::{self, Entry};
use super::{BODY_LIMIT, Error};
use crate::AppState;

/// The cookie that carries a failed form post's reason to the next page.
pub const FLASH_COOKIE: &str = "chatroom_flash";

/// How long an unshown reason is kept: the redirect follows at once.
const FLASH_MAX_AGE_SECS: u32 = 60;

/// The query that opens the page on the register form.
const REGISTER_QUERY: &str = "mode=register";

/// The form routes, beside the pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .route("/register", post(register))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// `POST /login`: the login form.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Form<Credentials>, FormRejection>,
) -> Response {
    submit(&state, ip, &headers, body, Entry::Login).await
}

/// `POST /register`: the register form.
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Form<Credentials>, FormRejection>,
) -> Response {
    submit(&state, ip, &headers, body, Entry::Register).await
}

/// `POST /logout`: the log-out button's form.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = cross_site(&headers) {
        return refusal;
    }
    match accounts::end_session(&state, &headers).await {
        Ok(()) => back_home(&state),
        Err(error) => error.into_response(),
    }
}

/// `POST /logout-all`: the "log out everywhere" button's form.
async fn logout_all(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = cross_site(&headers) {
        return refusal;
    }
    let token = crate::auth::token_from_headers(&headers, state.security.cookie);
    let ended = match crate::auth::identify(&state.tokens, &state.store, token.as_deref()).await {
        Ok((user, _)) => accounts::end_all_sessions(&state, &user).await,
        Err(crate::auth::Unidentified::Internal) => Err(Error::Internal),
        // Not logged in: there is nothing to end.
        Err(_) => Ok(()),
    };
    match ended {
        Ok(()) => back_home(&state),
        Err(error) => error.into_response(),
    }
}

/// To `/` (the login form), with the login cookie cleared.
fn back_home(state: &AppState) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (header::SET_COOKIE, state.security.cookie.clear()),
        ],
    )
        .into_response()
}

async fn submit(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    body: Result<Form<Credentials>, FormRejection>,
    entry: Entry,
) -> Response {
    if let Some(refusal) = cross_site(headers) {
        return refusal;
    }
    let back = match entry {
        Entry::Login => "/".to_owned(),
        Entry::Register => format!("/?{REGISTER_QUERY}"),
    };
    let credentials = match body {
        Ok(Form(credentials)) => credentials,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refused(&back, &Error::PayloadTooLarge(BODY_LIMIT).to_string());
        }
        Err(_) => return refused(&back, "fill in the name and the password"),
    };
    let session = match entry.check(state, ip, credentials).await {
        Ok(user) => accounts::new_session(state, &user).await,
        Err(error) => Err(error),
    };
    match session {
        Ok((_, _, cookie)) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/")],
            AppendHeaders([
                (header::SET_COOKIE, cookie),
                (header::SET_COOKIE, cleared_flash()),
            ]),
        )
            .into_response(),
        Err(error) => refused(&back, &error.to_string()),
    }
}

/// Back to the form, with the reason to show there.
fn refused(back: &str, reason: &str) -> Response {
    let value = utf8_percent_encode(reason, NON_ALPHANUMERIC);
    let flash = format!(
        "{FLASH_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={FLASH_MAX_AGE_SECS}"
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, back.to_owned()),
            (header::SET_COOKIE, flash),
        ],
    )
        .into_response()
}

fn cleared_flash() -> String {
    format!("{FLASH_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The answer to a form posted from another site: refused. (Another site
/// posting the login form would log the visitor into an account of its
/// choosing; posting the logout forms, log them out.)
fn cross_site(headers: &HeaderMap) -> Option<Response> {
    from_another_site(headers)
        .then(|| (StatusCode::FORBIDDEN, "forms from another site are refused").into_response())
}

/// Whether the browser says the post comes from another site (every
/// current browser sends `Sec-Fetch-Site`; a client that sends none is not
/// a browser another site could steer).
fn from_another_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

/// The reason a failed form post left in the request's cookies, if any.
fn flash(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == FLASH_COOKIE && !value.is_empty())
        .and_then(|(_, value)| percent_decode_str(value).decode_utf8().ok())
        .map(|reason| reason.into_owned())
}

/// Per rendered page: tells the app which form to open and the reason a
/// form post failed (then clears it, so it shows once). Run by the page
/// routes with the request's parts in Leptos's context.
pub fn page_context() {
    use leptos::prelude::{provide_context, use_context};
    let Some(parts) = use_context::<axum::http::request::Parts>() else {
        return;
    };
    let register = parts
        .uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == REGISTER_QUERY));
    let error = flash(&parts.headers);
    if error.is_some()
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(clear) = HeaderValue::from_str(&cleared_flash())
    {
        response.append_header(header::SET_COOKIE, clear);
    }
    provide_context(app::AuthStart { register, error });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_survives_the_cookie() {
        let reason = "the name “a;b” is taken; try again in 3 s";
        let response = refused("/?mode=register", reason);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/?mode=register");
        let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
        let pair = set.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=1; {pair}")).unwrap(),
        );
        assert_eq!(flash(&headers).as_deref(), Some(reason));
    }

    #[test]
    fn only_same_origin_posts_are_taken() {
        let mut headers = HeaderMap::new();
        assert!(!from_another_site(&headers));
        for (site, refused) in [
            ("same-origin", false),
            ("none", false),
            ("same-site", true),
            ("cross-site", true),
        ] {
            headers.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert_eq!(from_another_site(&headers), refused, "{site}");
        }
    }
}
