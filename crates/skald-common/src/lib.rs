//! Types every Skald crate shares: label sets, log entries, streams, tenant IDs and
//! Loki's timestamp conventions.
//!
//! This crate does no IO and has no async code, so that pure crates (LogQL, the chunk
//! format, push decoding) can depend on it without pulling in a runtime.
//!
//! Invariants:
//! - A [`LabelSet`] is always sorted by name and holds each name once; its `Display`
//!   form is Loki's (`{a="1", b="2"}`) and is what stream identity is computed from.
//! - Timestamps are `i64` nanoseconds since the Unix epoch everywhere.

pub mod binary;
mod go_quote;
mod grpc_client;
mod labels;
pub mod limits;
mod model;
pub mod otlp_config;
mod tenant;
mod time;

pub use go_quote::{go_json_float, go_json_quote, go_json_quote_no_html, go_query_escape, go_quote};
pub use grpc_client::{GrpcClientConfig, grpc_uri};
pub use labels::{Label, LabelSet, LabelsError, is_valid_label_name, parse_label_set};
pub use limits::{Limits, parse_base2_bytes, parse_bytes};
pub use model::{Entry, PushStream, fingerprint};
pub use tenant::{TenantError, validate_tenant};
pub use time::{
    TimeError, civil_from_days, days_from_civil, format_duration, format_rfc3339_nanos, parse_duration, parse_duration_or_seconds,
    parse_rfc3339, parse_timestamp, unix_nanos_now,
};
