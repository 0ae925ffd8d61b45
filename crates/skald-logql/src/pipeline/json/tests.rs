//! Unit tests of the JSON scanner (against jsonparser's reference behaviour) and of the
//! `json` and `unpack` stages.

use super::path::{PathSeg, parse_path};
use super::scanner::string_end;
use super::*;
use skald_common::LabelSet;

/// jsonparser's `stringEnd`, byte by byte: the reference for `string_end`.
fn string_end_reference(data: &[u8]) -> (Option<usize>, bool) {
    let mut escaped = false;
    for (i, &c) in data.iter().enumerate() {
        if c == b'"' {
            if !escaped {
                return (Some(i + 1), false);
            }
            let mut j = i as isize - 1;
            loop {
                if j < 0 || data[j as usize] != b'\\' {
                    return (Some(i + 1), true);
                }
                j -= 1;
                if j < 0 || data[j as usize] != b'\\' {
                    break;
                }
                j -= 1;
            }
        } else if c == b'\\' {
            escaped = true;
        }
    }
    (None, escaped)
}

#[test]
fn string_end_matches_reference() {
    // every string of length <= 7 over {a, ", \\}
    let alphabet = [b'a', b'"', b'\\'];
    for len in 0..=7u32 {
        for mut n in 0..3usize.pow(len) {
            let mut data = Vec::new();
            for _ in 0..len {
                data.push(alphabet[n % 3]);
                n /= 3;
            }
            assert_eq!(string_end(&data), string_end_reference(&data), "{:?}", String::from_utf8_lossy(&data));
        }
    }
}

fn parsed(b: &LabelsBuilder) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = b.parsed.as_slice().iter().map(|l| (l.name.clone(), l.value.clone())).collect();
    v.sort();
    v
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    v.sort();
    v
}

#[test]
fn flatten() {
    let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments"), ("level", "x")]));
    let mut s = JsonScratch::default();
    let line = br#"{"level":"info","msg":"refund issued","latency_ms":101,"size":"70MB","user":{"id":10,"name":"erin"},"region":"ap-south","tags":["retry","slow"],"ok":true,"n":null,"e":"a\"b\u00e9","1x":{"a-b":1}}"#;
    parse_json(line, &mut b, &mut s, None);
    assert_eq!(
        parsed(&b),
        pairs(&[
            ("level_extracted", "info"),
            ("msg", "refund issued"),
            ("latency_ms", "101"),
            ("size", "70MB"),
            ("user_id", "10"),
            ("user_name", "erin"),
            ("region", "ap-south"),
            ("ok", "true"),
            ("e", "a\"bé"),
            ("_1x_a_b", "1"),
        ])
    );
    assert!(!b.has_err());
}

#[test]
fn broken() {
    let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments")]));
    let mut s = JsonScratch::default();
    parse_json(br#"{"level":"info","msg":"truncated"#, &mut b, &mut s, None);
    assert_eq!(parsed(&b), pairs(&[("level", "info")]));
    assert_eq!(b.err, "JSONParserErr");
    assert_eq!(b.err_details, "Value is string, but can't find closing '\"' symbol");
    b.reset();
    parse_json(b"not json", &mut b, &mut s, None);
    assert_eq!(b.err_details, "Value looks like object, but can't find closing '}' symbol");
}

#[test]
fn expressions() {
    let p = JsonExprParser::new(&[
        ("lvl".into(), "level".into()),
        ("uid".into(), "user.id".into()),
        ("t".into(), "tags[1]".into()),
        ("u".into(), "user".into()),
        ("missing".into(), "nope.x".into()),
        ("q".into(), r#"["a b"]"#.into()),
    ])
    .unwrap();
    let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments")]));
    let mut s = JsonScratch::default();
    p.process(br#"{"level":"debug","user":{"id":10,"name":"erin"},"tags":["retry","slow"],"a b":"sp"}"#, &mut b, &mut s);
    assert_eq!(
        parsed(&b),
        pairs(&[("lvl", "debug"), ("uid", "10"), ("t", "slow"), ("u", r#"{"id":10,"name":"erin"}"#), ("missing", ""), ("q", "sp")])
    );
    assert_eq!(
        parse_path("a.b[0][\"c d\"]").unwrap(),
        vec![PathSeg::Key("a".into()), PathSeg::Key("b".into()), PathSeg::Index(0), PathSeg::Key("c d".into())]
    );
    assert!(parse_path("a[").is_err());
}

#[test]
fn unpack_entry() {
    let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "x")]));
    let mut s = JsonScratch::default();
    let mut pending = Vec::new();
    let mut out = String::new();
    assert!(unpack(br#"{"_entry":"hello \"w\"","app":"y","k":"v","n":1}"#, &mut b, &mut s, &mut pending, &mut out));
    assert_eq!(out, "hello \"w\"");
    assert_eq!(parsed(&b), pairs(&[("app_extracted", "y"), ("k", "v")]));
    b.reset();
    assert!(!unpack(b"[1]", &mut b, &mut s, &mut pending, &mut out));
    assert_eq!(b.err, "JSONParserErr");
}
