//! Strings quoted as Go quotes them, because Loki's and logcli's outputs are Go's:
//! `strconv.Quote` (label values in `{a="b"}`, `%q`) and `encoding/json` (JSON text:
//! logcli's `--output jsonl`, templates' `toJson`, Promtail's `json` stage). One loop,
//! two escape sets.

/// How to escape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `strconv.Quote`: `\a`, `\v`, `\xNN` for other ASCII controls, `\u`/`\U` for other
    /// non-printable characters.
    Strconv,
    /// `encoding/json` (Go 1.22 and later): `\b`, `\f`, `\u00NN` for other controls, and
    /// `<`, `>`, `&`, U+2028, U+2029 as `\u` escapes (safe in HTML).
    Json,
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
            _ if style == Style::Strconv && (code < 0x20 || code == 0x7f) => out.push_str(&format!("\\x{code:02x}")),
            _ if style == Style::Strconv && c.is_control() && code <= 0xffff => out.push_str(&format!("\\u{code:04x}")),
            _ if style == Style::Strconv && c.is_control() => out.push_str(&format!("\\U{code:08x}")),
            _ => out.push(c),
        }
    }
    out.push('"');
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
    }
}
