//! The JSON API under `/api`: accounts ([`accounts`]) and the health check.
//! Every error under `/api`, an unknown route or method included, is
//! answered in JSON.

pub mod accounts;
mod error;
mod throttle;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

pub use error::{Error, Result};
pub use throttle::Throttle;

use crate::AppState;

/// The `/api` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/register", post(accounts::register))
        .route("/login", post(accounts::login))
        .route("/logout", post(accounts::logout))
        .route("/me", get(accounts::me))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
}

/// What `GET /api/health` answers.
#[derive(Debug, Serialize)]
struct Health {
    /// "ok", or "unavailable" when the server cannot do its work.
    status: &'static str,
    /// "ok", or "unreachable" when the database does not answer in time.
    database: &'static str,
    #[serde(rename = "numUsers")]
    num_users: usize,
}

/// `GET /api/health`: 200 when the server and its database answer; 503
/// when the database does not, so a load balancer can take the server out.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = state.store.ping().await;
    if let Err(error) = &database {
        tracing::warn!(%error, "health check: the database does not answer");
    }
    let (status, code, database) = match database {
        Ok(()) => ("ok", StatusCode::OK, "ok"),
        Err(_) => (
            "unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "unreachable",
        ),
    };
    let health = Health {
        status,
        database,
        num_users: state.room.num_users(),
    };
    (code, Json(health))
}

async fn not_found() -> Error {
    Error::NotFound
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
