//! The JSON API under `/api`: accounts ([`accounts`]) and the health check;
//! the page's form posts ([`forms`]), which work without JavaScript; and the
//! visitor's room for the page's first render ([`page`]).
//! Every error under `/api`, an unknown route or method included, is
//! answered in JSON, and its bodies are small ([`BODY_LIMIT`]).

pub mod accounts;
mod error;
pub mod forms;
pub mod page;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

pub use error::{Error, Result};
pub use throttle::Throttle;

/// The largest body `/api` and the form posts read, in bytes: credentials
/// are a name of 32 characters and a password of at most 1,024, far below.
pub const BODY_LIMIT: usize = 8 * 1024;

use crate::AppState;

/// The `/api` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/register", post(accounts::register))
        .route("/login", post(accounts::login))
        .route("/logout", post(accounts::logout))
        .route("/logout-all", post(accounts::logout_all))
        .route("/me", get(accounts::me))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// A JSON body, or the API's error for it: 413 past [`BODY_LIMIT`], 400 for
/// anything else that is not the JSON the route takes.
pub(crate) fn json_body<T>(body: std::result::Result<Json<T>, JsonRejection>) -> Result<T> {
    match body {
        Ok(Json(value)) => Ok(value),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(Error::PayloadTooLarge(BODY_LIMIT))
        }
        Err(e) => Err(Error::BadRequest(e.body_text())),
    }
}

/// What `GET /api/health` answers.
#[derive(Debug, Serialize)]
struct Health {
    /// "ok", or "unavailable" when the server cannot do its work.
    status: &'static str,
    /// This node's id.
    node: String,
    /// "ok", or "unreachable" when the database does not answer in time.
    database: &'static str,
    /// "ok", "unreachable", or "off" for a single node without Redis.
    redis: &'static str,
    #[serde(rename = "numUsers")]
    num_users: usize,
}

/// `GET /api/health`: 200 when the node, its database and (in cluster
/// mode) Redis answer; 503 when one does not, so a load balancer can take
/// the node out.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let redis = async {
        match &state.redis {
            None => None,
            Some(redis) => Some(
                tokio::time::timeout(crate::cluster::REDIS_TIMEOUT, redis.ping())
                    .await
                    .map_err(|_| "timed out".to_owned())
                    .and_then(|answer| answer.map_err(|e| e.to_string())),
            ),
        }
    };
    // All three at once: the answer takes the slowest one's time, at most
    // the read timeout, so a load balancer's check never waits on them in
    // turn.
    let (database, redis, num_users) =
        tokio::join!(state.store.ping(), redis, state.room.num_users());
    if let Err(error) = &database {
        tracing::warn!(%error, "health check: the database does not answer");
    }
    if let Some(Err(error)) = &redis {
        tracing::warn!(%error, "health check: Redis does not answer");
    }
    let up = |ok: bool| if ok { "ok" } else { "unreachable" };
    let healthy = database.is_ok() && !matches!(redis, Some(Err(_)));
    let (status, code) = if healthy {
        ("ok", StatusCode::OK)
    } else {
        ("unavailable", StatusCode::SERVICE_UNAVAILABLE)
    };
    let health = Health {
        status,
        node: state.node.to_string(),
        database: up(database.is_ok()),
        redis: redis.map_or("off", |r| up(r.is_ok())),
        num_users: num_users.unwrap_or(0),
    };
    (code, Json(health))
}

async fn not_found() -> Error {
    Error::NotFound
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// The client's address, as a request extractor: [`client_ip`] of the
/// request's peer and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            // `run` always serves with the peer's address; without it every
            // client would share one address's limits.
            tracing::error!("a request without its peer address");
            return Err(Error::Internal);
        };
        Ok(Self(crate::client_ip::client_ip(
            *peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}
