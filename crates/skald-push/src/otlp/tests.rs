//! The mapping against Loki's own expectations (`otlp_test.go`, `otlplabels/*_test.go`)
//! and every `otlp_config` action.

use super::*;
use crate::StreamLabels;
use skald_common::otlp_config::{AttributesConfig, DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS, OtlpConfig};

fn request(json: &str) -> ExportLogsServiceRequest {
    decode_otlp(Some("application/json"), None, json.as_bytes(), &DecodeLimits::default()).unwrap()
}

fn defaults() -> Vec<String> {
    DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS.iter().map(|s| s.to_string()).collect()
}

fn discover() -> Vec<String> {
    skald_common::Limits::default().discover_service_name
}

/// (labels, entries as (ts, line, metadata)) of each stream.
type Mapped = Vec<(Vec<(String, String)>, Vec<(i64, String, Vec<(String, String)>)>)>;

fn map_with(json: &str, config: &OtlpConfig) -> Mapped {
    let (defaults, discover) = (defaults(), discover());
    let options = MappingOptions { config, default_index_labels: &defaults, discover_service_name: &discover, now: 42 };
    to_streams(&request(json), &options)
        .unwrap()
        .into_iter()
        .map(|s| {
            let StreamLabels::Map(labels) = s.labels else { panic!("map labels") };
            let labels = labels.into_iter().map(|l| (l.name, l.value)).collect();
            let entries =
                s.entries.into_iter().map(|e| (e.ts, e.line, e.metadata.into_iter().map(|l| (l.name, l.value)).collect())).collect();
            (labels, entries)
        })
        .collect()
}

fn map(json: &str) -> Mapped {
    map_with(json, &OtlpConfig::default())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn rule(action: &str, attributes: &[&str], regex: Option<&str>) -> AttributesConfig {
    AttributesConfig {
        action: action.into(),
        attributes: attributes.iter().map(|s| s.to_string()).collect(),
        regex: regex.map(str::to_string),
    }
}

#[test]
fn resource_and_scope_attributes_as_metadata() {
    // Loki: "resource attributes and scope attributes stored as structured metadata".
    let mapped = map(
        r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"service-1"}},{"key":"service.image","value":{"stringValue":"loki"}}]},
           "scopeLogs":[{"scope":{"name":"fizz","attributes":[{"key":"op","value":{"stringValue":"buzz"}}]},
           "logRecords":[{"timeUnixNano":"1","body":{"stringValue":"test body"}},{"timeUnixNano":"2","body":{"stringValue":"test body"}}]}]}]}"#,
    );
    assert_eq!(mapped.len(), 1);
    assert_eq!(mapped[0].0, pairs(&[("service_name", "service-1")]));
    let metadata = pairs(&[("op", "buzz"), ("scope_name", "fizz"), ("service_image", "loki")]);
    assert_eq!(mapped[0].1, vec![(1, "test body".into(), metadata.clone()), (2, "test body".into(), metadata)]);
}

#[test]
fn every_record_field() {
    // Loki: "all the values set" (names and formats of the record's fields).
    let mapped = map(
        r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeLogs":[{"logRecords":[{
           "timeUnixNano":"1000","observedTimeUnixNano":"1001","severityNumber":5,"severityText":"debug","droppedAttributesCount":1,"flags":1,
           "traceId":"12345678123456781234567812345678","spanId":"1223ad1223ad1223","eventName":"my.event",
           "attributes":[{"key":"foo","value":{"stringValue":"bar"}},{"key":"event_name","value":{"stringValue":"ignored: the field wins"}}],
           "body":{"stringValue":"line"}}]}]}]}"#,
    );
    let metadata = pairs(&[
        ("dropped_attributes_count", "1"),
        ("event_name", "my.event"),
        ("flags", "1"),
        ("foo", "bar"),
        ("observed_timestamp", "1001"),
        ("severity_number", "5"),
        ("severity_text", "debug"),
        ("span_id", "1223ad1223ad1223"),
        ("trace_id", "12345678123456781234567812345678"),
    ]);
    assert_eq!(mapped[0].1, vec![(1000, "line".into(), metadata)]);
}

#[test]
fn nested_attributes_flatten_and_bodies_render() {
    let mapped = map(
        r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"resource.nested","value":{"kvlistValue":{"values":[{"key":"foo","value":{"stringValue":"bar"}}]}}}]},
           "scopeLogs":[{"scope":{"name":"fizz","attributes":[{"key":"scope.nested","value":{"kvlistValue":{"values":[{"key":"foo","value":{"stringValue":"bar"}}]}}}]},
           "logRecords":[{"timeUnixNano":"5","attributes":[{"key":"log.nested","value":{"kvlistValue":{"values":[{"key":"foo","value":{"stringValue":"bar - 0"}}]}}}],
             "body":{"kvlistValue":{"values":[{"key":"b","value":{"stringValue":"x"}},{"key":"a","value":{"intValue":"1"}}]}}},
             {"observedTimeUnixNano":"7","body":{"doubleValue":1e21}},{"body":{"bytesValue":"AQID"}}]}]}]}"#,
    );
    assert_eq!(mapped[0].0, pairs(&[("service_name", "unknown_service")]));
    let entries = &mapped[0].1;
    assert_eq!(entries[0].1, r#"{"a":1,"b":"x"}"#);
    assert_eq!(
        entries[0].2,
        pairs(&[("log_nested_foo", "bar - 0"), ("resource_nested_foo", "bar"), ("scope_name", "fizz"), ("scope_nested_foo", "bar")])
    );
    assert_eq!((entries[1].0, entries[1].1.as_str()), (7, "1e+21"), "the observed time when there is no time; not in metadata");
    assert!(!entries[1].2.iter().any(|(k, _)| k == "observed_timestamp"));
    assert_eq!((entries[2].0, entries[2].1.as_str()), (42, "AQID"), "now when there is no time at all");
}

#[test]
fn service_name_discovery() {
    let resource = |attributes: &str| {
        format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[{attributes}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1"}}]}}]}}]}}"#
        )
    };
    let labels = |attributes: &str| map(&resource(attributes))[0].0.clone();
    assert_eq!(labels(""), pairs(&[("service_name", "unknown_service")]));
    assert_eq!(
        labels(r#"{"key":"service.namespace","value":{"stringValue":"foo"}}"#),
        pairs(&[("service_name", "unknown_service"), ("service_namespace", "foo")])
    );
    assert_eq!(
        labels(r#"{"key":"k8s.pod.name","value":{"stringValue":"api-7d"}},{"key":"k8s.container.name","value":{"stringValue":"api"}}"#),
        pairs(&[("k8s_container_name", "api"), ("k8s_pod_name", "api-7d"), ("service_name", "api")]),
        "the first of discover_service_name among the index labels"
    );
    assert_eq!(labels(r#"{"key":"service.name","value":{"stringValue":"svc"}}"#), pairs(&[("service_name", "svc")]));
    // service.name stored as metadata: no service_name label at all.
    let config = OtlpConfig {
        resource_attributes: skald_common::otlp_config::ResourceAttributesConfig { ignore_defaults: true, attributes_config: vec![] },
        ..OtlpConfig::default()
    };
    let mapped =
        map_with(&resource(r#"{"key":"service.name","value":{"stringValue":"svc"}},{"key":"team","value":{"stringValue":"t"}}"#), &config);
    assert_eq!(mapped[0].0, Vec::<(String, String)>::new());
    assert_eq!(mapped[0].1[0].2, pairs(&[("service_name", "svc"), ("team", "t")]));
}

#[test]
fn every_otlp_config_action() {
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},{"key":"team","value":{"stringValue":"payments"}},{"key":"host.name","value":{"stringValue":"h1"}},{"key":"process.pid","value":{"intValue":"7"}}]},
       "scopeLogs":[{"scope":{"name":"lib","attributes":[{"key":"lib.kind","value":{"stringValue":"x"}},{"key":"secret","value":{"stringValue":"s"}}]},
       "logRecords":[{"timeUnixNano":"1","severityText":"WARN","attributes":[{"key":"user.id","value":{"stringValue":"u1"}},{"key":"password","value":{"stringValue":"p"}},{"key":"http.route","value":{"stringValue":"/a"}}]}]}]}]}"#;
    let config = OtlpConfig {
        resource_attributes: skald_common::otlp_config::ResourceAttributesConfig {
            ignore_defaults: false,
            attributes_config: vec![
                rule("index_label", &["team"], None),
                rule("drop", &[], Some("process\\..*")),
                rule("drop", &["service.name"], None),
            ],
        },
        scope_attributes: vec![rule("drop", &["secret"], None)],
        log_attributes: vec![rule("index_label", &[], Some("http\\..*")), rule("drop", &["password"], None)],
        severity_text_as_label: true,
    };
    let mapped = map_with(json, &config);
    assert_eq!(mapped.len(), 1, "every record has log labels: only the combined stream has entries");
    let (labels, entries) = &mapped[0];
    assert_eq!(
        labels,
        &pairs(&[("http_route", "/a"), ("service_name", "svc"), ("severity_text", "WARN"), ("team", "payments")]),
        "defaults first (a tenant rule cannot drop service.name without ignore_defaults), then the tenant's rules"
    );
    assert_eq!(
        entries[0].2,
        pairs(&[("host_name", "h1"), ("lib_kind", "x"), ("scope_name", "lib"), ("severity_text", "WARN"), ("user_id", "u1")])
    );
    // ignore_defaults: nothing indexed but what the tenant says.
    let only_team = OtlpConfig {
        resource_attributes: skald_common::otlp_config::ResourceAttributesConfig {
            ignore_defaults: true,
            attributes_config: vec![rule("index_label", &["team"], None)],
        },
        ..OtlpConfig::default()
    };
    let mapped = map_with(json, &only_team);
    assert_eq!(mapped[0].0, pairs(&[("team", "payments")]));
    assert!(mapped[0].1[0].2.contains(&("service_name".to_string(), "svc".to_string())));
}

#[test]
fn resources_with_the_same_labels_share_a_stream() {
    let mapped = map(r#"{"resourceLogs":[
           {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}},{"key":"host.name","value":{"stringValue":"h1"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1"}]}]},
           {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}},{"key":"host.name","value":{"stringValue":"h2"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"2"}]}]},
           {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"b"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"3"}]}]}]}"#);
    assert_eq!(mapped.len(), 2);
    assert_eq!(mapped[0].1.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(mapped[1].0, pairs(&[("service_name", "b")]));
}

#[test]
fn bodies_and_encodings() {
    let limits = DecodeLimits::default();
    let refuse = |content_type: Option<&str>, encoding: Option<&str>, body: &[u8]| {
        decode_otlp(content_type, encoding, body, &limits).unwrap_err().to_string()
    };
    assert_eq!(
        refuse(Some("application/json"), Some("br"), b"{}"),
        "unsupported content encoding br: only gzip, deflate, lz4 and zstd are supported"
    );
    assert_eq!(
        refuse(Some("application/json; charset=utf-8"), None, b"{}"),
        "content type: application/json; charset=utf-8 is not supported"
    );
    assert_eq!(refuse(None, None, b"{}"), "content type:  is not supported");
    assert!(decode_otlp(Some("application/x-protobuf"), None, &[0xff, 0xff, 0xff], &limits).is_err());
    assert!(decode_otlp(Some("application/json"), None, b"{\"resourceLogs\": 3}", &limits).is_err());
    assert!(decode_otlp(Some("application/json"), Some("gzip"), b"not gzip", &limits).is_err());
    // A gzip bomb stops at the cap.
    let zeros = vec![0u8; 1 << 20];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut encoder, &zeros).unwrap();
    let bomb = encoder.finish().unwrap();
    let small = DecodeLimits { max_decompressed_bytes: 1000 };
    assert_eq!(decode_otlp(Some("application/json"), Some("gzip"), &bomb, &small).unwrap_err(), PushDecodeError::TooLarge { limit: 1000 });
    // Every encoding Loki takes, and deflate (zlib-wrapped, as HTTP means it).
    let json = br#"{"resource_logs":[{"scope_logs":[{"log_records":[{"body":{"string_value":"x"}}]}]}]}"#;
    let records = |r: ExportLogsServiceRequest| r.resource_logs[0].scope_logs[0].log_records.len();
    let zstd = zstd::bulk::compress(json, 3).unwrap();
    assert_eq!(records(decode_otlp(Some("application/json"), Some("zstd"), &zstd, &limits).unwrap()), 1);
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut lz4, json).unwrap();
    assert_eq!(records(decode_otlp(Some("application/json"), Some("lz4"), &lz4.finish().unwrap(), &limits).unwrap()), 1);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut zlib, json).unwrap();
    assert_eq!(records(decode_otlp(Some("application/json"), Some("deflate"), &zlib.finish().unwrap(), &limits).unwrap()), 1);
    // 64-bit integers as JSON numbers as well as strings.
    let numbers = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":5,"body":{"intValue":7}},{"timeUnixNano":"6","body":{"intValue":"8"}}]}]}]}"#;
    let decoded = decode_otlp(Some("application/json"), None, numbers, &limits).unwrap();
    let got: Vec<(u64, String)> = decoded.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|r| (r.time_unix_nano, super::value::as_string(r.body.as_ref())))
        .collect();
    assert_eq!(got, [(5, "7".to_string()), (6, "8".to_string())]);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, json).unwrap();
    assert_eq!(records(decode_otlp(Some("application/json"), Some("gzip"), &gzip.finish().unwrap(), &limits).unwrap()), 1);
    let options = MappingOptions { config: &OtlpConfig::default(), default_index_labels: &[], discover_service_name: &[], now: 0 };
    assert!(to_streams(&request("{}"), &options).unwrap().is_empty());
}
