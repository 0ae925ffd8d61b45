//! The crate's errors and the one place they become HTTP answers.

use crate::proto::PartResult;

/// What can go wrong between a frontend, the scheduler and the queriers.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The tenant's queue in the scheduler is full (`max_outstanding_requests_per_tenant`).
    #[error("too many outstanding requests")]
    TooManyOutstanding,
    /// The scheduler could not be reached or dropped the call.
    #[error("query scheduler unavailable: {0}")]
    SchedulerUnavailable(String),
    /// The querier running a part went away too often.
    #[error("{0}")]
    QuerierLost(String),
    /// The part did not finish within the query timeout.
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A part's answer could not be read as Loki JSON.
    #[error("invalid answer from a querier for {path}: {reason}")]
    BadPartAnswer { path: String, reason: String },
    /// Any other error status from the scheduler.
    #[error("query scheduler error: {0}")]
    Scheduler(String),
}

impl FrontendError {
    /// Loki's status for the error.
    pub fn status(&self) -> u16 {
        match self {
            FrontendError::TooManyOutstanding => 429,
            FrontendError::SchedulerUnavailable(_) | FrontendError::QuerierLost(_) => 503,
            FrontendError::Timeout(_) => 504,
            FrontendError::BadPartAnswer { .. } | FrontendError::Scheduler(_) => 500,
        }
    }

    /// The gRPC status of an error returned by the scheduler's `Enqueue`.
    pub fn from_status(status: &tonic::Status) -> FrontendError {
        match status.code() {
            tonic::Code::ResourceExhausted => FrontendError::TooManyOutstanding,
            tonic::Code::Unavailable => FrontendError::SchedulerUnavailable(status.message().to_string()),
            tonic::Code::Aborted => FrontendError::QuerierLost(status.message().to_string()),
            _ => FrontendError::Scheduler(status.message().to_string()),
        }
    }

    /// Loki's plain-text error answer.
    pub fn to_part_result(&self) -> PartResult {
        PartResult { status: u32::from(self.status()), content_type: TEXT_PLAIN.to_string(), body: format!("{self}\n").into_bytes() }
    }
}

/// Content type of Loki's error answers.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
