//! OTLP values and names as Loki renders them (pdata's `AsString`, otlptranslator's
//! label namer): an attribute becomes label or metadata pairs, a body becomes a line.

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use skald_common::{go_json_float, go_json_quote_no_html};
use std::collections::BTreeMap;

/// A label or metadata name as Loki builds it from an attribute key: every run of
/// characters other than `[a-zA-Z0-9]` (underscores included) becomes one `_`, a leading
/// digit gets `key_` in front, `__x__` keeps its double underscores. Empty names and
/// names of underscores only are errors, as in Loki.
pub fn sanitize_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("label name is empty".into());
    }
    if name.len() >= 4 && name.starts_with("__") && name.ends_with("__") {
        let inner = sanitize_runs(&name[2..name.len() - 2]);
        return Ok(format!("__{inner}__"));
    }
    let mut out = sanitize_runs(name);
    if out.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.insert_str(0, "key_");
    }
    if out.bytes().all(|b| b == b'_') {
        return Err(format!("normalization for label name {name:?} resulted in invalid name {out:?}"));
    }
    Ok(out)
}

fn sanitize_runs(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut replaced = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            replaced = false;
        } else if !replaced {
            out.push('_');
            replaced = true;
        }
    }
    out
}

/// A value as a string (pdata's `AsString`): strings as they are, numbers as Go prints
/// them, bytes in base64, arrays and maps as compact JSON (keys sorted; `""` where a NaN
/// or infinity makes Go's encoder fail), nothing as `""`.
pub fn as_string(value: Option<&AnyValue>) -> String {
    let Some(inner) = value.and_then(|v| v.value.as_ref()) else { return String::new() };
    match inner {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(f) => double(*f),
        Value::BytesValue(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Value::ArrayValue(_) | Value::KvlistValue(_) => {
            let mut out = String::new();
            if json(&mut out, inner).is_some() { out } else { String::new() }
        }
        // A reference into a profiles string table: no such table for logs (pdata: "").
        Value::StringValueStrindex(_) => String::new(),
    }
}

/// A double as pdata prints it: as Go's JSON encoder, but `NaN`, `Infinity`, `-Infinity`.
fn double(f: f64) -> String {
    match go_json_float(f) {
        Some(text) => text,
        None if f.is_nan() => "NaN".into(),
        None if f > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

/// Compact JSON of a value as Go's encoder writes `AsRaw()` (HTML escaping off).
fn json(out: &mut String, value: &Value) -> Option<()> {
    match value {
        Value::StringValue(s) => go_json_quote_no_html(s, out),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => out.push_str(&i.to_string()),
        Value::DoubleValue(f) => out.push_str(&go_json_float(*f)?),
        Value::BytesValue(bytes) => go_json_quote_no_html(&base64::engine::general_purpose::STANDARD.encode(bytes), out),
        Value::StringValueStrindex(_) => out.push_str("null"),
        Value::ArrayValue(array) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_any(out, Some(item))?;
            }
            out.push(']');
        }
        Value::KvlistValue(list) => {
            // A map: keys sorted, the last of a repeated key wins.
            let entries: BTreeMap<&str, Option<&AnyValue>> = list.values.iter().map(|kv| (kv.key.as_str(), kv.value.as_ref())).collect();
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_quote_no_html(key, out);
                out.push(':');
                json_any(out, item)?;
            }
            out.push('}');
        }
    }
    Some(())
}

fn json_any(out: &mut String, value: Option<&AnyValue>) -> Option<()> {
    match value.and_then(|v| v.value.as_ref()) {
        Some(inner) => json(out, inner),
        None => {
            out.push_str("null");
            Some(())
        }
    }
}

/// An attribute as (name, value) pairs: a map flattens into one pair per leaf, named
/// `parent_child` (each step sanitised); an empty map gives none; anything else one pair.
pub fn flatten(attribute: &KeyValue, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let name = sanitize_name(&attribute.key)?;
    flatten_value(name, attribute.value.as_ref(), out)
}

fn flatten_value(name: String, value: Option<&AnyValue>, out: &mut Vec<(String, String)>) -> Result<(), String> {
    if let Some(Value::KvlistValue(list)) = value.and_then(|v| v.value.as_ref()) {
        for child in &list.values {
            let child_name = sanitize_name(&format!("{name}_{}", child.key))?;
            flatten_value(child_name, child.value.as_ref(), out)?;
        }
        return Ok(());
    }
    out.push((name, as_string(value)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn v(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(v(value)), ..Default::default() }
    }

    #[test]
    fn names_as_loki_builds_them() {
        for (name, want) in [
            ("service.name", "service_name"),
            ("a..b", "a_b"),
            ("a__b", "a_b"),
            ("_foo", "_foo"),
            ("foo.", "foo_"),
            ("héllo", "h_llo"),
            ("__a.b__", "__a_b__"),
            ("123abc", "key_123abc"),
            ("st.r", "st_r"),
        ] {
            assert_eq!(sanitize_name(name).as_deref(), Ok(want), "{name}");
        }
        assert!(sanitize_name("").is_err());
        assert!(sanitize_name("___").is_err());
        assert!(sanitize_name(".").is_err());
    }

    #[test]
    fn values_as_loki_renders_them() {
        // Loki's otlplabels test "with attributes".
        let nested = Value::KvlistValue(KeyValueList {
            values: vec![
                kv("foo", Value::StringValue("bar".into())),
                kv("more", Value::KvlistValue(KeyValueList { values: vec![kv("key", Value::StringValue("val".into()))] })),
            ],
        });
        let slice = Value::ArrayValue(ArrayValue {
            values: vec![
                v(Value::IntValue(1)),
                v(Value::ArrayValue(ArrayValue { values: vec![v(Value::StringValue("foo".into()))] })),
                v(Value::KvlistValue(KeyValueList { values: vec![kv("fizz", Value::StringValue("buzz".into()))] })),
            ],
        });
        let attributes = vec![
            KeyValue { key: "empty".into(), value: None, ..Default::default() },
            kv("str", Value::StringValue("val".into())),
            kv("int", Value::IntValue(1)),
            kv("double", Value::DoubleValue(3.25)),
            kv("bool", Value::BoolValue(true)),
            kv("bytes", Value::BytesValue(vec![1, 2, 3])),
            kv("slice", slice),
            kv("nested", nested),
        ];
        let mut pairs = Vec::new();
        for attribute in &attributes {
            flatten(attribute, &mut pairs).unwrap();
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                ("empty", ""),
                ("str", "val"),
                ("int", "1"),
                ("double", "3.25"),
                ("bool", "true"),
                ("bytes", "AQID"),
                ("slice", r#"[1,["foo"],{"fizz":"buzz"}]"#),
                ("nested_foo", "bar"),
                ("nested_more_key", "val"),
            ]
        );
        let mut deep = Vec::new();
        let odd = Value::KvlistValue(KeyValueList {
            values: vec![kv("m$ore", Value::KvlistValue(KeyValueList { values: vec![kv("k_ey", Value::StringValue("val".into()))] }))],
        });
        flatten(&kv("nest*ed", odd), &mut deep).unwrap();
        assert_eq!(deep, vec![("nest_ed_m_ore_k_ey".to_string(), "val".to_string())]);
        assert_eq!(as_string(Some(&v(Value::DoubleValue(f64::INFINITY)))), "Infinity");
        assert_eq!(as_string(Some(&v(Value::DoubleValue(1e21)))), "1e+21");
        let bad = Value::ArrayValue(ArrayValue { values: vec![v(Value::DoubleValue(f64::NAN))] });
        assert_eq!(as_string(Some(&v(bad))), "", "Go's encoder fails on NaN inside");
        let html =
            Value::KvlistValue(KeyValueList { values: vec![kv("b", Value::StringValue("<&>".into())), kv("a", Value::IntValue(1))] });
        assert_eq!(as_string(Some(&v(html))), r#"{"a":1,"b":"<&>"}"#);
    }
}
