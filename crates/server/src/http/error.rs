//! The API's one error type: each variant knows its status, and every error
//! answers with a JSON body `{"error": "<message>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The API's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: no such API route.
    #[error("no such API route")]
    NotFound,
    /// 405: the route exists, but not for this method.
    #[error("this API route does not take that method")]
    MethodNotAllowed,
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.to_string() }))).into_response()
    }
}
