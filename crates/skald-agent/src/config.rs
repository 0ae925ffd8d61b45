//! The agent's configuration: Promtail's YAML layout, parsed strictly.
//!
//! Every struct denies unknown fields, so a typo or a Promtail feature we do not have
//! (`journal`, `docker_sd_configs`, ...) stops the agent with a message naming the key
//! instead of being silently ignored. Durations take Go/Prometheus syntax (`500ms`,
//! `1h30m`), sizes take `1MB`/`1MiB`/plain bytes (powers of 1024, as Promtail's
//! `flagext.ByteSize`). [`Config::validate`] checks what serde cannot: one target kind
//! per scrape config, URLs, relabel regexes (compiled later, errors named there).

pub use crate::config_client::ClientConfig;
use crate::relabel::RelabelConfig;
use serde::Deserialize;
use skald_common::limits::{de_bytes, de_duration};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Nanoseconds, as `skald_common::parse_duration` returns them.
pub type Nanos = i64;

const SECOND: Nanos = 1_000_000_000;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "null_as_default")]
    pub server: ServerConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub positions: PositionsConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub clients: Vec<ClientConfig>,
    /// Promtail's older single-client form; appended to `clients`.
    #[serde(default)]
    pub client: Option<ClientConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub limits_config: LimitsConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_config: TargetConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_watch_config: FileWatchConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tracing: TracingConfig,
}

/// A section written with no value (`limits_config:`, as Promtail's Helm chart
/// renders it) is YAML null: it means the defaults, as in Promtail.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `server`: the agent's own HTTP endpoint (`/ready`, `/metrics`) and its logs.
/// Promtail inlines dskit's server keys here; the ones a Promtail file carries are
/// accepted, those about servers the agent does not run (gRPC) have no effect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub disable: bool,
    pub http_listen_address: String,
    /// 0 picks a free port (logged at start).
    pub http_listen_port: u16,
    /// Served paths start with this (`/promtail` serves `/promtail/metrics`).
    pub http_path_prefix: String,
    /// Accepted for compatibility with Promtail files; the agent serves no gRPC.
    pub grpc_listen_port: Option<u16>,
    pub grpc_listen_address: Option<String>,
    /// `debug`, `info`, `warn`, `error`; `RUST_LOG` wins when set.
    pub log_level: Option<String>,
    /// `logfmt` (text lines, the default) or `json` (one object per line).
    pub log_format: LogFormat,
    pub register_instrumentation: bool,
    pub log_source_ips_enabled: bool,
    pub profiling_enabled: bool,
    pub enable_runtime_reload: bool,
    pub health_check_target: Option<bool>,
    pub external_url: Option<String>,
    #[serde(deserialize_with = "de_duration")]
    pub http_server_read_timeout: Nanos,
    #[serde(deserialize_with = "de_duration")]
    pub http_server_write_timeout: Nanos,
    #[serde(deserialize_with = "de_duration")]
    pub http_server_idle_timeout: Nanos,
    #[serde(deserialize_with = "de_duration")]
    pub graceful_shutdown_timeout: Nanos,
    pub grpc_server_max_recv_msg_size: Option<u64>,
    pub grpc_server_max_send_msg_size: Option<u64>,
    pub grpc_server_max_concurrent_streams: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            disable: false,
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 9080,
            http_path_prefix: String::new(),
            grpc_listen_port: None,
            grpc_listen_address: None,
            log_level: None,
            log_format: LogFormat::Logfmt,
            register_instrumentation: true,
            log_source_ips_enabled: false,
            profiling_enabled: false,
            enable_runtime_reload: false,
            health_check_target: None,
            external_url: None,
            http_server_read_timeout: 30 * SECOND,
            http_server_write_timeout: 30 * SECOND,
            http_server_idle_timeout: 120 * SECOND,
            graceful_shutdown_timeout: 30 * SECOND,
            grpc_server_max_recv_msg_size: None,
            grpc_server_max_send_msg_size: None,
            grpc_server_max_concurrent_streams: None,
        }
    }
}

impl ServerConfig {
    /// `http_path_prefix` without its trailing `/` (empty for none).
    pub fn path_prefix(&self) -> String {
        let prefix = self.http_path_prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.starts_with('/') { prefix.to_string() } else { format!("/{prefix}") }
    }
}

/// `tracing`: Promtail's switch for Jaeger spans. Accepted; the agent exports no
/// spans (it logs that once when `enabled` is set).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    pub enabled: bool,
}

/// `positions`: where read offsets are saved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PositionsConfig {
    pub filename: PathBuf,
    #[serde(deserialize_with = "de_duration")]
    pub sync_period: Nanos,
    /// Start from empty positions when the file is not valid YAML (else: refuse).
    pub ignore_invalid_yaml: bool,
}

impl Default for PositionsConfig {
    fn default() -> Self {
        PositionsConfig { filename: PathBuf::from("/var/log/positions.yaml"), sync_period: 10 * SECOND, ignore_invalid_yaml: false }
    }
}

/// One entry of `scrape_configs`: exactly one kind of target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default)]
    pub pipeline_stages: serde_yaml_ng::Value,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub kubernetes_pod_logs: Option<PodLogsConfig>,
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<crate::kubernetes::KubernetesSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub syslog: Option<SyslogConfig>,
    #[serde(default)]
    pub loki_push_api: Option<PushApiConfig>,
    #[serde(default)]
    pub otlp: Option<OtlpReceiverConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `kubernetes_pod_logs`: the kubelet's `/var/log/pods` layout, no API access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodLogsConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Default for PodLogsConfig {
    fn default() -> Self {
        PodLogsConfig { path: PathBuf::from("/var/log/pods"), labels: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListenProtocol {
    #[default]
    Tcp,
    Udp,
}

/// `syslog`: a listener for RFC 5424 / RFC 3164 messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    pub listen_address: String,
    #[serde(default)]
    pub listen_protocol: ListenProtocol,
    #[serde(default = "default_idle_timeout", deserialize_with = "de_duration")]
    pub idle_timeout: Nanos,
    #[serde(default)]
    pub label_structured_data: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub use_incoming_timestamp: bool,
    /// Send the whole RFC 5424 message as the line instead of its MSG part.
    #[serde(default)]
    pub use_rfc5424_message: bool,
    #[serde(default = "default_max_message_length", deserialize_with = "de_bytes")]
    pub max_message_length: u64,
}

fn default_idle_timeout() -> Nanos {
    120 * SECOND
}

fn default_max_message_length() -> u64 {
    8192
}

/// `loki_push_api`: accept Loki pushes and relay them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushApiConfig {
    pub server: PushApiServer,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub use_incoming_timestamp: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushApiServer {
    #[serde(default = "default_listen_address")]
    pub http_listen_address: String,
    pub http_listen_port: u16,
    /// Accepted, ignored: there is no gRPC push.
    #[serde(default)]
    pub grpc_listen_port: Option<u16>,
}

/// `otlp`: an OpenTelemetry logs receiver (OTLP/HTTP at `/v1/logs` and
/// `/otlp/v1/logs`, OTLP/gRPC when `grpc_listen_port` is set). Records are mapped to
/// streams as Loki maps them (`otlp_config` has Loki's keys and defaults), then go
/// through the pipeline stages like any other entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    pub server: OtlpServer,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Keep each record's own timestamp (the default: OTLP records carry one).
    #[serde(default = "yes")]
    pub use_incoming_timestamp: bool,
    #[serde(default)]
    pub otlp_config: skald_common::otlp_config::OtlpConfig,
    /// Loki's `distributor.otlp_config.default_resource_attributes_as_index_labels`.
    #[serde(default = "default_otlp_index_labels")]
    pub default_resource_attributes_as_index_labels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpServer {
    #[serde(default = "default_listen_address")]
    pub http_listen_address: String,
    pub http_listen_port: u16,
    #[serde(default = "default_listen_address")]
    pub grpc_listen_address: String,
    #[serde(default)]
    pub grpc_listen_port: Option<u16>,
}

fn yes() -> bool {
    true
}

fn default_otlp_index_labels() -> Vec<String> {
    skald_common::otlp_config::DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS.iter().map(|s| s.to_string()).collect()
}

fn default_listen_address() -> String {
    "0.0.0.0".into()
}

/// `limits_config`, with Promtail's keys and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Lines per second the whole agent hands to its clients, when
    /// `readline_rate_enabled` (Promtail's global limiter, after the pipelines).
    pub readline_rate: f64,
    /// Lines that may pass at once before the rate applies.
    pub readline_burst: u32,
    pub readline_rate_enabled: bool,
    /// Over the rate: drop lines (counted in `logentry_dropped_lines_total{reason=
    /// "global_rate_limiter_drop"}`) when true, else wait (reading slows down).
    pub readline_rate_drop: bool,
    /// Accepted; Promtail's stream cap (0: none). The agent does not cap streams.
    pub max_streams: u64,
    /// 0 means no limit set (lines still stop growing at [`HARD_LINE_LIMIT`]).
    #[serde(deserialize_with = "de_bytes")]
    pub max_line_size: u64,
    pub max_line_size_truncate: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            readline_rate: 10_000.0,
            readline_burst: 10_000,
            readline_rate_enabled: false,
            readline_rate_drop: true,
            max_streams: 0,
            max_line_size: 0,
            max_line_size_truncate: false,
        }
    }
}

/// Longest line ever buffered, whatever the configuration says: a file without
/// newlines must not grow memory without bound. Longer lines are truncated.
pub const HARD_LINE_LIMIT: usize = 4 * 1024 * 1024;

/// `target_config`: how often globs are rescanned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    #[serde(deserialize_with = "de_duration")]
    pub sync_period: Nanos,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig { sync_period: 10 * SECOND }
    }
}

/// `file_watch_config`: how often idle files are looked at when no notification came
/// (Promtail's keys and defaults; notifications wake the agent at once).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileWatchConfig {
    #[serde(deserialize_with = "de_duration")]
    pub min_poll_frequency: Nanos,
    #[serde(deserialize_with = "de_duration")]
    pub max_poll_frequency: Nanos,
}

impl Default for FileWatchConfig {
    fn default() -> Self {
        FileWatchConfig { min_poll_frequency: SECOND / 4, max_poll_frequency: SECOND / 4 }
    }
}

impl FileWatchConfig {
    pub fn min_poll(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.min_poll_frequency as u64)
    }

    pub fn max_poll(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.max_poll_frequency.max(self.min_poll_frequency) as u64)
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid { path: PathBuf, field: String, message: String },
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(&text).map_err(|(field, message)| match field {
            None => ConfigError::Parse { path: path.to_path_buf(), message },
            Some(field) => ConfigError::Invalid { path: path.to_path_buf(), field, message },
        })
    }

    /// Parses and validates YAML text; the error is `(field, message)`.
    pub fn parse(text: &str) -> Result<Config, (Option<String>, String)> {
        let mut config: Config = serde_yaml_ng::from_str(text).map_err(|e| (None, e.to_string()))?;
        if let Some(client) = config.client.take() {
            config.clients.push(client);
        }
        config.validate().map_err(|(field, message)| (Some(field), message))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if self.clients.is_empty() {
            return Err(("clients".into(), "at least one client is required".into()));
        }
        for (index, client) in self.clients.iter().enumerate() {
            let field = format!("clients[{index}].url");
            let Ok(url) = url_parts(&client.url) else {
                return Err((field, format!("invalid url {:?}", client.url)));
            };
            if url.0 != "http" && url.0 != "https" {
                return Err((field, format!("only http:// and https:// urls are supported, got {:?}", client.url)));
            }
            if client.batchsize == 0 {
                return Err((format!("clients[{index}].batchsize"), "must be positive".into()));
            }
            if client.backoff_config.min_period <= 0 || client.backoff_config.max_period < client.backoff_config.min_period {
                return Err((format!("clients[{index}].backoff_config"), "need 0 < min_period <= max_period".into()));
            }
            client.validate_http().map_err(|(field, message)| (format!("clients[{index}].{field}"), message))?;
        }
        for (index, scrape) in self.scrape_configs.iter().enumerate() {
            let kinds = usize::from(!scrape.static_configs.is_empty())
                + usize::from(scrape.kubernetes_pod_logs.is_some())
                + usize::from(!scrape.kubernetes_sd_configs.is_empty())
                + usize::from(scrape.syslog.is_some())
                + usize::from(scrape.loki_push_api.is_some())
                + usize::from(scrape.otlp.is_some());
            if kinds != 1 {
                return Err((
                    format!("scrape_configs[{index}] ({})", scrape.job_name),
                    "needs exactly one of static_configs, kubernetes_sd_configs, kubernetes_pod_logs, syslog, loki_push_api, otlp".into(),
                ));
            }
            for (sd_index, sd) in scrape.kubernetes_sd_configs.iter().enumerate() {
                sd.validate().map_err(|message| {
                    (format!("scrape_configs[{index}] ({}).kubernetes_sd_configs[{sd_index}]", scrape.job_name), message)
                })?;
            }
            if let Some(otlp) = &scrape.otlp {
                otlp.otlp_config.validate().map_err(|message| (format!("scrape_configs[{index}] ({}).otlp", scrape.job_name), message))?;
            }
        }
        if self.file_watch_config.min_poll_frequency <= 0
            || self.file_watch_config.max_poll_frequency < self.file_watch_config.min_poll_frequency
        {
            return Err(("file_watch_config".into(), "need 0 < min_poll_frequency <= max_poll_frequency".into()));
        }
        if self.target_config.sync_period <= 0 {
            return Err(("target_config.sync_period".into(), "must be positive".into()));
        }
        let limits = &self.limits_config;
        if limits.readline_rate_enabled && !(limits.readline_rate > 0.0 && limits.readline_rate.is_finite()) {
            return Err((
                "limits_config.readline_rate".into(),
                format!("must be a positive number of lines per second, got {}", limits.readline_rate),
            ));
        }
        if limits.readline_rate_enabled && limits.readline_burst == 0 {
            return Err(("limits_config.readline_burst".into(), "must be at least 1 when readline_rate_enabled is set".into()));
        }
        if self.positions.sync_period <= 0 {
            return Err(("positions.sync_period".into(), "must be positive".into()));
        }
        Ok(())
    }
}

/// `(scheme, host:port)` of a URL, without a URL crate (we only need these two).
pub fn url_parts(url: &str) -> Result<(String, String), ()> {
    let (scheme, rest) = url.split_once("://").ok_or(())?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(());
    }
    let host = authority.rsplit('@').next().unwrap_or(authority);
    Ok((scheme.to_ascii_lowercase(), host.to_string()))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
