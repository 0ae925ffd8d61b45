//! A real third-party Loki gRPC client, the npm package `loki-grpc-client`, pushes to
//! the distributor's `logproto.Pusher/Push`.
//!
//! Needs Node.js and the package installed outside the repository, so it is ignored by
//! default:
//!
//! ```sh
//! mkdir -p /tmp/lokigrpc && (cd /tmp/lokigrpc && npm init -y && npm install loki-grpc-client@2.2.0)
//! LOKI_GRPC_CLIENT_DIR=/tmp/lokigrpc cargo test -p skald-grpc --test loki_grpc_client_npm -- --ignored
//! ```

mod common;

use common::{TestIngester, limits_fn};
use skald_common::Limits;
use skald_distributor::Distributor;
use skald_grpc::{MessageLimits, pusher_service};
use std::sync::Arc;
use tonic::service::Routes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn npm_loki_grpc_client_pushes() {
    let Ok(dir) = std::env::var("LOKI_GRPC_CLIENT_DIR") else {
        panic!("set LOKI_GRPC_CLIENT_DIR to a directory where `npm install loki-grpc-client@2.2.0` ran");
    };
    let ingester = TestIngester::start("local", 0, MessageLimits::default()).await;
    let distributor = Arc::new(Distributor::new(limits_fn(Limits::default()), Arc::new(ingester.ingester.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(skald_grpc::serve(
        listener,
        Routes::new(pusher_service(distributor, true, MessageLimits::default())),
        None,
        std::future::pending(),
    ));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/npm/push.js");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(addr.to_string())
        .arg("npm-tenant")
        .arg("25")
        .env("NODE_PATH", format!("{dir}/node_modules"))
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed: {stdout} {stderr}");
    assert_eq!(ingester.entries("npm-tenant", "npm"), 25);
    // Structured metadata (EntryAdapter field 3) arrived too.
    let matcher = skald_index::LabelMatcher::Eq("app".into(), "npm".into());
    let snapshots = ingester.ingester.select("npm-tenant", &[matcher], i64::MIN, i64::MAX);
    let block = snapshots[0].blocks[0].decode(true).expect("decode block");
    let metadata = block.metadata(0);
    assert!(metadata.iter().any(|l| l.name == "trace_id" && l.value == "t0"), "{metadata:?}");

    // A multi-tenant id is refused with INVALID_ARGUMENT (code 3).
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(addr.to_string())
        .arg("bad|tenant")
        .arg("1")
        .env("NODE_PATH", format!("{dir}/node_modules"))
        .output()
        .await
        .expect("run node");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("code=3"), "INVALID_ARGUMENT for a multi-tenant id: {stderr}");
}
