//! LogQL answers taken from Loki's source and documentation (v3.7.6) where the public
//! conformance cases say nothing: the pattern parser's and pattern line filter's
//! refusals, stage errors, the template functions Loki has (and those it has not),
//! `toDateInZone`, template errors, and `approx_topk` with and without `shard_aggregations`. Each case
//! names where its expected answer comes from.

mod common;

use common::*;
use skald_common::Entry;

const SECOND: i64 = 1_000_000_000;

async fn server_with_lines(extra_limits: &str) -> (Server, i64) {
    let server = Server::start(&format!("{BASE_CONFIG}{extra_limits}")).await;
    let t0 = now_ns() - 60 * SECOND;
    let mut streams = Vec::new();
    for (app, count) in [("a", 5), ("b", 3), ("c", 1)] {
        let entries = (0..count).map(|i| Entry::new(t0 + i * SECOND, format!("level=info app={app} n={i}"))).collect();
        streams.push(stream(&[("app", app), ("job", "rules")], entries));
    }
    server.push_streams(None, &streams).await;
    (server, t0)
}

async fn query(server: &Server, path: &str, query: &str, t0: i64) -> (u16, String) {
    let mut params = vec![("query", query.to_string())];
    if path.ends_with("query_range") {
        params.push(("start", (t0 - SECOND).to_string()));
        params.push(("end", (t0 + 30 * SECOND).to_string()));
        params.push(("step", "10".to_string()));
    } else {
        params.push(("time", (t0 + 30 * SECOND).to_string()));
    }
    server.get(path, &params, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_with_lokis_status_and_text() {
    let (server, t0) = server_with_lines("").await;
    let range = "/loki/api/v1/query_range";
    for (query_text, status, body, source) in [
        // pkg/logql/log/pattern/ast.go validate(), syntax/ast.go: NewParseError(.., 0, 0)
        (r#"{app="a"} | pattern "<_>""#, 400, "parse error : invalid pattern parser: at least one capture is required", "pattern/ast.go"),
        (
            r#"{app="a"} | pattern "<a><b> x""#,
            400,
            "parse error : invalid pattern parser: found consecutive capture '<a><b>': invalid expression",
            "pattern/ast.go",
        ),
        (
            r#"{app="a"} | pattern "<a> <a>""#,
            400,
            "parse error : invalid pattern parser: duplicate capture name (a): invalid expression",
            "pattern/ast.go",
        ),
        (
            r#"{app="a"} | pattern """#,
            400,
            "parse error : invalid pattern parser: parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL",
            "pattern/parser.go",
        ),
        // pattern.ParseLineFilter: only `<_>`; logqlmodel.NewStageError
        (
            r#"{app="a"} |> "<level> x""#,
            400,
            "parse error : stage '|> \"<level> x\"' : named captures are not allowed: found '<level>'",
            "pattern/pattern.go ParseLineFilter",
        ),
        // fmt.go functionMap + sprig subset: no toJson
        (
            r#"{app="a"} | line_format "{{ toJson .app }}""#,
            400,
            "parse error : stage '| line_format \"{{ toJson .app }}\"' : invalid line template: template: line:1: function \"toJson\" not defined",
            "log/fmt.go",
        ),
        // syntax/ast.go mustNewVectorAggregationExpr
        (
            r#"approx_topk(2, sum by (app) (count_over_time({job="rules"}[1m]))) by (app)"#,
            400,
            "parse error : grouping not allowed for approx_topk aggregation",
            "syntax/ast.go",
        ),
        // shardmapper.go: not in shard_aggregations -> plain error (500)
        (
            r#"approx_topk(2, sum by (app) (count_over_time({job="rules"}[1m])))"#,
            500,
            "approx_topk is not enabled. See -limits.shard_aggregations",
            "logql/shardmapper.go",
        ),
    ] {
        let (got_status, got_body) = query(&server, range, query_text, t0).await;
        assert_eq!((got_status, got_body.trim()), (status, body), "{query_text} ({source})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approx_topk_when_enabled_is_an_instant_top_k() {
    let (server, t0) = server_with_lines("  shard_aggregations: [approx_topk]\n").await;
    let inner = r#"sum by (app) (count_over_time({job="rules"}[5m]))"#;
    let (status, approx) = query(&server, "/loki/api/v1/query", &format!("approx_topk(2, {inner})"), t0).await;
    assert_eq!(status, 200, "{approx}");
    let (_, exact) = query(&server, "/loki/api/v1/query", &format!("topk(2, {inner})"), t0).await;
    let result = |body: &str| -> Vec<(String, String)> {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let mut rows: Vec<(String, String)> = value["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"]["app"].as_str().unwrap().to_string(), r["value"][1].as_str().unwrap().to_string()))
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(result(&approx), vec![("a".to_string(), "5".to_string()), ("b".to_string(), "3".to_string())]);
    assert_eq!(result(&approx), result(&exact));
    // query_range.shard_aggregations (Loki's -querier.shard-aggregations) enables it too.
    let server2 = Server::start(&format!("{BASE_CONFIG}query_range:\n  shard_aggregations: approx_topk\n")).await;
    let (status, body) = query(&server2, "/loki/api/v1/query", &format!("approx_topk(2, {inner})"), t0).await;
    assert_eq!(status, 200, "{body}");
    // count_min_sketch.go: sketches answer instant queries only.
    let (status, body) = query(&server, "/loki/api/v1/query_range", &format!("approx_topk(2, {inner})"), t0).await;
    assert_eq!((status, body.trim()), (500, "count min sketches are only supported on instant queries"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_date_in_zone_reads_wall_time_in_the_zone() {
    let (server, t0) = server_with_lines("").await;
    // fmt.go toDateInZone: time.ParseInLocation(layout, value, LoadLocation(zone)).
    let template = r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2024-01-02 10:00" | unixEpoch }} {{ toDateInZone "2006-01-02 15:04" "America/New_York" "2024-07-02 10:00" }}"#;
    let query_text = format!("{{app=\"c\"}} | line_format `{template}`");
    let (status, body) = query(&server, "/loki/api/v1/query_range", &query_text, t0).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let line = value["data"]["result"][0]["values"][0][1].as_str().unwrap();
    assert_eq!(line, "1704186000 2024-07-02 10:00:00 -0400 EDT");
}

/// A template that fails on a line: `TemplateFormatErr` with Go's text/template message
/// (Go 1.26, the Go Loki 3.7 is built with; fmt.go LineFormatter.Process puts
/// `err.Error()` in `__error_details__`), located at the failing call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_errors_carry_gos_message() {
    let (server, t0) = server_with_lines("").await;
    for (template, details) in [
        (
            r#"{{ if eq .app 1 }}one{{ end }}"#,
            r#"template: line:1:6: executing "line" at <eq .app 1>: error calling eq: incompatible types for comparison: string and int"#,
        ),
        (
            "x\n{{ .app | unixToTime }}",
            r#"template: line:2:10: executing "line" at <unixToTime>: error calling unixToTime: unable to parse time 'c': strconv.ParseInt: parsing "c": invalid syntax"#,
        ),
        (
            r#"{{ regexReplaceAll "(" .app "x" }}"#,
            r#"template: line:1:3: executing "line" at <regexReplaceAll "(" .app "x">: error calling regexReplaceAll: error parsing regexp: missing closing ): `(`"#,
        ),
    ] {
        let query_text = format!("{{app=\"c\"}} | line_format `{template}`");
        let (status, body) = query(&server, "/loki/api/v1/query_range", &query_text, t0).await;
        assert_eq!(status, 200, "{body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let stream = &value["data"]["result"][0]["stream"];
        assert_eq!(stream["__error__"], "TemplateFormatErr", "{template}: {body}");
        assert_eq!(stream["__error_details__"], details, "{template}");
    }
}

/// `variants(...) of (...)`: off by default with Loki's 400; on, each variant's series
/// over the `of` range's lines, labelled `__variant__` (0-based), equal to the variant
/// asked alone over those lines (engine.go, consolidated_variant_extractor.go).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_answer_each_metric_over_one_selection() {
    let (off, t0) = server_with_lines("").await;
    let query_text = r#"variants(count_over_time({job="rules"}[5m]), sum by (job) (bytes_over_time({job="rules"}[5m]))) of ({job="rules"} |= "n=0" [5m])"#;
    let (status, body) = query(&off, "/loki/api/v1/query", query_text, t0).await;
    assert_eq!((status, body.trim()), (400, "multi variant queries are disabled for this instance"));
    drop(off);

    let (server, t0) = server_with_lines("  enable_multi_variant_queries: true\n").await;
    let rows = |body: &str| -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let mut rows: Vec<String> =
            value["data"]["result"].as_array().unwrap().iter().map(|r| format!("{} {}", r["metric"], r["value"][1])).collect();
        rows.sort();
        rows
    };
    let (status, body) = query(&server, "/loki/api/v1/query", query_text, t0).await;
    assert_eq!(status, 200, "{body}");
    let (_, counts) = query(&server, "/loki/api/v1/query", r#"count_over_time({job="rules"} |= "n=0" [5m])"#, t0).await;
    let (_, bytes) = query(&server, "/loki/api/v1/query", r#"sum by (job) (bytes_over_time({job="rules"} |= "n=0" [5m]))"#, t0).await;
    let labelled = |rows: Vec<String>, variant: &str| -> Vec<String> {
        rows.into_iter().map(|r| r.replacen('{', &format!("{{\"__variant__\":\"{variant}\","), 1)).collect()
    };
    let mut expected = labelled(rows(&counts), "0");
    expected.extend(labelled(rows(&bytes), "1"));
    expected.sort();
    assert_eq!(rows(&body), expected);
    assert_eq!(rows(&body).len(), 4, "three streams counted, one sum: {body}");
}

/// `max_query_series` applies to each variant: one past it is dropped with Loki's warning
/// and the others answer (engine.go multiVariantVectorsToSeries); in a range query a
/// variant at exactly the limit is dropped by its next sample, as Loki's check comes
/// before it looks the sample's series up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_past_the_series_limit_is_dropped_with_a_warning() {
    let (server, t0) = server_with_lines("  enable_multi_variant_queries: true\n  max_query_series: 2\n").await;
    // Variant 0: one series per app (a, b, c); variant 1: one sum; variant 2: two apps.
    let query_text = r#"variants(count_over_time({job="rules"}[5m]), sum(count_over_time({job="rules"}[5m])), topk(2, count_over_time({job="rules"}[5m]))) of ({job="rules"}[5m])"#;
    let (status, body) = query(&server, "/loki/api/v1/query", query_text, t0).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["warnings"], serde_json::json!(["maximum of series (2) reached for variant (0)"]), "{body}");
    let mut variants: Vec<&str> =
        value["data"]["result"].as_array().unwrap().iter().map(|r| r["metric"]["__variant__"].as_str().unwrap()).collect();
    variants.sort();
    assert_eq!(variants, ["1", "2", "2"], "{body}");
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "warnings", "data"]);

    // Over a range, variant 2's two series answer at more than one step: dropped too.
    let (status, body) = query(&server, "/loki/api/v1/query_range", query_text, t0).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        value["warnings"],
        serde_json::json!(["maximum of series (2) reached for variant (0)", "maximum of series (2) reached for variant (2)"]),
        "{body}"
    );
    let result = value["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{body}");
    assert_eq!(result[0]["metric"]["__variant__"], "1");
}

/// Stream matchers read their regex as Go (Prometheus' FastRegexMatcher) does: `\d` is
/// ASCII, and a `{` that starts no repeat count is a literal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matcher_regexes_have_gos_semantics() {
    let server = Server::start(BASE_CONFIG).await;
    let t0 = now_ns() - 60 * SECOND;
    let streams: Vec<_> = ["7", "\u{663}", "x{,2}"]
        .iter()
        .map(|app| stream(&[("app", app), ("job", "re")], vec![Entry::new(t0, format!("app={app}"))]))
        .collect();
    server.push_streams(None, &streams).await;
    for (selector, want) in [(r#"{job="re", app=~"\\d"}"#, vec!["7"]), (r#"{job="re", app=~"x{,2}"}"#, vec!["x{,2}"])] {
        let (status, body) = query(&server, "/loki/api/v1/query_range", selector, t0).await;
        assert_eq!(status, 200, "{selector}: {body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let apps: Vec<&str> = value["data"]["result"].as_array().unwrap().iter().map(|r| r["stream"]["app"].as_str().unwrap()).collect();
        assert_eq!(apps, want, "{selector}");
    }
}
