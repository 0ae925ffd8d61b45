//! LogQL conformance: answers recorded from Grafana Loki (`tests/conformance/`, see its
//! README) must be given by the binary too, compared as `compare.py` compares them.

mod common;

use common::conformance::*;
use common::*;
use serde_json::Value;

/// The settings Loki ran with while recording (tests/conformance/README.md).
const CONFIG: &str = "\
limits_config:
  reject_old_samples: false
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  max_query_length: 0
";

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
        let reason = mismatch(case, status, &body);
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
