//! Checks a YAML tree against the key schema: every key must be one Loki (some
//! version) or Skald knows, and scalar keys must hold a value of their kind. Errors
//! name the full path and, for unknown keys, the nearest known one.

use crate::schema::{KeySchema, Kind, join};
use serde_yaml_ng::Value;

/// A path as the user wrote it (`schema_config.configs[0].store`) and as a pattern of
/// the schema (`schema_config.configs[].store`).
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub path: String,
    pub pattern: String,
}

impl Location {
    pub fn root() -> Location {
        Location::default()
    }

    fn key(&self, key: &str, pattern_key: &str) -> Location {
        Location { path: join(&self.path, key), pattern: join(&self.pattern, pattern_key) }
    }

    fn element(&self, index: usize) -> Location {
        Location { path: format!("{}[{index}]", self.path), pattern: join(&self.pattern, "[]") }
    }

    /// The location of a key below this one: `*` in the pattern when this is a map.
    pub fn child(&self, schema: &KeySchema, key: &str) -> Location {
        if schema.key(&self.pattern).is_some_and(|k| k.kind == Kind::Map) || schema.has_child(&self.pattern, "*") {
            self.key(key, "*")
        } else {
            self.key(key, key)
        }
    }

    pub fn index(&self, index: usize) -> Location {
        self.element(index)
    }
}

/// Checks `value`, found at `at`, and everything below it. Errors are collected (all
/// of them, so one run names every mistake), each one line.
pub fn check_tree(schema: &KeySchema, at: &Location, value: &Value, errors: &mut Vec<String>) {
    let kind = if at.pattern.is_empty() { Kind::Block } else { schema.key(&at.pattern).map(|k| k.kind).unwrap_or(Kind::Any) };
    if value.is_null() {
        return;
    }
    let named_children = schema.child_names(&at.pattern).next().is_some() || schema.has_child(&at.pattern, "*");
    match kind {
        Kind::Any => {}
        Kind::Block | Kind::Map | Kind::List if value.is_mapping() && (kind != Kind::List || named_children) => {
            let Value::Mapping(map) = value else { unreachable!() };
            for (key, child) in map {
                let Some(name) = key_text(key) else {
                    errors.push(format!("{}: a key must be a name, not {}", at.path, describe(key)));
                    continue;
                };
                let location = at.child(schema, &name);
                if schema.key(&location.pattern).is_none() {
                    errors.push(unknown_key(schema, at, &location, &name));
                    continue;
                }
                check_tree(schema, &location, child, errors);
            }
        }
        Kind::List | Kind::Block if value.is_sequence() && (kind == Kind::List || schema.has_child(&at.pattern, "[]")) => {
            let Value::Sequence(items) = value else { unreachable!() };
            if schema.has_child(&at.pattern, "[]") {
                for (index, item) in items.iter().enumerate() {
                    check_tree(schema, &at.element(index), item, errors);
                }
            }
        }
        // A comma-separated string is accepted where Loki takes a list of strings.
        Kind::List if value.is_string() => {}
        Kind::Block | Kind::Map | Kind::List => {
            errors.push(format!("{}: must be {}, not {}", at.path, kind.describe(), describe(value)));
        }
        Kind::Bool => {
            if !value.is_bool() {
                errors.push(format!("{}: must be {}, not {}", at.path, kind.describe(), describe(value)));
            }
        }
        Kind::Int | Kind::Float | Kind::String => {
            // Sizes (`256KB`) and quoted numbers are written as strings: only blocks and
            // lists are wrong here.
            if matches!(value, Value::Mapping(_) | Value::Sequence(_)) {
                errors.push(format!("{}: must be {}, not {}", at.path, kind.describe(), describe(value)));
            }
        }
        Kind::Duration => match value {
            Value::String(text) if skald_common::parse_duration(text).is_ok() => {}
            Value::Number(n) if n.as_i64().is_some() => {}
            other => errors.push(format!("{}: must be {}, not {}", at.path, kind.describe(), describe(other))),
        },
    }
}

fn unknown_key(schema: &KeySchema, parent: &Location, location: &Location, name: &str) -> String {
    match schema.suggest(&parent.pattern, name) {
        Some(suggestion) => format!("unknown key {} (did you mean {suggestion}?)", location.path),
        None => format!("unknown key {} (no Loki version has it)", location.path),
    }
}

/// A mapping key as text (YAML allows numbers and booleans as keys).
pub fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short description of a value for error messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("'{b}'"),
        Value::Number(n) => format!("'{n}'"),
        Value::String(s) if s.chars().count() > 40 => format!("'{}...'", s.chars().take(40).collect::<String>()),
        Value::String(s) => format!("'{s}'"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a block".into(),
        Value::Tagged(tagged) => describe(&tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Vec<String> {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        check_tree(KeySchema::get(), &Location::root(), &value, &mut errors);
        errors
    }

    #[test]
    fn loki_keys_pass() {
        let errors = check(
            "server:\n  grpc_server_max_concurrent_streams: 1000\ncommon:\n  instance_addr: 127.0.0.1\nschema_config:\n  configs:\n    - from: 2020-10-24\n      store: tsdb\n      index:\n        prefix: index_\n        period: 24h\nruler:\n  remote_write:\n    clients:\n      local:\n        url: http://x\n        queue_config:\n          capacity: 1\nlimits_config:\n  max_line_size: 256KB\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        // The deprecated single client, whose keys the reference never spelled out.
        let errors = check("ruler:\n  remote_write:\n    client:\n      url: http://x\n      headers:\n        X-Team: a\n");
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn unknown_keys_and_wrong_kinds_are_named() {
        let errors = check(
            "limits_config:\n  ingestion_rate_mbb: 4\nserver:\n  http_listen_port: [1]\n  register_instrumentation: yes\nschema_config:\n  configs:\n    - form: 2020-01-01\ningester:\n  chunk_idle_period: soon\n",
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(
            errors.contains(&"unknown key limits_config.ingestion_rate_mbb (did you mean limits_config.ingestion_rate_mb?)".to_string()),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.starts_with("server.http_listen_port: must be a number")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("server.register_instrumentation: must be a boolean")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with("unknown key schema_config.configs[0].form (did you mean schema_config.configs[].from?)")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.starts_with("ingester.chunk_idle_period: must be a duration")), "{errors:?}");
    }
}
