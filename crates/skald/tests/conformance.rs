//! LogQL conformance: answers recorded from Grafana Loki (`tests/conformance/`, see its
//! README) must be given by the binary too, compared as `compare.py` compares them.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The settings Loki ran with while recording (tests/conformance/README.md).
const CONFIG: &str = "\
limits_config:
  reject_old_samples: false
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  max_query_length: 0
";

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

fn read(name: &str) -> String {
    let path = conformance_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn cases() -> Vec<Value> {
    let cases: Value = serde_json::from_str(&read("cases.json")).unwrap();
    cases["cases"].as_array().unwrap().clone()
}

async fn push_dataset(server: &Server, name: &str) {
    for (i, line) in read(name).lines().enumerate() {
        let (status, body) = server.push_json(None, line.as_bytes().to_vec()).await;
        assert_eq!(status, 204, "{name} line {}: {body}", i + 1);
    }
}

/// Query parameters of a case, numbers written as integers.
fn case_params(case: &Value) -> Vec<(&str, String)> {
    case["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect()
}

/// Asks a case; status and the body (JSON when it parses, else a string).
async fn ask(server: &Server, case: &Value) -> (u16, Value) {
    let (status, body) = server.get(case["path"].as_str().unwrap(), &case_params(case), None).await;
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, value)
}

// ---- comparison, as compare.py ----------------------------------------------------

type Key = Vec<(String, String)>;

fn key(labels: &Value) -> Key {
    let map: BTreeMap<String, String> =
        labels.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    map.into_iter().collect()
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        other => panic!("not a number: {other}"),
    }
}

fn close(a: &Value, b: &Value) -> bool {
    let (fa, fb) = (float(a), float(b));
    if fa.is_nan() || fb.is_nan() {
        return fa.is_nan() && fb.is_nan();
    }
    // Stricter than compare.py, where `inf <= 1e-6 * inf` makes +Inf "close" to -Inf
    // and to every finite value.
    if fa.is_infinite() || fb.is_infinite() {
        return fa == fb;
    }
    fa == fb || (fa - fb).abs() <= 1e-6 * fa.abs().max(fb.abs())
}

fn same_points(xs: &[Value], ys: &[Value]) -> bool {
    xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| float(&x[0]) == float(&y[0]) && close(&x[1], &y[1]))
}

fn first_keys(keys: impl Iterator<Item = Key>) -> Vec<Key> {
    keys.take(2).collect()
}

/// `None` when equal, else a short reason.
fn diff(result_type: &str, want: &Value, got: &Value) -> Option<String> {
    if result_type == "scalar" {
        let same = float(&want[0]) == float(&got[0]) && close(&want[1], &got[1]);
        return (!same).then(|| format!("scalar {want} != {got}"));
    }
    let (Some(want), Some(got)) = (want.as_array(), got.as_array()) else {
        return Some(format!("result is not an array: {got}"));
    };
    if result_type == "streams" {
        let entries = |list: &[Value]| -> BTreeMap<Key, Vec<(Value, Value)>> {
            list.iter()
                .map(|s| (key(&s["stream"]), s["values"].as_array().unwrap().iter().map(|v| (v[0].clone(), v[1].clone())).collect()))
                .collect()
        };
        let (w, g) = (entries(want), entries(got));
        let (wk, gk): (BTreeSet<&Key>, BTreeSet<&Key>) = (w.keys().collect(), g.keys().collect());
        if wk != gk {
            return Some(format!(
                "stream label sets differ: missing {:?} extra {:?}",
                first_keys(wk.difference(&gk).map(|k| (*k).clone())),
                first_keys(gk.difference(&wk).map(|k| (*k).clone()))
            ));
        }
        for (k, entries) in &w {
            if *entries != g[k] {
                return Some(format!("entries differ in stream {k:?}: want {} got {}", entries.len(), g[k].len()));
            }
        }
        return None;
    }
    let field = if result_type == "matrix" { "values" } else { "value" };
    let series = |list: &[Value]| -> BTreeMap<Key, Value> { list.iter().map(|s| (key(&s["metric"]), s[field].clone())).collect() };
    let (w, g) = (series(want), series(got));
    let (wk, gk): (BTreeSet<&Key>, BTreeSet<&Key>) = (w.keys().collect(), g.keys().collect());
    if wk != gk {
        return Some(format!(
            "series differ: missing {:?} extra {:?}",
            first_keys(wk.difference(&gk).map(|k| (*k).clone())),
            first_keys(gk.difference(&wk).map(|k| (*k).clone()))
        ));
    }
    for (k, points) in &w {
        let ok = if result_type == "matrix" {
            same_points(points.as_array().unwrap(), g[k].as_array().unwrap())
        } else {
            same_points(std::slice::from_ref(points), std::slice::from_ref(&g[k]))
        };
        if !ok {
            return Some(format!("values differ for {k:?}"));
        }
    }
    None
}

#[test]
fn the_comparison_finds_differences() {
    use serde_json::json;
    let streams = json!([{"stream": {"a": "1"}, "values": [["1", "x"], ["2", "y"]]}]);
    assert_eq!(diff("streams", &streams, &streams), None);
    // Label sets are keyed regardless of order; streams are a set.
    let two = json!([{"stream": {"a": "1", "b": "2"}, "values": []}, {"stream": {"c": "3"}, "values": []}]);
    let two_reordered = json!([{"stream": {"c": "3"}, "values": []}, {"stream": {"b": "2", "a": "1"}, "values": []}]);
    assert_eq!(diff("streams", &two, &two_reordered), None);
    assert!(diff("streams", &streams, &json!([{"stream": {"a": "1"}, "values": [["2", "y"], ["1", "x"]]}])).is_some());
    assert!(diff("streams", &streams, &json!([{"stream": {"a": "1"}, "values": [["1", "x"], ["2", "z"]]}])).is_some());
    assert!(diff("streams", &streams, &json!([{"stream": {"a": "2"}, "values": [["1", "x"], ["2", "y"]]}])).is_some());
    assert!(diff("streams", &streams, &json!([])).is_some());

    let matrix = json!([{"metric": {"a": "1"}, "values": [[1717200000, "1.5"], [1717200300, "NaN"]]}]);
    assert_eq!(
        diff("matrix", &matrix, &json!([{"metric": {"a": "1"}, "values": [[1717200000, "1.5000000001"], [1717200300, "NaN"]]}])),
        None
    );
    assert!(diff("matrix", &matrix, &json!([{"metric": {"a": "1"}, "values": [[1717200000, "1.501"], [1717200300, "NaN"]]}])).is_some());
    assert!(diff("matrix", &matrix, &json!([{"metric": {"a": "1"}, "values": [[1717200000, "1.5"], [1717200300, "0"]]}])).is_some());
    assert!(diff("matrix", &matrix, &json!([{"metric": {"a": "1"}, "values": [[1717200000, "1.5"]]}])).is_some());
    assert!(diff("matrix", &matrix, &json!([{"metric": {"a": "1"}, "values": [[1717200001, "1.5"], [1717200300, "NaN"]]}])).is_some());
    let vector = json!([{"metric": {}, "value": [1717201800, "+Inf"]}]);
    assert_eq!(diff("vector", &vector, &vector), None);
    assert!(diff("vector", &vector, &json!([{"metric": {}, "value": [1717201800, "-Inf"]}])).is_some());
    assert!(diff("vector", &vector, &json!([{"metric": {}, "value": [1717201800, "5"]}])).is_some());
    assert!(diff("vector", &vector, &json!([{"metric": {"x": "y"}, "value": [1717201800, "+Inf"]}])).is_some());
    assert_eq!(diff("scalar", &json!([1717201800000u64, "2"]), &json!([1717201800000u64, "2"])), None);
    assert!(diff("scalar", &json!([1717201800000u64, "2"]), &json!([1717201800000u64, "3"])).is_some());
}

#[tokio::test]
async fn recorded_loki_answers_are_reproduced() {
    let server = Server::start(CONFIG).await;
    push_dataset(&server, "dataset.jsonl").await;
    let cases = cases();
    assert!(cases.len() >= 170, "only {} cases", cases.len());
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let (status, body) = ask(&server, case).await;
        let want_status = case["status"].as_u64().unwrap() as u16;
        let want_type = case["resultType"].as_str().unwrap_or_default();
        let reason = if want_status != 200 {
            (status != want_status).then(|| format!("want status {want_status} got {status}"))
        } else if status != 200 {
            Some(format!("status {status}: {}", body.to_string().chars().take(160).collect::<String>()))
        } else if body["data"]["resultType"] != want_type {
            Some(format!("resultType {} != {want_type}", body["data"]["resultType"]))
        } else {
            diff(want_type, &case["result"], &body["data"]["result"])
        };
        match reason {
            None => passed += 1,
            Some(reason) => {
                failed += 1;
                failures.push(format!("FAIL {} {} {}\n     {reason}", case["path"], case["params"]["direction"], case["params"]["query"]));
            }
        }
    }
    for failure in &failures {
        println!("{failure}");
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{} of {} conformance cases failed:\n{}", failed, cases.len(), failures.join("\n"));
}

/// Checks the shape of a successful query answer.
fn assert_well_formed(query: &str, result_type: &str, body: &Value) {
    assert_eq!(body["status"], "success", "{query}: {body}");
    let result = &body["data"]["result"];
    match result_type {
        "streams" => {
            for stream in result.as_array().unwrap() {
                assert!(stream["stream"].as_object().is_some_and(|m| m.values().all(Value::is_string)), "{query}: {stream}");
                for value in stream["values"].as_array().unwrap() {
                    let ts = value[0].as_str().unwrap_or_else(|| panic!("{query}: {value}"));
                    assert!(ts.parse::<i64>().is_ok() && value[1].is_string(), "{query}: {value}");
                }
            }
        }
        "matrix" | "vector" => {
            for series in result.as_array().unwrap() {
                assert!(series["metric"].is_object(), "{query}: {series}");
                let points =
                    if result_type == "matrix" { series["values"].as_array().unwrap().clone() } else { vec![series["value"].clone()] };
                for point in points {
                    assert!(point[0].is_number() && point[1].as_str().is_some_and(|v| v.parse::<f64>().is_ok()), "{query}: {point}");
                }
            }
        }
        "scalar" => assert!(result[0].is_number() && result[1].as_str().is_some_and(|v| v.parse::<f64>().is_ok()), "{query}: {result}"),
        other => panic!("{query}: unknown resultType {other}"),
    }
}

/// Another data set of the same shape (`gen_dataset.py 7`): no recorded answers, but
/// every query must succeed (or fail with the status it has on the recorded data) and
/// give a well-formed answer of the recorded type.
#[tokio::test]
async fn every_query_runs_on_another_dataset() {
    let server = Server::start(CONFIG).await;
    push_dataset(&server, "dataset-seed7.jsonl").await;
    let cases = cases();
    let queries: Vec<String> =
        read("queries.txt").lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(str::to_string).collect();
    assert!(queries.len() >= 80, "only {} queries", queries.len());
    let mut asked = 0;
    for query in &queries {
        let matching: Vec<&Value> = cases.iter().filter(|c| c["params"]["query"] == query.as_str()).collect();
        assert!(!matching.is_empty(), "no recorded case for query {query}");
        for case in matching {
            let (status, body) = ask(&server, case).await;
            let want_status = case["status"].as_u64().unwrap() as u16;
            assert_eq!(status / 100, want_status / 100, "{query} {:?}: {body}", case["params"]);
            if status == 200 {
                let result_type = case["resultType"].as_str().unwrap();
                assert_eq!(body["data"]["resultType"], result_type, "{query}: {body}");
                assert_well_formed(query, result_type, &body);
            }
            asked += 1;
        }
    }
    assert_eq!(asked, cases.len(), "some recorded cases have a query not in queries.txt");
    // All of the data is there.
    let pushed: usize = read("dataset-seed7.jsonl")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["values"].as_array().unwrap().len())
                .sum::<usize>()
        })
        .sum();
    let all = server.query_streams(r#"{cluster=~".+"}"#, 1_717_200_000 * SECOND, 1_717_203_600 * SECOND, 100_000, None).await;
    assert_eq!(all.values().map(Vec::len).sum::<usize>(), pushed);
}
