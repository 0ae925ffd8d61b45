//! Checks across keys, after the sections are read: combinations that cannot work are
//! refused naming the keys; settings Skald reads its own way come back as notes.

use crate::load::ConfigError;
use crate::sections::Config;
use skald_chunk::Codec;

/// The chunk codec for `ingester.chunk_encoding`, and a note when the name is one of
/// Loki's encodings Skald maps to its own (Skald's chunk format has its own codecs;
/// Loki's chunks are not read either way, so only the size/speed trade-off matters).
pub fn chunk_codec(name: &str) -> Option<(Codec, Option<String>)> {
    if let Some(codec) = Codec::parse(name) {
        return Some((codec, None));
    }
    let (codec, why) = match name {
        "snappy" => (Codec::Lz4, "lz4 (as fast as snappy, smaller)"),
        "lz4-64k" | "lz4-256k" | "lz4-1M" => (Codec::Lz4, "lz4"),
        "gzip" | "flate" => (Codec::Zstd(6), "zstd (smaller than gzip and faster)"),
        _ => return None,
    };
    Some((codec, Some(format!("ingester.chunk_encoding {name}: Skald stores {why}"))))
}

/// Refuses what cannot work; returns notes on settings read Skald's way.
pub fn validate(config: &Config) -> Result<Vec<String>, ConfigError> {
    let invalid = ConfigError::Invalid;
    let mut notes = Vec::new();
    match chunk_codec(&config.ingester.chunk_encoding) {
        Some((_, note)) => notes.extend(note),
        None => {
            return Err(invalid(format!(
                "ingester.chunk_encoding: unknown encoding '{}' (none, lz4, zstd, zstd:LEVEL, or Loki's gzip, lz4-64k, lz4-256k, lz4-1M, snappy, flate)",
                config.ingester.chunk_encoding
            )));
        }
    }
    config.server.http_tls_config.validate("server.http_tls_config").map_err(invalid)?;
    config.server.grpc_tls_config.validate("server.grpc_tls_config").map_err(invalid)?;
    for (block, client) in [
        ("ingester_client.grpc_client_config", &config.ingester_client.grpc_client_config),
        ("frontend.grpc_client_config", &config.frontend.grpc_client_config),
        ("frontend_worker.grpc_client_config", &config.frontend_worker.grpc_client_config),
    ] {
        client.validate(block).map_err(invalid)?;
    }
    match config.server.log_format.as_str() {
        "logfmt" | "json" => {}
        other => return Err(invalid(format!("server.log_format: '{other}' is not a log format (logfmt, json)"))),
    }
    config.limits_config.otlp_config.validate().map_err(|e| invalid(format!("limits_config.{e}")))?;
    let auth = &config.auth;
    if (!auth.basic.is_empty() || !auth.bearer.is_empty()) && !config.auth_enabled {
        return Err(invalid("auth: credentials give every request a tenant, so they need auth_enabled: true".into()));
    }
    let mut previous = i64::MIN;
    for (index, period) in config.schema_config.configs.iter().enumerate() {
        let Some(start) = crate::sections::period_start(&period.from) else {
            return Err(invalid(format!("schema_config.configs[{index}].from: '{}' is not a date (YYYY-MM-DD)", period.from)));
        };
        if start <= previous {
            return Err(invalid(format!("schema_config.configs[{index}].from: periods must be in increasing order of from")));
        }
        previous = start;
        skald_storage::config::check_object_store_name(&period.object_store, &config.storage_config.named_stores)
            .map_err(|e| invalid(format!("schema_config: {e}")))?;
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use crate::load::parse;

    #[test]
    fn lokis_chunk_encodings_are_mapped() {
        assert_eq!(super::chunk_codec("snappy").unwrap().0, skald_chunk::Codec::Lz4);
        assert!(super::chunk_codec("zstd:3").unwrap().1.is_none());
        let error = parse("ingester:\n  chunk_encoding: brotli\n").unwrap_err().to_string();
        assert!(error.contains("ingester.chunk_encoding") && error.contains("brotli"), "{error}");
    }

    #[test]
    fn schema_periods() {
        let config = parse("schema_config:\n  configs:\n    - from: 2018-04-15\n      object_store: filesystem\n    - from: 2023-06-15\n      object_store: s3\n    - from: 2999-01-01\n      object_store: gcs\n").unwrap();
        let now = crate::sections::period_start("2024-01-01").unwrap();
        assert_eq!(config.schema_config.active_object_store(now), Some("s3"));
        assert_eq!(config.schema_config.active_object_store(0), Some("filesystem"), "before every period: the first");
        let error = parse("schema_config:\n  configs:\n    - from: 2023-06-15\n    - from: 2018-04-15\n").unwrap_err().to_string();
        assert!(error.contains("increasing order"), "{error}");
        let error = parse("schema_config:\n  configs:\n    - from: yesterday\n").unwrap_err().to_string();
        assert!(error.contains("configs[0].from"), "{error}");
    }

    #[test]
    fn grpc_tls_mistakes_are_named() {
        let error = parse("server:\n  grpc_tls_config:\n    cert_file: a.pem\n").unwrap_err().to_string();
        assert!(error.contains("server.grpc_tls_config") && error.contains("key_file"), "{error}");
        let error = parse(
            "server:\n  grpc_tls_config:\n    cert_file: a.pem\n    key_file: a.key\n    client_auth_type: RequireAndVerifyClientCert\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("server.grpc_tls_config") && error.contains("client_ca_file"), "{error}");
        let error = parse("frontend_worker:\n  grpc_client_config:\n    tls_enabled: true\n    tls_insecure_skip_verify: true\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("frontend_worker.grpc_client_config.tls_insecure_skip_verify"), "{error}");
        let config = parse("ingester_client:\n  grpc_client_config:\n    tls_enabled: true\n    tls_ca_path: ca.pem\n").unwrap();
        assert!(config.ingester_client.grpc_client_config.tls_enabled);
    }

    #[test]
    fn loki_style_config_parses() {
        let config = parse(
            "auth_enabled: true\nserver:\n  http_listen_port: 3200\ningester:\n  chunk_idle_period: 1h\n  chunk_target_size: 2MB\n  wal:\n    enabled: true\nlimits_config:\n  reject_old_samples: false\n  max_line_size: 512KB\n  discover_service_name: []\n  ingestion_rate_mb: 16\nschema_config:\n  configs:\n    - from: 2024-01-01\n      store: tsdb\n      object_store: filesystem\n      schema: v13\n      index:\n        prefix: index_\n        period: 24h\n",
        )
        .unwrap();
        assert!(config.auth_enabled);
        assert_eq!(config.server.http_listen_port, 3200);
        assert_eq!(config.ingester.chunk_idle_period, 3600 * 1_000_000_000);
        assert_eq!(config.limits_config.max_line_size, 512 * 1024);
        assert!(!config.limits_config.reject_old_samples);
        assert!(config.limits_config.discover_service_name.is_empty());
        assert_eq!(config.limits_config.ingestion_rate_mb, 16.0);
    }
}
