//! Reading a configuration: the file (with `-config.expand-env`), the flags over it,
//! every key checked against what Loki knows, then the sections Skald reads.
//!
//! Keys are sorted three ways: keys Skald reads work; keys of some Loki version that
//! Skald does not read (tuning knobs of Loki's internals, features Skald lacks) are
//! accepted and listed in [`Loaded::ignored`], which the server names once at start;
//! keys no Loki version has are refused with the nearest known key.

use crate::check::{Location, check_tree, describe};
use crate::envsubst;
use crate::schema::{KeySchema, Kind};
use crate::sections::Config;
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use std::path::{Path, PathBuf};

/// A configuration that cannot be used; the message names the key and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0} does not exist, set -config.file for a custom config path")]
    NoFile(String),
    #[error("{0}")]
    Expand(#[from] envsubst::ExpandError),
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("{}", .0.join("; "))]
    Keys(Vec<String>),
    #[error("{path}: {message}")]
    Value { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// The same error, said to be about the file at `path`.
    pub fn in_file(self, path: &Path) -> ConfigError {
        match self {
            ConfigError::Read { .. } | ConfigError::NoFile(_) => self,
            other => ConfigError::Invalid(format!("invalid config file {}: {other}", path.display())),
        }
    }
}

/// How to read: environment expansion, flags over the file.
pub struct LoadOptions<'a> {
    pub expand_env: bool,
    /// Looks a variable up (the process environment in the binary).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Keys set by flags: (path, value as written on the command line).
    pub settings: &'a [(String, String)],
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions { expand_env: false, env: &|name| std::env::var(name).ok(), settings: &[] }
    }
}

/// A configuration read and checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Keys of Loki's that this configuration sets and Skald does not read, sorted.
    pub ignored: Vec<String>,
    /// Settings Skald reads its own way (say, a chunk encoding it maps to its own).
    pub notes: Vec<String>,
    /// The tree as read, after expansion and flags: the base of per-tenant overrides.
    pub tree: Value,
}

/// The first of `candidates` that exists (Loki's `-config.file` takes a list).
pub fn pick_file(candidates: &[PathBuf]) -> Result<&Path, ConfigError> {
    candidates
        .iter()
        .map(PathBuf::as_path)
        .find(|p| p.exists())
        .ok_or_else(|| ConfigError::NoFile(candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")))
}

/// Reads the file at `path`.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    load_text(&text, options).map_err(|e| e.in_file(path))
}

/// Reads configuration text (empty text: every default).
pub fn load_text(text: &str, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    load_text_inner(text, options).map_err(|error| {
        // Loki's hint, for a file written for expansion and read without it.
        if !options.expand_env && text.contains("${") {
            ConfigError::Invalid(format!(
                "{error}. Use `-config.expand-env=true` flag if you want to expand environment variables in your config file"
            ))
        } else {
            error
        }
    })
}

fn load_text_inner(text: &str, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let schema = KeySchema::get();
    let expanded;
    let text = if options.expand_env {
        expanded = envsubst::expand(text, options.env)?;
        expanded.as_str()
    } else {
        text
    };
    let mut tree = parse_yaml(text).map_err(ConfigError::Yaml)?;
    for (path, value) in options.settings {
        set_path(&mut tree, path, value, schema)?;
    }
    let mut errors = Vec::new();
    check_tree(schema, &Location::root(), &tree, &mut errors);
    if !errors.is_empty() {
        return Err(ConfigError::Keys(errors));
    }
    let (config, ignored) = deserialize::<Config>(&tree)?;
    let notes = crate::validate::validate(&config)?;
    Ok(Loaded { config, ignored, notes, tree })
}

/// YAML text as a tree, normalised as Loki's YAML reader sees it: an empty value
/// (`key:` or `key: ~`) leaves the key at its default, and a whole number written as
/// a float (`chunk_target_size: 1.572864e+06`) is that number.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Mapping::new()));
    }
    let mut tree: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    normalise(&mut tree);
    match tree {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Mapping(_) => Ok(tree),
        other => Err(format!("the configuration must be a block of keys, not {}", describe(&other))),
    }
}

fn normalise(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(normalise);
        }
        Value::Sequence(items) => items.iter_mut().for_each(normalise),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = Value::Number((f as i64).into());
            }
        }
        Value::Tagged(tagged) => normalise(&mut tagged.value),
        _ => {}
    }
}

/// Sets `path` (dotted keys) to a flag's value, typed by the key's kind.
fn set_path(tree: &mut Value, path: &str, text: &str, schema: &KeySchema) -> Result<(), ConfigError> {
    let kind = schema.key(path).map(|k| k.kind).unwrap_or(Kind::String);
    let value = match kind {
        Kind::Bool => Value::Bool(matches!(text, "1" | "t" | "T" | "true" | "TRUE" | "True")),
        Kind::Int | Kind::Float => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(number @ Value::Number(_)) => number,
            _ => Value::String(text.to_string()),
        },
        Kind::List => {
            Value::Sequence(text.split(',').map(|s| Value::String(s.trim().to_string())).filter(|v| v.as_str() != Some("")).collect())
        }
        _ => Value::String(text.to_string()),
    };
    let mut node = tree;
    let keys: Vec<&str> = path.split('.').collect();
    for (depth, key) in keys.iter().enumerate() {
        let Value::Mapping(map) = node else {
            return Err(ConfigError::Value { path: keys[..depth].join("."), message: "is set in the file to a value, not a block".into() });
        };
        let key = Value::String(key.to_string());
        if depth + 1 == keys.len() {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert_with(|| Value::Mapping(Mapping::new()));
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
    }
    Ok(())
}

/// Deserializes a checked tree, collecting the keys the target type does not read.
pub fn deserialize<T: DeserializeOwned>(tree: &Value) -> Result<(T, Vec<String>), ConfigError> {
    let mut ignored = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| ignored.push(dotted(&path));
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(tree.clone(), &mut note));
    let value = result.map_err(|e| ConfigError::Value { path: e.path().to_string(), message: e.inner().to_string() })?;
    ignored.sort();
    ignored.dedup();
    Ok((value, ignored))
}

/// `a.b[0].c` from serde_ignored's path.
fn dotted(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        Path::Map { parent, key } => {
            let parent = dotted(parent);
            if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

/// Parses configuration text with every default, no flags and no environment: for
/// tests and tools. Ignored keys are allowed.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    load_text(text, &LoadOptions { env: &|_| None, ..LoadOptions::default() }).map(|loaded| loaded.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lokis_sample_config_loads_with_ignored_keys_named() {
        let loaded = load_text(
            "auth_enabled: false\nserver:\n  http_listen_port: 3100\n  grpc_listen_port: 9096\n  log_level: debug\n  grpc_server_max_concurrent_streams: 1000\ncommon:\n  instance_addr: 127.0.0.1\n  path_prefix: /tmp/loki\n  storage:\n    filesystem:\n      chunks_directory: /tmp/loki/chunks\n      rules_directory: /tmp/loki/rules\n  replication_factor: 1\n  ring:\n    kvstore:\n      store: inmemory\nquery_range:\n  results_cache:\n    cache:\n      embedded_cache:\n        enabled: true\n        max_size_mb: 100\nlimits_config:\n  metric_aggregation_enabled: true\nfrontend:\n  encoding: protobuf\nruler:\n  alertmanager_url: http://localhost:9093\ningester:\n  chunk_target_size: 1.572864e+06\n",
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(loaded.config.server.grpc_listen_port, Some(9096));
        assert_eq!(loaded.config.ingester.chunk_target_size, 1_572_864);
        assert_eq!(
            loaded.ignored,
            vec![
                "common.instance_addr",
                "frontend.encoding",
                "limits_config.metric_aggregation_enabled",
                "server.grpc_server_max_concurrent_streams"
            ]
        );
    }

    #[test]
    fn flags_override_the_file_with_their_kind() {
        let settings = vec![
            ("server.http_listen_port".to_string(), "3200".to_string()),
            ("auth_enabled".to_string(), "true".to_string()),
            ("limits_config.ingestion_rate_mb".to_string(), "7.5".to_string()),
        ];
        let options = LoadOptions { settings: &settings, ..LoadOptions::default() };
        let loaded = load_text("server:\n  http_listen_port: 3100\n", &options).unwrap();
        assert_eq!(loaded.config.server.http_listen_port, 3200);
        assert!(loaded.config.auth_enabled);
        assert_eq!(loaded.config.limits_config.ingestion_rate_mb, 7.5);
    }

    #[test]
    fn environment_expansion() {
        let env = |name: &str| (name == "PORT").then(|| "3300".to_string());
        let options = LoadOptions { expand_env: true, env: &env, settings: &[] };
        let loaded =
            load_text("server:\n  http_listen_port: ${PORT}\n  grpc_listen_port: ${UNSET}\n  log_level: ${LEVEL:-warn}\n", &options)
                .unwrap();
        assert_eq!(loaded.config.server.http_listen_port, 3300);
        assert_eq!(loaded.config.server.grpc_listen_port, None);
        assert_eq!(loaded.config.server.log_level, "warn");
        let error = load_text("server:\n  http_listen_port: ${PORT}\n", &LoadOptions::default()).unwrap_err().to_string();
        assert!(error.contains("-config.expand-env=true"), "{error}");
    }

    #[test]
    fn a_misspelt_key_is_refused_with_the_nearest() {
        let error = parse("limits_config:\n  ingestion_rate_mbb: 4\n").unwrap_err().to_string();
        assert_eq!(error, "unknown key limits_config.ingestion_rate_mbb (did you mean limits_config.ingestion_rate_mb?)");
        let error = parse("serverr: {}\n").unwrap_err().to_string();
        assert!(error.contains("serverr") && error.contains("did you mean server?"), "{error}");
    }

    #[test]
    fn wrong_values_name_their_path() {
        let error = parse("server:\n  http_listen_port: high\n").unwrap_err().to_string();
        assert!(error.starts_with("server.http_listen_port: "), "{error}");
        let error = parse("- a\n- b\n").unwrap_err().to_string();
        assert!(error.contains("must be a block of keys"), "{error}");
        assert!(parse("").is_ok());
    }
}
