//! Unit tests of the parser: tree shapes, error messages and positions, depth limits.

use super::*;

fn sample(q: &str) -> SampleExpr {
    match parse_expr(q) {
        Ok(Expr::Sample(s)) => s,
        other => panic!("{q}: {other:?}"),
    }
}

fn log(q: &str) -> LogExpr {
    match parse_expr(q) {
        Ok(Expr::Log(l)) => l,
        other => panic!("{q}: {other:?}"),
    }
}

pub(crate) fn err(q: &str) -> ParseError {
    match parse_expr(q) {
        Err(e) => e,
        Ok(e) => panic!("{q}: expected an error, got {e:?}"),
    }
}

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher { name: name.into(), op, value: value.into() }
}

#[test]
fn selectors() {
    let l = log(r#"{job=~"ngin.*", instance!="web-1"}"#);
    assert_eq!(l.matchers, vec![m("job", MatchOp::Re, "ngin.*"), m("instance", MatchOp::Neq, "web-1")]);
    assert!(l.pipeline.is_empty());
    assert_eq!(parse_matchers(r#"{a="b", c!~`x`}"#).unwrap().len(), 2);
    assert!(parse_matchers(r#"{a="b"} |= "x""#).is_err());
    let e = err(r#"{app=~".*"}"#);
    assert!(e.message.starts_with("queries require at least one regexp"), "{e}");
    assert!(err("{}").message.starts_with("queries require"));
    assert!(err(r#"{a=""}"#).message.starts_with("queries require"));
    assert!(err(r#"{a!="x"}"#).message.starts_with("queries require"));
    log(r#"{a=~".+"}"#);
    log(r#"{a!=""}"#);
    assert!(err(r#"{a=~"("}"#).message.contains("error parsing regexp"));
}

#[test]
fn keywords_are_case_insensitive() {
    let s = sample(r#"SUM(Count_Over_Time({foo="bar"}[5m])) BY (foo,bar)"#);
    let SampleExpr::VectorAggregation(v) = s else { panic!() };
    assert_eq!(v.op, VectorOp::Sum);
    assert_eq!(v.grouping, Some(Grouping { without: false, labels: vec!["foo".into(), "bar".into()] }));
    assert!(!v.grouping_first);
    // Function names are identifiers when not called.
    let l = log(r#"{rate="a"} | logfmt | ip="b" | sum > 1"#);
    assert_eq!(l.matchers[0].name, "rate");
    assert_eq!(l.pipeline.len(), 3);
}

#[test]
fn line_filters() {
    let l = log(r#"{a="b"} |= "x" or "y" != "z" |~ "a.b" !~ "c" |> "<_> x" !> "y" |= ip("10.0.0.0/8")"#);
    assert_eq!(
        l.pipeline[0],
        Stage::LineFilter(LineFilter {
            op: LineFilterOp::Contains,
            values: vec![LineFilterValue::Literal("x".into()), LineFilterValue::Literal("y".into())]
        })
    );
    assert_eq!(l.pipeline.len(), 7);
    assert_eq!(
        l.pipeline[6],
        Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("10.0.0.0/8".into())] })
    );
    assert!(err(r#"{a="b"} |~ "(""#).message.contains("error parsing regexp"));
}

#[test]
fn parsers_and_formatters() {
    let l = log(
        r#"{a="b"} | json | json a, b="x.y[0]" | logfmt --strict --keep-empty c, d="e" | regexp "(?P<x>\\d+)" | pattern "<a> <_>" | unpack | line_format "{{.a}}" | label_format x=y, z="{{.a}}" | decolorize | drop a, b="c" | keep d, e=~"f.*""#,
    );
    assert_eq!(l.pipeline[0], Stage::Parser(ParserStage::Json(vec![])));
    assert_eq!(
        l.pipeline[1],
        Stage::Parser(ParserStage::Json(vec![
            ExtractionParam { name: "a".into(), path: None },
            ExtractionParam { name: "b".into(), path: Some("x.y[0]".into()) },
        ]))
    );
    assert_eq!(
        l.pipeline[2],
        Stage::Parser(ParserStage::Logfmt {
            strict: true,
            keep_empty: true,
            params: vec![ExtractionParam { name: "c".into(), path: None }, ExtractionParam { name: "d".into(), path: Some("e".into()) },]
        })
    );
    assert_eq!(
        l.pipeline[7],
        Stage::LabelFormat(vec![
            LabelFormatItem::Rename { dst: "x".into(), src: "y".into() },
            LabelFormatItem::Template { dst: "z".into(), template: "{{.a}}".into() },
        ])
    );
    assert_eq!(l.pipeline[9], Stage::Drop(vec![NamedMatcher::Name("a".into()), NamedMatcher::Matcher(m("b", MatchOp::Eq, "c"))]));
    assert!(err(r#"{a="b"} | regexp "(\\d+)""#).message.contains("at least one named capture"));
    assert!(err(r#"{a="b"} | pattern "foo""#).message.contains("at least one capture is required"));
    assert!(err(r#"{a="b"} | pattern "<a><b>""#).message.contains("consecutive capture"));
}

#[test]
fn label_filters() {
    let l = log(r#"{a="b"} | x > 1.5 and y="z" or w <= 250ms, v >= 10KB u != ip("1.2.3.4") | (a=~"x" or b!~"y") c == -2"#);
    let Stage::LabelFilter(f) = &l.pipeline[0] else { panic!() };
    let num = LabelFilter::Number { name: "x".into(), op: CmpOp::Gt, value: 1.5 };
    let s = LabelFilter::String(m("y", MatchOp::Eq, "z"));
    let dur = LabelFilter::Duration { name: "w".into(), op: CmpOp::Lte, value: 250_000_000 };
    let bytes = LabelFilter::Bytes { name: "v".into(), op: CmpOp::Gte, value: 10_000 };
    let ip = LabelFilter::Ip { name: "u".into(), negate: true, pattern: "1.2.3.4".into() };
    let expected = LabelFilter::Or(
        Box::new(LabelFilter::And(Box::new(num), Box::new(s))),
        Box::new(LabelFilter::And(Box::new(LabelFilter::And(Box::new(dur), Box::new(bytes))), Box::new(ip))),
    );
    assert_eq!(f, &expected);
    let Stage::LabelFilter(f) = &l.pipeline[1] else { panic!() };
    assert!(matches!(f, LabelFilter::And(l, r)
        if matches!(**l, LabelFilter::Paren(_))
        && **r == LabelFilter::Number { name: "c".into(), op: CmpOp::Eq, value: -2.0 }));
}

#[test]
fn range_aggregations() {
    let SampleExpr::RangeAggregation(r) = sample(r#"count_over_time({job="nginx"} |= "POST" [10m])"#) else { panic!() };
    assert_eq!(r.op, RangeOp::CountOverTime);
    assert_eq!(r.range, 600_000_000_000);
    assert_eq!(r.log.pipeline.len(), 1);
    // Range right after the selector, then the pipeline.
    let SampleExpr::RangeAggregation(r2) = sample(r#"count_over_time({job="nginx"}[10m] |= "POST")"#) else { panic!() };
    assert_eq!(r, r2);
    let SampleExpr::RangeAggregation(r) =
        sample(r#"quantile_over_time(0.99, {app="c"} | logfmt | unwrap duration(d) | __error__="" [10m] offset 1h) by (env)"#)
    else {
        panic!()
    };
    assert_eq!(r.param, Some(0.99));
    assert_eq!(r.offset, 3_600_000_000_000);
    let u = r.unwrap.unwrap();
    assert_eq!(u.label, "d");
    assert_eq!(u.conversion, UnwrapConversion::Duration);
    assert_eq!(u.post_filters, vec![LabelFilter::String(m("__error__", MatchOp::Eq, ""))]);
    assert_eq!(r.grouping, Some(Grouping { without: false, labels: vec!["env".into()] }));
    // Parenthesised forms.
    sample(r#"rate(({a="b"} |= "x")[5m])"#);
    sample(r#"rate(({a="b"}[5m] offset 1m))"#);
    sample(r#"sum_over_time({a="b"}[5m] | unwrap x)"#);
    sample(r#"rate({a="b"} | unwrap bytes(x) [5m])"#);
    sample(r#"sum_over_time({a="b"} | unwrap bytes [5m])"#);
    sample(r#"count_over_time({a="b"}[5m] offset -5m)"#);
}

#[test]
fn range_aggregation_validation() {
    assert_eq!(err(r#"sum_over_time({a="b"}[5m])"#).message, "invalid aggregation sum_over_time without unwrap");
    assert_eq!(err(r#"count_over_time({a="b"} | unwrap x [5m])"#).message, "invalid aggregation count_over_time with unwrap");
    assert_eq!(err(r#"count_over_time({a="b"}[5m]) by (x)"#).message, "grouping not allowed for count_over_time aggregation");
    assert_eq!(err(r#"quantile_over_time({a="b"} | unwrap x [5m])"#).message, "parameter required for operation quantile_over_time");
    assert_eq!(err(r#"rate(5, {a="b"}[5m])"#).message, "parameter 5 not supported for operation rate");
    let e = err(r#"count_over_time({a="b"})"#);
    assert_eq!((e.line, e.col), (1, 24));
    assert!(err(r#"{a="b"} | unwrap x"#).message.contains("unexpected unwrap"));
    assert!(err(r#"count_over_time({a="b"}[5m] | json | unwrap x | json)"#).message.contains("unexpected json"));
}

#[test]
fn vector_aggregations_and_binops() {
    let SampleExpr::VectorAggregation(v) = sample(r#"topk(2, sum by (instance) (count_over_time({job="nginx"}[15m])))"#) else { panic!() };
    assert_eq!(v.op, VectorOp::Topk);
    assert_eq!(v.param, Some(2.0));
    let SampleExpr::VectorAggregation(inner) = *v.expr else { panic!() };
    assert!(inner.grouping_first);
    assert_eq!(err(r#"topk(count_over_time({a="b"}[5m]))"#).message, "parameter required for operation topk");
    assert_eq!(err(r#"topk(1.5, count_over_time({a="b"}[5m]))"#).message, "invalid parameter topk(1.5,");
    assert_eq!(err(r#"sort by (a) (count_over_time({a="b"}[5m]))"#).message, "sort and sort_desc doesn't allow grouping by ");

    // Precedence: or < and/unless < comparisons < +- < */% < ^ (right-assoc).
    let s = sample("1 + 2 * 3 ^ 2 ^ 3 > bool 4 - 5");
    let SampleExpr::Binary(b) = s else { panic!() };
    assert_eq!(b.op, BinaryOp::Gt);
    assert!(b.return_bool);
    let SampleExpr::Binary(add) = &b.lhs else { panic!() };
    assert_eq!(add.op, BinaryOp::Add);
    let SampleExpr::Binary(mul) = &add.rhs else { panic!() };
    let SampleExpr::Binary(pow) = &mul.rhs else { panic!() };
    assert_eq!(pow.lhs, SampleExpr::Literal(3.0));
    assert!(matches!(&pow.rhs, SampleExpr::Binary(p) if p.op == BinaryOp::Pow));
    // Left associativity.
    let SampleExpr::Binary(b) = sample("1 - 2 - 3") else { panic!() };
    assert!(matches!(&b.lhs, SampleExpr::Binary(_)));
    assert_eq!(b.rhs, SampleExpr::Literal(3.0));

    let SampleExpr::Binary(b) = sample(
        r#"sum by (env, instance) (count_over_time({job="nginx"}[5m])) / ignoring (instance) group_right (x) sum by (env) (count_over_time({job="nginx"}[5m]))"#,
    ) else {
        panic!()
    };
    assert_eq!(b.matching, Some(VectorMatching { on: false, labels: vec!["instance".into()] }));
    assert_eq!(b.group, Some((GroupSide::Right, vec!["x".into()])));
    let SampleExpr::Binary(b) = sample(r#"count_over_time({a="b"}[5m]) / on () group_left (count_over_time({a="b"}[5m]))"#) else {
        panic!()
    };
    assert_eq!(b.group, Some((GroupSide::Left, vec![])));
    assert!(matches!(b.rhs, SampleExpr::Paren(_)));

    assert!(
        err(r#"1 or count_over_time({a="b"}[5m])"#)
            .message
            .starts_with("unexpected literal for left leg of logical/set binary operation (or): 1.000000")
    );
    assert!(err(r#"{a="b"} + 1"#).message.contains("unexpected type for left leg"));
    sample("vector(1) or count_over_time({a=\"b\"}[5m])");
    assert_eq!(sample("-2"), SampleExpr::Literal(-2.0));
    assert_eq!(sample("(2)"), SampleExpr::Paren(Box::new(SampleExpr::Literal(2.0))));
}

#[test]
fn error_positions() {
    let e = err(r#"-sum(count_over_time({app="auth"}[5m]))"#);
    assert_eq!(e.to_string(), "parse error at line 1, col 2: syntax error: unexpected SUM, expecting NUMBER");
    let e = err(r#"{foo="bar""#);
    assert_eq!(e.to_string(), "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,");
    let e = err("{foo=\"bar\"}\n  | json\n  | foo=");
    assert_eq!((e.line, e.col), (3, 9));
    let e = err(r#"{foo="bar"} |= "unterminated"#);
    assert_eq!(e.to_string(), "parse error at line 1, col 16: literal not terminated");
    let e = err(r#"sum(rate({a="b"}[5m])) by (x"#);
    assert!(e.message.contains("unexpected $end"));
    let e = err(r#"foo(rate({a="b"}[5m]))"#);
    assert_eq!((e.line, e.col), (1, 1));
    assert!(err(r#"{a="b"} x"#).message.contains("unexpected IDENTIFIER"));
    assert!(err(r#"count_over_time({a="b"}[5m])) "#).message.contains("unexpected )"));
}

#[test]
fn nesting_is_capped() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(err(&deep).message.contains("nesting too deep"));
    let chain = vec!["1"; 10_000].join(" + ");
    assert!(err(&chain).message.contains("nesting too deep"));
    let filters = format!("{{a=\"b\"}} | {}", vec!["x=\"1\""; 10_000].join(" and "));
    assert!(err(&filters).message.contains("nesting too deep"));
    let ok = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    sample(&ok);
}
