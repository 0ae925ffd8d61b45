//! Tests of the agent configuration parsing.

use super::*;

const MINIMAL: &str = "clients: [{url: 'http://127.0.0.1:3100/loki/api/v1/push'}]\n";

#[test]
fn defaults_follow_promtail() {
    let config = Config::parse(MINIMAL).unwrap();
    let client = &config.clients[0];
    assert_eq!(client.batchwait, SECOND);
    assert_eq!(client.batchsize, 1024 * 1024);
    assert_eq!(client.backoff_config.max_retries, 10);
    assert_eq!(config.positions.sync_period, 10 * SECOND);
    assert_eq!(config.target_config.sync_period, 10 * SECOND);
}

#[test]
fn durations_and_sizes() {
    let text = "clients: [{url: 'http://h:1/p', batchwait: 250ms, batchsize: 1MB, backoff_config: {min_period: 1h30m, max_period: 2h}}]\nlimits_config: {max_line_size: 1KiB}\n";
    let config = Config::parse(text).unwrap();
    assert_eq!(config.clients[0].batchwait, SECOND / 4);
    assert_eq!(config.clients[0].batchsize, 1024 * 1024);
    assert_eq!(config.clients[0].backoff_config.min_period, 5400 * SECOND);
    assert_eq!(config.limits_config.max_line_size, 1024);
}

#[test]
fn promtail_top_level_keys() {
    let text = format!(
        "server:\n  log_level: info\n  log_format: json\n  http_listen_port: 3101\n  http_path_prefix: /promtail/\n  \n{MINIMAL}limits_config:\n  \ntracing:\n  enabled: false\ntarget_config:\n  sync_period: 5s\n"
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(config.server.log_format, LogFormat::Json);
    assert_eq!(config.server.path_prefix(), "/promtail");
    assert!(!config.limits_config.readline_rate_enabled && config.limits_config.readline_rate_drop);
    assert_eq!(config.limits_config.readline_rate, 10_000.0);
    let text = format!("{MINIMAL}limits_config: {{readline_rate_enabled: true, readline_rate: 0}}\n");
    assert_eq!(Config::parse(&text).unwrap_err().0.as_deref(), Some("limits_config.readline_rate"));
    let text = format!("{MINIMAL}server: {{log_format: xml}}\n");
    assert!(Config::parse(&text).unwrap_err().1.contains("xml"));
}

#[test]
fn client_http_keys() {
    let text = "clients:\n- url: https://h/p\n  headers: {X-A: b}\n  proxy_url: http://proxy:3128\n  drop_rate_limited_batches: true\n  tls_config: {ca_file: /c, cert_file: /a, key_file: /b, server_name: s, insecure_skip_verify: false}\n";
    let config = Config::parse(text).unwrap();
    assert!(config.clients[0].drop_rate_limited_batches && config.clients[0].tls_config.is_set());
    let (field, message) = Config::parse("clients: [{url: 'http://h/p', proxy_url: 'socks5://p:1'}]").unwrap_err();
    assert_eq!(field.as_deref(), Some("clients[0].proxy_url"), "{message}");
    let (field, message) = Config::parse("clients: [{url: 'http://h/p', tls_config: {cert_file: /a}}]").unwrap_err();
    assert_eq!(field.as_deref(), Some("clients[0].tls_config"), "{message}");
    let (_, message) = Config::parse("clients: [{url: 'http://h/p', oauth2: {client_id: x}}]").unwrap_err();
    assert!(message.contains("oauth2"), "{message}");
}

#[test]
fn unknown_keys_are_named() {
    let text = format!("{MINIMAL}scrape_configs:\n- job_name: j\n  journal: {{}}\n");
    let (_, message) = Config::parse(&text).unwrap_err();
    assert!(message.contains("journal"), "{message}");
    let text = "clients: [{url: 'http://h:1/p', batchsizee: 3}]\n";
    let (_, message) = Config::parse(text).unwrap_err();
    assert!(message.contains("batchsizee"), "{message}");
}

#[test]
fn one_target_kind_per_scrape_config() {
    let text = format!("{MINIMAL}scrape_configs:\n- job_name: j\n");
    let (field, _) = Config::parse(&text).unwrap_err();
    assert_eq!(field.as_deref(), Some("scrape_configs[0] (j)"));
}

#[test]
fn otlp_targets() {
    let text = format!("{MINIMAL}scrape_configs:\n- job_name: o\n  otlp:\n    server: {{http_listen_port: 4318}}\n");
    let config = Config::parse(&text).unwrap();
    let otlp = config.scrape_configs[0].otlp.as_ref().unwrap();
    assert!(otlp.use_incoming_timestamp);
    assert_eq!((otlp.server.http_listen_address.as_str(), otlp.server.grpc_listen_port), ("0.0.0.0", None));
    assert_eq!(otlp.default_resource_attributes_as_index_labels.len(), 18);
    let bad = format!("{text}    otlp_config:\n      scope_attributes: [{{action: index_label, attributes: [a]}}]\n");
    let (field, message) = Config::parse(&bad).unwrap_err();
    assert_eq!(field.as_deref(), Some("scrape_configs[0] (o).otlp"));
    assert!(message.contains("index_label action is only supported for resource_attributes"), "{message}");
}

#[test]
fn only_http_and_https_are_accepted() {
    let (field, message) = Config::parse("clients: [{url: 'ftp://h/p'}]").unwrap_err();
    assert_eq!(field.as_deref(), Some("clients[0].url"));
    assert!(message.contains("https://"), "{message}");
    assert!(Config::parse("clients: [{url: 'https://logs.example.com/loki/api/v1/push'}]").is_ok());
}
