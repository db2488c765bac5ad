//! Accounts: register, log in, log out, and who am I. A successful register
//! or login answers with the token and sets it as the browser's HttpOnly
//! cookie; every route that needs a login takes the token from
//! `Authorization: Bearer` or that cookie ([`AuthUser`]).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::{
    Account, Credentials, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, Session, validate_username,
};

use super::{Error, Result};
use crate::AppState;
use crate::auth::{self, Claims};
use crate::store::User;

/// A hash to check wrong usernames against, so that an unknown name takes
/// as long to refuse as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vtq8R2vLE2b8xqhHh8cTqj0b5RLfu4eTUXZcx2QhV4Q";

/// The logged-in user of a request.
#[derive(Debug)]
pub struct AuthUser {
    /// Their account.
    pub user: User,
    /// Their token's claims.
    pub claims: Claims,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = auth::token_from_headers(&parts.headers, state.security.cookie);
        let (user, claims) = auth::identify(&state.tokens, &state.store, token.as_deref()).await?;
        Ok(Self { user, claims })
    }
}

/// `POST /api/register`: a new account, logged in at once.
pub async fn register(
    State(state): State<AppState>,
    body: std::result::Result<Json<Credentials>, JsonRejection>,
) -> Result<Response> {
    let Json(credentials) = body.map_err(|e| Error::BadRequest(e.body_text()))?;
    let username = validate_username(&credentials.username)
        .map_err(|e| Error::Unprocessable(e.message))?
        .to_owned();
    let chars = credentials.password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(Error::Unprocessable(format!(
            "the password must have at least {PASSWORD_MIN_CHARS} characters"
        )));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(Error::Unprocessable(format!(
            "the password may have at most {PASSWORD_MAX_CHARS} characters"
        )));
    }
    let hash = auth::hash_password(credentials.password).await?;
    let user = state
        .store
        .create_user(&username, &hash)
        .await?
        .ok_or_else(|| Error::Conflict(format!("the name “{username}” is taken")))?;
    tracing::info!(user = %user.username, id = user.id, "registered");
    session_response(&state, &user, StatusCode::CREATED)
}

/// `POST /api/login`: a token for the right name and password.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: std::result::Result<Json<Credentials>, JsonRejection>,
) -> Result<Response> {
    let Json(credentials) = body.map_err(|e| Error::BadRequest(e.body_text()))?;
    let keys = [
        format!("user:{}", credentials.username.trim().to_lowercase()),
        format!("addr:{}", peer.ip()),
    ];
    state
        .throttle
        .check(&keys)
        .map_err(Error::TooManyRequests)?;
    let user = state
        .store
        .user_by_name(credentials.username.trim())
        .await?;
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH, |u| u.password_hash.as_str());
    let matches = auth::verify_password(credentials.password, hash.to_owned()).await;
    match user {
        Some(user) if matches => {
            tracing::info!(user = %user.username, "logged in");
            session_response(&state, &user, StatusCode::OK)
        }
        _ => {
            state.throttle.fail(&keys);
            Err(Error::Unauthorized("wrong username or password".to_owned()))
        }
    }
}

/// `POST /api/logout`: forgets the browser's cookie and disconnects the
/// sockets of that login.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = auth::token_from_headers(&headers, state.security.cookie);
    if let Some(claims) = token.and_then(|t| state.tokens.verify(&t).ok())
        && let Some(io) = &state.io
    {
        if let Err(error) = io
            .to(crate::chat::session_room(&claims.jti))
            .disconnect()
            .await
        {
            tracing::warn!(%error, "could not disconnect a logged-out session");
        }
        tracing::info!(user = %claims.name, "logged out");
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.security.cookie.clear())],
    )
        .into_response()
}

/// `GET /api/me`: who is logged in.
pub async fn me(AuthUser { user, .. }: AuthUser) -> Json<Account> {
    Json(Account {
        id: user.id,
        username: user.username,
    })
}

fn session_response(state: &AppState, user: &User, status: StatusCode) -> Result<Response> {
    let (token, claims) = state.tokens.issue(user)?;
    let cookie = state.security.cookie.set(&token, state.tokens.validity());
    let session = Session {
        user: Account {
            id: user.id,
            username: user.username.clone(),
        },
        token,
        expires_at: claims.expires_at(),
    };
    Ok((status, [(header::SET_COOKIE, cookie)], Json(session)).into_response())
}
