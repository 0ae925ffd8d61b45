//! gRPC between Skald's roles, as in Loki's microservices mode.
//!
//! - Servers: [`pusher_service`] puts Loki's `logproto.Pusher/Push` on a distributor
//!   (Loki's gRPC clients push to it); [`ingester_service`] serves an ingester to
//!   distributors (push) and queriers (select, labels, series, tail).
//! - Clients: [`IngesterClientPool`] (lazy, reconnecting channels with
//!   `remote_timeout`); [`ReplicatedPush`], the distributor's `IngesterPush` that
//!   writes each stream to the replicas a [`ReplicaPicker`] names and returns once a
//!   quorum of each took it; [`RemoteRecentData`], the querier's `RecentData` that asks
//!   every ingester of an [`IngesterSet`] and tolerates `max_errors` failures;
//!   [`RemoteTail`], live tailing merged across ingesters without replica duplicates.
//!
//! The ring is not a dependency: [`ReplicaPicker`] and [`IngesterSet`] are the two
//! questions this crate asks it. The tenant travels in the `x-scope-orgid` metadata.
//! Errors map between HTTP statuses and gRPC codes in one place ([`error`]).

mod convert;
pub mod error;
mod ingester_service;
mod otlp;
mod pool;
mod pusher;
mod remote;
mod replication;
pub mod server;
mod tail;
mod tenant;

pub use convert::{raw_streams_from_proto, stream_to_proto};
pub use error::{GrpcError, code_for_http, http_status_for};
pub use ingester_service::{DEFAULT_SELECT_BATCH_BYTES, IngesterService, ingester_service};
pub use otlp::{OtlpLogsService, otlp_logs_service};
pub use pool::{ClientConfig, IngesterClientPool};
pub use pusher::{PusherService, pusher_service};
pub use remote::{DEFAULT_QUERY_INGESTERS_WITHIN, IngesterSet, RemoteRecentData, StaticIngesters};
pub use replication::{Instance, ReplicaPicker, Replicas, ReplicatedPush};
pub use server::{DEFAULT_MAX_MSG_SIZE, MessageLimits, serve};
pub use tail::{DEDUP_MEMORY, RemoteTail};
pub use tenant::{set_tenant, tenant_from_metadata};
