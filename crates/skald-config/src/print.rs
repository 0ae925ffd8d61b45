//! The effective configuration as YAML, as Loki prints it at `GET /config` (and with
//! `-print-config-stderr`): every setting Skald reads with its value, secrets as
//! `<secret>`. `?mode=diff` keeps what differs from the defaults, `?mode=defaults`
//! prints the defaults.

use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

/// Which view of a configuration to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Diff,
    Defaults,
}

impl Mode {
    /// Loki's `mode` query parameter; `None` for an unknown mode.
    pub fn parse(mode: Option<&str>) -> Option<Mode> {
        match mode {
            None | Some("") => Some(Mode::Full),
            Some("diff") => Some(Mode::Diff),
            Some("defaults") => Some(Mode::Defaults),
            Some(_) => None,
        }
    }
}

/// YAML text of a configuration in the given view.
pub fn render<T: Serialize>(actual: &T, defaults: &T, mode: Mode) -> String {
    let tree = |value: &T| serde_yaml_ng::to_value(value).unwrap_or(Value::Null);
    let value = match mode {
        Mode::Full => tree(actual),
        Mode::Defaults => tree(defaults),
        Mode::Diff => diff(&tree(defaults), &tree(actual)).unwrap_or_else(|| Value::Mapping(Mapping::new())),
    };
    serde_yaml_ng::to_string(&value).unwrap_or_default()
}

/// The parts of `actual` that differ from `defaults` (`None` when nothing does).
pub fn diff(defaults: &Value, actual: &Value) -> Option<Value> {
    match (defaults, actual) {
        (Value::Mapping(defaults), Value::Mapping(actual)) => {
            let mut out = Mapping::new();
            for (key, value) in actual {
                let changed = match defaults.get(key) {
                    Some(default) => diff(default, value),
                    None => Some(value.clone()),
                };
                if let Some(changed) = changed {
                    out.insert(key.clone(), changed);
                }
            }
            (!out.is_empty()).then_some(Value::Mapping(out))
        }
        (defaults, actual) => (defaults != actual).then(|| actual.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sections::Config;

    #[test]
    fn full_diff_and_defaults() {
        let config =
            crate::parse("server:\n  http_listen_port: 3200\nstorage_config:\n  aws:\n    bucketnames: b\n    secret_access_key: hush\n")
                .unwrap();
        let full = render(&config, &Config::default(), Mode::Full);
        assert!(full.contains("http_listen_port: 3200"), "{full}");
        assert!(full.contains("secret_access_key: <secret>") && !full.contains("hush"), "{full}");
        assert!(full.contains("chunk_idle_period: 30m"), "{full}");
        let changed = render(&config, &Config::default(), Mode::Diff);
        assert!(changed.contains("http_listen_port: 3200") && !changed.contains("chunk_idle_period"), "{changed}");
        let defaults = render(&config, &Config::default(), Mode::Defaults);
        assert!(defaults.contains("http_listen_port: 3100"), "{defaults}");
        assert_eq!(Mode::parse(Some("nope")), None);
    }

    #[test]
    fn the_printed_config_reads_back_the_same() {
        let config = crate::parse(
            "limits_config:\n  max_line_size: 512KB\n  reject_old_samples_max_age: 1w\ningester:\n  chunk_target_size: 1572864\n",
        )
        .unwrap();
        let text = render(&config, &Config::default(), Mode::Full);
        let again = crate::parse(&text.replace("<secret>", "")).unwrap();
        assert_eq!(again.limits_config, config.limits_config);
        assert_eq!(again.ingester.chunk_target_size, config.ingester.chunk_target_size);
    }

    #[test]
    fn every_key_skald_reads_is_lokis_or_skalds_own() {
        // A key Skald reads under a name Loki never had would make a Loki config silently
        // miss it: every path of the printed configuration must be in the schema.
        let schema = crate::schema::KeySchema::get();
        let tree = serde_yaml_ng::to_value(Config::default()).unwrap();
        let mut unknown = Vec::new();
        walk(schema, &crate::check::Location::root(), &tree, &mut unknown);
        assert!(
            unknown.is_empty(),
            "keys Skald reads that no Loki version has (add them to SKALD_KEYS if they are Skald's own): {unknown:?}"
        );
    }

    fn walk(schema: &crate::schema::KeySchema, at: &crate::check::Location, value: &Value, unknown: &mut Vec<String>) {
        if let Value::Mapping(map) = value {
            for (key, child) in map {
                let location = at.child(schema, key.as_str().unwrap());
                match schema.key(&location.pattern) {
                    None => unknown.push(location.path.clone()),
                    Some(info) if info.kind == crate::schema::Kind::Any => {}
                    Some(_) => walk(schema, &location, child, unknown),
                }
            }
        }
    }
}
