//! Loki's gRPC push (`/logproto.Pusher/Push`) on a distributor in front of a real
//! ingester: tenant from `x-scope-orgid`, Loki's status codes and messages, message
//! size limits.

mod common;

use common::{TestIngester, limits_fn};
use skald_common::Limits;
use skald_distributor::Distributor;
use skald_grpc::{MessageLimits, pusher_service};
use skald_proto::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, PushResponse, StreamAdapter};
use std::sync::Arc;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::service::Routes;
use tonic::transport::Channel;

struct Distributor1 {
    ingester: TestIngester,
    channel: Channel,
}

async fn start(auth_enabled: bool, limits: Limits, message_limits: MessageLimits) -> Distributor1 {
    let ingester = TestIngester::start("local", 0, MessageLimits::default()).await;
    let distributor = Arc::new(Distributor::new(limits_fn(limits), Arc::new(ingester.ingester.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let routes = Routes::new(pusher_service(distributor, auth_enabled, message_limits));
    tokio::spawn(skald_grpc::serve(listener, routes, None, std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect");
    Distributor1 { ingester, channel }
}

fn entry(ts: i64, line: &[u8]) -> EntryAdapter {
    let seconds = ts / 1_000_000_000;
    let nanos = (ts % 1_000_000_000) as i32;
    EntryAdapter { timestamp: Some(prost_types::Timestamp { seconds, nanos }), line: line.to_vec().into(), structured_metadata: vec![] }
}

fn push_request(labels: &str, lines: usize, line_bytes: usize) -> PushRequest {
    let now = skald_common::unix_nanos_now();
    let body = "x".repeat(line_bytes);
    let entries = (0..lines).map(|i| entry(now - (lines - i) as i64 * 1000, format!("{i} {body}").as_bytes())).collect();
    PushRequest { streams: vec![StreamAdapter { labels: labels.as_bytes().to_vec().into(), entries, hash: 0 }], format: String::new() }
}

/// Calls the method by its path, as any Loki client does.
async fn push(channel: &Channel, tenant: Option<&str>, body: PushRequest) -> Result<PushResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone()).max_encoding_message_size(64 << 20);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(body);
    if let Some(tenant) = tenant {
        request.metadata_mut().insert("x-scope-orgid", tenant.parse().expect("metadata"));
    }
    let codec = tonic_prost::ProstCodec::<PushRequest, PushResponse>::default();
    let path = PathAndQuery::from_static("/logproto.Pusher/Push");
    grpc.unary(request, path, codec).await.map(|r| r.into_inner())
}

fn entries(ingester: &TestIngester, tenant: &str, app: &str) -> usize {
    ingester.entries(tenant, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reaches_the_ingester_under_the_tenant() {
    let d = start(true, Limits::default(), MessageLimits::default()).await;
    let mut request = push_request("{app=\"web\", env=\"prod\"}", 20, 10);
    request.streams[0].entries[0]
        .structured_metadata
        .push(LabelPairAdapter { name: b"trace_id".to_vec().into(), value: b"abc".to_vec().into() });
    // Invalid UTF-8 in a line degrades to U+FFFD, as Loki (Go) accepts it.
    request.streams[0].entries[1].line = vec![b'o', b'k', 0xff].into();
    push(&d.channel, Some("team-a"), request).await.expect("push");
    assert_eq!(entries(&d.ingester, "team-a", "web"), 20);
    assert_eq!(entries(&d.ingester, "fake", "web"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_rules_follow_auth_enabled() {
    let d = start(true, Limits::default(), MessageLimits::default()).await;
    let status = push(&d.channel, None, push_request("{app=\"web\"}", 1, 1)).await.expect_err("no org id");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "no org id");

    let d = start(false, Limits::default(), MessageLimits::default()).await;
    push(&d.channel, None, push_request("{app=\"web\"}", 3, 1)).await.expect("fake tenant");
    assert_eq!(entries(&d.ingester, "fake", "web"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_loki_codes_and_messages() {
    let limits = Limits { ingestion_rate_mb: 0.001, ingestion_burst_size_mb: 0.001, ..Limits::default() };
    let d = start(true, limits, MessageLimits::default()).await;

    let status = push(&d.channel, Some("t"), push_request("{app=\"web\"", 1, 1)).await.expect_err("bad labels");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("Error parsing labels '{app=\"web\"'"), "{}", status.message());

    let status = push(&d.channel, Some("t"), push_request("{app=\"web\"}", 100, 100)).await.expect_err("rate limited");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("Ingestion rate limit exceeded for user t"), "{}", status.message());

    let mut request = push_request("{app=\"web\"}", 1, 1);
    request.streams[0].entries[0].timestamp = None;
    let status = push(&d.channel, Some("t"), request).await.expect_err("no timestamp");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("streams[0].entries[0]: missing timestamp"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit_is_a_parameter() {
    let limits = Limits { ingestion_rate_mb: 1024.0, ingestion_burst_size_mb: 1024.0, ..Limits::default() };
    // Loki's default: 4 MiB. A 6 MiB push is refused...
    let d = start(false, limits.clone(), MessageLimits::default()).await;
    let status = push(&d.channel, None, push_request("{app=\"big\"}", 6 * 1024, 1024)).await.expect_err("over 4 MiB");
    // tonic answers OUT_OF_RANGE here (grpc-go: RESOURCE_EXHAUSTED).
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{}", status.message());
    // ...and passes once the limit is raised to the HTTP push limit.
    let raised = MessageLimits { max_recv_msg_size: 100 << 20, max_send_msg_size: 4 << 20 };
    let d = start(false, limits, raised).await;
    push(&d.channel, None, push_request("{app=\"big\"}", 6 * 1024, 1024)).await.expect("6 MiB with a 100 MiB limit");
    assert_eq!(entries(&d.ingester, "fake", "big"), 6 * 1024);
}
