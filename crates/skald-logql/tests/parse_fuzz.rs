//! Property tests that the parser never panics on arbitrary input: random strings, soups
//! of LogQL tokens and mutated conformance queries.

mod common;

use common::CONFORMANCE;
use proptest::prelude::*;
use skald_logql::*;

/// Words and symbols of LogQL, for token-soup inputs.
const VOCABULARY: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[5m]",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    "|=",
    "|~",
    "|>",
    "!>",
    "|",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "app",
    "\"x\"",
    "`y`",
    "\"(\"",
    "1",
    "0.5",
    "5m",
    "-5m",
    "10KB",
    "sum",
    "rate",
    "count_over_time",
    "sum_over_time",
    "quantile_over_time",
    "topk",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "json",
    "logfmt",
    "--strict",
    "regexp",
    "pattern",
    "unpack",
    "unwrap",
    "duration",
    "bytes",
    "offset",
    "vector",
    "label_replace",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "ip",
    "#",
    "\n",
    "\"",
    "label",
    "__error__",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]


    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Ok(e) = parse_expr(&s) {
            let printed = e.to_string();
            prop_assert_eq!(parse_expr(&printed), Ok(e.clone()), "printed: {}", printed);
        }
    }

    #[test]
    fn token_soup_never_panics(words in prop::collection::vec(prop::sample::select(VOCABULARY), 0..40), spaced in any::<bool>()) {
        let s = words.join(if spaced { " " } else { "" });
        if let Ok(e) = parse_expr(&s) {
            let printed = e.to_string();
            prop_assert_eq!(parse_expr(&printed), Ok(e.clone()), "input: {} printed: {}", s, printed);
        }
    }

    #[test]
    fn mutated_queries_never_panic(idx in 0usize..CONFORMANCE.len(), cut in 0usize..200, insert in prop::sample::select(VOCABULARY)) {
        let q = CONFORMANCE[idx];
        let mut at = cut.min(q.len());
        while !q.is_char_boundary(at) {
            at -= 1;
        }
        let s = format!("{}{}{}", &q[..at], insert, &q[at..]);
        if let Ok(e) = parse_expr(&s) {
            let printed = e.to_string();
            prop_assert_eq!(parse_expr(&printed), Ok(e.clone()), "input: {} printed: {}", s, printed);
        }
        let _ = parse_expr(&q[..at]);
    }
}
