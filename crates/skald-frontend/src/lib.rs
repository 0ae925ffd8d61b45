//! Loki's read path split across processes: the **query frontend** and the **query
//! scheduler**.
//!
//! A frontend ([`frontend_router`]) takes Loki's read endpoints. A range query is split
//! by `split_queries_by_interval` into parts ([`split`]); every other request is one
//! part. Parts go to the scheduler ([`scheduler_service`]) with a unary `Enqueue` call
//! that returns when some querier has run the part. The scheduler keeps one FIFO queue
//! per tenant and hands parts out round-robin across tenants, so one tenant's flood
//! does not starve another; a full tenant queue is refused (429 "too many outstanding
//! requests"). Queriers ([`run_querier_worker`]) hold a `Pull` stream open, receive at
//! most their concurrency in parts, run each through their own Loki API router and
//! send back status and body. The frontend merges the parts' answers ([`merge`]) into
//! exactly the answer of the unsplit query.
//!
//! Invariants:
//! - Every step of a metric range query, and every timestamp of a log query's range,
//!   belongs to exactly one part (property-tested in `split`).
//! - A part whose querier disconnects while running it is queued again at the front of
//!   its tenant's queue, at most `max_attempts` times in all; then it fails with 503.
//! - A frontend that gives up on a part (the client went away, the limit was reached
//!   early) drops its `Enqueue` call, which withdraws the part from the queue.

mod cache;
pub mod config;
mod connect;
mod error;
mod frontend;
pub mod httpgrpc;
pub mod merge;
pub mod proto;
mod scheduler;
mod shard;
pub mod split;
mod tail_proxy;
mod worker;

pub use config::{
    CacheSettings, FrontendBlock, FrontendConfig, FrontendWorkerBlock, LimitsFn, QueryRangeBlock, QuerySchedulerBlock, SchedulerConfig,
    SplitLimits, TenantLimits,
};
pub use error::FrontendError;
pub use frontend::{FrontendHandle, SchedulerClient, connect_scheduler, frontend_router, frontend_router_with_handle};
pub use httpgrpc::{HttpGrpcClient, http_over_grpc_service};
pub use scheduler::{MAX_MESSAGE_BYTES, SchedulerHandle, SchedulerService, scheduler_service};
pub use tail_proxy::{TailTarget, tail_proxy_router};
pub use worker::run_querier_worker;
