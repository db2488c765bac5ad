//! The JSON API under `/api`: accounts ([`accounts`]) and the health check;
//! and the page's form posts ([`forms`]), which work without JavaScript.
//! Every error under `/api`, an unknown route or method included, is
//! answered in JSON, and its bodies are small ([`BODY_LIMIT`]).
//! [`client_ip`] is the one rule for who a client is by address.

pub mod accounts;
pub mod client_ip;
mod error;
pub mod forms;
pub mod throttle;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

pub use client_ip::{ClientIp, TrustedProxies, client_ip};
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
    status: &'static str,
    #[serde(rename = "numUsers")]
    num_users: usize,
}

/// `GET /api/health`: the server is up; how many users are online.
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        num_users: state.room.num_users(),
    })
}

async fn not_found() -> Error {
    Error::NotFound
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
