//! Go RE2 regular expressions on top of the `regex` crate.
//!
//! Go's `\d`, `\w`, `\s` and `\b` are ASCII-only while the `regex` crate's are Unicode
//! aware; everything else LogQL uses (syntax, `(?i)`, leftmost-first semantics) agrees.
//! [`translate`] rewrites the Perl classes to their ASCII forms before compiling, and
//! escapes what Go reads literally and the crate would not (`{` without a count).

use regex::bytes::{Regex, RegexBuilder};

/// Rewrites Go-only semantics of a pattern into `regex` crate syntax.
pub fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut class_depth = 0usize;
    // true right after `[` or `[^` (a `]` there is literal)
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                class_start = false;
                let inside = class_depth > 0;
                match (n, inside) {
                    ('d', false) => out.push_str("[0-9]"),
                    ('D', false) => out.push_str("[^0-9]"),
                    ('w', false) => out.push_str("[0-9A-Za-z_]"),
                    ('W', false) => out.push_str("[^0-9A-Za-z_]"),
                    ('s', false) => out.push_str("[\\t\\n\\x0C\\r ]"),
                    ('S', false) => out.push_str("[^\\t\\n\\x0C\\r ]"),
                    ('b', false) => out.push_str("(?-u:\\b)"),
                    ('B', false) => out.push_str("(?-u:\\B)"),
                    ('d', true) => out.push_str("0-9"),
                    ('w', true) => out.push_str("0-9A-Za-z_"),
                    ('s', true) => out.push_str("\\t\\n\\x0C\\r "),
                    ('D', true) => out.push_str("[^0-9]"),
                    ('W', true) => out.push_str("[^0-9A-Za-z_]"),
                    ('S', true) => out.push_str("[^\\t\\n\\x0C\\r ]"),
                    ('Q', _) => {
                        // literal text up to \E
                        let mut lit = String::new();
                        loop {
                            match chars.next() {
                                None => break,
                                Some('\\') if chars.peek() == Some(&'E') => {
                                    chars.next();
                                    break;
                                }
                                Some(ch) => lit.push(ch),
                            }
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    _ => {
                        out.push('\\');
                        let mut n = n;
                        let mut ahead = chars.clone();
                        if matches!(n, 'p' | 'P') && ahead.next() == Some('{') && ahead.next() == Some('^') {
                            // Go's `\p{^Greek}` is the crate's `\P{Greek}`.
                            chars.next();
                            chars.next();
                            n = if n == 'p' { 'P' } else { 'p' };
                            out.push(n);
                            out.push('{');
                        } else {
                            out.push(n);
                        }
                        if matches!(n, 'p' | 'P' | 'x') && (out.ends_with('{') || chars.peek() == Some(&'{')) {
                            // `\p{Greek}`, `\x{41}`: the braces belong to the escape.
                            for ch in chars.by_ref() {
                                out.push(ch);
                                if ch == '}' {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            '[' => {
                if class_depth > 0 && chars.peek() == Some(&':') {
                    // POSIX class [:alpha:] inside a class: copy verbatim.
                    out.push('[');
                    for ch in chars.by_ref() {
                        out.push(ch);
                        if ch == ']' {
                            break;
                        }
                    }
                    class_start = false;
                    continue;
                }
                if class_depth > 0 {
                    // a literal `[` inside a class in Go; escape it for the regex crate
                    if class_start {
                        class_start = false;
                    }
                    out.push_str("\\[");
                    continue;
                }
                class_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            ']' if class_depth > 0 => {
                if class_start {
                    out.push_str("\\]");
                    class_start = false;
                } else {
                    class_depth -= 1;
                    out.push(']');
                }
            }
            '&' | '~' | '-' if class_depth > 0 => {
                // The regex crate gives `&&`, `~~`, `--` set-operation meaning; Go does not.
                class_start = false;
                if c != '-' || chars.peek() == Some(&'-') {
                    out.push('\\');
                }
                out.push(c);
            }
            '{' if class_depth == 0 => {
                // Go reads `{` as a literal unless a repeat count follows (`a{,2}`, `a{x}`).
                let rest: String = std::iter::once('{').chain(chars.clone()).collect();
                if super::goregex_syntax::parse_repeat(&rest).is_none() {
                    out.push('\\');
                }
                out.push('{');
            }
            _ => {
                class_start = false;
                out.push(c);
            }
        }
    }
    out
}

/// Compiles a Go regular expression (unanchored) to a bytes regex.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    super::goregex_syntax::check(pattern)?;
    let translated = translate(pattern);
    RegexBuilder::new(&translated).octal(true).size_limit(64 << 20).build().map_err(|e| format!("error parsing regexp: {e}"))
}

/// Compiles a fully anchored Go regular expression (label matchers).
pub fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern);
    RegexBuilder::new(&format!("^(?:{translated})$"))
        .octal(true)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| format!("error parsing regexp: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii() {
        let re = compile(r"^\d+$").unwrap();
        assert!(re.is_match(b"123"));
        assert!(!re.is_match("١٢٣".as_bytes()));
        let re = compile(r"^\w+$").unwrap();
        assert!(!re.is_match("é".as_bytes()));
        let re = compile(r"[\d.]+").unwrap();
        assert!(re.is_match(b"1.5"));
        let re = compile(r"(?i)token").unwrap();
        assert!(re.is_match(b"TOKEN refreshed"));
        let re = compile(r"a\bb|x\b").unwrap();
        assert!(re.is_match(b"x y"));
        let re = compile(r"[]a]").unwrap();
        assert!(re.is_match(b"]"));
        let re = compile(r"[a-c&&b]").unwrap();
        assert!(re.is_match(b"&"));
        let re = compile(r#"HTTP/1.1" 5\d\d"#).unwrap();
        assert!(re.is_match(br#"GET / HTTP/1.1" 503 1"#));
        let re = compile_anchored("5..").unwrap();
        assert!(re.is_match(b"503"));
        assert!(!re.is_match(b"1503"));
    }
}
