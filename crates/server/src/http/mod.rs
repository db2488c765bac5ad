//! The JSON API under `/api`: accounts ([`accounts`]) and the health check.
//! Every error under `/api`, an unknown route or method included, is
//! answered in JSON.

pub mod accounts;
mod error;
mod throttle;

use axum::extract::State;
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
