use super::*;
use proptest::prelude::*;
use serde_json::json;

/// What the engine answers for a log query over `entries` (time, stream, line) in
/// `[start, end)`: the newest/oldest `limit` entries, ordered by time, labels and
/// position, streams in order of first entry.
fn engine_logs(entries: &[(i64, u8, String)], start: i64, end: i64, order: LogOrder, limit: usize) -> Value {
    let mut candidates: Vec<(i64, LabelSet, usize, &String)> = Vec::new();
    for (position, (ts, stream, line)) in entries.iter().enumerate() {
        if *ts >= start && *ts < end {
            candidates.push((*ts, LabelSet::from_pairs([("app", format!("s{stream}"))]), position, line));
        }
    }
    candidates.sort_by(|a, b| {
        let by_time = if order == LogOrder::Backward { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
        by_time.then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(&b.2))
    });
    candidates.truncate(limit);
    let mut streams: Vec<(LabelSet, Vec<Value>)> = Vec::new();
    for (ts, labels, _, line) in candidates {
        let value = json!([ts.to_string(), line]);
        match streams.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, values)) => values.push(value),
            None => streams.push((labels, vec![value])),
        }
    }
    let result: Vec<Value> = streams
        .into_iter()
        .map(|(labels, values)| json!({"stream": {"app": labels.get("app").unwrap_or_default()}, "values": values}))
        .collect();
    json!({"status": "success", "data": {"resultType": "streams", "result": result, "stats": {"summary": {"splits": 0}}}})
}

fn result_of(value: &Value) -> &Value {
    &value["data"]["result"]
}

proptest! {
    #[test]
    fn split_log_answers_merge_to_the_unsplit_answer(
        raw in proptest::collection::vec((0i64..60, 0u8..4), 0..80),
        cuts in proptest::collection::btree_set(1i64..60, 0..6),
        limit in 1usize..40,
        backward in any::<bool>(),
    ) {
        let entries: Vec<(i64, u8, String)> =
            raw.iter().enumerate().map(|(i, (ts, stream))| (*ts, *stream, format!("line {i}"))).collect();
        let order = if backward { LogOrder::Backward } else { LogOrder::Forward };
        let mut bounds = vec![0i64];
        bounds.extend(cuts.iter().copied());
        bounds.push(60);
        let mut parts: Vec<Value> = bounds.windows(2).map(|w| engine_logs(&entries, w[0], w[1], order, limit)).collect();
        if backward {
            parts.reverse();
        }
        let merged = merge_responses(parts, MergeKind::Logs { order, limit }).unwrap();
        let whole = engine_logs(&entries, 0, 60, order, limit);
        prop_assert_eq!(result_of(&merged), result_of(&whole));
    }
}

#[test]
fn streams_group_by_labels_and_cut_at_the_limit() {
    let newest = json!({"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"a": "1"}, "values": [["30", "x"], ["20", "y"]]}
    ], "stats": {}}});
    let oldest = json!({"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"a": "2"}, "values": [["9", "p"]]},
        {"stream": {"a": "1"}, "values": [["10", "q"], ["8", "r"]]}
    ], "stats": {}}});
    let merged = merge_responses(vec![newest, oldest], MergeKind::Logs { order: LogOrder::Backward, limit: 4 }).unwrap();
    assert_eq!(
        result_of(&merged),
        &json!([
            {"stream": {"a": "1"}, "values": [["30", "x"], ["20", "y"], ["10", "q"]]},
            {"stream": {"a": "2"}, "values": [["9", "p"]]}
        ])
    );
}

#[test]
fn matrix_series_are_concatenated_in_time_order() {
    let first = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "b"}, "values": [[1, "1"], [2, "2"]]},
        {"metric": {"job": "a"}, "values": [[2, "5"]]}
    ], "stats": {}}});
    let second = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "a"}, "values": [[3, "6"], [4.5, "NaN"]]},
        {"metric": {"job": "c"}, "values": [[3, "7"]]}
    ], "stats": {}}});
    let merged = merge_responses(vec![first, second], MergeKind::Metric).unwrap();
    assert_eq!(
        merged["data"]["result"],
        json!([
            {"metric": {"job": "a"}, "values": [[2, "5"], [3, "6"], [4.5, "NaN"]]},
            {"metric": {"job": "b"}, "values": [[1, "1"], [2, "2"]]},
            {"metric": {"job": "c"}, "values": [[3, "7"]]}
        ])
    );
    let keys: Vec<&String> = merged["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["resultType", "result", "stats"]);
}

#[test]
fn shards_combine_at_each_timestamp() {
    let shard = |result: Value| json!({"status": "success", "data": {"resultType": "matrix", "result": result, "stats": {"summary": {"execTime": 1.0}}}});
    let parts = || {
        vec![
            shard(json!([{"metric": {"job": "a"}, "values": [[1, "1.5"], [2, "2"]]}, {"metric": {"job": "b"}, "values": [[1, "9"]]}])),
            shard(json!([{"metric": {"job": "a"}, "values": [[2, "3"], [3, "0.1"]]}])),
            shard(json!([{"metric": {"job": "a"}, "values": [[2, "NaN"], [3, "0.2"]]}])),
        ]
    };
    let combined = |combine: Combine| merge_responses(parts(), MergeKind::Shards { combine, shards: 3 }).unwrap();
    let sum = combined(Combine::Sum);
    assert_eq!(
        sum["data"]["result"],
        json!([
            {"metric": {"job": "a"}, "values": [[1, "1.5"], [2, "NaN"], [3, "0.30000000000000004"]]},
            {"metric": {"job": "b"}, "values": [[1, "9"]]}
        ])
    );
    assert_eq!(sum["data"]["stats"]["summary"]["shards"], json!(3));
    // Prometheus' min and max skip NaN.
    assert_eq!(combined(Combine::Max)["data"]["result"][0]["values"], json!([[1, "1.5"], [2, "3"], [3, "0.2"]]));
    assert_eq!(combined(Combine::Min)["data"]["result"][0]["values"], json!([[1, "1.5"], [2, "2"], [3, "0.1"]]));
}

#[test]
fn a_single_part_passes_through() {
    let vector = json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "a"}, "value": [1717200000, "3"]}
    ], "stats": {"summary": {"execTime": 0.5}}}});
    assert_eq!(merge_responses(vec![vector.clone()], MergeKind::Metric).unwrap(), vector);
}

#[test]
fn stats_and_warnings_are_summed_and_merged() {
    let part = |lines: u64, exec: f64, warning: &str| {
        json!({"status": "success", "data": {"resultType": "matrix", "result": [], "stats": {
            "summary": {"bytesProcessedPerSecond": 1, "linesProcessedPerSecond": 1, "totalBytesProcessed": lines * 10,
                "totalLinesProcessed": lines, "execTime": exec, "splits": 0},
            "querier": {"store": {"totalChunksRef": lines, "queryReferencedStructuredMetadata": lines > 5}}
        }}, "warnings": [warning]})
    };
    let merged = merge_responses(vec![part(4, 0.25, "w1"), part(6, 0.25, "w1"), part(10, 0.5, "w2")], MergeKind::Metric).unwrap();
    let summary = &merged["data"]["stats"]["summary"];
    assert_eq!(summary["totalLinesProcessed"], json!(20));
    assert_eq!(summary["totalBytesProcessed"], json!(200));
    assert_eq!(summary["execTime"], json!(1.0));
    assert_eq!(summary["linesProcessedPerSecond"], json!(20));
    assert_eq!(summary["bytesProcessedPerSecond"], json!(200));
    assert_eq!(summary["splits"], json!(3));
    assert_eq!(merged["data"]["stats"]["querier"]["store"]["totalChunksRef"], json!(20));
    assert_eq!(merged["data"]["stats"]["querier"]["store"]["queryReferencedStructuredMetadata"], json!(true));
    assert_eq!(merged["warnings"], json!(["w1", "w2"]));
}

#[test]
fn bad_parts_are_errors() {
    let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
    let streams = json!({"status": "success", "data": {"resultType": "streams", "result": []}});
    let err = merge_responses(vec![matrix.clone(), streams], MergeKind::Metric).unwrap_err();
    assert!(err.0.contains("different result types"), "{err}");
    let bad_ts = json!({"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {}, "values": [["soon", "x"]]}
    ]}});
    let err = merge_responses(vec![bad_ts.clone(), bad_ts], MergeKind::Logs { order: LogOrder::Forward, limit: 5 }).unwrap_err();
    assert!(err.0.contains("soon"), "{err}");
    assert!(merge_responses(vec![json!({"status": "error"}), matrix], MergeKind::Metric).is_err());
}
