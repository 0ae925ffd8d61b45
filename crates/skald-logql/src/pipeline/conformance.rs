//! Checks every entry Loki returned for some conformance log queries: the entry must
//! pass our pipeline with the same line and the same labels. Skipped when the shared
//! conformance files are not there.

use super::*;
use crate::ast::*;
use std::collections::HashMap;

const DIR: &str = "/work/shared/conformance";

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher { name: name.into(), op, value: value.into() }
}
fn sf(name: &str, op: MatchOp, v: &str) -> Stage {
    Stage::LabelFilter(LabelFilter::String(m(name, op, v)))
}
fn logfmt() -> Stage {
    Stage::Parser(ParserStage::Logfmt { strict: false, keep_empty: false, params: vec![] })
}
fn json() -> Stage {
    Stage::Parser(ParserStage::Json(vec![]))
}

fn queries() -> Vec<(&'static str, Vec<Stage>)> {
    let name = |n: &str| NamedMatcher::Name(n.into());
    vec![
        (r#"{app="checkout"} | logfmt"#, vec![logfmt()]),
        (r#"{app="checkout"} | logfmt | level="error""#, vec![logfmt(), sf("level", MatchOp::Eq, "error")]),
        (
            r#"{app="checkout"} | logfmt | status >= 500"#,
            vec![logfmt(), Stage::LabelFilter(LabelFilter::Number { name: "status".into(), op: CmpOp::Gte, value: 500.0 })],
        ),
        (
            r#"{app="checkout"} | logfmt | duration > 500ms"#,
            vec![logfmt(), Stage::LabelFilter(LabelFilter::Duration { name: "duration".into(), op: CmpOp::Gt, value: 500_000_000 })],
        ),
        (
            r#"{app="checkout"} | logfmt user, order_id"#,
            vec![Stage::Parser(ParserStage::Logfmt {
                strict: false,
                keep_empty: false,
                params: vec![ExtractionParam { name: "user".into(), path: None }, ExtractionParam { name: "order_id".into(), path: None }],
            })],
        ),
        (
            r#"{app="checkout"} | logfmt | line_format "{{.user}} paid {{.amount}}""#,
            vec![logfmt(), Stage::LineFormat("{{.user}} paid {{.amount}}".into())],
        ),
        (
            r#"{app="checkout"} | logfmt | label_format who=user"#,
            vec![logfmt(), Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "who".into(), src: "user".into() }])],
        ),
        (
            r#"{app="checkout"} | logfmt | label_format greeting="hello {{.user}}""#,
            vec![
                logfmt(),
                Stage::LabelFormat(vec![LabelFormatItem::Template { dst: "greeting".into(), template: "hello {{.user}}".into() }]),
            ],
        ),
        (r#"{app="checkout"} | logfmt | keep user, level"#, vec![logfmt(), Stage::Keep(vec![name("user"), name("level")])]),
        (
            r#"{app="checkout"} | logfmt | drop order_id, amount, duration, msg"#,
            vec![logfmt(), Stage::Drop(vec![name("order_id"), name("amount"), name("duration"), name("msg")])],
        ),
        (r#"{app="payments"} | json"#, vec![json()]),
        (r#"{app="payments"} | json | __error__="""#, vec![json(), sf("__error__", MatchOp::Eq, "")]),
        (r#"{app="payments"} | json | __error__!="""#, vec![json(), sf("__error__", MatchOp::Neq, "")]),
        (
            r#"{app="payments"} | json lvl="level", uid="user.id""#,
            vec![Stage::Parser(ParserStage::Json(vec![
                ExtractionParam { name: "lvl".into(), path: Some("level".into()) },
                ExtractionParam { name: "uid".into(), path: Some("user.id".into()) },
            ]))],
        ),
        (
            r#"{app="payments"} | json | size > 100KB"#,
            vec![json(), Stage::LabelFilter(LabelFilter::Bytes { name: "size".into(), op: CmpOp::Gt, value: 100_000 })],
        ),
        (
            r#"{app="payments"} | json | line_format "{{.level | ToUpper}} {{.msg}}""#,
            vec![json(), Stage::LineFormat("{{.level | ToUpper}} {{.msg}}".into())],
        ),
        (
            r#"{app="payments"} | json | line_format "{{ if eq .level \"error\" }}ERR{{ else }}ok{{ end }} {{.region}}""#,
            vec![json(), Stage::LineFormat(r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{.region}}"#.into())],
        ),
        (
            r#"{job="nginx"} | pattern "<ip> - <user> [<_>] \"<method> <path> <_>\" <status> <bytes> <_>""#,
            vec![Stage::Parser(ParserStage::Pattern(r#"<ip> - <user> [<_>] "<method> <path> <_>" <status> <bytes> <_>"#.into()))],
        ),
        (
            r#"{job="nginx"} | regexp "\" (?P<status>\\d{3}) (?P<bytes>\\d+) ""#,
            vec![Stage::Parser(ParserStage::Regexp(r#"" (?P<status>\d{3}) (?P<bytes>\d+) "#.into()))],
        ),
        (r#"{app="auth"} | decolorize"#, vec![Stage::Decolorize]),
        (
            r#"{app="auth"} | regexp "user=(?P<user>\\w+)" | user="carol""#,
            vec![Stage::Parser(ParserStage::Regexp(r"user=(?P<user>\w+)".into())), sf("user", MatchOp::Eq, "carol")],
        ),
        (r#"{app="auth"} | trace_id!="""#, vec![sf("trace_id", MatchOp::Neq, "")]),
        (
            r#"{app="auth"} |> "<_> WARN <_>""#,
            vec![Stage::LineFilter(LineFilter {
                op: LineFilterOp::Pattern,
                values: vec![LineFilterValue::Literal("<_> WARN <_>".into())],
            })],
        ),
        (
            r#"{app="auth"} |= ip("192.168.1.0/24")"#,
            vec![Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("192.168.1.0/24".into())] })],
        ),
    ]
}

#[test]
fn loki_answers() {
    let (Ok(dataset), Ok(cases)) =
        (std::fs::read_to_string(format!("{DIR}/dataset.jsonl")), std::fs::read_to_string(format!("{DIR}/cases.json")))
    else {
        eprintln!("conformance files not found; skipped");
        return;
    };
    // (ts, stream labels) -> (line, metadata); all streams have distinct label sets
    let mut entries: HashMap<(String, String), (LabelSet, String, Vec<Label>)> = HashMap::new();
    let mut streams_by_ts: HashMap<String, Vec<LabelSet>> = HashMap::new();
    for body in dataset.lines() {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        for s in v["streams"].as_array().unwrap() {
            let stream =
                LabelSet::from_pairs(s["stream"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())));
            for e in s["values"].as_array().unwrap() {
                let ts = e[0].as_str().unwrap().to_string();
                let md: Vec<Label> = e
                    .get(2)
                    .and_then(|m| m.as_object())
                    .map(|m| m.iter().map(|(k, v)| Label::new(k.clone(), v.as_str().unwrap())).collect())
                    .unwrap_or_default();
                entries.insert((ts.clone(), stream.to_string()), (stream.clone(), e[1].as_str().unwrap().to_string(), md));
                streams_by_ts.entry(ts).or_default().push(stream.clone());
            }
        }
    }
    let cases: serde_json::Value = serde_json::from_str(&cases).unwrap();
    let mut checked = 0;
    let sel = regex::Regex::new(r#"^\{(\w+)="([^"]+)"\}"#).unwrap();
    for (query, stages) in queries() {
        let p = Pipeline::new(&stages).unwrap();
        let mut found = false;
        for c in cases["cases"].as_array().unwrap() {
            if c["params"]["query"].as_str() != Some(query) || c["resultType"].as_str() != Some("streams") {
                continue;
            }
            found = true;
            for s in c["result"].as_array().unwrap() {
                let want = LabelSet::from_pairs(
                    s["stream"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
                );
                for e in s["values"].as_array().unwrap() {
                    let ts = e[0].as_str().unwrap();
                    let want_line = e[1].as_str().unwrap();
                    // find the source entry among the streams with that timestamp
                    let mut ok = false;
                    let mut got_desc = String::new();
                    for stream in streams_by_ts.get(ts).into_iter().flatten() {
                        let (stream, line, md) = &entries[&(ts.to_string(), stream.to_string())];
                        let mut sp = p.for_stream(stream);
                        if let Some(r) = sp.process(ts.parse().unwrap(), line, md) {
                            let all = r.labels.all();
                            if r.line == want_line && all == want {
                                ok = true;
                                break;
                            }
                            got_desc = format!("{all} {:?}", r.line);
                        }
                    }
                    assert!(ok, "{query}: entry {ts} want {want} {want_line:?}, got {got_desc}");
                    checked += 1;
                }
            }
        }
        assert!(found, "no case for {query}");
        // When Loki returned fewer entries than the limit, the answer is complete:
        // we must keep exactly as many.
        let caps = sel.captures(query).unwrap();
        let total: usize = cases["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["params"]["query"].as_str() == Some(query) && c["params"]["direction"].as_str() == Some("forward"))
            .flat_map(|c| c["result"].as_array().unwrap().iter().map(|s| s["values"].as_array().unwrap().len()))
            .sum();
        if total < 100 {
            let mut ours = 0;
            for (stream, line, md) in entries.values() {
                if stream.get(&caps[1]) != Some(&caps[2]) {
                    continue;
                }
                if p.for_stream(stream).process(0, line, md).is_some() {
                    ours += 1;
                }
            }
            assert_eq!(ours, total, "{query}: complete answer size");
        }
    }
    assert!(checked > 1000, "{checked}");
}
