//! Parser/printer integration tests: the conformance queries, AST shapes, canonical
//! printing, error positions and size limits.

mod common;

use common::CONFORMANCE;
use skald_logql::*;

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
        (r#"count_over_time({app="auth"}[5x])"#, 0, 29, "not a valid duration string: \"5x\""),
        (r#"count_over_time({app="auth"}[5m)"#, 0, 29, "missing closing ']' in duration"),
        (r#"sum_over_time({app="auth"}[5m])"#, 0, 0, "invalid aggregation sum_over_time without unwrap"),
        (r#"bytes_rate({app="auth"} | unwrap x [5m])"#, 0, 0, "invalid aggregation bytes_rate with unwrap"),
        (r#"rate({app="auth"}[5m]) by (x)"#, 0, 0, "grouping not allowed for rate aggregation"),
        (
            r#"{app=~".*"}"#,
            0,
            0,
            "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ),
        (r#"{app="a"} | regexp "(?P<x>""#, 0, 0, "invalid regexp parser: error parsing regexp: missing closing ): `(?P<x>`"),
        (
            r#"label_replace(vector(1), "a", "b", "c", "(")"#,
            0,
            0,
            "invalid regex in label_replace: error parsing regexp: missing closing ): `^(?:()$`",
        ),
        (r#"1 and vector(1)"#, 0, 0, "unexpected literal for left leg of logical/set binary operation (and): 1.000000"),
        (r#"bottomk(0, vector(1))"#, 0, 0, "invalid parameter (must be greater than 0) bottomk(0"),
        ("#only a comment", 1, 16, "syntax error: unexpected $end"),
        ("", 1, 1, "syntax error: unexpected $end"),
        ("{a=\"b\"} @", 1, 9, "syntax error: unexpected @"),
        // Loki's parser_test.go: errors at a range are on line 0, at the `[`.
        (r#"min({ foo = "bar" }[5m])"#, 0, 20, "syntax error: unexpected RANGE"),
        (r#"rate({ foo = "bar" }[5)"#, 0, 21, "missing closing ']' in duration"),
    ] {
        let err = parse_expr(query).expect_err(query);
        assert_eq!((err.line, err.col, err.message.as_str()), (line, col, message), "query {query}");
        // Loki gives its semantic checks no position: `parse error : <message>`.
        let expected = if line == 0 && col == 0 {
            format!("parse error : {message}")
        } else {
            format!("parse error at line {line}, col {col}: {message}")
        };
        assert_eq!(err.to_string(), expected);
    }
}

/// Loki's pattern parser checks, in its order, with its messages (pkg/logql/log/pattern,
/// syntax/ast.go), and its pattern line filter's (`|>` takes only `<_>`).
#[test]
fn pattern_errors_are_lokis() {
    for (pattern, message) in [
        ("", "parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL"),
        ("<_>", "at least one capture is required"),
        ("<_><_>", "at least one capture is required"),
        ("foo bar", "at least one capture is required"),
        ("<a><b>", "found consecutive capture '<a><b>': invalid expression"),
        ("<f> f<f><a><b>", "found consecutive capture '<f><a>': invalid expression"),
        ("<a> <a>", "duplicate capture name (a): invalid expression"),
    ] {
        let query = format!("{{app=\"x\"}} | pattern \"{pattern}\"");
        let err = parse_expr(&query).expect_err(&query);
        assert_eq!(err.to_string(), format!("parse error : invalid pattern parser: {message}"), "{query}");
    }
    assert!(parse_expr(r#"{app="x"} | pattern "<a> <_> <b>""#).is_ok());
    let filter = |p: &str| skald_logql::pipeline::Pipeline::new(&log_stages(&format!("{{app=\"x\"}} |> \"{p}\""))).err().map(|e| e.0);
    assert_eq!(filter("<_> GET <_>"), None);
    assert_eq!(filter("<foo> GET"), Some("parse error : stage '|> \"<foo> GET\"' : named captures are not allowed: found '<foo>'".into()));
    assert_eq!(
        filter("<_><_>"),
        Some("parse error : stage '|> \"<_><_>\"' : found consecutive capture '<_><_>': invalid expression".into())
    );
}

fn log_stages(query: &str) -> Vec<skald_logql::ast::Stage> {
    match parse_expr(query).unwrap() {
        skald_logql::ast::Expr::Log(log) => log.pipeline,
        other => panic!("not a log query: {other}"),
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

/// `variants(...) of (...)` (Loki's syntax.y `variantsExpr`; pretty form from Loki's
/// ast_test.go: always broken up).
#[test]
fn variants_parse_print_and_prettify() {
    let query = r#"variants(count_over_time({foo="bar"}[5m])) of ({foo="bar"}[5m])"#;
    let expr = parse_expr(query).unwrap();
    let Expr::Variants(v) = &expr else { panic!("{expr:?}") };
    assert_eq!((v.variants.len(), v.range), (1, 300_000_000_000));
    assert_eq!(expr.to_string(), query);
    assert_eq!(prettify(&expr), "variants(\n  count_over_time({foo=\"bar\"}[5m])\n) of (\n  {foo=\"bar\"} [5m]\n)");
    let two = r#"variants(count_over_time({a="b"}[1m]), sum by (app) (bytes_over_time({a="b"}[1m]))) of ({a="b"} |= "x" [1m])"#;
    let expr = parse_expr(two).unwrap();
    assert_eq!(expr.to_string(), two);
    assert_eq!(parse_expr(&expr.to_string()).unwrap(), expr);
    assert!(parse_expr(r#"variants(count_over_time({a="b"}[1m])) of ({a="b"})"#).is_err(), "the log range needs a range");
    assert!(parse_expr(r#"variants({a="b"}) of ({a="b"}[1m])"#).is_err(), "variants are metric queries");
}

/// format_query prints `=~` label filters as Loki's `LineFilterLabelFilter.String()`:
/// cases from Loki's parser_test.go (`TestParseSampleExpr_String`), label_filter_test.go
/// (a regex holding a backtick is double-quoted) and filter.go's simplifier.
#[test]
fn format_query_prints_regex_label_filters_as_loki() {
    for (query, printed) in [
        (r#"{cluster="beep", namespace="boop"} | msg=~"\\w.*""#, r#"{cluster="beep", namespace="boop"} | msg=~`\w.*`"#),
        (r#"{foo="bar"} | logfmt | msg=~"`.`""#, r#"{foo="bar"} | logfmt | msg=~"`.`""#),
        // A one-character literal is reduced to a literal filter: the matcher is printed.
        (r#"{foo="bar"} | msg=~`"`"#, r#"{foo="bar"} | msg=~"\"""#),
        (
            r#"{foo="bar"} | x=~"a.+" | y=~"error|warn" | z!~"b.+" | w=~"a.*""#,
            r#"{foo="bar"} | x=~`a.+` | y=~"error|warn" | z!~"b.+" | w=~"a.*""#,
        ),
    ] {
        assert_eq!(prettify(&parse_expr(query).unwrap()), printed, "{query}");
    }
}
