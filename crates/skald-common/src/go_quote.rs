//! Strings and floats written as Go writes them, because Loki's and logcli's outputs are
//! Go's: `strconv.Quote` (label values in `{a="b"}`, `%q`) and `encoding/json` (JSON
//! text: logcli's `--output jsonl`, templates' `toJson`, Promtail's `json` stage, OTLP
//! values rendered by Loki, which turns HTML escaping off). One loop, three escape sets.

/// How to escape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `strconv.Quote`: `\a`, `\v`, `\xNN` for other ASCII controls, `\u`/`\U` for other
    /// non-printable characters.
    Strconv,
    /// `encoding/json` (Go 1.22 and later): `\b`, `\f`, `\u00NN` for other controls, and
    /// `<`, `>`, `&`, U+2028, U+2029 as `\u` escapes (safe in HTML).
    Json,
    /// `encoding/json` with `SetEscapeHTML(false)`: `<`, `>`, `&` as they are.
    JsonNoHtml,
}

/// Quotes `s` as Go's `strconv.Quote` does for valid UTF-8.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s, Style::Strconv);
    out
}

/// Appends `s` as a JSON string literal, as Go's `encoding/json` writes it.
pub fn go_json_quote(s: &str, out: &mut String) {
    quote_into(out, s, Style::Json);
}

/// [`go_json_quote`] with HTML escaping off (`Encoder.SetEscapeHTML(false)`).
pub fn go_json_quote_no_html(s: &str, out: &mut String) {
    quote_into(out, s, Style::JsonNoHtml);
}

/// A float as Go's `encoding/json` writes it (ES6 number form): the shortest digits,
/// in `'f'` form unless tiny (`< 1e-6`) or huge (`>= 1e21`), then in `'e'` form with
/// `e-09` cleaned to `e-9` (`1e-07` -> `1e-7`, `1e+21`). `None` for NaN and the
/// infinities, where Go's encoder fails.
pub fn go_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let sci = format!("{f:e}");
        let (mantissa, exponent) = sci.split_once('e')?;
        let exponent: i32 = exponent.parse().ok()?;
        let sign = if exponent < 0 { '-' } else { '+' };
        let digits = if (-9..0).contains(&exponent) { format!("{}", -exponent) } else { format!("{:02}", exponent.unsigned_abs()) };
        return Some(format!("{mantissa}e{sign}{digits}"));
    }
    Some(f.to_string())
}

fn quote_into(out: &mut String, s: &str, style: Style) {
    out.push('"');
    for c in s.chars() {
        let code = c as u32;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{7}' if style == Style::Strconv => out.push_str("\\a"),
            '\u{b}' if style == Style::Strconv => out.push_str("\\v"),
            _ if style == Style::Json && (code < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}')) => {
                out.push_str(&format!("\\u{code:04x}"));
            }
            _ if style == Style::JsonNoHtml && (code < 0x20 || matches!(c, '\u{2028}' | '\u{2029}')) => {
                out.push_str(&format!("\\u{code:04x}"));
            }
            _ if style == Style::Strconv && (code < 0x20 || code == 0x7f) => out.push_str(&format!("\\x{code:02x}")),
            _ if style == Style::Strconv && c.is_control() && code <= 0xffff => out.push_str(&format!("\\u{code:04x}")),
            _ if style == Style::Strconv && c.is_control() => out.push_str(&format!("\\U{code:08x}")),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` kept, space as `+`, every other
/// byte `%XX` (upper-case hex). Sprig's `urlencode` and Prometheus' links use it.
pub fn go_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strconv_quote() {
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(go_quote("\u{1}\u{7}\u{b}\u{7f}"), r#""\x01\a\v\x7f""#);
        assert_eq!(go_quote("é<&>\u{85}\u{8}"), "\"é<&>\\u0085\\b\"");
    }

    #[test]
    fn json_quote() {
        let json = |s: &str| {
            let mut out = String::new();
            go_json_quote(s, &mut out);
            out
        };
        assert_eq!(json("a\"b\\c\n\r\t"), r#""a\"b\\c\n\r\t""#);
        assert_eq!(json("<a & b>\u{2028}"), r#""\u003ca \u0026 b\u003e\u2028""#);
        assert_eq!(json("\u{1}\u{7}\u{8}\u{c}\u{1f}é"), r#""\u0001\u0007\b\f\u001fé""#);
        let mut plain = String::new();
        go_json_quote_no_html("<a & b>\u{2028}\n", &mut plain);
        assert_eq!(plain, r#""<a & b>\u2028\n""#);
    }

    #[test]
    fn json_floats() {
        let cases = [
            (3.25, "3.25"),
            (2.0, "2"),
            (1e21, "1e+21"),
            (1.5e22, "1.5e+22"),
            (1e-7, "1e-7"),
            (1.25e-10, "1.25e-10"),
            (0.000001, "0.000001"),
            (-0.5, "-0.5"),
            (0.0, "0"),
            (123456789.0, "123456789"),
        ];
        for (f, want) in cases {
            assert_eq!(go_json_float(f).as_deref(), Some(want), "{f}");
        }
        assert_eq!(go_json_float(f64::NAN), None);
    }
}
