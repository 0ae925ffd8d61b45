//! Parser/printer integration tests: the conformance queries, AST shapes, error
//! positions, and property tests (print -> parse round trips over random syntax trees,
//! no panics on arbitrary input).

use proptest::prelude::*;
use skald_logql::*;

/// The queries of `/work/shared/conformance/queries.txt` (copied so the test does not
/// depend on the file; when the file is present its current lines are checked too).
const CONFORMANCE: &[&str] = &[
    r##"{job="nginx"}"##,
    r##"{job="nginx", env="prod"}"##,
    r##"{job=~"ngin.*", instance!="web-1"}"##,
    r##"{app=~"checkout|payments", env!~"d.*"}"##,
    r##"{env="dev"} |= "error""##,
    r##"{job="nginx"} |= "POST" != "/login""##,
    r##"{job="nginx"} |~ "HTTP/1.1\" 5\\d\\d""##,
    r##"{app="auth"} !~ "(?i)token""##,
    r##"{app="auth"} |= "login" |= "failed" != "bob""##,
    r##"{app="auth"} |> "<_> WARN <_>""##,
    r##"{app="auth"} |= ip("192.168.1.0/24")"##,
    r##"{app="checkout"} | logfmt"##,
    r##"{app="checkout"} | logfmt | level="error""##,
    r##"{app="checkout"} | logfmt | status >= 500"##,
    r##"{app="checkout"} | logfmt | duration > 500ms"##,
    r##"{app="checkout"} | logfmt | amount > 250 and user="alice""##,
    r##"{app="checkout"} | logfmt | level="warn" or level="error""##,
    r##"{app="checkout"} | logfmt user, order_id"##,
    r##"{app="checkout"} | logfmt | line_format "{{.user}} paid {{.amount}}""##,
    r##"{app="checkout"} | logfmt | label_format who=user"##,
    r##"{app="checkout"} | logfmt | label_format greeting="hello {{.user}}""##,
    r##"{app="checkout"} | logfmt | keep user, level"##,
    r##"{app="checkout"} | logfmt | drop order_id, amount, duration, msg"##,
    r##"{app="payments"} | json"##,
    r##"{app="payments"} | json | __error__="""##,
    r##"{app="payments"} | json | __error__!="""##,
    r##"{app="payments"} | json | user_name="bob" | latency_ms > 1000"##,
    r##"{app="payments"} | json lvl="level", uid="user.id""##,
    r##"{app="payments"} | json | size > 100KB"##,
    r##"{app="payments"} | json | line_format "{{.level | ToUpper}} {{.msg}}""##,
    r##"{app="payments"} | json | line_format "{{ if eq .level \"error\" }}ERR{{ else }}ok{{ end }} {{.region}}""##,
    r##"{job="nginx"} | pattern "<ip> - <user> [<_>] \"<method> <path> <_>\" <status> <bytes> <_>""##,
    r##"{job="nginx"} | pattern "<ip> - <user> [<_>] \"<method> <path> <_>\" <status> <_>" | status="404""##,
    r##"{job="nginx"} | regexp "\" (?P<status>\\d{3}) (?P<bytes>\\d+) ""##,
    r##"{job="nginx"} | regexp "\" (?P<status>\\d{3}) " | status=~"5..""##,
    r##"{app="auth"} | decolorize"##,
    r##"{app="auth"} | regexp "user=(?P<user>\\w+)" | user="carol""##,
    r##"{app="auth"} | trace_id!="""##,
    r##"{job="nginx"} | trace_id="025b413f8a9a021e""##,
    r##"count_over_time({job="nginx"}[5m])"##,
    r##"count_over_time({job="nginx"} |= "POST" [10m])"##,
    r##"rate({app="checkout"}[5m])"##,
    r##"bytes_over_time({app="payments"}[5m])"##,
    r##"bytes_rate({app="auth"}[10m])"##,
    r##"sum(count_over_time({job="nginx"}[5m]))"##,
    r##"sum by (env) (count_over_time({job="nginx"}[5m]))"##,
    r##"sum without (instance) (rate({job="nginx"}[5m]))"##,
    r##"count by (app) (rate({namespace="shop"}[5m]))"##,
    r##"avg by (env) (rate({app=~".+"}[5m]))"##,
    r##"max by (instance) (count_over_time({job="nginx"}[5m]))"##,
    r##"min(count_over_time({job="nginx"}[5m]))"##,
    r##"topk(2, sum by (instance) (count_over_time({job="nginx"}[15m])))"##,
    r##"bottomk(1, sum by (app) (count_over_time({namespace="shop"}[15m])))"##,
    r##"sum by (level) (count_over_time({app="checkout"} | logfmt [5m]))"##,
    r##"sum by (status) (count_over_time({job="nginx"} | pattern "<_> \"<_>\" <status> <_>" [5m]))"##,
    r##"sum by (region) (count_over_time({app="payments"} | json | __error__="" [10m]))"##,
    r##"sum_over_time({app="payments"} | json | unwrap latency_ms [5m])"##,
    r##"avg_over_time({app="payments"} | json | __error__="" | unwrap latency_ms [5m])"##,
    r##"max_over_time({app="payments"} | json | __error__="" | unwrap latency_ms [5m]) by (region)"##,
    r##"min_over_time({app="checkout"} | logfmt | unwrap amount [10m]) by (env)"##,
    r##"quantile_over_time(0.99, {app="checkout"} | logfmt | unwrap duration(duration) [10m]) by (env)"##,
    r##"quantile_over_time(0.5, {app="payments"} | json | __error__="" | unwrap latency_ms [5m]) by (app)"##,
    r##"sum by (env) (sum_over_time({app="payments"} | json | __error__="" | unwrap bytes(size) [5m]))"##,
    r##"first_over_time({app="checkout"} | logfmt | unwrap amount [5m]) by (env)"##,
    r##"last_over_time({app="checkout"} | logfmt | unwrap amount [5m]) by (env)"##,
    r##"stddev_over_time({app="payments"} | json | __error__="" | unwrap latency_ms [10m]) by (env)"##,
    r##"stdvar_over_time({app="payments"} | json | __error__="" | unwrap latency_ms [10m]) by (env)"##,
    r##"absent_over_time({job="nginx", instance="web-9"}[5m])"##,
    r##"sum(rate({job="nginx"}[5m])) by (env) * 60"##,
    r##"sum(rate({job="nginx"} |= " 500 " [5m])) / sum(rate({job="nginx"}[5m]))"##,
    r##"sum by (env) (count_over_time({job="nginx"}[5m])) > 60"##,
    r##"sum by (env) (count_over_time({job="nginx"}[5m])) > bool 60"##,
    r##"sum by (env) (count_over_time({job="nginx"}[5m])) and sum by (env) (count_over_time({app="checkout"}[5m]))"##,
    r##"sum by (env) (count_over_time({job="nginx"}[5m])) unless sum by (env) (count_over_time({app="auth"}[5m]))"##,
    r##"sum by (env) (count_over_time({job="nginx"}[5m])) / on (env) sum by (env) (count_over_time({app="checkout"}[5m]))"##,
    r##"sum by (env, instance) (count_over_time({job="nginx"}[5m])) / on (env) group_left sum by (env) (count_over_time({job="nginx"}[5m]))"##,
    r##"count_over_time({job="nginx"}[5m] offset 10m)"##,
    r##"label_replace(sum by (instance) (count_over_time({job="nginx"}[5m])), "host", "$1", "instance", "web-(.*)")"##,
    r##"sort(sum by (instance) (count_over_time({job="nginx"}[5m])))"##,
    r##"sort_desc(sum by (instance) (count_over_time({job="nginx"}[5m])))"##,
    r##"vector(1)"##,
    r##"sum(count_over_time({job="nginx"}[5m])) or vector(0)"##,
    r##"stddev by (env) (count_over_time({job="nginx"}[5m]))"##,
    r##"-sum(count_over_time({app="auth"}[5m]))"##,
    r##"2 * 3 + 1"##,
];

const FAILING_CONFORMANCE: &str = r#"-sum(count_over_time({app="auth"}[5m]))"#;

/// Parses, prints, re-parses: the tree must survive and the printed form be stable.
fn roundtrip(query: &str) -> Expr {
    let expr = parse_expr(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let printed = expr.to_string();
    let reparsed = parse_expr(&printed).unwrap_or_else(|e| panic!("{query} printed as {printed}: {e}"));
    assert_eq!(reparsed, expr, "{query} printed as {printed}");
    assert_eq!(reparsed.to_string(), printed, "printing is not stable for {query}");
    expr
}

fn check_conformance_query(query: &str) {
    if query == FAILING_CONFORMANCE {
        let err = parse_expr(query).unwrap_err();
        assert_eq!((err.line, err.col), (1, 2));
        assert_eq!(err.to_string(), "parse error at line 1, col 2: syntax error: unexpected SUM, expecting NUMBER");
    } else {
        roundtrip(query);
    }
}

#[test]
fn conformance_queries_parse_and_roundtrip() {
    for query in CONFORMANCE {
        check_conformance_query(query);
    }
    assert!(CONFORMANCE.contains(&FAILING_CONFORMANCE));
}

#[test]
fn conformance_file_parses_when_present() {
    let Ok(text) = std::fs::read_to_string("/work/shared/conformance/queries.txt") else {
        return;
    };
    for line in text.lines() {
        let query = line.trim();
        if query.is_empty() || query.starts_with('#') {
            continue;
        }
        check_conformance_query(query);
    }
}

fn sample(query: &str) -> SampleExpr {
    match roundtrip(query) {
        Expr::Sample(s) => s,
        other => panic!("{query}: not a metric query: {other:?}"),
    }
}

fn log(query: &str) -> LogExpr {
    match roundtrip(query) {
        Expr::Log(l) => l,
        other => panic!("{query}: not a log query: {other:?}"),
    }
}

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher { name: name.into(), op, value: value.into() }
}

#[test]
fn ast_shapes() {
    // Log queries.
    let l = log(r#"{job="nginx"} |= "POST" != "/login""#);
    assert_eq!(l.matchers, vec![m("job", MatchOp::Eq, "nginx")]);
    assert_eq!(
        l.pipeline,
        vec![
            Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Literal("POST".into())] }),
            Stage::LineFilter(LineFilter { op: LineFilterOp::NotContains, values: vec![LineFilterValue::Literal("/login".into())] }),
        ]
    );
    let l = log(r#"{job="nginx"} |~ "HTTP/1.1\" 5\\d\\d""#);
    assert_eq!(
        l.pipeline[0],
        Stage::LineFilter(LineFilter { op: LineFilterOp::Regex, values: vec![LineFilterValue::Literal(r#"HTTP/1.1" 5\d\d"#.into())] })
    );
    let l = log(r#"{app="checkout"} | logfmt | amount > 250 and user="alice""#);
    assert_eq!(
        l.pipeline,
        vec![
            Stage::Parser(ParserStage::Logfmt { strict: false, keep_empty: false, params: vec![] }),
            Stage::LabelFilter(LabelFilter::And(
                Box::new(LabelFilter::Number { name: "amount".into(), op: CmpOp::Gt, value: 250.0 }),
                Box::new(LabelFilter::String(m("user", MatchOp::Eq, "alice"))),
            )),
        ]
    );
    let l = log(r#"{app="checkout"} | logfmt | duration > 500ms"#);
    assert_eq!(l.pipeline[1], Stage::LabelFilter(LabelFilter::Duration { name: "duration".into(), op: CmpOp::Gt, value: 500_000_000 }));
    let l = log(r#"{app="payments"} | json | size > 100KB"#);
    assert_eq!(l.pipeline[1], Stage::LabelFilter(LabelFilter::Bytes { name: "size".into(), op: CmpOp::Gt, value: 100_000 }));
    let l = log(r#"{app="payments"} | json lvl="level", uid="user.id""#);
    assert_eq!(
        l.pipeline[0],
        Stage::Parser(ParserStage::Json(vec![
            ExtractionParam { name: "lvl".into(), path: Some("level".into()) },
            ExtractionParam { name: "uid".into(), path: Some("user.id".into()) },
        ]))
    );
    let l = log(r#"{app="checkout"} | logfmt | label_format who=user"#);
    assert_eq!(l.pipeline[1], Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "who".into(), src: "user".into() }]));
    let l = log(r#"{app="auth"} |= ip("192.168.1.0/24")"#);
    assert_eq!(
        l.pipeline[0],
        Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("192.168.1.0/24".into())] })
    );
    let l = log(r#"{app="checkout"} | logfmt | level="warn" or level="error""#);
    assert!(matches!(&l.pipeline[1], Stage::LabelFilter(LabelFilter::Or(_, _))));

    // Metric queries.
    let s = sample(r#"sum by (env) (count_over_time({job="nginx"}[5m])) > bool 60"#);
    let SampleExpr::Binary(b) = s else { panic!("{s:?}") };
    assert_eq!(b.op, BinaryOp::Gt);
    assert!(b.return_bool);
    assert_eq!(b.rhs, SampleExpr::Literal(60.0));
    let SampleExpr::VectorAggregation(v) = &b.lhs else { panic!() };
    assert_eq!(v.op, VectorOp::Sum);
    assert!(v.grouping_first);
    assert_eq!(v.grouping, Some(Grouping { without: false, labels: vec!["env".into()] }));
    let SampleExpr::RangeAggregation(r) = v.expr.as_ref() else { panic!() };
    assert_eq!(r.op, RangeOp::CountOverTime);
    assert_eq!(r.range, 300_000_000_000);
    assert_eq!(r.offset, 0);
    assert_eq!(r.log.matchers, vec![m("job", MatchOp::Eq, "nginx")]);

    let s = sample(r#"max_over_time({app="payments"} | json | __error__="" | unwrap latency_ms [5m]) by (region)"#);
    let SampleExpr::RangeAggregation(r) = s else { panic!() };
    assert_eq!(r.op, RangeOp::MaxOverTime);
    assert_eq!(r.unwrap, Some(Unwrap { label: "latency_ms".into(), conversion: UnwrapConversion::None, post_filters: vec![] }));
    assert_eq!(r.log.pipeline.len(), 2);
    assert_eq!(r.grouping, Some(Grouping { without: false, labels: vec!["region".into()] }));

    let s = sample(r#"sum(rate({job="nginx"}[5m])) by (env) * 60"#);
    let SampleExpr::Binary(b) = s else { panic!() };
    assert_eq!(b.op, BinaryOp::Mul);
    let SampleExpr::VectorAggregation(v) = &b.lhs else { panic!() };
    assert!(!v.grouping_first);

    let s = sample(
        r#"sum by (env, instance) (count_over_time({job="nginx"}[5m])) / on (env) group_left sum by (env) (count_over_time({job="nginx"}[5m]))"#,
    );
    let SampleExpr::Binary(b) = s else { panic!() };
    assert_eq!(b.matching, Some(VectorMatching { on: true, labels: vec!["env".into()] }));
    assert_eq!(b.group, Some((GroupSide::Left, vec![])));

    let s = sample(r#"count_over_time({job="nginx"}[5m] offset 10m)"#);
    let SampleExpr::RangeAggregation(r) = s else { panic!() };
    assert_eq!(r.offset, 600_000_000_000);

    let s = sample(r#"label_replace(sum by (instance) (count_over_time({job="nginx"}[5m])), "host", "$1", "instance", "web-(.*)")"#);
    let SampleExpr::LabelReplace(lr) = s else { panic!() };
    assert_eq!((lr.dst.as_str(), lr.replacement.as_str(), lr.src.as_str(), lr.regex.as_str()), ("host", "$1", "instance", "web-(.*)"));

    let s = sample(r#"sum(count_over_time({job="nginx"}[5m])) or vector(0)"#);
    let SampleExpr::Binary(b) = s else { panic!() };
    assert_eq!(b.op, BinaryOp::Or);
    assert_eq!(b.rhs, SampleExpr::Vector(0.0));

    let s = sample("2 * 3 + 1");
    let SampleExpr::Binary(b) = s else { panic!() };
    assert_eq!(b.op, BinaryOp::Add);
    assert!(matches!(&b.lhs, SampleExpr::Binary(x) if x.op == BinaryOp::Mul));

    let s = sample(r#"topk(2, sum by (instance) (count_over_time({job="nginx"}[15m])))"#);
    let SampleExpr::VectorAggregation(v) = s else { panic!() };
    assert_eq!((v.op, v.param), (VectorOp::Topk, Some(2.0)));

    let s = sample(r#"quantile_over_time(0.99, {app="checkout"} | logfmt | unwrap duration(duration) [10m]) by (env)"#);
    let SampleExpr::RangeAggregation(r) = s else { panic!() };
    assert_eq!(r.param, Some(0.99));
    assert_eq!(r.unwrap.as_ref().map(|u| u.conversion), Some(UnwrapConversion::Duration));
}

#[test]
fn canonical_printing() {
    for (input, expected) in [
        (r#"{app="a",env=~"p.*"}|="x"|json|level="error""#, r#"{app="a", env=~"p.*"} |= "x" | json | level="error""#),
        (r#"sum by(env)(count_over_time({job="nginx"}[5m]))"#, r#"sum by (env) (count_over_time({job="nginx"}[5m]))"#),
        (r#"count_over_time({job="nginx"}|="POST"[10m])"#, r#"count_over_time({job="nginx"} |= "POST" [10m])"#),
        (r#"rate(({job="nginx"})[5m])"#, r#"rate({job="nginx"}[5m])"#),
        (r#"{a="b"} | logfmt --keep-empty --strict x,y="z""#, r#"{a="b"} | logfmt --strict --keep-empty x, y="z""#),
        (r#"{a="b"} | x=5 , y>=1.5e3 z<-2"#, r#"{a="b"} | x == 5 and y >= 1500 and z < -2"#),
        (
            r#"{a="b"} | label_format a=b,c="{{.d}}" | drop x,y="1" | keep z"#,
            r#"{a="b"} | label_format a=b, c="{{.d}}" | drop x, y="1" | keep z"#,
        ),
        (r#"{a=`x\d`}"#, r#"{a="x\\d"}"#),
        ("vector(1)+vector(2)", "vector(1) + vector(2)"),
        ("1 - -2 ^ 3", "1 - -2 ^ 3"),
    ] {
        let printed = roundtrip(input).to_string();
        assert_eq!(printed, expected, "input {input}");
    }
}

#[test]
fn error_cases() {
    for (query, line, col, message) in [
        (r#"-sum(count_over_time({app="auth"}[5m]))"#, 1, 2, "syntax error: unexpected SUM, expecting NUMBER"),
        (r#"{app="auth""#, 1, 12, "syntax error: unexpected $end, expecting } or ,"),
        (r#"{app="auth"} |= "x"#, 1, 17, "literal not terminated"),
        (r#"{app="auth"} |= "x" | foo"#, 1, 26, "syntax error: unexpected $end"),
        (
            r#"{app="auth"}
| json
| x > "1""#,
            3,
            7,
            "syntax error: unexpected STRING",
        ),
        (r#"unknown_fn({app="auth"}[5m])"#, 1, 1, "syntax error: unexpected IDENTIFIER"),
        (r#"count_over_time({app="auth"}[5m]))"#, 1, 34, "syntax error: unexpected )"),
        (r#"sum(count_over_time({app="auth"}[5m])"#, 1, 38, "syntax error: unexpected $end, expecting )"),
        (r#"count_over_time({app="auth"}[5x])"#, 1, 29, "not a valid duration string: \"5x\""),
        (r#"count_over_time({app="auth"}[5m)"#, 1, 29, "missing closing ']' in duration"),
        (r#"sum_over_time({app="auth"}[5m])"#, 1, 1, "invalid aggregation sum_over_time without unwrap"),
        (r#"bytes_rate({app="auth"} | unwrap x [5m])"#, 1, 1, "invalid aggregation bytes_rate with unwrap"),
        (r#"rate({app="auth"}[5m]) by (x)"#, 1, 1, "grouping not allowed for rate aggregation"),
        (
            r#"{app=~".*"}"#,
            1,
            1,
            "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ),
        (r#"{app="a"} | regexp "(?P<x>""#, 1, 20, "invalid regexp parser: error parsing regexp: unclosed group"),
        (r#"label_replace(vector(1), "a", "b", "c", "(")"#, 1, 41, "invalid regex in label_replace: error parsing regexp: unclosed group"),
        (r#"1 and vector(1)"#, 1, 3, "unexpected literal for left leg of logical/set binary operation (and): 1.000000"),
        (r#"bottomk(0, vector(1))"#, 1, 9, "invalid parameter (must be greater than 0) bottomk(0"),
        ("#only a comment", 1, 16, "syntax error: unexpected $end"),
        ("", 1, 1, "syntax error: unexpected $end"),
        ("{a=\"b\"} @", 1, 9, "syntax error: unexpected @"),
    ] {
        let err = parse_expr(query).expect_err(query);
        assert_eq!((err.line, err.col, err.message.as_str()), (line, col, message), "query {query}");
        assert_eq!(err.to_string(), format!("parse error at line {line}, col {col}: {message}"));
    }
}

#[test]
fn matchers_only() {
    assert_eq!(parse_matchers(r#"{a="b", c=~"x"}"#).unwrap(), vec![m("a", MatchOp::Eq, "b"), m("c", MatchOp::Re, "x")]);
    assert!(parse_matchers(r#"{a="b"} | json"#).is_err());
    assert!(parse_matchers(r#"count_over_time({a="b"}[1m])"#).is_err());
    assert!(parse_matchers(r#"{a=""}"#).is_err());
}

#[test]
fn large_inputs_are_linear_and_deep_ones_rejected() {
    let start = std::time::Instant::now();
    let filters = format!(r#"{{a="b"}}{}"#, r#" |= "x" or "y" | z="1""#.repeat(20_000));
    let e = parse_expr(&filters).unwrap();
    assert_eq!(e.to_string().len(), filters.len());
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    for deep in [
        format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}1", "-".repeat(100_000)),
        format!(r#"{}count_over_time({{a="b"}}[1m]){}"#, "sum(".repeat(100_000), ")".repeat(100_000)),
        format!(r#"rate({}{{a="b"}}{}[1m])"#, "(".repeat(100_000), ")".repeat(100_000)),
        format!(r#"{{a="b"}} | {}x="1"{}"#, "(".repeat(100_000), ")".repeat(100_000)),
        vec!["2"; 100_000].join(" ^ "),
        vec!["vector(1)"; 100_000].join(" or "),
        "-".repeat(200_000),
        "1.".repeat(100_000),
        "5m".repeat(100_000),
        "[".repeat(100_000),
        "\"".repeat(100_001),
        format!("{{a=\"b\"}} | {}", "x=\"1\" ".repeat(100_000)),
        format!("{{a=\"b\"}} |= {}\"x\"", "\"x\" or ".repeat(100_000)),
    ] {
        // Must return (an error or not) quickly and without overflowing the stack.
        let start = std::time::Instant::now();
        let _ = parse_expr(&deep);
        assert!(start.elapsed() < std::time::Duration::from_secs(3), "slow on {}...", &deep[..40]);
    }
}

// ----- property tests -----

const NAMES: &[&str] =
    &["app", "env", "job", "level", "status", "latency_ms", "__error__", "x_1", "Region", "rate", "sum", "ip", "bytes", "duration"];
const REGEXES: &[&str] = &["a.*", ".+", "(foo|bar)", "[0-9]{3}", "", "x\\d+", "(?i)err"];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_string)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ._/-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
        Just("quote \" back \\ tab \t nl \n".to_string()),
    ]
}

fn regex_text() -> impl Strategy<Value = String> {
    prop::sample::select(REGEXES).prop_map(str::to_string)
}

fn match_op() -> impl Strategy<Value = MatchOp> {
    prop::sample::select(vec![MatchOp::Eq, MatchOp::Neq, MatchOp::Re, MatchOp::Nre])
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (name(), match_op(), text(), regex_text()).prop_map(|(name, op, t, r)| {
        let value = if matches!(op, MatchOp::Re | MatchOp::Nre) { r } else { t };
        Matcher { name, op, value }
    })
}

fn selector() -> impl Strategy<Value = Vec<Matcher>> {
    (name(), "[a-z]{1,8}", prop::collection::vec(matcher(), 0..3)).prop_map(|(n, v, rest)| {
        let mut ms = vec![Matcher { name: n, op: MatchOp::Eq, value: v }];
        ms.extend(rest);
        ms
    })
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![CmpOp::Eq, CmpOp::Neq, CmpOp::Gt, CmpOp::Gte, CmpOp::Lt, CmpOp::Lte])
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1000i32..1000).prop_map(f64::from), any::<f64>().prop_filter("finite", |v| v.is_finite()), (0.0f64..1.0),]
}

fn duration() -> impl Strategy<Value = i64> {
    prop_oneof![(0i64..100_000).prop_map(|ms| ms * 1_000_000), (-1_000_000_000_000_000i64..1_000_000_000_000_000), Just(0i64),]
}

fn label_filter_leaf() -> impl Strategy<Value = LabelFilter> {
    prop_oneof![
        matcher().prop_map(LabelFilter::String),
        (name(), cmp_op(), number()).prop_map(|(name, op, value)| LabelFilter::Number { name, op, value }),
        (name(), cmp_op(), duration()).prop_map(|(name, op, value)| LabelFilter::Duration { name, op, value }),
        (name(), cmp_op(), 0u64..(1u64 << 53)).prop_map(|(name, op, value)| LabelFilter::Bytes { name, op, value }),
        (name(), any::<bool>(), "[0-9./a-f:-]{1,12}").prop_map(|(name, negate, pattern)| { LabelFilter::Ip { name, negate, pattern } }),
    ]
}

fn label_filter_any() -> impl Strategy<Value = LabelFilter> {
    label_filter_leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| LabelFilter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| LabelFilter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|i| LabelFilter::Paren(Box::new(i))),
        ]
    })
}

fn paren(f: LabelFilter) -> LabelFilter {
    LabelFilter::Paren(Box::new(f))
}

/// Adds the parentheses a printed tree needs to parse back as the same tree: `and`
/// binds tighter than `or`, both are left-associative.
fn canonical_filter(f: LabelFilter) -> LabelFilter {
    match f {
        LabelFilter::And(l, r) => {
            let l = canonical_filter(*l);
            let r = canonical_filter(*r);
            let l = if matches!(l, LabelFilter::Or(..)) { paren(l) } else { l };
            let r = if matches!(r, LabelFilter::Or(..) | LabelFilter::And(..)) { paren(r) } else { r };
            LabelFilter::And(Box::new(l), Box::new(r))
        }
        LabelFilter::Or(l, r) => {
            let l = canonical_filter(*l);
            let r = canonical_filter(*r);
            let r = if matches!(r, LabelFilter::Or(..)) { paren(r) } else { r };
            LabelFilter::Or(Box::new(l), Box::new(r))
        }
        LabelFilter::Paren(i) => paren(canonical_filter(*i)),
        // `name = <number>` is printed as `==`, which is the same filter.
        leaf => leaf,
    }
}

fn label_filter() -> impl Strategy<Value = LabelFilter> {
    label_filter_any().prop_map(canonical_filter)
}

fn extraction_params() -> impl Strategy<Value = Vec<ExtractionParam>> {
    prop::collection::vec((name(), prop::option::of(text())).prop_map(|(name, path)| ExtractionParam { name, path }), 0..3)
}

fn named_matchers() -> impl Strategy<Value = Vec<NamedMatcher>> {
    prop::collection::vec(prop_oneof![name().prop_map(NamedMatcher::Name), matcher().prop_map(NamedMatcher::Matcher)], 1..3)
}

fn line_filter() -> impl Strategy<Value = LineFilter> {
    let op = prop::sample::select(vec![
        LineFilterOp::Contains,
        LineFilterOp::NotContains,
        LineFilterOp::Regex,
        LineFilterOp::NotRegex,
        LineFilterOp::Pattern,
        LineFilterOp::NotPattern,
    ]);
    let value = prop_oneof![
        3 => text().prop_map(LineFilterValue::Literal),
        1 => "[0-9./]{1,12}".prop_map(LineFilterValue::Ip),
    ];
    (op, prop::collection::vec(value, 1..3), prop::collection::vec(regex_text(), 1..3)).prop_map(|(op, values, regexes)| {
        let values = if matches!(op, LineFilterOp::Regex | LineFilterOp::NotRegex) {
            regexes.into_iter().map(LineFilterValue::Literal).collect()
        } else {
            values
        };
        LineFilter { op, values }
    })
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        3 => line_filter().prop_map(Stage::LineFilter),
        1 => extraction_params().prop_map(|p| Stage::Parser(ParserStage::Json(p))),
        1 => (any::<bool>(), any::<bool>(), extraction_params())
            .prop_map(|(strict, keep_empty, params)| Stage::Parser(ParserStage::Logfmt { strict, keep_empty, params })),
        1 => prop::sample::select(vec!["(?P<a>\\d+)", "x=(?P<x>\\w+) (?P<y>.*)"])
            .prop_map(|r| Stage::Parser(ParserStage::Regexp(r.to_string()))),
        1 => prop::sample::select(vec!["<a> <_>", "<_> - <user> [<_>] \"<method>\""])
            .prop_map(|p| Stage::Parser(ParserStage::Pattern(p.to_string()))),
        1 => Just(Stage::Parser(ParserStage::Unpack)),
        3 => label_filter().prop_map(Stage::LabelFilter),
        1 => text().prop_map(Stage::LineFormat),
        1 => prop::collection::vec(
            prop_oneof![
                (name(), name()).prop_map(|(dst, src)| LabelFormatItem::Rename { dst, src }),
                (name(), text()).prop_map(|(dst, template)| LabelFormatItem::Template { dst, template }),
            ],
            1..3
        )
        .prop_map(Stage::LabelFormat),
        1 => Just(Stage::Decolorize),
        1 => named_matchers().prop_map(Stage::Drop),
        1 => named_matchers().prop_map(Stage::Keep),
    ]
}

/// `| keep a != "x"` reads as a `keep` matcher, never as `keep a` followed by a `!=`
/// line filter: the parser cannot produce that pipeline, so the generator avoids it.
fn separate_ambiguous_stages(stages: Vec<Stage>) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for stage in stages {
        let bare_name_last = matches!(out.last(), Some(Stage::Keep(items) | Stage::Drop(items))
            if matches!(items.last(), Some(NamedMatcher::Name(_))));
        let negative_filter = matches!(&stage, Stage::LineFilter(lf)
            if matches!(lf.op, LineFilterOp::NotContains | LineFilterOp::NotRegex));
        if bare_name_last && negative_filter {
            out.push(Stage::Decolorize);
        }
        out.push(stage);
    }
    out
}

fn log_expr() -> impl Strategy<Value = LogExpr> {
    (selector(), prop::collection::vec(stage(), 0..4))
        .prop_map(|(matchers, pipeline)| LogExpr { matchers, pipeline: separate_ambiguous_stages(pipeline) })
}

fn grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), prop::collection::vec(name(), 0..3)).prop_map(|(without, labels)| Grouping { without, labels })
}

const RANGE_OPS: &[RangeOp] = &[
    RangeOp::CountOverTime,
    RangeOp::Rate,
    RangeOp::RateCounter,
    RangeOp::BytesOverTime,
    RangeOp::BytesRate,
    RangeOp::AvgOverTime,
    RangeOp::SumOverTime,
    RangeOp::MinOverTime,
    RangeOp::MaxOverTime,
    RangeOp::StddevOverTime,
    RangeOp::StdvarOverTime,
    RangeOp::QuantileOverTime,
    RangeOp::FirstOverTime,
    RangeOp::LastOverTime,
    RangeOp::AbsentOverTime,
];

fn range_aggregation() -> impl Strategy<Value = RangeAggregation> {
    let unwrap = (
        name(),
        prop::sample::select(vec![
            UnwrapConversion::None,
            UnwrapConversion::Duration,
            UnwrapConversion::DurationSeconds,
            UnwrapConversion::Bytes,
        ]),
        prop::collection::vec(label_filter(), 0..2),
    )
        .prop_map(|(label, conversion, post_filters)| Unwrap { label, conversion, post_filters });
    (
        prop::sample::select(RANGE_OPS),
        0.0f64..1.0,
        log_expr(),
        unwrap,
        any::<bool>(),
        (1i64..10_000_000).prop_map(|ms| ms * 1_000_000),
        prop_oneof![Just(0i64), duration()],
        prop::option::of(grouping()),
    )
        .prop_map(|(op, q, log, unwrap, want_unwrap, range, offset, grouping)| {
            use RangeOp::*;
            let unwrap = match op {
                CountOverTime | BytesOverTime | BytesRate => None,
                Rate | AbsentOverTime => want_unwrap.then_some(unwrap),
                _ => Some(unwrap),
            };
            let grouping_allowed = matches!(
                op,
                AvgOverTime | StddevOverTime | StdvarOverTime | QuantileOverTime | MaxOverTime | MinOverTime | FirstOverTime | LastOverTime
            );
            RangeAggregation {
                op,
                param: (op == QuantileOverTime).then_some(q),
                log,
                unwrap,
                range,
                offset,
                grouping: if grouping_allowed { grouping } else { None },
            }
        })
}

const VECTOR_OPS: &[VectorOp] = &[
    VectorOp::Sum,
    VectorOp::Avg,
    VectorOp::Min,
    VectorOp::Max,
    VectorOp::Count,
    VectorOp::Stddev,
    VectorOp::Stdvar,
    VectorOp::Topk,
    VectorOp::Bottomk,
    VectorOp::Sort,
    VectorOp::SortDesc,
];

const BINARY_OPS: &[BinaryOp] = &[
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Unless,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Mod,
    BinaryOp::Pow,
    BinaryOp::Eq,
    BinaryOp::Neq,
    BinaryOp::Gt,
    BinaryOp::Gte,
    BinaryOp::Lt,
    BinaryOp::Lte,
];

fn prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
        BinaryOp::Pow => 6,
    }
}

fn is_const(e: &SampleExpr) -> bool {
    match e {
        SampleExpr::Literal(_) => true,
        SampleExpr::Paren(i) => is_const(i),
        SampleExpr::Binary(b) => !matches!(b.op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless) && is_const(&b.lhs) && is_const(&b.rhs),
        _ => false,
    }
}

fn sparen(e: SampleExpr) -> SampleExpr {
    SampleExpr::Paren(Box::new(e))
}

/// Makes a random metric tree valid and canonical: parentheses where precedence needs
/// them, no literal legs on set operators, `bool` only on comparisons.
fn canonical_sample(e: SampleExpr) -> SampleExpr {
    match e {
        SampleExpr::Binary(b) => {
            let mut b = *b;
            b.lhs = canonical_sample(b.lhs);
            b.rhs = canonical_sample(b.rhs);
            if matches!(b.op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless) && (is_const(&b.lhs) || is_const(&b.rhs)) {
                b.op = BinaryOp::Add;
            }
            if !matches!(b.op, BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte) {
                b.return_bool = false;
            }
            if b.matching.is_none() {
                b.group = None;
            }
            let p = prec(b.op);
            let right_assoc = b.op == BinaryOp::Pow;
            let needs_left = |e: &SampleExpr| match e {
                SampleExpr::Binary(x) => {
                    if right_assoc {
                        prec(x.op) <= p
                    } else {
                        prec(x.op) < p
                    }
                }
                _ => false,
            };
            let needs_right = |e: &SampleExpr| match e {
                SampleExpr::Binary(x) => {
                    if right_assoc {
                        prec(x.op) < p
                    } else {
                        prec(x.op) <= p
                    }
                }
                _ => false,
            };
            if needs_left(&b.lhs) {
                b.lhs = sparen(b.lhs);
            }
            if needs_right(&b.rhs) {
                b.rhs = sparen(b.rhs);
            }
            SampleExpr::Binary(Box::new(b))
        }
        SampleExpr::VectorAggregation(mut v) => {
            v.expr = Box::new(canonical_sample(*v.expr));
            v.grouping_first &= v.grouping.is_some();
            if matches!(v.op, VectorOp::Sort | VectorOp::SortDesc)
                && let Some(g) = &mut v.grouping
            {
                g.labels.clear();
            }
            SampleExpr::VectorAggregation(v)
        }
        SampleExpr::LabelReplace(mut l) => {
            l.expr = canonical_sample(l.expr);
            SampleExpr::LabelReplace(l)
        }
        SampleExpr::Paren(i) => sparen(canonical_sample(*i)),
        other => other,
    }
}

fn sample_leaf() -> impl Strategy<Value = SampleExpr> {
    prop_oneof![
        4 => range_aggregation().prop_map(SampleExpr::RangeAggregation),
        1 => number().prop_map(SampleExpr::Literal),
        1 => (0.0f64..1e6).prop_map(SampleExpr::Vector),
    ]
}

fn sample_any() -> impl Strategy<Value = SampleExpr> {
    sample_leaf().prop_recursive(3, 8, 2, |inner| {
        let matching =
            prop::option::of((any::<bool>(), prop::collection::vec(name(), 0..3)).prop_map(|(on, labels)| VectorMatching { on, labels }));
        let group = prop::option::of((prop::sample::select(vec![GroupSide::Left, GroupSide::Right]), prop::collection::vec(name(), 0..3)));
        prop_oneof![
            (prop::sample::select(VECTOR_OPS), 1u32..100, inner.clone(), prop::option::of(grouping()), any::<bool>()).prop_map(
                |(op, k, expr, grouping, grouping_first)| {
                    SampleExpr::VectorAggregation(VectorAggregation {
                        op,
                        param: matches!(op, VectorOp::Topk | VectorOp::Bottomk).then_some(f64::from(k)),
                        expr: Box::new(expr),
                        grouping,
                        grouping_first,
                    })
                }
            ),
            (prop::sample::select(BINARY_OPS), inner.clone(), inner.clone(), any::<bool>(), matching, group).prop_map(
                |(op, lhs, rhs, return_bool, matching, group)| {
                    SampleExpr::Binary(Box::new(BinaryExpr { op, lhs, rhs, return_bool, matching, group }))
                }
            ),
            (inner.clone(), name(), text(), name(), regex_text()).prop_map(|(expr, dst, replacement, src, regex)| {
                SampleExpr::LabelReplace(Box::new(LabelReplace { expr, dst, replacement, src, regex }))
            }),
            inner.prop_map(sparen),
        ]
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        1 => log_expr().prop_map(Expr::Log),
        3 => sample_any().prop_map(|s| Expr::Sample(canonical_sample(s))),
    ]
}

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
    fn print_parse_roundtrip(e in expr()) {
        let printed = e.to_string();
        let parsed = parse_expr(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&e), "printed: {}", printed);
        prop_assert_eq!(parsed.unwrap().to_string(), printed);
    }

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
