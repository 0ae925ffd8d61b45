//! Unit tests of pipelines and sample extraction over sample log lines.

use super::*;
use crate::ast::*;

const NGINX: &str = r#"10.0.0.66 - dave [01/Jun/2024:00:00:01 +0000] "POST /api/users HTTP/1.1" 400 13759 "-" "curl/8.0" 1.999"#;
const LOGFMT: &str = r#"level=error msg="cart updated" user=erin order_id=6508 amount=0.25 duration=7.2s status=503 error="bad input""#;
const JSON: &str = r#"{"level":"info","msg":"refund issued","latency_ms":101,"size":"70MB","user":{"id":10,"name":"erin"},"region":"ap-south","tags":["retry","slow"]}"#;
const BROKEN: &str = r#"{"level":"info","msg":"truncated"#;
const ANSI: &str = "\u{1b}[31m2024-06-01T00:52:43Z DEBUG [auth] token refreshed for user=bob\u{1b}[0m";

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::from_pairs(pairs.iter().copied())
}
fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
}
fn checkout() -> LabelSet {
    ls(&[("app", "checkout"), ("env", "prod"), ("namespace", "shop"), ("cluster", "eu")])
}
fn payments() -> LabelSet {
    ls(&[("app", "payments"), ("env", "dev"), ("namespace", "shop"), ("cluster", "eu")])
}
fn nginx() -> LabelSet {
    ls(&[("job", "nginx"), ("env", "prod"), ("instance", "web-1"), ("cluster", "eu")])
}
fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher { name: name.into(), op, value: value.into() }
}
fn lf(op: LineFilterOp, v: &str) -> Stage {
    Stage::LineFilter(LineFilter { op, values: vec![LineFilterValue::Literal(v.into())] })
}
fn logfmt() -> Stage {
    Stage::Parser(ParserStage::Logfmt { strict: false, keep_empty: false, params: vec![] })
}
fn json() -> Stage {
    Stage::Parser(ParserStage::Json(vec![]))
}
fn sf(name: &str, op: MatchOp, v: &str) -> Stage {
    Stage::LabelFilter(LabelFilter::String(m(name, op, v)))
}
fn no_error() -> Stage {
    sf("__error__", MatchOp::Eq, "")
}

fn run(stages: &[Stage], stream: &LabelSet, line: &str, md: &[Label]) -> Option<(String, LabelsResult)> {
    let p = Pipeline::new(stages).unwrap();
    let mut sp = p.for_stream(stream);
    sp.process(1_717_200_001_582_000_000, line, md).map(|r| (r.line.to_string(), r.labels.clone()))
}

#[test]
fn is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pipeline>();
    check::<SampleExtractor>();
    fn check_send<T: Send>() {}
    check_send::<StreamPipeline>();
    check_send::<StreamSampleExtractor>();
}

#[test]
fn line_filters_fast_path() {
    let p = Pipeline::new(&[lf(LineFilterOp::Contains, "POST"), lf(LineFilterOp::NotContains, "/login")]).unwrap();
    assert!(p.line_filter_only());
    assert!(p.matches_line(NGINX.as_bytes()));
    assert!(!p.matches_line(br#"10.0.0.1 - bob [x] "POST /login HTTP/1.1" 200"#));
    assert!(!p.matches_line(br#"10.0.0.1 - bob [x] "GET /api HTTP/1.1" 200"#));
    assert!(Pipeline::new(&[]).unwrap().line_filter_only());
    assert!(!Pipeline::new(&[logfmt()]).unwrap().line_filter_only());
    // process agrees with matches_line and leaves labels alone
    let (line, l) = run(&[lf(LineFilterOp::Contains, "POST")], &nginx(), NGINX, &labels(&[("trace_id", "63ca828dd5f4b3b2")])).unwrap();
    assert_eq!(line, NGINX);
    assert_eq!(l.stream, nginx());
    assert_eq!(l.structured_metadata, labels(&[("trace_id", "63ca828dd5f4b3b2")]));
    assert!(l.parsed.is_empty());
}

#[test]
fn logfmt_and_label_filters() {
    let stages = [logfmt(), sf("level", MatchOp::Eq, "error")];
    let (_, l) = run(&stages, &checkout(), LOGFMT, &labels(&[("trace_id", "d09836aa21100c77")])).unwrap();
    assert_eq!(l.stream, checkout());
    assert_eq!(l.structured_metadata, labels(&[("trace_id", "d09836aa21100c77")]));
    assert_eq!(
        l.parsed,
        labels(&[
            ("amount", "0.25"),
            ("duration", "7.2s"),
            ("error", "bad input"),
            ("level", "error"),
            ("msg", "cart updated"),
            ("order_id", "6508"),
            ("status", "503"),
            ("user", "erin"),
        ])
    );
    assert_eq!(l.all().get("trace_id"), Some("d09836aa21100c77"));
    assert!(run(&[logfmt(), sf("level", MatchOp::Eq, "warn")], &checkout(), LOGFMT, &[]).is_none());
    let dur = Stage::LabelFilter(LabelFilter::Duration { name: "duration".into(), op: CmpOp::Gt, value: 500_000_000 });
    assert!(run(&[logfmt(), dur], &checkout(), LOGFMT, &[]).is_some());
    let and = Stage::LabelFilter(LabelFilter::And(
        Box::new(LabelFilter::Number { name: "amount".into(), op: CmpOp::Gt, value: 250.0 }),
        Box::new(LabelFilter::String(m("user", MatchOp::Eq, "alice"))),
    ));
    assert!(run(&[logfmt(), and], &checkout(), LOGFMT, &[]).is_none());
    // extraction params
    let p = Stage::Parser(ParserStage::Logfmt {
        strict: false,
        keep_empty: false,
        params: vec![ExtractionParam { name: "user".into(), path: None }, ExtractionParam { name: "order_id".into(), path: None }],
    });
    let (_, l) = run(&[p], &checkout(), LOGFMT, &[]).unwrap();
    assert_eq!(l.parsed, labels(&[("order_id", "6508"), ("user", "erin")]));
}

#[test]
fn json_and_errors() {
    let (_, l) = run(&[json()], &payments(), JSON, &[]).unwrap();
    assert_eq!(
        l.parsed,
        labels(&[
            ("latency_ms", "101"),
            ("level", "info"),
            ("msg", "refund issued"),
            ("region", "ap-south"),
            ("size", "70MB"),
            ("user_id", "10"),
            ("user_name", "erin"),
        ])
    );
    let (line, l) = run(&[json()], &payments(), BROKEN, &[]).unwrap();
    assert_eq!(line, BROKEN);
    assert_eq!(
        l.parsed,
        labels(&[
            ("__error__", "JSONParserErr"),
            ("__error_details__", "Value is string, but can't find closing '\"' symbol"),
            ("level", "info"),
        ])
    );
    assert!(run(&[json(), no_error()], &payments(), BROKEN, &[]).is_none());
    assert!(run(&[json(), no_error()], &payments(), JSON, &[]).is_some());
    assert!(run(&[json(), sf("__error__", MatchOp::Neq, "")], &payments(), BROKEN, &[]).is_some());
    // A numeric filter drops lines without the label, error or not (Loki 3.x; the
    // conformance case `| json | size > 100KB` depends on it).
    let num = Stage::LabelFilter(LabelFilter::Number { name: "latency_ms".into(), op: CmpOp::Gt, value: 1000.0 });
    assert!(run(&[json(), num.clone()], &payments(), BROKEN, &[]).is_none());
    assert!(run(&[json(), sf("user_name", MatchOp::Eq, "bob"), num], &payments(), BROKEN, &[]).is_none());
    let size = Stage::LabelFilter(LabelFilter::Bytes { name: "size".into(), op: CmpOp::Gt, value: 100_000 });
    assert!(run(&[json(), size], &payments(), JSON, &[]).is_some());
    // json params
    let p = Stage::Parser(ParserStage::Json(vec![
        ExtractionParam { name: "lvl".into(), path: Some("level".into()) },
        ExtractionParam { name: "uid".into(), path: Some("user.id".into()) },
    ]));
    let (_, l) = run(&[p], &payments(), JSON, &[]).unwrap();
    assert_eq!(l.parsed, labels(&[("lvl", "info"), ("uid", "10")]));
    // a label colliding with a stream label gets _extracted
    let (_, l) = run(&[json()], &ls(&[("app", "payments"), ("level", "x")]), JSON, &[]).unwrap();
    assert_eq!(l.all().get("level"), Some("x"));
    assert_eq!(l.all().get("level_extracted"), Some("info"));
}

#[test]
fn line_format() {
    let lf1 = Stage::LineFormat("{{.level | ToUpper}} {{.msg}}".into());
    assert_eq!(run(&[json(), lf1.clone()], &payments(), JSON, &[]).unwrap().0, "INFO refund issued");
    assert_eq!(run(&[json(), lf1], &payments(), BROKEN, &[]).unwrap().0, "INFO ");
    let lf2 = Stage::LineFormat(r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{.region}}"#.into());
    assert_eq!(run(&[json(), lf2], &payments(), JSON, &[]).unwrap().0, "ok ap-south");
    let lf3 = Stage::LineFormat("{{.user}} paid {{.amount}}".into());
    assert_eq!(run(&[logfmt(), lf3], &checkout(), LOGFMT, &[]).unwrap().0, "erin paid 0.25");
    // simple key, then filters run on the new line
    let (line, _) =
        run(&[json(), Stage::LineFormat("{{.msg}}".into()), lf(LineFilterOp::Contains, "refund")], &payments(), JSON, &[]).unwrap();
    assert_eq!(line, "refund issued");
    assert!(run(&[json(), Stage::LineFormat("{{.msg}}".into()), lf(LineFilterOp::Contains, "latency")], &payments(), JSON, &[]).is_none());
    // chained rewrites use both buffers
    let stages =
        [Stage::LineFormat("a{{__line__}}".into()), Stage::LineFormat("b{{__line__}}".into()), Stage::LineFormat("c{{__line__}}".into())];
    assert_eq!(run(&stages, &payments(), "x", &[]).unwrap().0, "cbax");
    // execution errors set TemplateFormatErr and keep the line
    let (line, l) = run(&[Stage::LineFormat(r#"{{ div 1 0 }}"#.into())], &payments(), "orig", &[]).unwrap();
    assert_eq!(line, "orig");
    assert_eq!(l.all().get("__error__"), Some("TemplateFormatErr"));
    assert!(Pipeline::new(&[Stage::LineFormat("{{ .a ".into())]).is_err());
    let (line, _) = run(&[Stage::LineFormat("{{ __timestamp__ | unixEpoch }}".into())], &payments(), "x", &[]).unwrap();
    assert_eq!(line, "1717200001");
}

#[test]
fn label_format_drop_keep() {
    let rename = Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "who".into(), src: "user".into() }]);
    let (_, l) = run(&[logfmt(), rename], &checkout(), LOGFMT, &[]).unwrap();
    assert_eq!(l.all().get("who"), Some("erin"));
    assert_eq!(l.all().get("user"), None);
    let tmpl = Stage::LabelFormat(vec![LabelFormatItem::Template { dst: "greeting".into(), template: "hello {{.user}}".into() }]);
    let (_, l) = run(&[logfmt(), tmpl], &checkout(), LOGFMT, &[]).unwrap();
    assert_eq!(l.all().get("greeting"), Some("hello erin"));
    // renaming a stream label moves it to parsed
    let rename_stream = Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "application".into(), src: "app".into() }]);
    let (_, l) = run(&[rename_stream], &checkout(), LOGFMT, &[]).unwrap();
    assert_eq!(l.stream, ls(&[("env", "prod"), ("namespace", "shop"), ("cluster", "eu")]));
    assert_eq!(l.parsed, labels(&[("application", "checkout")]));
    // overwriting a stream label with a template moves it to parsed
    let over = Stage::LabelFormat(vec![LabelFormatItem::Template { dst: "env".into(), template: "{{.env}}-x".into() }]);
    let (_, l) = run(&[over], &checkout(), LOGFMT, &[]).unwrap();
    assert_eq!(l.stream.get("env"), None);
    assert_eq!(l.parsed, labels(&[("env", "prod-x")]));
    assert!(Pipeline::new(&[Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "__error__".into(), src: "a".into() }])]).is_err());
    assert!(
        Pipeline::new(&[Stage::LabelFormat(vec![
            LabelFormatItem::Rename { dst: "a".into(), src: "b".into() },
            LabelFormatItem::Rename { dst: "a".into(), src: "c".into() }
        ])])
        .is_err()
    );

    let keep = Stage::Keep(vec![NamedMatcher::Name("user".into()), NamedMatcher::Name("level".into())]);
    let (_, l) = run(&[logfmt(), keep], &checkout(), LOGFMT, &labels(&[("trace_id", "t")])).unwrap();
    assert_eq!(l.stream, LabelSet::new());
    assert!(l.structured_metadata.is_empty());
    assert_eq!(l.parsed, labels(&[("level", "error"), ("user", "erin")]));
    let keep_m = Stage::Keep(vec![NamedMatcher::Matcher(m("level", MatchOp::Eq, "info")), NamedMatcher::Name("app".into())]);
    let (_, l) = run(&[logfmt(), keep_m], &checkout(), LOGFMT, &[]).unwrap();
    assert_eq!(l.all(), ls(&[("app", "checkout")]));

    let drop = Stage::Drop(["order_id", "amount", "duration", "msg"].iter().map(|n| NamedMatcher::Name(n.to_string())).collect());
    let (_, l) = run(&[logfmt(), drop], &checkout(), LOGFMT, &labels(&[("trace_id", "t")])).unwrap();
    assert_eq!(l.stream, checkout());
    assert_eq!(l.structured_metadata, labels(&[("trace_id", "t")]));
    assert_eq!(l.parsed, labels(&[("error", "bad input"), ("level", "error"), ("status", "503"), ("user", "erin")]));
    let drop_stream = Stage::Drop(vec![NamedMatcher::Matcher(m("env", MatchOp::Eq, "prod")), NamedMatcher::Name("trace_id".into())]);
    let (_, l) = run(&[drop_stream], &checkout(), LOGFMT, &labels(&[("trace_id", "t")])).unwrap();
    assert_eq!(l.stream, ls(&[("app", "checkout"), ("namespace", "shop"), ("cluster", "eu")]));
    assert!(l.structured_metadata.is_empty());
    // dropping __error__ clears the error
    let (_, l) = run(&[json(), Stage::Drop(vec![NamedMatcher::Name("__error__".into())]), no_error()], &payments(), BROKEN, &[]).unwrap();
    assert_eq!(l.all().get("__error_details__"), Some("Value is string, but can't find closing '\"' symbol"));
}

#[test]
fn pattern_regexp_decolorize_unpack() {
    let p = Stage::Parser(ParserStage::Pattern(r#"<ip> - <user> [<_>] "<method> <path> <_>" <status> <bytes> <_>"#.into()));
    let (_, l) = run(&[p, sf("status", MatchOp::Eq, "400")], &nginx(), NGINX, &[]).unwrap();
    assert_eq!(
        l.parsed,
        labels(&[("bytes", "13759"), ("ip", "10.0.0.66"), ("method", "POST"), ("path", "/api/users"), ("status", "400"), ("user", "dave")])
    );
    let r = Stage::Parser(ParserStage::Regexp(r#"" (?P<status>\d{3}) (?P<bytes>\d+) "#.into()));
    let (_, l) = run(&[r, sf("status", MatchOp::Re, "4..")], &nginx(), NGINX, &[]).unwrap();
    assert_eq!(l.parsed, labels(&[("bytes", "13759"), ("status", "400")]));
    let r = Stage::Parser(ParserStage::Regexp(r"user=(?P<user>\w+)".into()));
    let (_, l) = run(&[r], &ls(&[("app", "auth")]), ANSI, &[]).unwrap();
    assert_eq!(l.parsed, labels(&[("user", "bob")]));
    assert!(Pipeline::new(&[Stage::Parser(ParserStage::Regexp("(a)".into()))]).is_err());
    assert!(Pipeline::new(&[Stage::Parser(ParserStage::Regexp("(?P<a>".into()))]).is_err());
    assert!(Pipeline::new(&[Stage::Parser(ParserStage::Pattern("<_> x".into()))]).is_err());

    let (line, _) = run(&[Stage::Decolorize], &ls(&[("app", "auth")]), ANSI, &[]).unwrap();
    assert_eq!(line, "2024-06-01T00:52:43Z DEBUG [auth] token refreshed for user=bob");
    let plain = "2024-06-01T00:52:43Z DEBUG [auth] x";
    assert_eq!(run(&[Stage::Decolorize], &ls(&[("app", "auth")]), plain, &[]).unwrap().0, plain);

    let (line, l) = run(&[Stage::Parser(ParserStage::Unpack)], &ls(&[("app", "x")]), r#"{"_entry":"inner line","pod":"p1"}"#, &[]).unwrap();
    assert_eq!(line, "inner line");
    assert_eq!(l.parsed, labels(&[("pod", "p1")]));
}

#[test]
fn metadata_filters_and_reuse() {
    let stages = [sf("trace_id", MatchOp::Neq, "")];
    let p = Pipeline::new(&stages).unwrap();
    let mut sp = p.for_stream(&nginx());
    assert!(sp.process(1, NGINX, &[]).is_none());
    let r = sp.process(2, NGINX, &labels(&[("trace_id", "025b413f8a9a021e")])).unwrap();
    assert_eq!(r.labels.structured_metadata, labels(&[("trace_id", "025b413f8a9a021e")]));
    // buffers are reused: a later entry does not see earlier parsed labels
    let p = Pipeline::new(&[json()]).unwrap();
    let mut sp = p.for_stream(&payments());
    let n1 = sp.process(1, BROKEN, &[]).unwrap().labels.parsed.len();
    assert_eq!(n1, 3);
    let r = sp.process(2, r#"{"a":"1"}"#, &[]).unwrap();
    assert_eq!(r.labels.parsed, labels(&[("a", "1")]));
    // ip filters
    let ipf = Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("192.168.1.0/24".into())] });
    let p = Pipeline::new(&[ipf]).unwrap();
    assert!(p.matches_line(b"2024-06-01T00:51:57Z INFO [auth] login failed for user=dave ip=192.168.1.6"));
    assert!(!p.matches_line(b"2024-06-01T00:51:48Z WARN [auth] login failed for user=carol ip=192.168.0.4"));
    assert!(
        Pipeline::new(&[Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("nope".into())] })])
            .is_err()
    );
}

fn agg(op: RangeOp, pipeline: Vec<Stage>, unwrap: Option<Unwrap>, grouping: Option<Grouping>) -> RangeAggregation {
    RangeAggregation { op, param: None, log: LogExpr { matchers: vec![], pipeline }, unwrap, range: 300_000_000_000, offset: 0, grouping }
}

fn unwrap(label: &str, conversion: UnwrapConversion, post_filters: Vec<LabelFilter>) -> Option<Unwrap> {
    Some(Unwrap { label: label.into(), conversion, post_filters })
}

#[test]
fn sample_extraction() {
    let e = SampleExtractor::new(&agg(RangeOp::CountOverTime, vec![], None, None)).unwrap();
    assert!(e.needs_no_line());
    let mut se = e.for_stream(&nginx());
    let (v, l) = se.process(1, NGINX, &labels(&[("trace_id", "t")])).unwrap();
    assert_eq!(v, 1.0);
    assert_eq!(l.get("trace_id"), Some("t"));
    let e = SampleExtractor::new(&agg(RangeOp::Rate, vec![lf(LineFilterOp::Contains, "POST")], None, None)).unwrap();
    assert!(!e.needs_no_line());
    let mut se = e.for_stream(&nginx());
    assert_eq!(se.process(1, NGINX, &[]).unwrap().0, 1.0);
    assert!(se.process(1, "GET", &[]).is_none());

    let e = SampleExtractor::new(&agg(RangeOp::BytesOverTime, vec![], None, None)).unwrap();
    assert!(!e.needs_no_line());
    assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().0, JSON.len() as f64);
    let e = SampleExtractor::new(&agg(RangeOp::BytesRate, vec![json(), Stage::LineFormat("{{.msg}}".into())], None, None)).unwrap();
    assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().0, "refund issued".len() as f64);

    // unwrap: value, label removed, error handling
    let e =
        SampleExtractor::new(&agg(RangeOp::SumOverTime, vec![json()], unwrap("latency_ms", UnwrapConversion::None, vec![]), None)).unwrap();
    assert!(!e.needs_no_line());
    let mut se = e.for_stream(&payments());
    let (v, l) = se.process(1, JSON, &[]).unwrap();
    assert_eq!(v, 101.0);
    assert_eq!(l.get("latency_ms"), None);
    assert_eq!(l.get("user_name"), Some("erin"));
    assert!(se.process(1, BROKEN, &[]).is_none(), "missing unwrap label: no sample");
    let (v, l) = se.process(1, r#"{"latency_ms":"slow"}"#, &[]).unwrap();
    assert_eq!(v, 0.0);
    assert_eq!(l.get("__error__"), Some("SampleExtractionErr"));
    assert_eq!(l.get("__error_details__"), Some("strconv.ParseFloat: parsing \"slow\": invalid syntax"));
    // same labels twice give the same set
    let a = se.process(1, JSON, &[]).unwrap().1.clone();
    let b = se.process(2, JSON, &[]).unwrap().1.clone();
    assert_eq!(a, b);

    let post = vec![LabelFilter::String(m("__error__", MatchOp::Eq, ""))];
    let e =
        SampleExtractor::new(&agg(RangeOp::AvgOverTime, vec![json()], unwrap("latency_ms", UnwrapConversion::None, post), None)).unwrap();
    assert!(e.for_stream(&payments()).process(1, r#"{"latency_ms":"slow"}"#, &[]).is_none());

    let by = Some(Grouping { without: false, labels: vec!["latency_ms".into()] });
    let e =
        SampleExtractor::new(&agg(RangeOp::MaxOverTime, vec![json()], unwrap("latency_ms", UnwrapConversion::None, vec![]), by)).unwrap();
    assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().1.get("latency_ms"), Some("101"));

    let e =
        SampleExtractor::new(&agg(RangeOp::QuantileOverTime, vec![logfmt()], unwrap("duration", UnwrapConversion::Duration, vec![]), None))
            .unwrap();
    assert!((e.for_stream(&checkout()).process(1, LOGFMT, &[]).unwrap().0 - 7.2).abs() < 1e-9);
    let e = SampleExtractor::new(&agg(RangeOp::SumOverTime, vec![json()], unwrap("size", UnwrapConversion::Bytes, vec![]), None)).unwrap();
    assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().0, 70_000_000.0);

    assert!(SampleExtractor::new(&agg(RangeOp::SumOverTime, vec![], None, None)).is_err());
    assert!(SampleExtractor::new(&agg(RangeOp::CountOverTime, vec![], unwrap("x", UnwrapConversion::None, vec![]), None)).is_err());
}

/// Runs a parsed log query's pipeline over one line of a `{app="x"}` stream.
fn run_query(query: &str, stream: &LabelSet, line: &str, md: &[Label]) -> Option<(String, LabelsResult)> {
    let crate::ast::Expr::Log(log) = crate::parse_expr(query).unwrap() else { panic!("{query}") };
    run(&log.pipeline, stream, line, md)
}

fn parsed(result: &Option<(String, LabelsResult)>, name: &str) -> Option<String> {
    result.as_ref()?.1.parsed.iter().find(|l| l.name == name).map(|l| l.value.clone())
}

/// Loki's parser hints (pkg/logql/log/parser_hints.go `ShouldContinueParsingLine`): a
/// single-label filter is also applied when a parser sets its label, to the value it
/// set, wherever the filter stands; a label_format in between does not help.
#[test]
fn label_filters_apply_when_a_parser_sets_their_label() {
    let x = ls(&[("app", "x")]);
    let q = r#"{app="x"} | logfmt | label_format level=upper_level | level="ERROR""#;
    assert!(run_query(q, &x, "level=error upper_level=ERROR", &[]).is_none(), "logfmt set level=error: the filter refuses it");
    assert_eq!(parsed(&run_query(q, &x, "upper_level=ERROR", &[]), "level").as_deref(), Some("ERROR"));
    let q = r#"{app="x"} | logfmt | label_format level="{{ upper .level }}" | level="ERROR""#;
    assert!(run_query(q, &x, "level=error", &[]).is_none());
    // A filter before the parser is applied again when the parser sets the label.
    assert!(run_query(r#"{app="x"} | level!="debug" | logfmt"#, &x, "level=debug", &[]).is_none());
    assert!(run_query(r#"{app="x"} | level!="debug" | logfmt"#, &x, "level=info", &[]).is_some());
    // Binary filters are not used early.
    let q = r#"{app="x"} | logfmt | label_format level=upper_level | level="ERROR" and app="x""#;
    assert!(run_query(q, &x, "level=error upper_level=ERROR", &[]).is_some());
    // A parser writing `level_extracted` (the stream has `level`) is not checked by a filter on `level`.
    let with_level = ls(&[("app", "x"), ("level", "info")]);
    let q = r#"{app="x"} | logfmt | label_format level="{{ upper .level_extracted }}" | level="ERROR""#;
    assert!(run_query(q, &with_level, "level=error", &[]).is_some());
}

/// Loki's parsers never overwrite a parsed label set earlier in the line (the first
/// of two logfmt keys wins; a later parser keeps an earlier one's value), and a key that
/// is structured metadata becomes `<key>_extracted` as one that is a stream label does.
#[test]
fn earlier_parsed_values_win_and_metadata_collides() {
    let x = ls(&[("app", "x")]);
    assert_eq!(parsed(&run_query(r#"{app="x"} | logfmt"#, &x, "a=1 a=2", &[]), "a").as_deref(), Some("1"));
    let q = r#"{app="x"} | label_format level="fixed" | logfmt"#;
    assert_eq!(parsed(&run_query(q, &x, "level=debug", &[]), "level").as_deref(), Some("fixed"));
    let r = run_query(r#"{app="x"} | json"#, &x, r#"{"pod":"pod_parsed"}"#, &labels(&[("pod", "pod_sm")]));
    assert_eq!(parsed(&r, "pod_extracted").as_deref(), Some("pod_parsed"));
    let metadata = &r.as_ref().unwrap().1.structured_metadata;
    assert_eq!(metadata.iter().find(|l| l.name == "pod").map(|l| l.value.as_str()), Some("pod_sm"));
}
