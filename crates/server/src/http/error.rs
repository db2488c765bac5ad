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
    /// 422: well-formed, but not acceptable (a weak password, a bad name).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: too many failed logins; try again after the wait.
    #[error("too many failed logins; try again in {} s", .0.as_secs().max(1))]
    TooManyRequests(Duration),
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
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
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
        let retry_after = match &self {
            Self::TooManyRequests(wait) => Some(wait.as_secs().max(1)),
            _ => None,
        };
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
