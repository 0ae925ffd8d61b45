//! OpenTelemetry logs over OTLP against the real binary: the answers a real Loki gave
//! to seeded OTLP payloads (`tests/conformance/otlp/`), the real OpenTelemetry SDKs
//! (Python over HTTP and gRPC, JavaScript over OTLP/JSON and OTLP/protobuf) with the
//! labels and structured metadata Loki's mapping gives their records, every
//! `otlp_config` action, and the refusals (status and message) of bad requests.

mod common;

use common::*;
use serde_json::{Value, json};
use skald_push::otlp::ExportLogsServiceRequest;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a client program; returns its stdout, panicking with its output on failure.
fn run(program: &str, args: &[&str], dir: &PathBuf) -> String {
    let output = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("running {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{program} {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Asserts `metadata` holds `want` and exactly the names of `want` plus `also`.
fn assert_metadata(metadata: &BTreeMap<String, String>, want: &[(&str, &str)], also: &[&str]) {
    for (name, value) in want {
        assert_eq!(metadata.get(*name).map(String::as_str), Some(*value), "{name} in {metadata:?}");
    }
    let mut names: Vec<&str> = want.iter().map(|(n, _)| *n).chain(also.iter().copied()).collect();
    names.sort();
    assert_eq!(metadata.keys().map(String::as_str).collect::<Vec<_>>(), names, "metadata names of {metadata:?}");
}

#[tokio::test]
async fn seeded_payloads_get_the_answers_loki_gave() {
    let server = Server::start(
        &format!("{BASE_CONFIG}  reject_old_samples: false\n").replace("  discover_service_name: []\n  discover_log_levels: false\n", ""),
    )
    .await;
    let dir = repo().join("tests/conformance/otlp");
    let output = Command::new("python3")
        .arg("otlp_cases.py")
        .arg("compare")
        .arg(server.base_url())
        .arg("cases_seed1.json")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" passed, 0 failed"), "OTLP conformance:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
}

const SDK_CONFIG: &str =
    "limits_config:\n  discover_log_levels: true\nserver:\n  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: GRPC\n";

#[tokio::test]
async fn python_sdk_over_http_and_grpc() {
    let grpc = free_port();
    let server = Server::start(&SDK_CONFIG.replace("GRPC", &grpc.to_string())).await;
    let clients = repo().join("tests/otlp-clients");
    let url = server.url("/otlp/v1/logs");
    let trace_http = run("python3", &["send.py", "http", &url, "py-http"], &clients);
    let trace_grpc = run("python3", &["send.py", "grpc", &format!("127.0.0.1:{grpc}"), "py-grpc"], &clients);
    for (service, trace) in [("py-http", trace_http.trim()), ("py-grpc", trace_grpc.trim())] {
        let got = server.categorized(&format!(r#"{{service_name="{service}"}}"#), None).await;
        assert_eq!(got.len(), 4, "{service}: {got:?}");
        for (labels, _, _) in &got {
            // Resource attributes in Loki's default list are labels (the SDK adds
            // service.instance.id); host.name and telemetry.sdk.* are not.
            assert_eq!(
                labels.keys().collect::<Vec<_>>(),
                ["deployment_environment", "k8s_namespace_name", "service_instance_id", "service_name"]
            );
            assert_eq!((labels["deployment_environment"].as_str(), labels["k8s_namespace_name"].as_str()), ("prod", "shop"));
        }
        let resource = [("host_name", "node-1"), ("telemetry_sdk_language", "python"), ("telemetry_sdk_name", "opentelemetry")];
        let code = ["code_file_path", "code_function_name", "code_line_number", "observed_timestamp", "telemetry_sdk_version"];
        let lines: BTreeMap<&str, &BTreeMap<String, String>> = got.iter().map(|(_, line, metadata)| (line.as_str(), metadata)).collect();
        let mut want = resource.to_vec();
        want.extend([
            ("scope_name", "checkout.py"),
            ("severity_text", "INFO"),
            ("severity_number", "9"),
            ("detected_level", "info"),
            ("trace_id", trace),
        ]);
        assert_metadata(lines["order placed"], &want, &[&code[..], &["span_id", "flags"]].concat());
        assert_eq!(lines["order placed"]["span_id"].len(), 16);
        let mut want = resource.to_vec();
        want.extend([("scope_name", "checkout.py"), ("severity_text", "WARN"), ("severity_number", "13"), ("detected_level", "warn")]);
        want.extend([("item_sku", "A-17"), ("stock", "3")]);
        assert_metadata(lines["stock low"], &want, &code);
        assert_eq!(lines["payment failed: card declined"]["detected_level"], "error");
        // A map body is the line as Loki renders it (JSON, keys sorted); an array
        // attribute is JSON too; scope version from the named logger.
        let mut want = resource.to_vec();
        want.extend([("scope_name", "skald.api"), ("scope_version", "1.2.3"), ("severity_text", "DEBUG"), ("severity_number", "5")]);
        want.extend([("detected_level", "debug"), ("tags", r#"["a","b"]"#)]);
        assert_metadata(lines[r#"{"event":"signup","n":2,"ok":true}"#], &want, &["telemetry_sdk_version"]);
    }
}

#[tokio::test]
async fn javascript_sdk_over_json_and_protobuf() {
    let server = Server::start(&SDK_CONFIG.replace("GRPC", &free_port().to_string())).await;
    let clients = repo().join("tests/otlp-clients");
    let url = server.url("/otlp/v1/logs");
    run("node", &["send.mjs", "json", &url, "js-json"], &clients);
    run("node", &["send.mjs", "proto", &url, "js-proto"], &clients);
    for service in ["js-json", "js-proto"] {
        let got = server.categorized(&format!(r#"{{service_name="{service}"}}"#), None).await;
        assert_eq!(got.len(), 3, "{service}: {got:?}");
        for (labels, _, _) in &got {
            assert_eq!(labels, &map(&[("k8s_pod_name", "web-0"), ("service_name", service)]));
        }
        let lines: BTreeMap<&str, &BTreeMap<String, String>> = got.iter().map(|(_, line, metadata)| (line.as_str(), metadata)).collect();
        let scope = [("process_pid", "4242"), ("scope_name", "checkout.js"), ("scope_version", "2.0.1")];
        let mut want = scope.to_vec();
        want.extend([("severity_text", "INFO"), ("severity_number", "9"), ("detected_level", "info"), ("order_id", "o-1")]);
        want.extend([("trace_id", "5b8efff798038103d269b633813fc60c"), ("span_id", "eee19b7ec3c1b174"), ("flags", "1")]);
        assert_metadata(lines["order placed"], &want, &["observed_timestamp"]);
        // A nested map attribute flattens into `parent_child` names; numbers as Loki
        // renders them.
        let mut want = scope.to_vec();
        want.extend([("severity_text", "WARN"), ("severity_number", "13"), ("detected_level", "warn"), ("item_sku", "A-17")]);
        want.extend([("stock", "3"), ("ratio", "0.25"), ("http_method", "GET"), ("http_status", "200")]);
        assert_metadata(lines["stock low"], &want, &["observed_timestamp"]);
        let mut want = scope.to_vec();
        want.extend([("severity_number", "5"), ("detected_level", "debug")]);
        assert_metadata(lines[r#"{"event":"signup","ok":true}"#], &want, &["observed_timestamp"]);
    }
}

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// An OTLP/JSON request: one resource per `(resource attributes, [(line, log attributes)])`,
/// with one scope holding `scope_attributes`.
/// One resource: its attributes and its records (line, log attributes).
type Resource<'a> = (Vec<Value>, Vec<(&'a str, Vec<Value>)>);

fn request(resources: &[Resource], scope_attributes: Vec<Value>, severity: &str) -> Vec<u8> {
    let now = now_ns();
    let resource_logs: Vec<Value> = resources
        .iter()
        .map(|(attributes, records)| {
            let records: Vec<Value> = records
                .iter()
                .enumerate()
                .map(|(i, (line, attributes))| {
                    json!({"timeUnixNano": (now + i as i64).to_string(), "severityText": severity, "body": {"stringValue": line}, "attributes": attributes})
                })
                .collect();
            json!({"resource": {"attributes": attributes}, "scopeLogs": [{"scope": {"name": "lib", "attributes": scope_attributes}, "logRecords": records}]})
        })
        .collect();
    serde_json::to_vec(&json!({ "resourceLogs": resource_logs })).unwrap()
}

async fn post_otlp(server: &Server, tenant: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Option<String>) {
    let mut all = vec![("X-Scope-OrgID", tenant)];
    all.extend_from_slice(headers);
    let response =
        all.iter().fold(server.client.post(server.url("/otlp/v1/logs")), |r, (k, v)| r.header(*k, *v)).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, skald_push::otlp::status_message(&body))
}

async fn post_json(server: &Server, tenant: &str, body: Vec<u8>) -> (u16, Option<String>) {
    post_otlp(server, tenant, &[("Content-Type", "application/json")], body).await
}

/// Every `otlp_config` action: from the config file's `limits_config` (tenant `t-file`)
/// with the distributor's own default list in front, and from runtime overrides
/// (tenant `t-override`, which ignores the defaults).
#[tokio::test]
async fn every_otlp_config_action() {
    let config = "auth_enabled: true
common:
  path_prefix: ROOT/data
distributor:
  otlp_config:
    default_resource_attributes_as_index_labels: [service.name, k8s.pod.name, team]
limits_config:
  discover_log_levels: false
  otlp_config:
    resource_attributes:
      attributes_config:
        - action: structured_metadata
          attributes: [k8s.pod.name]
        - action: drop
          attributes: [noise]
        - action: index_label
          attributes: [host.name]
runtime_config:
  file: ROOT/overrides.yaml
  period: 1s
";
    let overrides = "overrides:
  t-override:
    otlp_config:
      resource_attributes:
        ignore_defaults: true
        attributes_config:
          - action: index_label
            regex: 'cloud\\..*'
      scope_attributes:
        - action: drop
          attributes: [lib.secret]
      log_attributes:
        - action: drop
          regex: 'pass.*'
        - action: index_label
          attributes: [tier]
      severity_text_as_label: true
";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, overrides).unwrap();
    let server = Server::start_loki(&config.replace("ROOT/overrides.yaml", &file.display().to_string()), LokiLaunch::default()).await;
    let resource = vec![
        attribute("service.name", "shop"),
        attribute("k8s.pod.name", "web-0"),
        attribute("team", "core"),
        attribute("cloud.region", "eu-1"),
        attribute("host.name", "node-1"),
        attribute("noise", "x"),
    ];
    let records = vec![("hello", vec![attribute("tier", "gold"), attribute("password", "hunter2"), attribute("user", "u1")])];
    let body = request(&[(resource, records)], vec![attribute("lib.secret", "s"), attribute("lib.kind", "k")], "WARN");
    for tenant in ["t-file", "t-override"] {
        let (status, message) = post_json(&server, tenant, body.clone()).await;
        assert_eq!((status, message), (204, None), "{tenant}");
    }

    // t-file: the distributor's list first (so k8s.pod.name stays a label: the first
    // matching rule wins, and team is indexed), noise dropped, host.name indexed, the
    // rest metadata.
    let got = server.categorized(r#"{service_name="shop"}"#, Some("t-file")).await;
    let (labels, line, metadata) = &got[0];
    assert_eq!((got.len(), line.as_str()), (1, "hello"));
    assert_eq!(labels, &map(&[("host_name", "node-1"), ("k8s_pod_name", "web-0"), ("service_name", "shop"), ("team", "core")]));
    let want = [("scope_name", "lib"), ("lib_kind", "k"), ("lib_secret", "s"), ("severity_text", "WARN"), ("cloud_region", "eu-1")];
    assert_metadata(metadata, &[&want[..], &[("tier", "gold"), ("password", "hunter2"), ("user", "u1")]].concat(), &[]);

    // t-override: defaults ignored, so service.name is metadata and no service_name
    // label is made; cloud.* indexed by regex, a log attribute and the severity text
    // (kept as metadata too) as labels, drops by name and by regex.
    let got = server.categorized(r#"{cloud_region="eu-1"}"#, Some("t-override")).await;
    let (labels, _, metadata) = &got[0];
    assert_eq!(labels, &map(&[("cloud_region", "eu-1"), ("severity_text", "WARN"), ("tier", "gold")]));
    // (Metadata named as a stream label reads back with `_extracted`, as from Loki.)
    let want =
        [("scope_name", "lib"), ("lib_kind", "k"), ("severity_text_extracted", "WARN"), ("host_name", "node-1"), ("k8s_pod_name", "web-0")];
    assert_metadata(metadata, &[&want[..], &[("noise", "x"), ("team", "core"), ("service_name", "shop"), ("user", "u1")]].concat(), &[]);
}

/// Bad requests get Loki's status and a `google.rpc.Status` saying why; a request that
/// does not decode writes nothing, and one with refused entries writes all its valid
/// ones.
#[tokio::test]
async fn bad_requests_are_refused_and_valid_entries_kept() {
    let config = "auth_enabled: true
common:
  path_prefix: ROOT/data
limits_config:
  discover_service_name: [service]
  max_structured_metadata_size: 1KB
runtime_config:
  file: ROOT/overrides.yaml
overrides_placeholder: ~
";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, "overrides:\n  slow:\n    ingestion_rate_mb: 0.001\n    ingestion_burst_size_mb: 0.001\n").unwrap();
    let config = config.replace("ROOT/overrides.yaml", &file.display().to_string()).replace("overrides_placeholder: ~\n", "");
    let server = Server::start_loki(&config, LokiLaunch::default()).await;
    let json_type = [("Content-Type", "application/json")];
    let proto_type = [("Content-Type", "application/x-protobuf")];

    let refused = |status: u16, message: Option<String>, want_status: u16, want: &str| {
        assert_eq!(status, want_status, "{message:?}");
        let message = message.unwrap_or_default();
        assert!(message.contains(want), "{want:?} not in {message:?}");
    };
    let (status, message) = post_otlp(&server, "t", &json_type, br#"{"resourceLogs": [ {"#.to_vec()).await;
    refused(status, message, 400, "EOF");
    let (status, message) = post_otlp(&server, "t", &proto_type, b"\xff\xff\xff\xff\x0f\x0a".to_vec()).await;
    refused(status, message, 400, "failed to decode Protobuf message");
    let (status, message) = post_otlp(&server, "t", &json_type, b"{}".to_vec()).await;
    refused(status, message, 422, "error at least one valid stream is required for ingestion");
    let (status, message) = post_otlp(&server, "t", &proto_type, Vec::new()).await;
    refused(status, message, 422, "error at least one valid stream is required for ingestion");
    let valid = request(&[(vec![attribute("service.name", "ok")], vec![("fine", vec![])])], vec![], "INFO");
    let (status, message) = post_otlp(&server, "t", &[("Content-Type", "text/plain")], valid.clone()).await;
    refused(status, message, 400, "content type: text/plain is not supported");
    let (status, message) =
        post_otlp(&server, "t", &[("Content-Type", "application/json"), ("Content-Encoding", "br")], valid.clone()).await;
    refused(status, message, 400, "unsupported content encoding br: only gzip, deflate, lz4 and zstd are supported");

    // A gzip bomb: 200 MiB of zeros in about 200 KB, twice the decompression cap.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for _ in 0..200 {
        encoder.write_all(&[0u8; 1 << 20]).unwrap();
    }
    let (status, message) =
        post_otlp(&server, "t", &[("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")], encoder.finish().unwrap())
            .await;
    refused(status, message, 413, "exceeds");
    // None of the above wrote anything.
    assert!(server.categorized(r#"{service_name=~".+"}"#, Some("t")).await.is_empty());

    // Past the limits: an index-label value longer than max_label_value_length (2048) and
    // metadata past max_structured_metadata_size (1 KB) are refused with their stream's
    // or entry's reason; the valid resource and record of the same request are written,
    // and the answer is OTLP's partial success (200, the rejected count and why).
    let long = "v".repeat(3000);
    let big = "m".repeat(2000);
    let body = request(
        &[
            (vec![attribute("service.name", "long"), attribute("k8s.pod.name", &long)], vec![("too long", vec![])]),
            (
                vec![attribute("service.name", "good")],
                vec![("kept", vec![]), ("too much metadata", vec![attribute("blob", &big)]), ("also kept", vec![])],
            ),
        ],
        vec![],
        "INFO",
    );
    let response = server
        .client
        .post(server.url("/otlp/v1/logs"))
        .header("X-Scope-OrgID", "t")
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(partial["rejectedLogRecords"].to_string().trim_matches('"'), "2", "{answer}");
    let message = partial["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("has label value too long"), "{message}");
    assert!(message.contains("structured metadata too large"), "{message}");
    let lines: Vec<String> = server.categorized(r#"{service_name=~".+"}"#, Some("t")).await.into_iter().map(|(_, line, _)| line).collect();
    assert_eq!(lines, ["also kept", "kept"]);
    // Nothing valid at all: Loki's 400.
    let body =
        request(&[(vec![attribute("service.name", "long"), attribute("k8s.pod.name", &long)], vec![("too long", vec![])])], vec![], "INFO");
    let (status, message) = post_json(&server, "t", body).await;
    refused(status, message, 400, "has label value too long");

    // Over the tenant's ingestion rate: 429, so exporters retry.
    let (status, message) =
        post_json(&server, "slow", request(&[(vec![attribute("service.name", "s")], vec![(&big, vec![])])], vec![], "INFO")).await;
    refused(status, message, 429, "Ingestion rate limit exceeded");
    // Counted under Loki's discarded-samples reasons.
    let (_, metrics) = server.get("/metrics", &[], None).await;
    for (reason, count) in [("label_value_too_long", 2), ("structured_metadata_too_large", 1), ("rate_limited", 1)] {
        assert!(metrics.contains(&format!("loki_discarded_samples_total{{reason=\"{reason}\"}} {count}")), "{reason}: {metrics}");
    }
    // No tenant with auth on: the push API's 401.
    let response =
        server.client.post(server.url("/otlp/v1/logs")).header("Content-Type", "application/json").body(valid).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

/// OTLP/gRPC refusals take the codes exporters act on, with the HTTP side's messages.
#[tokio::test]
async fn grpc_refusals() {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    let grpc = free_port();
    let server =
        Server::start(&format!("auth_enabled: true\nserver:\n  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {grpc}\n")).await;
    let mut client = LogsServiceClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let export = |json: Vec<u8>, tenant: Option<&str>| {
        let mut request = tonic::Request::new(serde_json::from_slice::<ExportLogsServiceRequest>(&json).unwrap());
        if let Some(tenant) = tenant {
            request.metadata_mut().insert("x-scope-orgid", tenant.parse().unwrap());
        }
        request
    };
    let valid = request(&[(vec![attribute("service.name", "grpc")], vec![("over grpc", vec![])])], vec![], "INFO");
    let status = client.export(export(valid.clone(), None)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = client.export(export(b"{}".to_vec(), Some("t"))).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (tonic::Code::InvalidArgument, "error at least one valid stream is required for ingestion")
    );
    let long = request(&[(vec![attribute("service.name", &"v".repeat(3000))], vec![("x", vec![])])], vec![], "INFO");
    let status = client.export(export(long, Some("t"))).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    client.export(export(valid, Some("t"))).await.unwrap();
    // Some refused, some written: OK with a partial success.
    let mixed = request(
        &[
            (vec![attribute("service.name", "grpc")], vec![("kept over grpc", vec![])]),
            (vec![attribute("service.name", &"v".repeat(3000))], vec![("refused", vec![])]),
        ],
        vec![],
        "INFO",
    );
    let answer = client.export(export(mixed, Some("t"))).await.unwrap().into_inner();
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("has label value too long"), "{}", partial.error_message);
    let got = server.categorized(r#"{service_name="grpc"}"#, Some("t")).await;
    assert_eq!(got.iter().map(|(_, line, _)| line.as_str()).collect::<Vec<_>>(), ["kept over grpc", "over grpc"]);
}
