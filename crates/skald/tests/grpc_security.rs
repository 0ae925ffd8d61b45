//! The gRPC port secured: a two-node cluster whose internal traffic (distributor to
//! ingester, querier to ingester, frontend and querier worker to the scheduler) runs
//! over mutual TLS, with clients lacking a certificate of the cluster's CA refused; and
//! Loki's gRPC push service admitting exactly what the HTTP push admits when built-in
//! credentials are configured.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use skald_proto::logproto::pusher_client::PusherClient;
use skald_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use std::path::Path;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A CA and a certificate it signed for 127.0.0.1 (used by every node, as server and as
/// client), written as `NAME-ca.pem`, `NAME.pem`, `NAME.key` in `dir`.
fn issue(dir: &Path, name: &str) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

/// A cluster node's config: every gRPC client and the gRPC server use `certs`' node
/// certificate, and the server requires client certificates of the same CA.
fn node_config(name: &str, target: &str, grpc: u16, gossip: u16, seed: u16, certs: &Path, store: &Path) -> String {
    let certs = certs.display();
    let client = format!(
        "  grpc_client_config:\n    tls_enabled: true\n    tls_cert_path: {certs}/node.pem\n    tls_key_path: {certs}/node.key\n    tls_ca_path: {certs}/node-ca.pem\n"
    );
    format!(
        "auth_enabled: false
target: {target}
server:
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  grpc_tls_config:
    cert_file: {certs}/node.pem
    key_file: {certs}/node.key
    client_auth_type: RequireAndVerifyClientCert
    client_ca_file: {certs}/node-ca.pem
common:
  replication_factor: 1
memberlist:
  node_name: {name}
  bind_addr: [127.0.0.1]
  bind_port: {gossip}
  join_members: [127.0.0.1:{seed}]
  gossip_interval: 200ms
ingester:
  lifecycler:
    heartbeat_period: 1s
ingester_client:
{client}frontend:
{client}frontend_worker:
{client}querier:
  query_ingesters_within: 0s
storage_config:
  filesystem:
    directory: {store}
{BASE_CONFIG}  reject_old_samples: false
",
        store = store.display()
    )
}

fn push_request(line: &str, ts: i64) -> PushRequest {
    let entry = EntryAdapter {
        timestamp: Some(prost_types::Timestamp { seconds: ts / SECOND, nanos: (ts % SECOND) as i32 }),
        line: line.as_bytes().to_vec().into(),
        structured_metadata: vec![],
    };
    PushRequest {
        streams: vec![StreamAdapter { labels: br#"{app="grpc"}"#.to_vec().into(), entries: vec![entry], hash: 0 }],
        format: String::new(),
    }
}

/// Pushes one line with Loki's gRPC push through `endpoint`; the error names why not.
async fn grpc_push(endpoint: Endpoint, line: &str, metadata: &[(&'static str, &str)]) -> Result<(), String> {
    let channel: Channel = endpoint.connect_timeout(Duration::from_secs(5)).connect().await.map_err(|e| format!("connect: {e:?}"))?;
    let mut request = tonic::Request::new(push_request(line, now_ns()));
    for (key, value) in metadata {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    PusherClient::new(channel).push(request).await.map(|_| ()).map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

fn tls_endpoint(port: u16, tls: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://127.0.0.1:{port}")).unwrap().tls_config(tls).unwrap()
}

async fn lines(server: &Server, query: &str) -> Vec<String> {
    let streams = server.query_streams(query, now_ns() - 600 * SECOND, now_ns() + SECOND, 100, None).await;
    let mut lines: Vec<String> = streams.values().flatten().map(|(_, line)| line.clone()).collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn cluster_traffic_runs_over_mutual_tls_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    issue(dir.path(), "node");
    issue(dir.path(), "stranger");
    let store = dir.path().join("store");
    let (grpc_a, gossip_a, grpc_b, gossip_b) = (free_port(), free_port(), free_port(), free_port());
    let ingester = Server::start(&node_config("ingester", "ingester", grpc_a, gossip_a, gossip_b, dir.path(), &store)).await;
    let front =
        Server::start(&node_config("front", "distributor,querier,query-frontend", grpc_b, gossip_b, gossip_a, dir.path(), &store)).await;

    // Push over HTTP to the distributor, which sends to the ingester over mTLS, until
    // the ring has gossiped the ingester ACTIVE.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = front.push_json(None, push_body(r#"{"app":"http"}"#, "over http", now_ns())).await;
        if status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "push never succeeded: {status} {body}\n{}\n{}", front.logs(), ingester.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The frontend splits and queues through the scheduler; the querier worker pulls
    // the parts and reads the ingester: every hop is TLS.
    assert_eq!(lines(&front, r#"{app="http"}"#).await, ["over http"], "{}", front.logs());

    let ca = Certificate::from_pem(read(dir.path(), "node-ca.pem"));
    let node = Identity::from_pem(read(dir.path(), "node.pem"), read(dir.path(), "node.key"));
    let stranger = Identity::from_pem(read(dir.path(), "stranger.pem"), read(dir.path(), "stranger.key"));
    // A node's certificate is let in, on the distributor and on the ingester's port.
    let trusted = ClientTlsConfig::new().ca_certificate(ca.clone()).identity(node);
    grpc_push(tls_endpoint(grpc_b, trusted.clone()), "over grpc", &[]).await.expect("a node certificate is accepted");
    assert_eq!(lines(&front, r#"{app="grpc"}"#).await, ["over grpc"]);
    // Everyone else is refused before any request is read.
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{grpc_b}")).unwrap();
    let refusals = [
        ("plain text", grpc_push(plain, "plain", &[]).await),
        (
            "TLS without a client certificate",
            grpc_push(tls_endpoint(grpc_b, ClientTlsConfig::new().ca_certificate(ca.clone())), "anon", &[]).await,
        ),
        (
            "a certificate of another CA",
            grpc_push(tls_endpoint(grpc_b, ClientTlsConfig::new().ca_certificate(ca.clone()).identity(stranger)), "stranger", &[]).await,
        ),
        (
            "a server checked against another CA",
            grpc_push(
                tls_endpoint(grpc_a, ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(dir.path(), "stranger-ca.pem")))),
                "mitm",
                &[],
            )
            .await,
        ),
    ];
    for (who, result) in refusals {
        assert!(result.is_err(), "{who} was let in");
    }
    assert_eq!(lines(&front, r#"{app="grpc"}"#).await, ["over grpc"], "a refused push left data behind");
}

#[tokio::test]
async fn grpc_push_needs_the_credentials_the_http_push_needs() {
    let dir = tempfile::tempdir().unwrap();
    issue(dir.path(), "node");
    let grpc = free_port();
    let config = format!(
        "auth_enabled: true
auth:
  bearer:
    - token: agent-secret
      tenants: [team-a]
server:
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  grpc_tls_config:
    cert_file: {0}/node.pem
    key_file: {0}/node.key
{BASE_CONFIG}  reject_old_samples: false
",
        dir.path().display()
    );
    let server = Server::start(&config).await;
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(dir.path(), "node-ca.pem")));
    let endpoint = || tls_endpoint(grpc, tls.clone());

    let error = grpc_push(endpoint(), "anonymous", &[("x-scope-orgid", "team-a")]).await.unwrap_err();
    assert!(error.starts_with("Unauthenticated"), "{error}");
    let error = grpc_push(endpoint(), "wrong token", &[("authorization", "Bearer nope")]).await.unwrap_err();
    assert!(error.starts_with("Unauthenticated"), "{error}");
    let error =
        grpc_push(endpoint(), "other tenant", &[("authorization", "Bearer agent-secret"), ("x-scope-orgid", "team-b")]).await.unwrap_err();
    assert!(error.starts_with("PermissionDenied") && error.contains("team-b"), "{error}");
    grpc_push(endpoint(), "with token", &[("authorization", "Bearer agent-secret")]).await.expect("the credential's own tenant");

    // The line landed in team-a, and only the accepted push landed at all.
    let response = server
        .client
        .get(server.url("/loki/api/v1/query_range"))
        .bearer_auth("agent-secret")
        .query(&[("query", r#"{app="grpc"}"#.to_string()), ("start", (now_ns() - 600 * SECOND).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let lines: Vec<String> = streams_of(&body).values().flatten().map(|(_, line)| line.clone()).collect();
    assert_eq!(lines, ["with token"]);
}

fn push_body(labels: &str, line: &str, ts: i64) -> Vec<u8> {
    format!(r#"{{"streams":[{{"stream":{labels},"values":[["{ts}","{line}"]]}}]}}"#).into_bytes()
}
