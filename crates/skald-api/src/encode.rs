//! Loki's JSON response shapes (`pkg/util/marshal`).

use serde_json::{Map, Value, json};
use skald_common::{Label, LabelSet};
use skald_logql::engine::QueryResult;
use skald_querier::QueryStats;

pub fn labels_object(labels: &LabelSet) -> Value {
    let mut map = Map::new();
    for label in labels {
        map.insert(label.name.clone(), Value::String(label.value.clone()));
    }
    Value::Object(map)
}

fn pairs_object(pairs: &[Label]) -> Value {
    let mut map = Map::new();
    for label in pairs {
        map.insert(label.name.clone(), Value::String(label.value.clone()));
    }
    Value::Object(map)
}

/// A sample value as Prometheus prints it (`strconv.FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{value}")
    }
}

/// A timestamp in seconds as a JSON number (millisecond precision, as Loki).
pub fn seconds(ts: i64) -> Value {
    let ms = ts.div_euclid(1_000_000);
    if ms % 1000 == 0 { json!(ms / 1000) } else { json!(ms as f64 / 1000.0) }
}

/// A query answer as Loki writes it (`warnings`, when there are any, before `data`).
pub fn query_data(result: &QueryResult, stats: &QueryStats, warnings: &[String], categorize: bool) -> Value {
    let (result_type, result_value) = match result {
        QueryResult::Streams(streams) => {
            let list: Vec<Value> = streams
                .iter()
                .map(|s| {
                    let values: Vec<Value> = s
                        .entries
                        .iter()
                        .map(|e| {
                            if categorize {
                                // Loki writes each of the two only when it has something.
                                let mut extra = Map::new();
                                if !e.structured_metadata.is_empty() {
                                    extra.insert("structuredMetadata".into(), pairs_object(&e.structured_metadata));
                                }
                                if !e.parsed.is_empty() {
                                    extra.insert("parsed".into(), pairs_object(&e.parsed));
                                }
                                json!([e.ts.to_string(), e.line, Value::Object(extra)])
                            } else {
                                json!([e.ts.to_string(), e.line])
                            }
                        })
                        .collect();
                    json!({"stream": labels_object(&s.labels), "values": values})
                })
                .collect();
            ("streams", Value::Array(list))
        }
        QueryResult::Matrix(series) => {
            let list: Vec<Value> = series
                .iter()
                .map(|s| {
                    let values: Vec<Value> = s.points.iter().map(|(t, v)| json!([seconds(*t), format_value(*v)])).collect();
                    json!({"metric": labels_object(&s.labels), "values": values})
                })
                .collect();
            ("matrix", Value::Array(list))
        }
        QueryResult::Vector(samples) => {
            let list: Vec<Value> = samples
                .iter()
                .map(|s| json!({"metric": labels_object(&s.labels), "value": [seconds(s.ts), format_value(s.value)]}))
                .collect();
            ("vector", Value::Array(list))
        }
        // Loki writes a scalar's time in milliseconds (unlike vectors and matrices).
        QueryResult::Scalar(ts, value) => ("scalar", json!([ts.div_euclid(1_000_000), format_value(*value)])),
    };
    let mut data = Map::new();
    data.insert("resultType".into(), json!(result_type));
    if categorize && result_type == "streams" {
        data.insert("encodingFlags".into(), json!(["categorize-labels"]));
    }
    data.insert("result".into(), result_value);
    data.insert("stats".into(), stats_json(stats));
    if warnings.is_empty() {
        json!({"status": "success", "data": Value::Object(data)})
    } else {
        json!({"status": "success", "warnings": warnings, "data": Value::Object(data)})
    }
}

/// Loki's `stats` block. Fields Skald does not track are present with zero values so
/// that clients reading them keep working.
pub fn stats_json(stats: &QueryStats) -> Value {
    let exec = stats.exec_time.max(1e-9);
    let chunk = json!({
        "headChunkBytes": 0, "headChunkLines": 0,
        "decompressedBytes": stats.total_bytes, "decompressedLines": stats.total_lines,
        "compressedBytes": stats.chunk_bytes, "totalDuplicates": stats.duplicates,
        "postFilterLines": 0, "headChunkStructuredMetadataBytes": 0, "decompressedStructuredMetadataBytes": 0
    });
    let cache = json!({"entriesFound": 0, "entriesRequested": 0, "entriesStored": 0, "bytesReceived": 0, "bytesSent": 0, "requests": 0, "downloadTime": 0, "queryLengthServed": 0});
    json!({
        "summary": {
            "bytesProcessedPerSecond": (stats.total_bytes as f64 / exec) as u64,
            "linesProcessedPerSecond": (stats.total_lines as f64 / exec) as u64,
            "totalBytesProcessed": stats.total_bytes,
            "totalLinesProcessed": stats.total_lines,
            "execTime": stats.exec_time,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": stats.entries_returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": 0,
            "totalStructuredMetadataBytesProcessed": 0
        },
        "querier": {"store": {
            "totalChunksRef": stats.chunks_fetched, "totalChunksDownloaded": stats.chunks_fetched,
            "chunksDownloadTime": 0, "queryReferencedStructuredMetadata": false,
            "chunk": chunk, "chunkRefsFetchTime": 0, "congestionControlLatency": 0, "pipelineWrapperFilteredLines": 0
        }},
        "ingester": {"totalReached": 1, "totalChunksMatched": 0, "totalBatches": 0, "totalLinesSent": 0,
            "store": {"totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0,
                "queryReferencedStructuredMetadata": false,
                "chunk": {"headChunkBytes": 0, "headChunkLines": 0, "decompressedBytes": 0, "decompressedLines": 0,
                    "compressedBytes": 0, "totalDuplicates": 0, "postFilterLines": 0,
                    "headChunkStructuredMetadataBytes": 0, "decompressedStructuredMetadataBytes": 0},
                "chunkRefsFetchTime": 0, "congestionControlLatency": 0, "pipelineWrapperFilteredLines": 0}},
        "cache": {"chunk": cache, "index": cache, "result": cache, "statsResult": cache, "volumeResult": cache,
            "seriesResult": cache, "labelResult": cache, "instantMetricResult": cache}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keys_in_lokis_order() {
        let result = QueryResult::Streams(Vec::new());
        let text = query_data(&result, &QueryStats::default(), &[], true).to_string();
        let at = |key: &str| text.find(key).unwrap_or_else(|| panic!("{key} missing in {text}"));
        assert!(at("\"status\"") < at("\"data\""));
        assert!(at("\"resultType\"") < at("\"encodingFlags\""));
        assert!(at("\"encodingFlags\"") < at("\"result\":"));
        assert!(at("\"result\":") < at("\"stats\""));
    }

    #[test]
    fn values_and_times() {
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(60.0), "60");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(seconds(1_717_200_300_000_000_000), json!(1717200300));
        assert_eq!(seconds(1_717_200_300_500_000_000), json!(1717200300.5));
    }
}
