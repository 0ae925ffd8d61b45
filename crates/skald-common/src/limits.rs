//! Per-tenant limits, with Loki's `limits_config` key names and defaults
//! (`pkg/validation/limits.go`). The distributor enforces the ingestion limits, the
//! querier the query limits.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `limits_config`. Keys Loki has and Skald does not use are named as ignored when the
/// config is read (`skald-config`), keys no Loki has are refused there.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Limits {
    pub reject_old_samples: bool,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub reject_old_samples_max_age: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub creation_grace_period: i64,
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub max_line_size: u64,
    pub max_line_size_truncate: bool,
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub ingestion_rate_mb: f64,
    pub ingestion_burst_size_mb: f64,
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub max_structured_metadata_size: u64,
    pub max_structured_metadata_entries_count: usize,
    pub max_global_streams_per_user: usize,
    pub max_entries_limit_per_query: usize,
    pub max_query_series: usize,
    /// Most rules in one rule group a tenant may store through the rules API (0 = no limit).
    pub ruler_max_rules_per_rule_group: usize,
    /// Most rule groups a tenant may have, every namespace together (0 = no limit).
    pub ruler_max_rule_groups_per_tenant: usize,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub max_query_length: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub query_timeout: i64,
    /// The query frontend splits range queries into parts this long (0 = no split).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub split_queries_by_interval: i64,
    /// Most parts of one query running at once.
    pub max_query_parallelism: usize,
    /// A query frontend shards a metric query so that each shard reads about this many
    /// bytes (0: no sharding).
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub tsdb_max_bytes_per_shard: u64,
    /// Most shards of one query.
    pub tsdb_max_query_parallelism: usize,
    /// Most bytes (uncompressed, by the index) a query may select; 0 = no limit.
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub max_query_bytes_read: u64,
    pub discover_service_name: Vec<String>,
    pub discover_log_levels: bool,
    /// Loki's `shard_aggregations`: `approx_topk` listed here lets `approx_topk` queries run.
    pub shard_aggregations: Vec<String>,
    /// Loki's `enable_multi_variant_queries`: `variants(...) of (...)` queries run only when set.
    pub enable_multi_variant_queries: bool,
    pub allow_structured_metadata: bool,
    /// How long the compactor keeps data (0 = forever), when `compactor.retention_enabled`.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub retention_period: i64,
    /// Per-stream retention rules; the matching rule with the highest priority wins.
    pub retention_stream: Vec<RetentionStream>,
    /// How OTLP attributes map to labels and structured metadata.
    pub otlp_config: crate::otlp_config::OtlpConfig,
}

/// One `limits_config.retention_stream` rule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RetentionStream {
    /// A stream selector, such as `{namespace="dev"}`.
    pub selector: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub period: i64,
}

impl Default for Limits {
    fn default() -> Self {
        const HOUR: i64 = 3600 * 1_000_000_000;
        Limits {
            reject_old_samples: true,
            reject_old_samples_max_age: 7 * 24 * HOUR,
            creation_grace_period: 10 * 60 * 1_000_000_000,
            max_line_size: 256 * 1024,
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
            max_global_streams_per_user: 5000,
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            ruler_max_rules_per_rule_group: 0,
            ruler_max_rule_groups_per_tenant: 0,
            max_query_length: 721 * HOUR,
            query_timeout: 60 * 1_000_000_000,
            max_query_bytes_read: 0,
            split_queries_by_interval: HOUR,
            max_query_parallelism: 32,
            tsdb_max_bytes_per_shard: 600 << 20,
            tsdb_max_query_parallelism: 128,
            discover_service_name: [
                "service",
                "app",
                "application",
                "app_name",
                "name",
                "app_kubernetes_io_name",
                "container",
                "container_name",
                "k8s_container_name",
                "component",
                "workload",
                "job",
                "k8s_job_name",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            discover_log_levels: true,
            shard_aggregations: Vec::new(),
            enable_multi_variant_queries: false,
            allow_structured_metadata: true,
            retention_period: 0,
            retention_stream: Vec::new(),
            otlp_config: crate::otlp_config::OtlpConfig::default(),
        }
    }
}

/// A duration as Loki's YAML writes it (`168h`, `10m`, `0`) or a number of seconds.
pub fn de_duration<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }
    match Raw::deserialize(de)? {
        Raw::Int(seconds) => Ok(seconds.saturating_mul(1_000_000_000)),
        Raw::Text(text) => crate::parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

/// Writes nanoseconds as a duration Loki reads (`1h30m`, `0s`).
pub fn ser_duration<S: Serializer>(nanos: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::format_duration(*nanos))
}

/// Writes a size as Loki prints one: a power-of-1024 unit when it divides exactly
/// (`256KB`, `1MB`, read back as the same number by [`de_bytes`]), else bytes.
pub fn ser_bytes<S: Serializer>(bytes: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    for (unit, size) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if *bytes >= size && bytes.is_multiple_of(size) {
            return serializer.serialize_str(&format!("{}{unit}", bytes / size));
        }
    }
    serializer.serialize_u64(*bytes)
}

/// Writes a secret as Loki does in `/config`: `<secret>` when set, else empty.
pub fn ser_secret<S: Serializer>(secret: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if secret.is_empty() { "" } else { "<secret>" })
}

/// [`ser_secret`] for an optional secret.
pub fn ser_secret_option<S: Serializer>(secret: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => ser_secret(secret, serializer),
        None => serializer.serialize_none(),
    }
}

/// A size as Loki's YAML writes it (`256KB`, `1MiB`, `262144`); like Loki's
/// `flagext.ByteSize`, `KB`/`MB` here mean 1024-multiples.
pub fn de_bytes<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Float(f64),
        Text(String),
    }
    match Raw::deserialize(de)? {
        Raw::Int(n) => Ok(n),
        // `chunk_target_size: 1.572864e+06`, as Loki's own sample config writes it.
        Raw::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(f as u64),
        Raw::Float(f) => Err(serde::de::Error::custom(format!("invalid size {f} (a whole number of bytes)"))),
        Raw::Text(text) => parse_base2_bytes(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid size '{text}'"))),
    }
}

/// Parses a human size (`100KB`, `1.5MiB`, `42`, `10 MB`) as Loki's flagext.ByteSize
/// and LogQL's bytes literals do (decimal `kB`/`KB`/`MB` = 1000s, `KiB`/`MiB` = 1024s).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier: f64 = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "kB" | "KB" | "k" | "K" | "kb" => 1e3,
        "KiB" | "Ki" | "kiB" => 1024.0,
        "MB" | "M" | "mb" => 1e6,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GB" | "G" | "gb" => 1e9,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "TB" | "T" => 1e12,
        "TiB" | "Ti" => 1024f64.powi(4),
        "PB" | "P" => 1e15,
        "PiB" | "Pi" => 1024f64.powi(5),
        _ => return None,
    };
    let value = number * multiplier;
    (value.is_finite() && value >= 0.0 && value < u64::MAX as f64).then_some(value as u64)
}

/// Config sizes: `KB`, `MB`, `GB` (and `KiB`...) are powers of 1024, as in dskit.
pub fn parse_base2_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let power = match unit.trim() {
        "" | "B" => 0,
        "KB" | "KiB" | "kB" | "K" => 1,
        "MB" | "MiB" | "M" => 2,
        "GB" | "GiB" | "G" => 3,
        "TB" | "TiB" | "T" => 4,
        _ => return None,
    };
    let value = number * 1024f64.powi(power);
    (value.is_finite() && value >= 0.0 && value < u64::MAX as f64).then_some(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256KB"), Some(256_000));
        assert_eq!(parse_bytes("1KiB"), Some(1024));
        assert_eq!(parse_bytes("42"), Some(42));
        assert_eq!(parse_bytes("1.5MB"), Some(1_500_000));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_base2_bytes("256KB"), Some(262_144));
    }
}
