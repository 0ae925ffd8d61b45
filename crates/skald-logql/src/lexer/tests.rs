//! Unit tests of the lexer: tokens, literals, comments and lexical errors.

use super::literals::{parse_duration_literal, parse_prometheus_duration};
use super::*;

fn kinds(input: &str) -> Vec<TokKind> {
    lex(input).into_iter().map(|t| t.kind).collect()
}

#[test]
fn selector_tokens() {
    use TokKind::*;
    assert_eq!(
        kinds(r#"{foo="bar", x=~`a\d`}"#),
        vec![LBrace, Ident("foo".into()), Eq, Str("bar".into()), Comma, Ident("x".into()), Re, Str("a\\d".into()), RBrace, Eof]
    );
}

#[test]
fn numbers_durations_bytes() {
    use TokKind::*;
    assert_eq!(kinds("123"), vec![Number("123".into()), Eof]);
    assert_eq!(kinds("-123"), vec![Sub, Number("123".into()), Eof]);
    assert_eq!(kinds(".5 1e3 1.5"), vec![Number(".5".into()), Number("1e3".into()), Number("1.5".into()), Eof]);
    assert_eq!(kinds("123ms"), vec![Duration(123_000_000), Eof]);
    assert_eq!(kinds("-123ms"), vec![Duration(-123_000_000), Eof]);
    assert_eq!(kinds("1h15m30.918273645s"), vec![Duration(4_530_918_273_645), Eof]);
    assert_eq!(kinds("123KB"), vec![Bytes(123_000), Eof]);
    assert_eq!(kinds("1KiB"), vec![Bytes(1024), Eof]);
    assert_eq!(kinds("250kB"), vec![Bytes(250_000), Eof]);
    assert_eq!(kinds("34+-123"), vec![Number("34".into()), Add, Sub, Number("123".into()), Eof]);
    assert_eq!(kinds("34-123"), vec![Number("34".into()), Sub, Number("123".into()), Eof]);
    assert_eq!(kinds("[5m]"), vec![Range(300_000_000_000), Eof]);
    assert_eq!(kinds("[1h30m]"), vec![Range(5_400_000_000_000), Eof]);
    assert!(matches!(kinds("[5x]")[0], Error(_)));
    assert!(matches!(kinds("[5m")[0], Error(_)));
}

#[test]
fn flags_comments_strings() {
    use TokKind::*;
    assert_eq!(
        kinds("logfmt --strict --keep-empty # comment\n|"),
        vec![Ident("logfmt".into()), Flag("--strict".into()), Flag("--keep-empty".into()), Pipe, Eof]
    );
    assert_eq!(kinds(r#""a\"b\n\x41\u00e9""#), vec![Str("a\"b\nAé".into()), Eof]);
    assert!(matches!(kinds("\"abc")[0], Error(_)));
    assert!(matches!(kinds("\"a\\qb\"")[0], Error(_)));
    assert!(matches!(kinds("\"\\xff\"")[0], Error(_)));
    assert_eq!(kinds("{foo=\"#\"}")[3], Str("#".into()));
}

#[test]
fn go_comments() {
    use TokKind::*;
    assert_eq!(kinds("a // comment\n| b"), vec![Ident("a".into()), Pipe, Ident("b".into()), Eof]);
    assert_eq!(kinds("a // comment"), vec![Ident("a".into()), Eof]);
    assert_eq!(kinds("a /* x\n y */ | /**/b"), vec![Ident("a".into()), Pipe, Ident("b".into()), Eof]);
    assert_eq!(kinds("a/*x*/b"), vec![Ident("a".into()), Ident("b".into()), Eof]);
    assert_eq!(kinds("1 / 2"), vec![Number("1".into()), Div, Number("2".into()), Eof]);
    assert_eq!(kinds("1 /2"), vec![Number("1".into()), Div, Number("2".into()), Eof]);
    // Not comments inside strings, raw strings and regexes.
    assert_eq!(kinds(r#""http://x/*y*/""#), vec![Str("http://x/*y*/".into()), Eof]);
    assert_eq!(kinds("`a//b /* c`"), vec![Str("a//b /* c".into()), Eof]);
    // Unterminated block comment: an error at its start.
    let toks = lex("a /* never closed");
    assert_eq!(toks[1], Token { kind: Error("comment not terminated".into()), pos: 2 });
    assert_eq!(toks[2].kind, Eof);
    assert!(matches!(kinds("/*")[0], Error(_)));
    assert!(matches!(kinds("/*/")[0], Error(_)));
    assert_eq!(kinds("/**/"), vec![Eof]);
}

#[test]
fn duration_parsing() {
    assert_eq!(parse_duration_literal("0"), Some(0));
    assert_eq!(parse_duration_literal("1.5s"), Some(1_500_000_000));
    assert_eq!(parse_duration_literal("1y"), Some(365 * 86_400_000_000_000));
    assert_eq!(parse_duration_literal("5"), None);
    assert_eq!(parse_duration_literal("99999999999999999999999y"), None);
    assert_eq!(parse_prometheus_duration("1d2h"), Ok(93_600_000_000_000));
    assert!(parse_prometheus_duration("2h1d").is_err());
    assert!(parse_prometheus_duration("1.5m").is_err());
    assert!(parse_prometheus_duration("").is_err());
}
/// Every short input made of comment, string and operator characters lexes, parses
/// (or fails) and formats without panicking.
#[test]
fn comment_soup_never_panics() {
    const ALPHABET: &[char] = &['/', '*', '#', '"', '`', '\n', '{', '}', 'a', '=', '|', '[', ']', '1', '-'];
    let mut input = String::new();
    for n in 0..ALPHABET.len().pow(4) {
        input.clear();
        let mut k = n;
        for _ in 0..4 {
            input.push(ALPHABET[k % ALPHABET.len()]);
            k /= ALPHABET.len();
        }
        for query in [input.clone(), format!(r#"{{a="b"}} {input} |= "x""#), format!("sum(rate({{a=\"b\"}}{input}[1m]))")] {
            let _ = lex(&query);
            if let Ok(e) = crate::parser::parse_expr(&query) {
                let _ = crate::prettify(&e);
            }
        }
    }
    assert!(crate::parser::parse_expr(r#"{a="b"} /* c */ |= "x" // d"#).is_ok());
    let err = crate::parser::parse_expr(r#"{a="b"} /* c"#).unwrap_err().to_string();
    assert!(err.contains("comment not terminated"), "{err}");
}
