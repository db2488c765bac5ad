//! The API's one error type: each variant knows its status, and every error
//! answers with a JSON body `{"error": "<message>"}`. Internal failures are
//! logged where they happen and answered as "internal error" only.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::ApiError;

use crate::auth::{AuthError, Unidentified};
use crate::store::StoreError;

/// The API's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the body is not the JSON this route takes.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid login.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: no such API route.
    #[error("no such API route")]
    NotFound,
    /// 405: the route exists, but not for this method.
    #[error("this API route does not take that method")]
    MethodNotAllowed,
    /// 409: the name, or one that looks like it, is taken.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the API takes.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 422: well-formed, but not acceptable (a weak password, a bad name).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: too many requests of a kind; try again after the wait.
    #[error("{reason}; try again in {} s", retry_secs(*.wait))]
    TooManyRequests {
        /// What there were too many of.
        reason: &'static str,
        /// Until the next one is allowed.
        wait: Duration,
    },
    /// 503: the server is hashing as many passwords as it may; try again in
    /// a moment.
    #[error("the server is busy; try again in a moment")]
    Busy,
    /// 500: the server failed (logged, never shown).
    #[error("internal error")]
    Internal,
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Whole seconds to wait, rounded up, at least one (`Retry-After`).
fn retry_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// How long a client refused as [`Error::Busy`] should wait: a hash takes
/// a fraction of a second, so the queue is moving again by then.
const BUSY_RETRY: Duration = Duration::from_secs(1);

impl Error {
    /// How long the client should wait before trying again, if it should.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyRequests { wait, .. } => Some(*wait),
            Self::Busy => Some(BUSY_RETRY),
            _ => None,
        }
    }
}

impl From<crate::auth::Busy> for Error {
    fn from(_: crate::auth::Busy) -> Self {
        Self::Busy
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed");
        Self::Internal
    }
}

impl From<AuthError> for Error {
    fn from(error: AuthError) -> Self {
        tracing::error!(%error, "auth failed");
        Self::Internal
    }
}

impl From<Unidentified> for Error {
    fn from(why: Unidentified) -> Self {
        match why {
            Unidentified::Internal => Self::Internal,
            other => Self::Unauthorized(other.to_string()),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after().map(retry_secs);
        let body = Json(ApiError {
            error: self.to_string(),
        });
        let mut response = (self.status(), body).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
