//! One mapping from every error to Loki's plain-text error responses.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answer: status and message, sent as `text/plain` as Loki does.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = self.message;
        if !body.ends_with('\n') {
            body.push('\n');
        }
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
    }
}

impl From<skald_querier::QueryError> for ApiError {
    fn from(e: skald_querier::QueryError) -> Self {
        ApiError::new(e.status(), e.to_string())
    }
}

impl From<skald_push::PushDecodeError> for ApiError {
    fn from(e: skald_push::PushDecodeError) -> Self {
        ApiError::new(e.status(), e.to_string())
    }
}

impl From<skald_distributor::PushError> for ApiError {
    fn from(e: skald_distributor::PushError) -> Self {
        ApiError::new(e.status(), e.to_string())
    }
}

impl From<skald_common::TimeError> for ApiError {
    fn from(e: skald_common::TimeError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}
