//! Accounts: register, log in, log out (here or everywhere), and who am I. A
//! successful register or login answers with the token and sets it as the
//! browser's HttpOnly cookie; every route that needs a login takes the token
//! from `Authorization: Bearer` or that cookie ([`AuthUser`]). The checks
//! themselves ([`Entry::check`]: [`create_account`], [`check_login`]) are
//! shared with the page's form posts (`super::forms`).

use std::net::IpAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::{
    Account, Credentials, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, Session, validate_username,
};

use super::ClientIp;
use super::throttle::Refused;
use super::{Error, Result, json_body};
use crate::AppState;
use crate::auth::{self, Claims, Unidentified};
use crate::relay::Signal;
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
    ClientIp(ip): ClientIp,
    body: std::result::Result<Json<Credentials>, JsonRejection>,
) -> Result<Response> {
    enter(&state, ip, json_body(body)?, Entry::Register).await
}

/// `POST /api/login`: a token for the right name and password.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: std::result::Result<Json<Credentials>, JsonRejection>,
) -> Result<Response> {
    enter(&state, ip, json_body(body)?, Entry::Login).await
}

/// The two ways into an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    /// A new account ([`create_account`]).
    Register,
    /// An existing one ([`check_login`]).
    Login,
}

impl Entry {
    /// The account, if this way in lets `ip` in with `credentials`. The
    /// address's rate is counted first, before anything else is looked at.
    pub(super) async fn check(
        self,
        state: &AppState,
        ip: IpAddr,
        credentials: Credentials,
    ) -> Result<User> {
        let (counted, reason) = match self {
            Self::Register => (
                state.throttle.register_request(ip).await,
                "too many registrations from your address",
            ),
            Self::Login => (
                state.throttle.login_request(ip).await,
                "too many login attempts from your address",
            ),
        };
        counted.map_err(|Refused(wait)| Error::TooManyRequests { reason, wait })?;
        match self {
            Self::Register => create_account(state, ip, credentials).await,
            Self::Login => check_login(state, ip, credentials).await,
        }
    }
}

/// Registers or logs in, and answers with the new session.
async fn enter(
    state: &AppState,
    ip: IpAddr,
    credentials: Credentials,
    entry: Entry,
) -> Result<Response> {
    let user = entry.check(state, ip, credentials).await?;
    let status = match entry {
        Entry::Register => StatusCode::CREATED,
        Entry::Login => StatusCode::OK,
    };
    session_response(state, &user, status).await
}

/// Creates the account `credentials` asks for, from `ip`. Everything that
/// can refuse it cheaply is checked before the password is hashed: the name
/// and password rules, and whether the name is taken (the unique index
/// still decides between two racing for it).
async fn create_account(
    state: &AppState,
    ip: IpAddr,
    Credentials { username, password }: Credentials,
) -> Result<User> {
    let username = validate_username(&username).map_err(|e| Error::Unprocessable(e.message))?;
    let chars = password.chars().count();
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
    if let Some(existing) = state.store.user_by_name(&username).await? {
        return Err(name_conflict(&username, &existing.username));
    }
    let hash = state.passwords.hash(password).await??;
    let Some(user) = state.store.create_user(&username, &hash).await? else {
        // Another registration took it meanwhile.
        return Err(match state.store.user_by_name(&username).await? {
            Some(existing) => name_conflict(&username, &existing.username),
            None => name_conflict(&username, &username),
        });
    };
    tracing::info!(user = %user.username, id = user.id, %ip, "registered");
    Ok(user)
}

/// Why `username` cannot be registered when `existing` holds its key:
/// taken (the same name, in any letter case) or too similar (a look-alike).
fn name_conflict(username: &str, existing: &str) -> Error {
    if protocol::looks_alike(username, existing) {
        Error::Conflict(protocol::too_similar(username))
    } else {
        Error::Conflict(format!("the name “{username}” is taken"))
    }
}

/// The account `credentials` name, if the password is right. A name or
/// password no account can have is wrong without hashing anything (registration never allowed them); then
/// a failure slot is taken before the password is verified (see
/// [`super::throttle`]), and given back only if it was right.
async fn check_login(
    state: &AppState,
    ip: IpAddr,
    Credentials { username, password }: Credentials,
) -> Result<User> {
    let wrong = || Error::Unauthorized("wrong username or password".to_owned());
    // The lookup takes the name as typed (an account set aside by the name
    // rule logs in under its exact spelling); the checks take it normalized.
    let typed = username.trim();
    let Ok(username) = validate_username(typed) else {
        return Err(wrong());
    };
    if password.is_empty() || password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(wrong());
    }
    let attempt = state
        .throttle
        .login_attempt(ip, &username)
        .await
        .map_err(|Refused(wait)| Error::TooManyRequests {
            reason: "too many failed logins",
            wait,
        })?;
    if !attempt.delay().is_zero() {
        tracing::info!(user = %username, %ip, delay = ?attempt.delay(), "login delayed: many failures for this name");
        tokio::time::sleep(attempt.delay()).await;
    }
    let user = match state.store.user_by_name(typed).await {
        Ok(user) => user,
        Err(error) => {
            attempt.forget().await;
            return Err(error.into());
        }
    };
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH, |u| u.password_hash.as_str())
        .to_owned();
    let matches = match state.passwords.verify(password, hash).await {
        Ok(matches) => matches,
        Err(busy) => {
            attempt.forget().await;
            return Err(busy.into());
        }
    };
    match user {
        Some(user) if matches => {
            attempt.forget().await;
            tracing::info!(user = %user.username, %ip, "logged in");
            Ok(user)
        }
        _ => {
            tracing::info!(user = %username, %ip, "login failed");
            Err(wrong())
        }
    }
}

/// `POST /api/logout`: ends the session of the token the request carries
/// (it is refused from now on), disconnects its sockets, and forgets the
/// browser's cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    end_session(&state, &headers).await?;
    Ok(logged_out(&state))
}

/// Ends the session of the token `headers` carry, if it is still in force,
/// and disconnects its sockets on every node.
pub(super) async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<()> {
    let token = auth::token_from_headers(headers, state.security.cookie);
    // Only a session still in force is revoked: a token logged out already
    // (sent again and again, say) costs a read, never another write.
    match auth::identify(&state.tokens, &state.store, token.as_deref()).await {
        Ok((user, claims)) => {
            state
                .store
                .revoke_session(&claims.jti, claims.expires_at())
                .await?;
            disconnect(state, crate::relay::session_room(&claims.jti)).await;
            state.relay.send(Signal::EndSession {
                jti: claims.jti.clone(),
            });
            tracing::info!(user = %user.username, "logged out");
            Ok(())
        }
        Err(Unidentified::Internal) => Err(Error::Internal),
        Err(_) => Ok(()),
    }
}

/// `POST /api/logout-all`: ends every session of the account, on every
/// device, and disconnects all its sockets.
pub async fn logout_all(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
) -> Result<Response> {
    end_all_sessions(&state, &user).await?;
    Ok(logged_out(&state))
}

/// Ends every session of `user`'s account and disconnects all its sockets
/// on every node.
pub(super) async fn end_all_sessions(state: &AppState, user: &User) -> Result<()> {
    state.store.end_all_sessions(user.id).await?;
    disconnect(state, crate::relay::user_room(user.id)).await;
    state.relay.send(Signal::EndSessions { user_id: user.id });
    tracing::info!(user = %user.username, "logged out everywhere");
    Ok(())
}

/// 204 with the cookie cleared.
fn logged_out(state: &AppState) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.security.cookie.clear())],
    )
        .into_response()
}

/// Disconnects this node's sockets in a Socket.IO room (the relay tells
/// the other nodes).
async fn disconnect(state: &AppState, room: String) {
    if let Some(io) = &state.io {
        crate::relay::disconnect(io, room).await;
    }
}

/// `GET /api/me`: who is logged in.
pub async fn me(AuthUser { user, .. }: AuthUser) -> Json<Account> {
    Json(Account {
        id: user.id,
        username: user.username,
    })
}

/// A new session for `user`: its token and the cookie that keeps it.
pub(super) async fn new_session(state: &AppState, user: &User) -> Result<(String, Claims, String)> {
    let generation = state.store.session_generation(user.id).await?;
    let (token, claims) = state.tokens.issue(user, generation)?;
    let cookie = state.security.cookie.set(&token, state.tokens.validity());
    Ok((token, claims, cookie))
}

async fn session_response(state: &AppState, user: &User, status: StatusCode) -> Result<Response> {
    let (token, claims, cookie) = new_session(state, user).await?;
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
