//! Grafana's requests, replayed action by action as `/work/shared/grafana/REQUESTS.md`
//! lists them (data source health check, label browser, Explore, live tail, Logs
//! Drilldown), with the parameter shapes Grafana sends, checking the response fields
//! Grafana reads. The same Drilldown reads are repeated after `/flush`, from storage.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::Value;
use skald_common::{Entry, PushStream, format_rfc3339_nanos};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Loki's defaults (service_name discovery and detected_level on), as Grafana meets them.
const CONFIG: &str = "\
limits_config:
  discover_log_levels: true
";

const CATEGORIZE: (&str, &str) = ("X-Loki-Response-Encoding-Flags", "categorize-labels");

/// Drilldown's RFC3339 with milliseconds (`2025-06-03T10:00:00.000Z`).
fn rfc3339_ms(ts: i64) -> String {
    let whole = format_rfc3339_nanos(ts - ts.rem_euclid(SECOND));
    let ms = ts.rem_euclid(SECOND) / 1_000_000;
    format!("{}.{ms:03}Z", whole.trim_end_matches('Z'))
}

/// A GET as Grafana's backend sends it: parameters sorted by key, extra headers.
async fn grafana_get(server: &Server, path: &str, params: &[(&str, String)], headers: &[(&str, &str)]) -> (u16, String) {
    let mut sorted: Vec<(&str, String)> = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut request = server.client.get(server.url(path)).query(&sorted);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {path} failed: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn grafana_json(server: &Server, path: &str, params: &[(&str, String)], headers: &[(&str, &str)]) -> (Value, String) {
    let (status, body) = grafana_get(server, path, params, headers).await;
    assert_eq!(status, 200, "GET {path} {params:?}: {body}");
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"));
    (value, body)
}

struct Dataset {
    start: i64,
    end: i64,
    streams: Vec<PushStream>,
    /// Bytes of lines per service_name.
    bytes: BTreeMap<String, u64>,
}

fn dataset() -> Dataset {
    let start = now_ns() - 10 * 60 * SECOND;
    let at = |i: i64| start + i * 7 * SECOND;
    let web: Vec<Entry> = (0..30)
        .map(|i| {
            let (level, status) = if i % 5 == 0 { ("error", 500) } else { ("info", 200) };
            Entry::new(at(i), format!("level={level} method=GET path=/api/items/{i} status={status} duration={}ms", 10 + i))
        })
        .collect();
    let checkout: Vec<Entry> = (0..20)
        .map(|i| {
            entry_with_metadata(
                at(i) + 1,
                &format!(
                    r#"{{"level":"{}","user":{{"id":{},"name":"user{}"}},"order":{{"total":{}.5}},"msg":"order placed"}}"#,
                    if i % 4 == 0 { "warn" } else { "info" },
                    i,
                    i % 3,
                    i * 10
                ),
                &[("trace_id", &format!("trace-{i}"))],
            )
        })
        .collect();
    let worker: Vec<Entry> = (0..12)
        .map(|i| {
            let line = if i % 3 == 2 { "connection reset by peer".to_string() } else { format!("job {} finished in {}s", 100 + i, i) };
            Entry::new(at(i) + 2, line)
        })
        .collect();
    let mut bytes = BTreeMap::new();
    for (name, entries) in [("web", &web), ("checkout", &checkout), ("worker", &worker)] {
        bytes.insert(name.to_string(), entries.iter().map(|e| e.line.len() as u64).sum());
    }
    Dataset {
        start,
        end: now_ns() + 60 * SECOND,
        streams: vec![
            stream(&[("app", "web"), ("env", "prod")], web),
            stream(&[("app", "checkout"), ("env", "prod")], checkout),
            stream(&[("app", "worker"), ("env", "dev")], worker),
        ],
        bytes,
    }
}

fn ns(ts: i64) -> String {
    ts.to_string()
}

#[tokio::test]
async fn grafana_requests_replayed() {
    let server = Server::start(CONFIG).await;
    let data = dataset();
    server.push_streams(None, &data.streams).await;
    let (start, end) = (data.start - 60 * SECOND, data.end);

    // ---- 1. Save & test -------------------------------------------------------------
    let (health, _) = grafana_json(
        &server,
        "/loki/api/v1/query",
        &[("direction", "backward".into()), ("query", "vector(1)+vector(1)".into()), ("time", "4000000000".into())],
        &[CATEGORIZE],
    )
    .await;
    assert_eq!(health["status"], "success", "{health}");
    assert_eq!(health["data"]["resultType"], "vector", "{health}");
    let result = health["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{health}");
    assert_eq!(result[0]["value"][0], 4000000000i64, "{health}");
    assert_eq!(result[0]["value"][1], "2", "{health}");

    // ---- 2. Label browser -------------------------------------------------------------
    let (labels, _) = grafana_json(&server, "/loki/api/v1/labels", &[("start", ns(start)), ("end", ns(end))], &[]).await;
    let names: Vec<&str> = labels["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, vec!["app", "env", "service_name"], "{labels}");
    let (values, _) = grafana_json(
        &server,
        "/loki/api/v1/label/service_name/values",
        &[("start", ns(start)), ("end", ns(end)), ("query", r#"{env="prod"}"#.into())],
        &[],
    )
    .await;
    assert_eq!(values["data"], serde_json::json!(["checkout", "web"]), "{values}");
    let (series, _) =
        grafana_json(&server, "/loki/api/v1/series", &[("match[]", r#"{app="web"}"#.into()), ("start", ns(start)), ("end", ns(end))], &[])
            .await;
    assert_eq!(series["data"], serde_json::json!([{"app": "web", "env": "prod", "service_name": "web"}]), "{series}");

    // ---- 3. Explore: logs query (categorised) ---------------------------------------
    let (logs, body) = grafana_json(
        &server,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward".into()),
            ("end", ns(end)),
            ("limit", "1000".into()),
            ("query", r#"{app="web"} |= "GET""#.into()),
            ("start", ns(start)),
            ("step", "2000ms".into()),
        ],
        &[CATEGORIZE],
    )
    .await;
    assert_eq!(logs["data"]["resultType"], "streams", "{logs}");
    assert_eq!(logs["data"]["encodingFlags"], serde_json::json!(["categorize-labels"]));
    assert!(body.find("\"encodingFlags\"").unwrap() < body.find("\"result\"").unwrap(), "{body}");
    let streams = logs["data"]["result"].as_array().unwrap();
    let mut total = 0;
    for s in streams {
        assert_eq!(s["stream"]["app"], "web");
        assert!(s["stream"].get("detected_level").is_none(), "metadata must not be in stream labels: {s}");
        for v in s["values"].as_array().unwrap() {
            let v = v.as_array().unwrap();
            assert_eq!(v.len(), 3, "every value is a 3-tuple: {v:?}");
            assert!(v[0].as_str().unwrap().parse::<i64>().is_ok());
            assert!(v[2]["structuredMetadata"]["detected_level"].is_string(), "{v:?}");
            assert!(v[2].get("parsed").is_none(), "Loki leaves out an empty parsed: {v:?}");
            total += 1;
        }
    }
    assert_eq!(total, 30);
    assert!(logs["data"]["stats"]["summary"]["totalLinesProcessed"].is_number());

    // ---- Explore: log volume histogram (Source=logvolhist) --------------------------
    let (hist, _) = grafana_json(
        &server,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward".into()),
            ("end", ns(end)),
            ("limit", "1000".into()),
            ("query", r#"sum by (level, detected_level) (count_over_time({app="web"} | drop __error__[1m]))"#.into()),
            ("start", ns(start)),
            ("step", "2000ms".into()),
        ],
        &[CATEGORIZE, ("X-Query-Tags", "Source=logvolhist")],
    )
    .await;
    assert_eq!(hist["data"]["resultType"], "matrix", "{hist}");
    let levels: Vec<&str> =
        hist["data"]["result"].as_array().unwrap().iter().map(|s| s["metric"]["detected_level"].as_str().unwrap()).collect();
    assert_eq!(levels.len(), 2, "{hist}");
    assert!(levels.contains(&"error") && levels.contains(&"info"), "{levels:?}");
    let point = &hist["data"]["result"][0]["values"][0];
    assert!(point[0].is_number() && point[1].is_string(), "{point}");

    // ---- Explore: metric range query (split: no limit) ------------------------------
    let (metric, _) = grafana_json(
        &server,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward".into()),
            ("end", ns(end)),
            ("query", r#"sum by (app) (count_over_time({env="prod"}[1m]))"#.into()),
            ("start", ns(start)),
            ("step", "2000ms".into()),
        ],
        &[CATEGORIZE],
    )
    .await;
    assert_eq!(metric["data"]["resultType"], "matrix", "{metric}");
    assert_eq!(metric["data"]["result"].as_array().unwrap().len(), 2);

    // ---- Explore: instant query ------------------------------------------------------
    let (instant, _) = grafana_json(
        &server,
        "/loki/api/v1/query",
        &[
            ("direction", "backward".into()),
            ("limit", "1000".into()),
            ("query", r#"sum(count_over_time({env="prod"}[1h]))"#.into()),
            ("time", ns(end)),
        ],
        &[CATEGORIZE],
    )
    .await;
    assert_eq!(instant["data"]["resultType"], "vector", "{instant}");
    assert_eq!(instant["data"]["result"][0]["value"][1], "50", "{instant}");

    // ---- Query size estimate: index/stats ------------------------------------------
    let (stats, _) = grafana_json(
        &server,
        "/loki/api/v1/index/stats",
        &[("query", r#"{app="web"}"#.into()), ("start", ns(start)), ("end", ns(end))],
        &[],
    )
    .await;
    assert_eq!(stats["streams"], 1, "{stats}");
    assert_eq!(stats["entries"], 30, "{stats}");
    assert_eq!(stats["bytes"], data.bytes["web"], "{stats}");
    assert!(stats["chunks"].as_u64().unwrap() >= 1, "{stats}");

    // ---- 6. Logs Drilldown, from memory, then from storage --------------------------
    drilldown(&server, &data).await;
    let (status, body) = server.post("/flush", &[], Vec::new()).await;
    assert_eq!(status, 204, "{body}");
    drilldown(&server, &data).await;

    // ---- 4. Live tail (last: it pushes another line) ----------------------------------
    tail_frames(&server).await;
}

/// Everything Logs Drilldown reads (RFC3339 times on resource calls, ns from the
/// language provider).
async fn drilldown(server: &Server, data: &Dataset) {
    let app = ("X-Query-Tags", "Source=grafana-lokiexplore-app");
    let (start, end) = (rfc3339_ms(data.start - 60 * SECOND), rfc3339_ms(data.end));

    // Limits.
    let (limits, _) = grafana_json(server, "/loki/api/v1/drilldown-limits", &[], &[("X-Grafana-Cache", "private, max-age=86400")]).await;
    assert_eq!(limits["limits"]["retention_period"], "0s", "{limits}");
    assert_eq!(limits["limits"]["max_entries_limit_per_query"], 5000, "{limits}");
    assert_eq!(limits["pattern_ingester_enabled"], true, "{limits}");
    assert!(limits["version"].is_string(), "{limits}");

    // Service list: index/volume by service_name, sorted descending.
    let (volume, _) = grafana_json(
        server,
        "/loki/api/v1/index/volume",
        &[("end", end.clone()), ("limit", "5000".into()), ("query", r#"{service_name=~".+"}"#.into()), ("start", start.clone())],
        &[app],
    )
    .await;
    assert_eq!(volume["status"], "success", "{volume}");
    assert_eq!(volume["data"]["resultType"], "vector", "{volume}");
    let got: Vec<(String, u64)> = volume["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["metric"].as_object().unwrap().len(), 1, "only the selector's labels: {r}");
            (r["metric"]["service_name"].as_str().unwrap().to_string(), r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    let mut want: Vec<(String, u64)> = data.bytes.iter().map(|(k, v)| (k.clone(), *v)).collect();
    want.sort_by_key(|w| std::cmp::Reverse(w.1));
    assert_eq!(got, want, "{volume}");
    // A search and a limit.
    let (volume, _) = grafana_json(
        server,
        "/loki/api/v1/index/volume",
        &[("end", end.clone()), ("limit", "1".into()), ("query", r#"{service_name=~"(?i).*WEB.*"}"#.into()), ("start", start.clone())],
        &[app],
    )
    .await;
    assert_eq!(volume["data"]["result"].as_array().unwrap().len(), 1, "{volume}");
    assert_eq!(volume["data"]["result"][0]["metric"]["service_name"], "web", "{volume}");
    // volume_range (activity sparklines): per step, reported as values.
    let (range, _) = grafana_json(
        server,
        "/loki/api/v1/index/volume_range",
        &[("end", ns(data.end)), ("query", r#"{env="prod"}"#.into()), ("start", ns(data.start - 60 * SECOND)), ("step", "60s".into())],
        &[],
    )
    .await;
    assert_eq!(range["data"]["resultType"], "matrix", "{range}");
    for series in range["data"]["result"].as_array().unwrap() {
        let points = series["values"].as_array().unwrap();
        assert!(points.windows(2).all(|w| w[0][0].as_f64() < w[1][0].as_f64()), "{series}");
    }
    let prod: u64 =
        range["data"]["result"][0]["values"].as_array().unwrap().iter().map(|p| p[1].as_str().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(prod, data.bytes["web"] + data.bytes["checkout"], "{range}");

    // Detected labels of a service (RFC3339), and of everything.
    let (detected, _) = grafana_json(
        server,
        "/loki/api/v1/detected_labels",
        &[("end", end.clone()), ("query", r#"{service_name="web"}"#.into()), ("start", start.clone())],
        &[app],
    )
    .await;
    let got: Vec<(String, u64)> = detected["detectedLabels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["label"].as_str().unwrap().to_string(), l["cardinality"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, vec![("app".into(), 1), ("env".into(), 1), ("service_name".into(), 1)], "{detected}");
    let (detected, _) = grafana_json(server, "/loki/api/v1/detected_labels", &[("end", end.clone()), ("start", start.clone())], &[]).await;
    let env = detected["detectedLabels"].as_array().unwrap().iter().find(|l| l["label"] == "env").unwrap();
    assert_eq!(env["cardinality"], 2, "{detected}");

    // Detected fields: JSON with nested keys and structured metadata (language provider
    // shape: ns times, limit=1000).
    let (fields, _) = grafana_json(
        server,
        "/loki/api/v1/detected_fields",
        &[
            ("end", ns(data.end)),
            ("limit", "1000".into()),
            ("query", r#"{service_name="checkout"} | json | logfmt | drop __error__, __error_details__"#.into()),
            ("start", ns(data.start - 60 * SECOND)),
        ],
        &[],
    )
    .await;
    assert_eq!(fields["limit"], 1000, "{fields}");
    let field = |name: &str| -> Value {
        fields["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["label"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {fields}"))
    };
    assert_eq!(field("user_name")["parsers"], serde_json::json!(["json"]), "{fields}");
    assert_eq!(field("user_name")["jsonPath"], serde_json::json!(["user", "name"]), "{fields}");
    assert_eq!(field("user_name")["type"], "string");
    assert_eq!(field("user_name")["cardinality"], 3);
    assert_eq!(field("user_id")["type"], "int");
    assert_eq!(field("order_total")["type"], "float");
    assert_eq!(field("trace_id")["parsers"], Value::Null, "structured metadata: {fields}");
    assert_eq!(field("detected_level")["parsers"], Value::Null);
    assert!(fields["fields"].as_array().unwrap().iter().all(|f| f["label"] != "__error__"));
    // logfmt (Drilldown shape: RFC3339, no limit).
    let (fields, _) = grafana_json(
        server,
        "/loki/api/v1/detected_fields",
        &[("end", end.clone()), ("query", r#"{service_name="web"}"#.into()), ("start", start.clone())],
        &[app],
    )
    .await;
    let field = |name: &str| -> Value {
        fields["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["label"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {fields}"))
    };
    assert_eq!(field("duration")["type"], "duration", "{fields}");
    assert_eq!(field("duration")["parsers"], serde_json::json!(["logfmt"]));
    assert_eq!(field("duration")["jsonPath"], Value::Null);
    assert_eq!(field("status")["type"], "int");
    assert_eq!(field("status")["cardinality"], 2);

    // Field values (levels and fields).
    let (values, _) = grafana_json(
        server,
        "/loki/api/v1/detected_field/status/values",
        &[
            ("end", ns(data.end)),
            ("limit", "1000".into()),
            ("query", r#"{service_name="web"}"#.into()),
            ("start", ns(data.start - 60 * SECOND)),
        ],
        &[],
    )
    .await;
    assert_eq!(values["values"], serde_json::json!(["200", "500"]), "{values}");
    assert_eq!(values["limit"], 1000);
    let (values, _) = grafana_json(
        server,
        "/loki/api/v1/detected_field/detected_level/values",
        &[("end", end.clone()), ("limit", "1000".into()), ("query", r#"{service_name="checkout"}"#.into()), ("start", start.clone())],
        &[app],
    )
    .await;
    assert_eq!(values["values"], serde_json::json!(["info", "warn"]), "{values}");

    // Patterns (scene interval step).
    let (patterns, _) = grafana_json(
        server,
        "/loki/api/v1/patterns",
        &[("end", end.clone()), ("query", r#"{service_name="worker"}"#.into()), ("start", start.clone()), ("step", "1m".into())],
        &[app],
    )
    .await;
    assert_eq!(patterns["status"], "success", "{patterns}");
    let list = patterns["data"].as_array().unwrap();
    let job = list.iter().find(|p| p["pattern"] == "job <_> finished in <_>").unwrap_or_else(|| panic!("{patterns}"));
    assert!(job["level"].is_string(), "{job}");
    let count: i64 = job["samples"].as_array().unwrap().iter().map(|s| s[1].as_i64().unwrap()).sum();
    assert_eq!(count, 8, "{job}");
    for sample in job["samples"].as_array().unwrap() {
        let ts = sample[0].as_i64().expect("unix seconds");
        assert_eq!(ts % 60, 0, "aligned to the step: {sample}");
    }
    assert!(list.iter().any(|p| p["pattern"] == "connection reset by peer"), "{patterns}");
}

/// Live tail: only `query` is sent; every frame has Loki's shape (2-tuples).
async fn tail_frames(server: &Server) {
    let url = reqwest::Url::parse_with_params(&format!("ws://127.0.0.1:{}/loki/api/v1/tail", server.port), &[("query", r#"{app="web"}"#)])
        .unwrap();
    let (mut socket, response) = tokio_tungstenite::connect_async(url.as_str()).await.expect("websocket connect");
    assert_eq!(response.status().as_u16(), 101);
    let ts = now_ns();
    server.push_streams(None, &[stream(&[("app", "web"), ("env", "prod")], vec![Entry::new(ts, "level=info live line")])]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next()).await.expect("no tail frame").expect("closed").expect("error");
        let Message::Text(text) = message else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        let mut seen = false;
        for s in frame["streams"].as_array().unwrap_or_else(|| panic!("{frame}")) {
            assert!(s["stream"].is_object(), "{frame}");
            for v in s["values"].as_array().unwrap() {
                let v = v.as_array().unwrap();
                assert_eq!(v.len(), 2, "{frame}");
                let ns = v[0].as_str().unwrap();
                assert!(ns.len() > 6 && ns.parse::<i64>().is_ok(), "{frame}");
                seen |= v[1] == "level=info live line";
            }
        }
        if seen {
            break;
        }
    }
}

#[tokio::test]
async fn bad_parameters_name_the_parameter() {
    let server = Server::start(CONFIG).await;
    let query = ("query", r#"{app="web"}"#.to_string());
    for (path, params, word) in [
        ("/loki/api/v1/index/volume", vec![query.clone(), ("aggregateBy", "pods".to_string())], "aggregateBy"),
        ("/loki/api/v1/index/volume", vec![query.clone(), ("limit", "-3".to_string())], "limit"),
        ("/loki/api/v1/index/volume", vec![], "query"),
        ("/loki/api/v1/index/volume_range", vec![query.clone(), ("step", "nope".to_string())], "step"),
        ("/loki/api/v1/detected_fields", vec![query.clone(), ("line_limit", "0".to_string())], "line_limit"),
        ("/loki/api/v1/detected_fields", vec![query.clone(), ("start", "yesterday".to_string())], "start"),
        ("/loki/api/v1/detected_fields", vec![("query", r#"count_over_time({app="web"}[1m])"#.to_string())], "log"),
        ("/loki/api/v1/detected_field/x/values", vec![], "query"),
        ("/loki/api/v1/patterns", vec![], "query"),
        ("/loki/api/v1/patterns", vec![query.clone(), ("end", "x".to_string())], "end"),
        ("/loki/api/v1/detected_labels", vec![("query", "{app=".to_string())], "parse"),
    ] {
        let (status, body) = grafana_get(&server, path, &params, &[]).await;
        assert_eq!(status, 400, "{path} {params:?}: {body}");
        assert!(body.contains(word), "{path} {params:?}: {body:?} should name {word}");
    }
}
