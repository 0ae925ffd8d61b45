//! The reference queries of the reference corpus (`gen.py`), each answer checked against
//! the corpus' meta file (`a`..`f`, in `../shared/bench/README.md`).

use crate::queries::QueryCase;
use anyhow::Context;
use serde_json::Value;

/// The cases, built from the meta file.
pub fn cases(meta: &Value) -> anyhow::Result<Vec<QueryCase>> {
    let end_s = meta["now"].as_i64().context("meta.now")?;
    let start_ns = meta["start_ns"].as_i64().context("meta.start_ns")?;
    let end_ns = meta["end_ns"].as_i64().context("meta.end_ns")?;
    let needle = meta["needle_none"].as_str().unwrap_or("needle-that-matches-nothing").to_string();
    let phrase = meta["needle_1pct"]["phrase"].as_str().unwrap_or("upstream timed out").to_string();
    let phrase_lines = meta["needle_1pct"]["lines"].as_f64().unwrap_or(0.0);
    let join = |key: &str| -> String {
        meta[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join("|")).unwrap_or_default()
    };
    let (logfmt_apps, json_apps) = (join("logfmt_apps"), join("json_apps"));
    let tail = &meta["tail_stream"]["labels"];
    let tail_selector = format!(
        "{{{}}}",
        tail.as_object()
            .map(|o| o.iter().map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    );
    let newest = meta["tail_stream"]["newest_ts"].as_str().unwrap_or("").to_string();
    let instant = |q: String| vec![("query".to_string(), q), ("time".to_string(), end_s.to_string())];
    let per_namespace = meta["per_namespace_lines"].clone();
    let levels = meta["logfmt_level_counts"].clone();
    let p99 = meta["json_latency_p99"].clone();
    let vector_sum = crate::queries::vector_sum;
    Ok(vec![
        QueryCase {
            id: "a",
            what: "needle that matches nothing, all data",
            path: "/loki/api/v1/query",
            params: instant(format!("sum(count_over_time({{app=~\".+\"}} |= \"{needle}\" [2h]))")),
            check: Box::new(move |v| if vector_sum(v) == 0.0 { Ok(()) } else { Err(format!("expected no match, got {}", vector_sum(v))) }),
        },
        QueryCase {
            id: "a2",
            what: "needle of one token (no word to skip by): brute-force scan of all data",
            path: "/loki/api/v1/query",
            params: instant(format!("sum(count_over_time({{app=~\".+\"}} |= \"{}\" [2h]))", needle.replace('-', ""))),
            check: Box::new(move |v| if vector_sum(v) == 0.0 { Ok(()) } else { Err(format!("expected no match, got {}", vector_sum(v))) }),
        },
        QueryCase {
            id: "b",
            what: "phrase matching ~1% of lines, count",
            path: "/loki/api/v1/query",
            params: instant(format!("sum(count_over_time({{app=~\".+\"}} |= \"{phrase}\" [2h]))")),
            check: Box::new(move |v| {
                if vector_sum(v) == phrase_lines { Ok(()) } else { Err(format!("expected {phrase_lines}, got {}", vector_sum(v))) }
            }),
        },
        QueryCase {
            id: "c",
            what: "count by namespace, range 2h, step 5m",
            path: "/loki/api/v1/query_range",
            params: vec![
                ("query".into(), "sum by (namespace) (count_over_time({app=~\".+\"} [5m]))".into()),
                ("start".into(), start_ns.to_string()),
                ("end".into(), end_ns.to_string()),
                ("step".into(), "300".into()),
            ],
            check: Box::new(move |v| {
                for series in v["data"]["result"].as_array().ok_or("no result")? {
                    let ns = series["metric"]["namespace"].as_str().unwrap_or("");
                    let total: f64 = series["values"]
                        .as_array()
                        .ok_or("no values")?
                        .iter()
                        .map(|p| p[1].as_str().unwrap_or("0").parse::<f64>().unwrap_or(0.0))
                        .sum();
                    if Some(total) != per_namespace[ns].as_f64() {
                        return Err(format!("namespace {ns}: {total} != {}", per_namespace[ns]));
                    }
                }
                Ok(())
            }),
        },
        QueryCase {
            id: "d",
            what: "logfmt parse, count by level",
            path: "/loki/api/v1/query",
            params: instant(format!("sum by (level) (count_over_time({{app=~\"{logfmt_apps}\"}} | logfmt | __error__=\"\" [2h]))")),
            check: Box::new(move |v| {
                for sample in v["data"]["result"].as_array().ok_or("no result")? {
                    let level = sample["metric"]["level"].as_str().unwrap_or("");
                    let got: f64 = sample["value"][1].as_str().unwrap_or("0").parse().unwrap_or(-1.0);
                    if Some(got) != levels[level].as_f64() {
                        return Err(format!("level {level}: {got} != {}", levels[level]));
                    }
                }
                Ok(())
            }),
        },
        QueryCase {
            id: "e",
            what: "JSON parse, p99 of latency by app",
            path: "/loki/api/v1/query",
            params: instant(format!(
                "quantile_over_time(0.99, {{app=~\"{json_apps}\"}} | json | __error__=\"\" | unwrap latency | __error__=\"\" [2h]) by (app)"
            )),
            check: Box::new(move |v| {
                for sample in v["data"]["result"].as_array().ok_or("no result")? {
                    let app = sample["metric"]["app"].as_str().unwrap_or("");
                    let got: f64 = sample["value"][1].as_str().unwrap_or("0").parse().unwrap_or(-1.0);
                    let want = p99[app].as_f64().unwrap_or(f64::NAN);
                    if (got - want).abs() > 1e-6 * want.abs().max(1.0) {
                        return Err(format!("app {app}: {got} != {want}"));
                    }
                }
                Ok(())
            }),
        },
        QueryCase {
            id: "f",
            what: "newest 1000 lines of one stream",
            path: "/loki/api/v1/query_range",
            params: vec![
                ("query".into(), tail_selector),
                ("start".into(), start_ns.to_string()),
                ("end".into(), end_ns.to_string()),
                ("limit".into(), "1000".into()),
            ],
            check: Box::new(move |v| {
                let values: Vec<&Value> = v["data"]["result"]
                    .as_array()
                    .ok_or("no result")?
                    .iter()
                    .flat_map(|s| s["values"].as_array().into_iter().flatten())
                    .collect();
                let first = values.first().and_then(|p| p[0].as_str()).unwrap_or("");
                if values.len() != 1000 || first != newest {
                    return Err(format!("{} lines, newest {first} (want 1000, {newest})", values.len()));
                }
                Ok(())
            }),
        },
    ])
}
