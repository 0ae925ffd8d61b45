//! The subset of JMESPath that Promtail `json` stage configs use in practice, and Go's
//! `json.Marshal` rendering of extracted objects.
//!
//! Supported: a plain key (`level`), a quoted key (`"dotted.key"`, with JSON escapes),
//! sub-expressions (`a.b."c.d"`) and indexes (`a[0]`, `a[-1]`, `a.b[2][0]`). Anything
//! else (projections, filters, functions) is refused at configuration time with the
//! expression named, rather than silently extracting nothing.
//!
//! Values follow Promtail: strings as they are, numbers as Go's
//! `strconv.FormatFloat(f, 'f', -1, 64)`, booleans as `true`/`false`, `null` as a null
//! extracted value, objects and arrays as compact JSON with sorted keys and `<`, `>`, `&`
//! escaped (what `json.Marshal` of a `map[string]interface{}` prints).

use serde_json::Value as Json;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

/// A compiled path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(expr: &str) -> Result<JsonPath, String> {
        let bytes = expr.as_bytes();
        let mut steps = Vec::new();
        let mut pos = 0;
        let mut expect_key = true;
        while pos < bytes.len() {
            let c = bytes[pos];
            if expect_key {
                if c == b'"' {
                    let (key, next) = quoted_key(expr, pos)?;
                    steps.push(Step::Key(key));
                    pos = next;
                } else if c.is_ascii_alphabetic() || c == b'_' {
                    let start = pos;
                    while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_') {
                        pos += 1;
                    }
                    steps.push(Step::Key(expr[start..pos].to_string()));
                } else if c == b'[' && steps.is_empty() {
                    expect_key = false;
                    continue;
                } else {
                    return Err(unsupported(expr, pos));
                }
                expect_key = false;
                continue;
            }
            match c {
                b'.' => {
                    expect_key = true;
                    pos += 1;
                }
                b'[' => {
                    let close = expr[pos..].find(']').map(|i| pos + i).ok_or_else(|| unsupported(expr, pos))?;
                    let index: i64 = expr[pos + 1..close].trim().parse().map_err(|_| unsupported(expr, pos))?;
                    steps.push(Step::Index(index));
                    pos = close + 1;
                }
                _ => return Err(unsupported(expr, pos)),
            }
        }
        if expect_key || steps.is_empty() {
            return Err(format!("invalid JMESPath expression {expr:?}: incomplete expression"));
        }
        Ok(JsonPath { steps })
    }

    /// Looks the path up in `root`; `None` when a step is missing.
    pub fn find<'a>(&self, root: &'a Json) -> Option<&'a Json> {
        let mut current = root;
        for step in &self.steps {
            current = match (step, current) {
                (Step::Key(k), Json::Object(map)) => map.get(k)?,
                (Step::Index(i), Json::Array(items)) => {
                    let len = items.len() as i64;
                    let at = if *i < 0 { len + i } else { *i };
                    if at < 0 || at >= len {
                        return None;
                    }
                    items.get(at as usize)?
                }
                _ => return None,
            };
        }
        Some(current)
    }
}

fn unsupported(expr: &str, pos: usize) -> String {
    format!("invalid or unsupported JMESPath expression {expr:?} at offset {pos} (supported: keys, \"quoted keys\", a.b, a[0])")
}

/// Reads a JSON-style quoted key starting at `start` (the opening quote).
fn quoted_key(expr: &str, start: usize) -> Result<(String, usize), String> {
    let bytes = expr.as_bytes();
    let mut pos = start + 1;
    while pos < bytes.len() {
        match bytes[pos] {
            b'\\' => pos += 2,
            b'"' => {
                let key: String = serde_json::from_str(&expr[start..=pos]).map_err(|_| unsupported(expr, start))?;
                return Ok((key, pos + 1));
            }
            _ => pos += 1,
        }
    }
    Err(format!("invalid JMESPath expression {expr:?}: unterminated quoted key"))
}

/// Converts a JSON value to an extracted value, as Promtail does.
pub fn to_extracted(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(format_number(n)),
        other => {
            let mut out = String::new();
            go_marshal(other, &mut out);
            Some(out)
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` (JSON numbers are float64 in Go).
fn format_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// Go's `json.Marshal` of an `interface{}`: sorted keys, HTML characters escaped.
pub fn go_marshal(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&go_json_number(n)),
        Json::String(s) => skald_common::go_json_quote(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_marshal(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                skald_common::go_json_quote(key, out);
                out.push(':');
                if let Some(item) = map.get(key) {
                    go_marshal(item, out);
                }
            }
            out.push('}');
        }
    }
}

/// Go marshals float64 with the shortest representation, switching to exponent form
/// below 1e-6 and from 1e21.
fn go_json_number(n: &serde_json::Number) -> String {
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust prints `1e21` / `1.5e-7`; Go prints `1e+21` / `1.5e-07`.
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                let digits = if digits.len() < 2 { format!("0{digits}") } else { digits.to_string() };
                format!("{mantissa}e{sign}{digits}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let doc: Json = serde_json::from_str(r#"{"a":{"b":[{"c":1},{"c":2}]},"dotted.key":"v","l":[1,2,3],"n":null}"#).unwrap();
        let cases: &[(&str, Option<&str>)] = &[
            ("a.b[0].c", Some("1")),
            ("a.b[1].c", Some("2")),
            ("a.b[-1].c", Some("2")),
            ("a.b[5].c", None),
            (r#""dotted.key""#, Some("v")),
            ("l[2]", Some("3")),
            ("a.missing", None),
            ("n", None),
            ("a.b[0]", Some(r#"{"c":1}"#)),
        ];
        for (expr, want) in cases {
            let path = JsonPath::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let got = path.find(&doc).and_then(to_extracted);
            assert_eq!(got.as_deref(), *want, "{expr}");
        }
    }

    #[test]
    fn unsupported_expressions_are_refused() {
        for expr in ["a.", "a[*].b", "a | b", "user-agent", "\"open", "length(a)", ""] {
            assert!(JsonPath::parse(expr).is_err(), "{expr}");
        }
    }

    #[test]
    fn values_render_like_go() {
        let doc: Json = serde_json::from_str(r#"{"z":1,"a":"<b>&","f":1.5,"big":1e21,"small":0.0000001,"i":12345678}"#).unwrap();
        let mut out = String::new();
        go_marshal(&doc, &mut out);
        assert_eq!(out, r#"{"a":"\u003cb\u003e\u0026","big":1e+21,"f":1.5,"i":12345678,"small":1e-07,"z":1}"#);
        assert_eq!(to_extracted(&serde_json::json!(1e21)).as_deref(), Some("1000000000000000000000"));
        assert_eq!(to_extracted(&serde_json::json!(0.5)).as_deref(), Some("0.5"));
        assert_eq!(to_extracted(&serde_json::json!(true)).as_deref(), Some("true"));
        assert_eq!(to_extracted(&serde_json::json!(1_562_708_916_u64)).as_deref(), Some("1562708916"));
    }
}
