//! The distributor: first stop of a push. It turns decoded push bodies into valid
//! streams (labels parsed and checked, entries checked against the tenant's limits,
//! `service_name` and `detected_level` discovered), applies the tenant's ingestion rate
//! limit, and hands the streams to ingesters through the [`IngesterPush`] trait, so
//! that scale-out can put a network (and a hash ring) behind it without changing this
//! crate's checks.
//!
//! As in Loki, a request with some invalid entries still writes the valid ones and then
//! answers 400 naming what was refused; a rate-limited request writes nothing.

mod discovery;
mod distributor;
mod rate;
mod validation;

pub use distributor::{Distributor, IngesterPush, OtlpOutcome, PushError, PushSummary};
pub use rate::RateLimiter;
