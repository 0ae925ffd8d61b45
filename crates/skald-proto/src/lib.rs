//! Protobuf messages and tonic stubs, generated at build time from `proto/` (protox,
//! no `protoc` needed).
//!
//! - [`logproto`]: Loki's push API (`/logproto.Pusher/Push`), wire-compatible with
//!   `grafana/loki` `pkg/push/push.proto`, so Loki's gRPC clients can push to a
//!   distributor. Text fields are `bytes` on our side (same wire encoding as Loki's
//!   `string`) so invalid UTF-8 from Go clients degrades instead of failing the request.
//! - [`ingester`]: Skald's internal `skald.ingester.v1.Ingester` service between
//!   distributors, queriers and ingesters.
//!
//! This crate holds no logic: conversions to Skald's types live in `skald-grpc`.

/// The gRPC metadata key carrying the tenant, as in Loki and dskit.
pub const TENANT_METADATA_KEY: &str = "x-scope-orgid";

#[allow(clippy::all, missing_docs)]
pub mod logproto {
    tonic::include_proto!("logproto");
}

/// Generated code refers to other packages by relative paths, so the modules mirror
/// the package names (`skald.ingester.v1` -> `skald::ingester::v1`).
pub mod skald {
    pub mod ingester {
        #[allow(clippy::all, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("skald.ingester.v1");
        }
    }
}

pub use skald::ingester::v1 as ingester;
