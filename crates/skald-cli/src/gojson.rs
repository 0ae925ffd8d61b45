//! JSON text byte-for-byte as Go's `encoding/json` writes it, because logcli's outputs
//! are Go's: `json.Marshal` (compact, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029
//! escaped as `\u003c`...) for `--output jsonl`, and `json.MarshalIndent(v, "", "  ")`
//! for metric results (every non-empty array and object broken over lines, no newline
//! at the end).

use serde_json::Value;

/// A JSON string literal as Go's encoder writes it.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    skald_common::go_json_quote(s, &mut out);
    out
}

/// A number as Go prints a `float64` in JSON (shortest form, integers without `.0`).
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i128),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// `json.Marshal`: compact; object keys sorted when `sort_keys` (Go maps), else in order
/// (Go structs).
pub fn compact(value: &Value, sort_keys: bool) -> String {
    let mut out = String::new();
    write_compact(&mut out, value, sort_keys);
    out
}

fn write_compact(out: &mut String, value: &Value, sort_keys: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => out.push_str(&string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(out, item, sort_keys);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&string(key));
                out.push(':');
                write_compact(out, item, sort_keys);
            }
            out.push('}');
        }
    }
}

/// `json.MarshalIndent(v, "", "  ")`, keys in the value's order (callers build values
/// whose order is Go's).
pub fn indent(value: &Value) -> String {
    let mut out = String::new();
    write_indented(&mut out, value, 0);
    out
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_indented(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_indented(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&string(key));
                out.push_str(": ");
                write_indented(out, item, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
        other => write_compact(out, other, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(string("a<b>&\"\\\n\u{1}"), r#""a\u003cb\u003e\u0026\"\\\n\u0001""#);
        assert_eq!(string("héllo"), "\"héllo\"");
    }

    #[test]
    fn compact_sorts_map_keys() {
        let value = json!({"timestamp": "t", "line": "l", "labels": {"b": "2", "a": "1"}});
        assert_eq!(compact(&value, true), r#"{"labels":{"a":"1","b":"2"},"line":"l","timestamp":"t"}"#);
    }

    #[test]
    fn indent_matches_marshal_indent() {
        let value = json!([{"metric": {"job": "x"}, "value": [1_700_000_000.5, "3"]}, {"metric": {}, "values": []}]);
        let expected = "[\n  {\n    \"metric\": {\n      \"job\": \"x\"\n    },\n    \"value\": [\n      1700000000.5,\n      \"3\"\n    ]\n  },\n  {\n    \"metric\": {},\n    \"values\": []\n  }\n]";
        assert_eq!(indent(&value), expected);
        assert_eq!(indent(&json!([1_700_000_000.0, "1"])), "[\n  1700000000,\n  \"1\"\n]");
    }
}
