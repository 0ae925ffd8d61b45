//! The high-cardinality corpus (`gen_hc.py`: 100,000 streams of 10 lines): its four
//! queries (`hc1`..`hc4` in `../shared/bench/README.md`), each answer computed from the
//! corpus itself, since its meta file records none.

use crate::queries::{QueryCase, vector_sum};
use anyhow::Context;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the answers are, read from the push bodies.
pub struct Expected {
    lines: f64,
    needle_lines: f64,
    user_4242_lines: usize,
    /// The three largest counts of `status=500` lines per `svc-1*` app, descending.
    top3_errors: Vec<f64>,
}

const NEEDLE: &str = "items/424242 ";

/// Scans the corpus once for the answers.
pub fn expected(bodies: &[bytes::Bytes]) -> anyhow::Result<Expected> {
    let mut expected = Expected { lines: 0.0, needle_lines: 0.0, user_4242_lines: 0, top3_errors: Vec::new() };
    let mut errors: BTreeMap<String, f64> = BTreeMap::new();
    for body in bodies {
        let body: Value = serde_json::from_slice(body).context("a corpus line is not a JSON push body")?;
        for stream in body["streams"].as_array().into_iter().flatten() {
            let app = stream["stream"]["app"].as_str().unwrap_or_default();
            let user = stream["stream"]["user_id"].as_str().unwrap_or_default();
            for value in stream["values"].as_array().into_iter().flatten() {
                let line = value[1].as_str().unwrap_or_default();
                expected.lines += 1.0;
                if line.contains(NEEDLE) {
                    expected.needle_lines += 1.0;
                }
                if user == "4242" {
                    expected.user_4242_lines += 1;
                }
                if app.starts_with("svc-1") && line.split(' ').any(|pair| pair == "status=500") {
                    *errors.entry(app.to_string()).or_default() += 1.0;
                }
            }
        }
    }
    let mut counts: Vec<f64> = errors.into_values().collect();
    counts.sort_by(|a, b| b.total_cmp(a));
    counts.truncate(3);
    expected.top3_errors = counts;
    Ok(expected)
}

/// hc1 alone: counted right after a restart (cold) and again (warm).
pub fn count_everything(meta: &Value, expected: &Expected) -> anyhow::Result<QueryCase> {
    let end = meta["end_ns"].as_i64().context("meta.end_ns")?;
    let lines = expected.lines;
    Ok(QueryCase {
        id: "hc1",
        what: "count everything",
        path: "/loki/api/v1/query",
        params: vec![("query".into(), r#"sum(count_over_time({app=~".+"}[2h]))"#.into()), ("time".into(), end.to_string())],
        check: Box::new(move |v| if vector_sum(v) == lines { Ok(()) } else { Err(format!("expected {lines}, got {}", vector_sum(v))) }),
    })
}

/// hc2, hc3, hc4.
pub fn cases(meta: &Value, expected: &Expected) -> anyhow::Result<Vec<QueryCase>> {
    let start = meta["start_ns"].as_i64().context("meta.start_ns")?;
    let end = meta["end_ns"].as_i64().context("meta.end_ns")?;
    let needle_lines = expected.needle_lines;
    let user_lines = expected.user_4242_lines;
    let top3 = expected.top3_errors.clone();
    Ok(vec![
        QueryCase {
            id: "hc2",
            what: "a needle across every stream",
            path: "/loki/api/v1/query",
            params: vec![
                ("query".into(), format!(r#"sum(count_over_time({{app=~".+"}} |= "{NEEDLE}" [2h]))"#)),
                ("time".into(), end.to_string()),
            ],
            check: Box::new(move |v| {
                // No match at all is an empty vector, which sums to 0.
                let got = vector_sum(v).max(0.0);
                if got == needle_lines { Ok(()) } else { Err(format!("expected {needle_lines}, got {got}")) }
            }),
        },
        QueryCase {
            id: "hc3",
            what: "one stream by a unique label",
            path: "/loki/api/v1/query_range",
            params: vec![
                ("query".into(), r#"{user_id="4242"}"#.into()),
                ("start".into(), start.to_string()),
                ("end".into(), end.to_string()),
                ("limit".into(), "100".into()),
            ],
            check: Box::new(move |v| {
                let got: usize =
                    v["data"]["result"].as_array().map(|r| r.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum()).unwrap_or(0);
                if got == user_lines { Ok(()) } else { Err(format!("expected {user_lines} lines, got {got}")) }
            }),
        },
        QueryCase {
            id: "hc4",
            what: "parse and group a fifth of the streams, top 3",
            path: "/loki/api/v1/query",
            params: vec![
                ("query".into(), r#"topk(3, sum by (app) (count_over_time({app=~"svc-1.*"} | logfmt | status="500" [2h])))"#.into()),
                ("time".into(), end.to_string()),
            ],
            check: Box::new(move |v| {
                let mut got: Vec<f64> = v["data"]["result"]
                    .as_array()
                    .map(|r| r.iter().map(|s| s["value"][1].as_str().unwrap_or("0").parse().unwrap_or(-1.0)).collect())
                    .unwrap_or_default();
                got.sort_by(|a, b| b.total_cmp(a));
                if got == top3 { Ok(()) } else { Err(format!("expected {top3:?}, got {got:?}")) }
            }),
        },
    ])
}
