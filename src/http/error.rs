//! Errors as the API answers them: Togai's error shape `{"message": "..."}` (at most
//! 500 characters), with the status decided in one place from the error's
//! [`ErrorKind`] ([`status_of`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::{Classify, ErrorKind};

/// Togai's `ErrorResponse`: what every answer other than a success carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the field or object (at most 500 characters).
    pub message: String,
}

/// The most characters Togai's client accepts in `message`.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// An error answer: a status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message (cut to [`MAX_MESSAGE_CHARS`] when answered).
    pub message: String,
}

/// The HTTP status of each kind of application error: the one place it is decided.
/// Invalid 400, NotFound 404, Conflict 409, Unavailable 503, Interrupted 503 (a front
/// end stopped waiting: the API never does, but the status is defined).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable | ErrorKind::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 401: the request carries no valid credential.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: the credential's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 400: the request is malformed.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// An application error, by its kind. Errors of kind Unavailable are logged and
    /// answered without their details (they may name the database's internals).
    pub fn from_app<E: Classify + std::fmt::Display>(e: E) -> ApiError {
        let kind = e.kind();
        if kind == ErrorKind::Unavailable {
            tracing::error!(error = %e, "request failed");
            return ApiError::new(
                status_of(kind),
                "a service billrun depends on failed; try again later",
            );
        }
        ApiError::new(status_of(kind), e.to_string())
    }
}

impl<E: Classify + std::fmt::Display> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError::from_app(e)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message: String = self.message.chars().take(MAX_MESSAGE_CHARS).collect();
        (self.status, Json(ErrorBody { message })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses_in_one_place() {
        assert_eq!(status_of(ErrorKind::Invalid), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_of(ErrorKind::Conflict), StatusCode::CONFLICT);
        assert_eq!(
            status_of(ErrorKind::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let e = ApiError::from(sqlx::Error::RowNotFound);
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn messages_are_cut_to_togais_limit() {
        let long = "x".repeat(600);
        let r = ApiError::invalid(long).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
