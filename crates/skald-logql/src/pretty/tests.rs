//! Unit tests of the formatter: line breaking, indentation and Loki's one-line forms.

use super::go_format::{go_duration, go_float_v, humanize_bytes};
use super::*;
use crate::parser::parse_expr;

/// [`prettify`] with another line width (Loki's own tests use 20).
fn pretty(q: &str, width: usize) -> String {
    let e = parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    Pretty { max: width }.expr(&e)
}

/// Loki's `prettier_test.go` cases (`MaxCharsPerLine = 20`).
#[test]
fn loki_prettier_cases() {
    let cases: &[(&str, &str)] = &[
        // basic stream selector
        (r#"{job="loki", instance="localhost"}"#, r#"{job="loki", instance="localhost"}"#),
        // pipeline_label_filter
        (
            r#"{job="loki", instance="localhost"}|logfmt|level="error" "#,
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | level=\"error\"",
        ),
        // pipeline_line_filter
        (
            r#"{job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt"#,
            "{job=\"loki\", instance=\"localhost\"}\n  |= \"error\"\n  != \"memcached\"\n  |= ip(\"192.168.0.1\")\n  | logfmt",
        ),
        // pipeline_line_format
        (
            r#"{job="loki", instance="localhost"}|logfmt|line_format "{{.error}}""#,
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | line_format \"{{.error}}\"",
        ),
        // pipeline_label_format
        (
            r#"{job="loki", instance="localhost"}|logfmt|label_format dst="{{.src}}""#,
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | label_format dst=\"{{.src}}\"",
        ),
        // aggregation
        (
            r#"count_over_time({job="loki", instance="localhost"}|logfmt[1m])"#,
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    | logfmt [1m]\n)",
        ),
        // aggregation_with_offset
        (
            r#"count_over_time({job="loki", instance="localhost"}|= "error"[5m] offset 20m)"#,
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\" [5m] offset 20m\n)",
        ),
        // unwrap
        (
            r#"quantile_over_time(0.99,{container="ingress-nginx",service="hosted-grafana"}| json| unwrap response_latency_seconds| __error__=""[1m]) by (cluster)"#,
            "quantile_over_time(\n  0.99,\n  {container=\"ingress-nginx\", service=\"hosted-grafana\"}\n    | json\n    | unwrap response_latency_seconds\n    | __error__=\"\" [1m]\n) by (cluster)",
        ),
        // pipeline_aggregation_line_filter
        (
            r#"count_over_time({job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt[1m])"#,
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\"\n    != \"memcached\"\n    |= ip(\"192.168.0.1\")\n    | logfmt [1m]\n)",
        ),
        // jsonparserExpr
        (
            r#"{job="loki", namespace="loki-prod", container="nginx-ingress"}| json first_server="servers[0]", ua="request.headers[\"User-Agent\"]" | level="error""#,
            "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}\n  | json first_server=\"servers[0]\",ua=\"request.headers[\\\"User-Agent\\\"]\"\n  | level=\"error\"",
        ),
        // vector aggregation: sum
        (
            r#"sum(count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#,
            "sum by (container)(\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)",
        ),
        // vector aggregation: topk
        (
            r#"topk(5, count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#,
            "topk by (container)(\n  5,\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)",
        ),
        // label_replace
        (
            r#"label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*")"#,
            "label_replace(\n  rate(\n    {job=\"api-server\", service=\"a:c\"}\n      |= \"err\" [5m]\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
        // label_replace_nested
        (
            r#"label_replace(label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*"), "foo", "$1", "service", "(.*):.*")"#,
            "label_replace(\n  label_replace(\n    rate(\n      {job=\"api-server\", service=\"a:c\"}\n        |= \"err\" [5m]\n    ),\n    \"foo\",\n    \"$1\",\n    \"service\",\n    \"(.*):.*\"\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
        // single binop
        (
            r#"sum(rate({job="loki", namespace="loki-prod", instance="localhost"}[5m]))/sum(count_over_time({job="loki", namespace="loki-prod", instance="localhost"}[5m]))"#,
            "  sum(\n    rate(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )\n/\n  sum(\n    count_over_time(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )",
        ),
        // multiple binops
        (
            r#"sum(rate({job="loki"}[5m])) + sum(rate({job="loki-dev"}[5m])) / sum(rate({job="loki-prod"}[5m]))"#,
            "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n+\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n  /\n    sum(\n      rate(\n        {job=\"loki-prod\"} [5m]\n      )\n    )",
        ),
        // multiple binops check precedence
        (
            r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  /\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        // multiple binops check precedence2
        (
            r#"sum(rate({job="loki"}[5m])) - sum(rate({job="loki-stage"}[5m])) / sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  -\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-dev\"} [5m]\n        )\n      )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        // multiple binops check precedence4
        (
            r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "      sum(\n        rate(\n          {job=\"loki\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n  %\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        // multiple binops check precedence5
        (
            r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) * sum(rate({job="loki-prod"}[5m]))"#,
            "      sum(\n        rate(\n          {job=\"loki\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n  %\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n*\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        // binops with options
        (
            r#"sum(rate({job="loki"}[5m])) * on(instance, job) group_left (node) sum(rate({job="loki-prod"}[5m]))"#,
            "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n* on (instance, job) group_left (node)\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(&pretty(input, 20), expected, "input: {input}");
    }
}

/// Short queries: Loki's one-line `String()` forms.
#[test]
fn one_line_forms() {
    for (input, expected) in [
        (r#"{app="a",env=~"p.*"}|="x"|json|level="error""#, r#"{app="a", env=~"p.*"} |= "x" | json | level="error""#),
        (r#"sum by(env)(count_over_time({job="nginx"}[5m]))"#, r#"sum by (env)(count_over_time({job="nginx"}[5m]))"#),
        (r#"sum(rate({job="nginx"}[5m])) by (env, pod) * 60"#, r#"(sum by (env,pod)(rate({job="nginx"}[5m])) * 60)"#),
        (r#"count_over_time({job="nginx"}[10m] |= "POST")"#, r#"count_over_time({job="nginx"} |= "POST"[10m])"#),
        (
            r#"{a="b"} | x>=500 | d>1h30m | s<=100KB | y="5" | z=5 | w < 1.5MB"#,
            r#"{a="b"} | x>=500 | d>1h30m0s | s<=100kB | y="5" | z==5 | w<1.5MB"#,
        ),
        (r#"{a="b"} | x > 1 and y < 2 or z = "q""#, r#"{a="b"} | ( ( x>1 , y<2 ) or z="q" )"#),
        (r#"{a="b"} | x > 1, (y < 2 or z = "q")"#, r#"{a="b"} | ( x>1 , ( y<2 or z="q" ) )"#),
        (r#"{a="b"} | json x, y="a.b" | logfmt --strict"#, r#"{a="b"} | json x="x",y="a.b" | logfmt --strict"#),
        (r#"{a="b"} | logfmt --strict --keep-empty x"#, r#"{a="b"} | logfmt --strict --keep-empty x="x""#),
        (r#"{a="b"} |= "x" or "y" != "z" or "w" | ip=ip("1.2.3.4")"#, r#"{a="b"} |= "x" or "y" != "z" != "w" | ip=ip("1.2.3.4")"#),
        (
            r#"{a="b"} | drop a, b="c" | keep d | label_format x=y, z="{{.a}}""#,
            r#"{a="b"} | drop a,b="c" | keep d | label_format x=y,z="{{.a}}""#,
        ),
        (
            r#"{a="b"} | decolorize | regexp "(?P<x>.)" | pattern "<_> <y>" | unpack"#,
            r#"{a="b"} | decolorize | regexp "(?P<x>.)" | pattern "<_> <y>" | unpack"#,
        ),
        (
            r#"quantile_over_time(.99,{a="b"}|unwrap duration(d)|__error__=""[5m]offset 1h)by(x,y)"#,
            r#"quantile_over_time(0.99,{a="b"} | unwrap duration(d) | __error__=""[5m] offset 1h0m0s) by (x,y)"#,
        ),
        (r#"topk(3, sum without (a) (rate({x="y"}[1m])))"#, r#"topk(3,sum without (a)(rate({x="y"}[1m])))"#),
        (r#"sum by () (rate({x="y"}[1m]))"#, r#"sum(rate({x="y"}[1m]))"#),
        (r#"1+2*-3"#, "-5"),
        (r#"(1 + 1) * count_over_time({a="b"}[1m])"#, r#"(2 * count_over_time({a="b"}[1m]))"#),
        (r#"1e6 + count_over_time({a="b"}[1m])"#, r#"(1e+06 + count_over_time({a="b"}[1m]))"#),
        (r#"vector(1) or vector(2)"#, "(vector(1.000000) or vector(2.000000))"),
        (r#"label_replace(vector(1), "a", "$1", "b", "(.*)")"#, r#"label_replace(vector(1.000000),"a","$1","b","(.*)")"#),
        (
            r#"rate({a="b"}[1m]) / on (a, b) group_left (c, d) rate({a="b"}[1m])"#,
            r#"(rate({a="b"}[1m]) / on (a,b) group_left (c,d) rate({a="b"}[1m]))"#,
        ),
        (r#"rate({a="b"}[1m]) > bool ignoring (a) rate({a="b"}[1m])"#, r#"(rate({a="b"}[1m]) > bool ignoring (a)  rate({a="b"}[1m]))"#),
        (r#"((rate({a="b"}[1m])))"#, r#"rate({a="b"}[1m])"#),
    ] {
        assert_eq!(pretty(input, MAX_CHARS_PER_LINE), expected, "input: {input}");
    }
}

#[test]
fn long_queries_at_100_chars() {
    // A pipeline longer than 100 characters: one stage per line; a run of short line
    // filters stays on one line.
    let q = r#"{cluster="prod-eu-west-1", namespace="payments", container="api"} |= "error" != "timeout" | json | status >= 500 | line_format "{{.msg}}""#;
    assert_eq!(
        pretty(q, MAX_CHARS_PER_LINE),
        "{cluster=\"prod-eu-west-1\", namespace=\"payments\", container=\"api\"}\n  |= \"error\" != \"timeout\"\n  | json\n  | status>=500\n  | line_format \"{{.msg}}\""
    );
    // A long line filter run breaks after the longest prefix that fits.
    let q = format!(r#"{{a="b"}} |= "{}" |= "x" != "y" | json"#, "e".repeat(90));
    assert_eq!(pretty(&q, MAX_CHARS_PER_LINE), format!("{{a=\"b\"}}\n  |= \"{}\"\n  |= \"x\"\n  != \"y\"\n  | json", "e".repeat(90)));
    let q = r#"sum by (namespace, pod) (rate({cluster="prod-eu-west-1", namespace="payments-production"} |= "error" [5m]))"#;
    assert_eq!(
        pretty(q, MAX_CHARS_PER_LINE),
        "sum by (namespace, pod)(\n  rate({cluster=\"prod-eu-west-1\", namespace=\"payments-production\"} |= \"error\"[5m])\n)"
    );
    // Comments are not kept (Loki formats the parsed expression).
    let q = "{app=\"x\"} # the app\n|= \"a\" // more\n/* block */ | json";
    assert_eq!(pretty(q, MAX_CHARS_PER_LINE), r#"{app="x"} |= "a" | json"#);
}

#[test]
fn kept_where_loki_would_lose_them() {
    let g = |q: &str| pretty(q, 20);
    assert_eq!(g(r#"{job="loki-prod"} |= "aa" or "bb""#), "{job=\"loki-prod\"}\n  |= \"aa\" or \"bb\"");
    assert_eq!(
        g(r#"sum without () (count_over_time({job="loki"}[5m]))"#),
        "sum without ()(\n  count_over_time(\n    {job=\"loki\"} [5m]\n  )\n)"
    );
    assert_eq!(g(r#"count_over_time({job="loki"}[5m] offset -5m)"#), "count_over_time(\n  {job=\"loki\"} [5m] offset -5m\n)");
    assert_eq!(
        g(r#"rate({job="loki"}[5m]) * on () rate({job="loki"}[5m])"#),
        "  rate(\n    {job=\"loki\"} [5m]\n  )\n* on () \n  rate(\n    {job=\"loki\"} [5m]\n  )"
    );
}

#[test]
fn deep_and_long_queries() {
    // Long runs of filters and label filters: no deep recursion on the chain.
    let filters = r#"|= "x" "#.repeat(20_000);
    let q = format!(r#"{{a="b"}} {filters}| json"#);
    let p = pretty(&q, MAX_CHARS_PER_LINE);
    // The selector, 14 filters that fit on a line, then one filter per line, then json.
    assert_eq!(p.lines().count(), 1 + 1 + (20_000 - 14) + 1);
    let labels = "| a=\"b\" ".repeat(5_000);
    let q = format!(r#"{{a="b"}} {labels}"#);
    assert_eq!(pretty(&q, MAX_CHARS_PER_LINE).lines().count(), 5_001);
    for q in [format!(r#"{{a="b"}} | {}"#, vec![r#"x="y""#; 2_000].join(" and ")), vec![r#"rate({a="b"}[1m])"#; 100].join(" + ")] {
        if let Ok(e) = parse_expr(&q) {
            let _ = prettify(&e);
        }
    }
}

#[test]
fn go_formats() {
    assert_eq!(go_float_v(1e6), "1e+06");
    assert_eq!(go_float_v(123456.0), "123456");
    assert_eq!(go_float_v(1234567.0), "1.234567e+06");
    assert_eq!(go_float_v(0.0001), "0.0001");
    assert_eq!(go_float_v(0.00001), "1e-05");
    assert_eq!(go_float_v(-2.5), "-2.5");
    assert_eq!(go_float_v(1e100), "1e+100");
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(5 * 60 * 1_000_000_000), "5m0s");
    assert_eq!(go_duration(5_400_000_000_000), "1h30m0s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(250_000_000), "250ms");
    assert_eq!(go_duration(1_500_000), "1.5ms");
    assert_eq!(go_duration(1_000), "1µs");
    assert_eq!(go_duration(7), "7ns");
    assert_eq!(go_duration(-60_000_000_000), "-1m0s");
    assert_eq!(humanize_bytes(5), "5B");
    assert_eq!(humanize_bytes(100_000), "100kB");
    assert_eq!(humanize_bytes(1_500), "1.5kB");
    assert_eq!(humanize_bytes(1024), "1.0kB");
    assert_eq!(humanize_bytes(1_500_000), "1.5MB");
    assert_eq!(humanize_bytes(999), "999B");
}

/// Pretty output of short queries parses back to the same query.
#[test]
fn output_parses_back() {
    for q in [
        r#"{a="b"} |= "x" or "y" | json x, y="a.b" | logfmt --strict | s <= 100KB | d > 1h30m | x >= 500"#,
        r#"{a="b"} | x > 1 and y < 2 or z = "q" | drop a, b="c" | keep d | label_format x=y, z="{{.a}}""#,
        r#"quantile_over_time(.99,{a="b"}|unwrap duration(d)|__error__=""[5m]offset 1h)by(x,y)"#,
        r#"topk(3, sum without (a) (rate({x="y"}[1m]))) / on (a) group_left (b) vector(1)"#,
    ] {
        let e = parse_expr(q).unwrap();
        let p = prettify(&e);
        assert!(parse_expr(&p).is_ok(), "{q} -> {p}");
    }
}
