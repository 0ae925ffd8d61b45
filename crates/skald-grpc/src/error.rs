//! Errors of this crate and the one place that maps statuses between HTTP (what the
//! rest of Skald speaks) and gRPC codes.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// A message that does not make sense (missing timestamp, unknown codec, bad regex).
    #[error("{0}")]
    BadMessage(String),
    /// An ingester address that is not a valid URI.
    #[error("invalid ingester address '{addr}': {message}")]
    BadAddress { addr: String, message: String },
    /// A call to an ingester failed (refused, timed out, or answered an error).
    #[error("ingester {instance} ({addr}): {message}")]
    Call { instance: String, addr: String, code: Code, message: String },
}

impl GrpcError {
    pub(crate) fn call(instance: &str, addr: &str, status: &Status) -> GrpcError {
        GrpcError::Call { instance: instance.to_string(), addr: addr.to_string(), code: status.code(), message: describe(status) }
    }

    /// The HTTP status this error stands for.
    pub fn http_status(&self) -> u16 {
        match self {
            GrpcError::BadMessage(_) => 400,
            GrpcError::BadAddress { .. } => 500,
            GrpcError::Call { code, .. } => http_status_for(*code),
        }
    }
}

impl From<GrpcError> for Status {
    fn from(error: GrpcError) -> Status {
        match &error {
            GrpcError::BadMessage(message) => Status::invalid_argument(message.clone()),
            _ => Status::new(code_for_http(error.http_status()), error.to_string()),
        }
    }
}

/// A status as a short text: its message, or its code when the message is empty
/// (tonic's transport errors put the cause in the source chain).
pub(crate) fn describe(status: &Status) -> String {
    let mut text = if status.message().is_empty() { format!("{:?}", status.code()) } else { status.message().to_string() };
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Loki's mapping from HTTP statuses to gRPC codes (as its httpgrpc errors carry them).
pub fn code_for_http(status: u16) -> Code {
    match status {
        400 | 413 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ if (400..500).contains(&status) => Code::FailedPrecondition,
        _ => Code::Internal,
    }
}

/// The reverse mapping, for errors that come back from another role.
pub fn http_status_for(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::ResourceExhausted => 429,
        Code::DeadlineExceeded => 504,
        Code::Unavailable | Code::Cancelled => 503,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_status_codes_map_both_ways() {
        for (http, code) in [(400, Code::InvalidArgument), (429, Code::ResourceExhausted), (500, Code::Internal), (503, Code::Unavailable)]
        {
            assert_eq!(code_for_http(http), code);
            assert_eq!(http_status_for(code), http);
        }
        assert_eq!(code_for_http(413), Code::InvalidArgument);
    }
}
