//! A range query split into many parts, run over real gRPC through a scheduler and two
//! querier workers, answers exactly what the handler answers for the unsplit query.

mod common;

use common::*;
use serde_json::Value;
use skald_frontend::{SchedulerConfig, TenantLimits};

fn ns(t: i64) -> String {
    t.to_string()
}

/// Asks the frontend and the handler itself; both must succeed with the same result.
async fn same_answer(frontend: &axum::Router, data: &Dataset, params: &[(&str, String)]) -> Value {
    let (status, split) = get_from(frontend, "/loki/api/v1/query_range", params, "t1").await;
    assert_eq!(status, 200, "frontend: {split}");
    let (status, whole) = get_from(&data.router(), "/loki/api/v1/query_range", params, "t1").await;
    assert_eq!(status, 200, "handler: {whole}");
    let split: Value = serde_json::from_str(&split).unwrap();
    let whole: Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(split["status"], whole["status"]);
    assert_eq!(split["data"]["resultType"], whole["data"]["resultType"]);
    assert_eq!(split["data"]["result"], whole["data"]["result"], "params {params:?}");
    let returned = |v: &Value| v["data"]["stats"]["summary"]["totalEntriesReturned"].as_u64().unwrap_or_default();
    assert!(returned(&split) >= returned(&whole), "stats are summed over the parts");
    split
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_metric_and_log_queries_match_the_unsplit_answer() {
    let scheduler = start_scheduler(SchedulerConfig::default()).await;
    let data = Dataset::default();
    let _q1 = start_worker(&scheduler, "q1", 3, data.router());
    let _q2 = start_worker(&scheduler, "q2", 3, data.router());
    let mut limits = TenantLimits::default();
    limits.split.max_query_parallelism = 4;
    let frontend = frontend(&scheduler, limits);

    // Metric: 6h10m starting off the hour, a step that does not divide the hour.
    let start = DAY_START + 7 * MINUTE + 3 * SECOND;
    let metric = [
        ("query", "count_over_time({app=~\".+\"}[5m])".to_string()),
        ("start", ns(start)),
        ("end", ns(start + 6 * HOUR + 10 * MINUTE)),
        ("step", "420".to_string()),
    ];
    let before = data.served().len();
    let split = same_answer(&frontend, &data, &metric).await;
    let parts = data.served().len() - before - 1;
    assert_eq!(parts, 7, "one part per hour touched");
    assert_eq!(split["data"]["stats"]["summary"]["splits"], 7);
    // Every served part but the handler's own unsplit call lies inside one hour.
    for served in &data.served()[before..before + parts] {
        assert_eq!(served.start.div_euclid(HOUR), served.end.div_euclid(HOUR), "{served:?}");
    }

    // Logs: both directions, limits below, at and above what the range holds.
    let (log_start, log_end) = (DAY_START + 95 * MINUTE + 1, DAY_START + 9 * HOUR + 1);
    for direction in ["backward", "forward"] {
        for limit in [1, 7, 40, 100, 5000] {
            let params = [
                ("query", "{app=~\".+\"}".to_string()),
                ("start", ns(log_start)),
                ("end", ns(log_end)),
                ("limit", limit.to_string()),
                ("direction", direction.to_string()),
            ];
            same_answer(&frontend, &data, &params).await;
        }
    }
    // A backward query whose limit is met by the newest part runs only that part.
    let before = data.served().len();
    let params =
        [("query", "{app=~\".+\"}".to_string()), ("start", ns(DAY_START)), ("end", ns(DAY_START + 12 * HOUR)), ("limit", "3".to_string())];
    let split = same_answer(&frontend, &data, &params).await;
    let ran = data.served().len() - before - 1;
    assert!(ran <= limits.split.max_query_parallelism, "ran {ran} parts for a limit met by the first");
    let newest = &split["data"]["result"][0]["values"][0][0];
    assert_eq!(newest.as_str().unwrap().parse::<i64>().unwrap(), DAY_START + 11 * HOUR + 55 * MINUTE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_unsplittable_queries() {
    let scheduler = start_scheduler(SchedulerConfig::default()).await;
    let data = Dataset { fail_from: Some(DAY_START + 3 * HOUR), ..Dataset::default() };
    let _q1 = start_worker(&scheduler, "q1", 2, data.router());
    let frontend = frontend(&scheduler, TenantLimits::default());

    // A query the frontend cannot parse goes whole; the querier's error comes back as is.
    let bad = [("query", "{bad".to_string()), ("start", ns(DAY_START)), ("end", ns(DAY_START + HOUR))];
    let (status, body) = get_from(&frontend, "/loki/api/v1/query_range", &bad, "t1").await;
    assert_eq!((status, body.as_str()), (400, "parse error at line 1, col 2: syntax error: unexpected $end\n"));

    // One failing part fails the whole query with its status and message.
    let failing = [("query", "count_over_time({app=\"a\"}[1m])".to_string()), ("start", ns(DAY_START)), ("end", ns(DAY_START + 5 * HOUR))];
    let (status, body) = get_from(&frontend, "/loki/api/v1/query_range", &failing, "t1").await;
    assert_eq!((status, body.as_str()), (500, "boom\n"));

    // Other read endpoints are forwarded whole.
    let (status, body) = get_from(&frontend, "/loki/api/v1/labels", &[], "t1").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"success","data":["app"]}"#));
    // The scheduler's tenant comes from X-Scope-OrgID.
    assert!(data.served().iter().all(|s| s.tenant == "t1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_parts_come_from_the_results_cache() {
    let scheduler = start_scheduler(SchedulerConfig::default()).await;
    let data = Dataset::default();
    let _q1 = start_worker(&scheduler, "q1", 4, data.router());
    let block: skald_frontend::QueryRangeBlock = serde_yaml_ng::from_str("cache_results: true").unwrap();
    let config = skald_frontend::FrontendConfig::new(TenantLimits::default()).with_query_range(&block);
    let (frontend, handle) = skald_frontend::frontend_router_with_handle(client(&scheduler), config);
    let params = [
        ("query", "count_over_time({app=~\".+\"}[5m])".to_string()),
        ("start", ns(DAY_START)),
        ("end", ns(DAY_START + 4 * HOUR)),
        ("step", "300".to_string()),
    ];
    let (status, first) = get_from(&frontend, "/loki/api/v1/query_range", &params, "t1").await;
    assert_eq!(status, 200, "{first}");
    let served = data.served().len();
    assert_eq!(served, 5);
    let (status, second) = get_from(&frontend, "/loki/api/v1/query_range", &params, "t1").await;
    assert_eq!(status, 200);
    assert_eq!(data.served().len(), served, "every part came from the cache");
    let (first, second): (Value, Value) = (serde_json::from_str(&first).unwrap(), serde_json::from_str(&second).unwrap());
    assert_eq!(first["data"]["result"], second["data"]["result"]);
    assert_eq!(handle.cache_counts(), (5, 5));
    // Another tenant does not see the first one's answers.
    let (status, _) = get_from(&frontend, "/loki/api/v1/query_range", &params, "t2").await;
    assert_eq!(status, 200);
    assert_eq!(data.served().len(), served + 5);
    assert!(handle.render_metrics().contains("skald_frontend_results_cache_hits_total 5"));
}
