//! Strict reading of one stage's YAML configuration.
//!
//! Promtail decodes stage configs with `mapstructure`, which silently ignores unknown
//! keys; a typo there (`expresion:`) turns a stage into a no-op nobody notices. Here every
//! stage lists the keys it knows and anything else is refused, naming the key. Errors are
//! plain strings: the caller ([`crate::stage::build`]) wraps them into a
//! [`crate::ConfigError`] with the stage's index and name.

use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;

/// The keys of one stage's mapping, checked against the keys the stage accepts.
pub(crate) struct Fields<'a> {
    map: Option<&'a Mapping>,
}

/// Renders a YAML key or scalar for an error message.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("tagged value {}", t.tag),
    }
}

impl<'a> Fields<'a> {
    /// Checks that `value` is a mapping (or null: an empty config such as `cri: {}` or
    /// `cri:`) whose keys are all in `allowed`.
    pub fn new(value: &'a Value, allowed: &[&str]) -> Result<Fields<'a>, String> {
        let map = match value {
            Value::Null => return Ok(Fields { map: None }),
            Value::Mapping(map) => map,
            other => return Err(format!("expected a mapping of options, got {}", describe(other))),
        };
        for key in map.keys() {
            let known = key.as_str().is_some_and(|k| allowed.contains(&k));
            if !known {
                return Err(format!("unknown key {} (known keys: {})", describe(key), allowed.join(", ")));
            }
        }
        Ok(Fields { map: Some(map) })
    }

    /// The raw value of `key`, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        let value = self.map?.get(key)?;
        if value.is_null() { None } else { Some(value) }
    }

    /// A scalar option as a string (numbers and booleans are accepted as their text, as
    /// mapstructure's weak decoding does).
    pub fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => scalar_string(value).map(Some).map_err(|e| format!("{key}: {e}")),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<String, String> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(format!("{key} is required")),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(other) => Err(format!("{key}: expected true or false, got {}", describe(other))),
        }
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| format!("{key}: expected a non-negative integer, got {s:?}")),
            Some(other) => Err(format!("{key}: expected a non-negative integer, got {}", describe(other))),
        }
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| format!("{key}: expected a number, got {s:?}")),
            Some(other) => Err(format!("{key}: expected a number, got {}", describe(other))),
        }
    }

    /// A map of name -> optional string (`labels: {level: "", app: service}`).
    pub fn string_map(&self, key: &str) -> Result<Option<BTreeMap<String, Option<String>>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => string_map(value).map(Some).map_err(|e| format!("{key}: {e}")),
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => string_list(value).map(Some).map_err(|e| format!("{key}: {e}")),
        }
    }
}

/// A scalar as text; mappings and lists are refused.
pub(crate) fn scalar_string(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, got {}", describe(other))),
    }
}

/// A mapping of string keys to optional scalar values (null or empty means "same name").
pub(crate) fn string_map(value: &Value) -> Result<BTreeMap<String, Option<String>>, String> {
    let Value::Mapping(map) = value else {
        return Err(format!("expected a mapping, got {}", describe(value)));
    };
    let mut out = BTreeMap::new();
    for (key, item) in map {
        let key = scalar_string(key).map_err(|e| format!("key: {e}"))?;
        let item = match item {
            Value::Null => None,
            other => Some(scalar_string(other).map_err(|e| format!("{key}: {e}"))?),
        };
        out.insert(key, item);
    }
    Ok(out)
}

pub(crate) fn string_list(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(scalar_string(item).map_err(|e| format!("[{i}]: {e}"))?);
            }
            Ok(out)
        }
        other => Ok(vec![scalar_string(other)?]),
    }
}

/// A Go duration (`3s`, `1m30s`, `500ms`) in nanoseconds, refusing negative values.
pub(crate) fn duration(key: &str, text: &str) -> Result<i64, String> {
    let ns = skald_logql::pipeline::parse_go_duration(text).map_err(|e| format!("{key}: {e}"))?;
    if ns < 0 {
        return Err(format!("{key}: duration must not be negative, got {text:?}"));
    }
    Ok(ns)
}

/// Compiles a Go RE2 expression (ASCII `\d \w \s \b`) for `&str` matching.
pub(crate) fn go_regex(key: &str, pattern: &str) -> Result<regex::Regex, String> {
    let translated = skald_logql::pipeline::translate_go_regex(pattern);
    regex::RegexBuilder::new(&translated)
        .size_limit(16 << 20)
        .build()
        .map_err(|e| format!("{key}: could not compile regular expression {pattern:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).expect("test yaml")
    }

    #[test]
    fn unknown_keys_are_named() {
        let v = yaml("{expression: a, expresion: b}");
        let err = Fields::new(&v, &["expression", "source"]).err().unwrap_or_default();
        assert!(err.contains("unknown key \"expresion\""), "{err}");
        let v = yaml("[1, 2]");
        assert!(Fields::new(&v, &["a"]).is_err());
        assert!(Fields::new(&Value::Null, &["a"]).is_ok());
    }

    #[test]
    fn typed_getters() {
        let v = yaml("{a: 3, b: 'x', c: true, d: [x, y], e: {k: null, l: v}, f: -1, g: 1.5}");
        let f = Fields::new(&v, &["a", "b", "c", "d", "e", "f", "g"]).unwrap();
        assert_eq!(f.string("a").unwrap().as_deref(), Some("3"));
        assert_eq!(f.u64("a").unwrap(), Some(3));
        assert!(f.u64("f").is_err());
        assert!(f.u64("b").is_err());
        assert_eq!(f.bool("c").unwrap(), Some(true));
        assert!(f.bool("a").is_err());
        assert_eq!(f.string_list("d").unwrap().unwrap(), vec!["x", "y"]);
        assert_eq!(f.string_list("b").unwrap().unwrap(), vec!["x"]);
        let map = f.string_map("e").unwrap().unwrap();
        assert_eq!(map.get("k"), Some(&None));
        assert_eq!(map.get("l"), Some(&Some("v".to_string())));
        assert!(f.string("d").is_err());
        assert_eq!(f.f64("g").unwrap(), Some(1.5));
        assert!(f.required_string("missing").unwrap_err().contains("missing is required"));
    }

    #[test]
    fn durations_and_regexes() {
        assert_eq!(duration("d", "1m30s").unwrap(), 90_000_000_000);
        assert!(duration("d", "-1s").is_err());
        assert!(duration("d", "soon").unwrap_err().starts_with("d: "));
        let re = go_regex("expression", r"^\d+$").unwrap();
        assert!(re.is_match("42"));
        assert!(!re.is_match("٤٢"));
        assert!(go_regex("expression", "(").unwrap_err().contains("expression"));
    }
}
