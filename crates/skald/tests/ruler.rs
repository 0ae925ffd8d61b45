//! The ruler through the real binary: Loki's rules API (load, list, change, delete, the
//! refusals), an alert fired over pushed lines reaching a real Alertmanager (Debian's
//! `prometheus-alertmanager`) with its labels and rendered annotations, then its
//! resolution; tenants kept apart; `for` state kept across a restart; a recording rule's
//! series in a real Prometheus (Debian's `prometheus`, remote-write receiver), no sample
//! lost while Prometheus is down, nor when the ruler is killed meanwhile.

mod common;

use common::receivers::{Alertmanager, Prometheus, Webhook};
use common::*;
use serde_json::Value;
use skald_common::Entry;
use std::time::{Duration, Instant};

const ACCEPTED: &str = r#"{"status":"success","data":null,"errorType":"","error":""}"#;

fn config(extra: &str) -> String {
    format!(
        "auth_enabled: true\nlimits_config:\n  discover_service_name: []\n  discover_log_levels: false\nruler:\n  evaluation_interval: 1s\n  poll_interval: 1s\n{extra}"
    )
}

async fn post_rules(server: &Server, tenant: &str, namespace: &str, body: &str) -> (u16, String) {
    server.post(&format!("/loki/api/v1/rules/{namespace}"), &[("X-Scope-OrgID", tenant)], body.as_bytes().to_vec()).await
}

async fn delete(server: &Server, tenant: &str, path: &str) -> (u16, String) {
    let r = server.client.delete(server.url(path)).header("X-Scope-OrgID", tenant).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn yaml(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}): {text}"))
}

const GROUP: &str = "name: checkout\ninterval: 1s\nrules:\n  - alert: ManyErrors\n    expr: sum by (app) (count_over_time({app=\"checkout\"} |= \"error\" [5s])) > 2\n    labels:\n      severity: page\n  - record: checkout:lines:count5s\n    expr: sum(count_over_time({app=\"checkout\"}[5s]))\n";

#[tokio::test]
async fn rules_are_loaded_listed_changed_and_deleted_as_loki_answers() {
    let server = Server::start(&config("")).await;
    assert_eq!(server.get("/loki/api/v1/rules", &[], Some("a")).await, (404, "no rule groups found\n".to_string()));

    assert_eq!(post_rules(&server, "a", "team-1", GROUP).await, (202, ACCEPTED.to_string()));
    let (status, listed) = server.get("/loki/api/v1/rules", &[], Some("a")).await;
    assert_eq!(status, 200);
    let listed = yaml(&listed);
    assert_eq!(listed["team-1"][0]["name"].as_str(), Some("checkout"));
    assert_eq!(listed["team-1"][0]["interval"].as_str(), Some("1s"));
    assert_eq!(listed["team-1"][0]["rules"][0]["alert"].as_str(), Some("ManyErrors"));
    assert_eq!(listed["team-1"][0]["rules"][1]["record"].as_str(), Some("checkout:lines:count5s"));
    let (status, one) = server.get("/loki/api/v1/rules/team-1/checkout", &[], Some("a")).await;
    assert_eq!(status, 200);
    assert_eq!(yaml(&one), yaml(GROUP), "the group as it was loaded");
    // The Prometheus-compatible alias answers the same.
    assert_eq!(server.get("/api/prom/rules/team-1/checkout", &[], Some("a")).await.1, one);
    let (_, by_label) = server.get("/loki/api/v1/rules", &[("labels", "severity:page".to_string())], Some("a")).await;
    assert_eq!(yaml(&by_label)["team-1"][0]["rules"].as_sequence().map(Vec::len), Some(1), "only the rule with that label");

    // Changed: posting the group again replaces it.
    let changed = GROUP.replace("> 2", "> 5");
    assert_eq!(post_rules(&server, "a", "team-1", &changed).await.0, 202);
    let (_, one) = server.get("/loki/api/v1/rules/team-1/checkout", &[], Some("a")).await;
    assert!(one.contains("> 5"), "{one}");

    // Refused with a 400 naming the problem.
    let refusals = [
        ("name: x\nrules: [\n", "unable to decoded rule group: yaml"),
        (
            "name: x\nrules:\n  - alert: A\n    expr: 'sum(count_over_time({a=\"b\"}[1m])) > 1'\n    severity: page\n",
            "unknown field `severity`",
        ),
        (
            "name: x\nrules:\n  - alert: A\n    expr: '{app=\"checkout\"} |= \"error\"'\n",
            "could not parse expression for alert 'A' in group 'x': a rule's expression must be a metric query",
        ),
        (
            "name: x\nrules:\n  - alert: A\n    expr: 'sum(rate({a=\"b\"}[1m]'\n",
            "could not parse expression for alert 'A' in group 'x': parse error",
        ),
        ("groups:\n  - name: x\n    rules: []\n  - name: x\n    rules: []\n", "groupname: \"x\" is repeated in the same file"),
        (
            "name: x\nrules:\n  - record: r\n    expr: 'sum(count_over_time({a=\"b\"}[1m]))'\n    for: 5m\n",
            "invalid field 'for' in recording rule",
        ),
    ];
    for (body, expected) in refusals {
        let (status, message) = post_rules(&server, "a", "team-2", body).await;
        assert_eq!(status, 400, "{body}: {message}");
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(server.get("/loki/api/v1/rules/team-2", &[], Some("a")).await.0, 404, "nothing refused was stored");

    // Deleted.
    assert_eq!(delete(&server, "a", "/loki/api/v1/rules/team-1/checkout").await, (202, ACCEPTED.to_string()));
    assert_eq!(server.get("/loki/api/v1/rules/team-1/checkout", &[], Some("a")).await, (404, "group does not exist\n".to_string()));
    assert_eq!(delete(&server, "a", "/loki/api/v1/rules/team-1/checkout").await.0, 404);
    assert_eq!(post_rules(&server, "a", "team-3", GROUP).await.0, 202);
    assert_eq!(delete(&server, "a", "/loki/api/v1/rules/team-3").await, (202, ACCEPTED.to_string()));
    assert_eq!(delete(&server, "a", "/loki/api/v1/rules/team-3").await, (404, "group namespace does not exist\n".to_string()));
    assert_eq!(server.get("/loki/api/v1/rules", &[], Some("a")).await.0, 404);
}

async fn push_errors(server: &Server, tenant: &str, count: usize) {
    let now = now_ns();
    let entries: Vec<Entry> = (0..count).map(|i| Entry::new(now + i as i64, format!("error {i}"))).collect();
    let (status, body) = server.push_json(Some(tenant), skald_push::encode_json(&[stream(&[("app", "checkout")], entries)])).await;
    assert_eq!(status, 204, "{body}");
}

async fn rules_json(server: &Server, tenant: &str) -> Value {
    server.get_json("/prometheus/api/v1/rules", &[], Some(tenant)).await
}

async fn wait_until(timeout: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_alert_over_pushed_lines_reaches_alertmanager_and_resolves() {
    let hook = Webhook::start().await;
    let am = Alertmanager::start(&hook).await;
    let extra =
        format!("  alertmanager_url: {}\n  external_url: http://grafana.example\n  external_labels:\n    cluster: test\n", am.url());
    let server = Server::start(&config(&extra)).await;
    let group = "name: checkout\ninterval: 1s\nrules:\n  - alert: ManyErrors\n    expr: sum by (app) (count_over_time({app=\"checkout\"} |= \"error\" [4s])) > 2\n    for: 2s\n    labels:\n      severity: page\n    annotations:\n      summary: '{{ $labels.app }} logged {{ $value }} errors'\n      title: '{{ $labels.app | title }} on {{ $externalLabels.cluster }}'\n";
    assert_eq!(post_rules(&server, "a", "ns", group).await.0, 202);

    push_errors(&server, "a", 3).await;
    // Pending first (for: 2s), then firing.
    wait_until(Duration::from_secs(10), "the alert pending", async || {
        rules_json(&server, "a").await["data"]["groups"][0]["rules"][0]["state"] == "pending"
    })
    .await;
    let firing = hook
        .wait_for(Duration::from_secs(20), "firing", |n| n["status"] == "firing" && n["alerts"][0]["labels"]["alertname"] == "ManyErrors")
        .await;
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["app"], "checkout");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["cluster"], "test", "external labels are added");
    assert_eq!(alert["annotations"]["summary"], "checkout logged 3 errors");
    assert_eq!(alert["annotations"]["title"], "Checkout on test");
    let link = alert["generatorURL"].as_str().unwrap();
    assert!(link.starts_with("http://grafana.example/explore?left=%7B%22queries%22%3A%5B%7B%22expr%22"), "{link}");
    let rules = rules_json(&server, "a").await;
    assert_eq!(rules["data"]["groups"][0]["rules"][0]["state"], "firing");
    assert_eq!(rules["data"]["groups"][0]["rules"][0]["health"], "ok");
    let alerts = server.get_json("/prometheus/api/v1/alerts", &[], Some("a")).await;
    assert_eq!(alerts["data"]["alerts"][0]["annotations"]["summary"], "checkout logged 3 errors");

    // The lines leave the 4s window: the alert resolves and Alertmanager hears of it.
    let resolved = hook.wait_for(Duration::from_secs(30), "resolved", |n| n["status"] == "resolved").await;
    assert_eq!(resolved["alerts"][0]["labels"]["app"], "checkout");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    let metrics = server.get("/metrics", &[], None).await.1;
    assert!(metric_value(&metrics, "loki_prometheus_notifications_sent_total").unwrap_or(0.0) >= 2.0, "{metrics}");
    assert_eq!(metric_value(&metrics, "loki_prometheus_notifications_dropped_total"), Some(0.0));
}

#[tokio::test]
async fn tenants_never_see_or_evaluate_each_others_rules() {
    let server = Server::start(&config("")).await;
    let group = GROUP.replace("[5s]", "[1m]").replace("> 2", "> 0");
    assert_eq!(post_rules(&server, "a", "ns", &group).await.0, 202);
    assert_eq!(post_rules(&server, "b", "ns", &group).await.0, 202);
    push_errors(&server, "a", 3).await;
    wait_until(Duration::from_secs(10), "tenant a's alert firing", async || {
        rules_json(&server, "a").await["data"]["groups"][0]["rules"][0]["state"] == "firing"
    })
    .await;
    // b has the same rule but no lines: evaluated over b's data only.
    let b = rules_json(&server, "b").await;
    assert_eq!(b["data"]["groups"][0]["rules"][0]["state"], "inactive", "{b}");
    assert_eq!(b["data"]["groups"][0]["rules"][0]["health"], "ok");
    assert_eq!(server.get_json("/prometheus/api/v1/alerts", &[], Some("b")).await["data"]["alerts"], serde_json::json!([]));
    // c has no rules at all, and cannot read or delete a's.
    assert_eq!(rules_json(&server, "c").await["data"]["groups"], serde_json::json!([]));
    assert_eq!(server.get("/loki/api/v1/rules", &[], Some("c")).await.0, 404);
    assert_eq!(server.get("/loki/api/v1/rules/ns/checkout", &[], Some("c")).await.0, 404);
    assert_eq!(delete(&server, "c", "/loki/api/v1/rules/ns").await.0, 404);
    assert_eq!(server.get("/loki/api/v1/rules/ns/checkout", &[], Some("a")).await.0, 200);
    // No tenant: refused as Loki refuses it.
    assert_eq!(server.get("/loki/api/v1/rules", &[], None).await.0, 401);
}

#[tokio::test]
async fn a_restart_keeps_the_time_an_alert_became_active() {
    let mut server = Server::start(&config("")).await;
    let group = "name: g\ninterval: 1s\nrules:\n  - alert: Slow\n    expr: sum by (app) (count_over_time({app=\"checkout\"} |= \"error\" [2m])) > 0\n    for: 1m\n";
    assert_eq!(post_rules(&server, "a", "ns", group).await.0, 202);
    push_errors(&server, "a", 1).await;
    let active_at = async |server: &Server| -> Option<String> {
        let alerts = server.get_json("/prometheus/api/v1/alerts", &[], Some("a")).await;
        alerts["data"]["alerts"][0]["activeAt"].as_str().map(str::to_string)
    };
    let mut before = None;
    wait_until(Duration::from_secs(10), "the alert pending", async || {
        before = active_at(&server).await;
        before.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart().await;
    let mut after = None;
    wait_until(Duration::from_secs(15), "the alert pending after the restart", async || {
        after = active_at(&server).await;
        after.is_some()
    })
    .await;
    let parse = |s: &Option<String>| skald_common::parse_rfc3339(s.as_deref().unwrap()).unwrap() / 1_000_000;
    let moved = (parse(&after) - parse(&before)).abs();
    assert!(moved <= 1_000, "activeAt moved by {moved} ms across the restart: {before:?} -> {after:?}");
}

/// The raw samples Prometheus holds of `series` over the last 10 minutes: their times (ms).
async fn sample_times(prometheus: &Prometheus, series: &str) -> Vec<i64> {
    let result = prometheus.query(&format!("{series}[10m]")).await;
    let values = result[0]["values"].as_array().cloned().unwrap_or_default();
    values.iter().map(|v| (v[0].as_f64().unwrap() * 1000.0).round() as i64).collect()
}

async fn metric(server: &Server, name: &str) -> f64 {
    metric_value(&server.get("/metrics", &[], None).await.1, name).unwrap_or(-1.0)
}

#[tokio::test]
async fn recorded_series_reach_prometheus_and_an_outage_loses_no_sample() {
    let mut prometheus = Prometheus::start().await;
    let extra = format!(
        "  remote_write:\n    enabled: true\n    clients:\n      local:\n        url: {}\n        queue_config:\n          min_backoff: 50ms\n          max_backoff: 200ms\n",
        prometheus.write_url()
    );
    let mut server = Server::start(&config(&extra)).await;
    let group = "name: g\ninterval: 1s\nrules:\n  - record: checkout:lines:count10m\n    expr: sum by (app) (count_over_time({app=\"checkout\"}[10m]))\n    labels:\n      source: skald\n";
    assert_eq!(post_rules(&server, "a", "ns", group).await.0, 202);
    push_errors(&server, "a", 4).await;

    // The series, with the rule's labels and the lines' count, answers a PromQL query.
    wait_until(Duration::from_secs(20), "the recorded series in Prometheus", async || {
        let result = prometheus.query("checkout:lines:count10m").await;
        result[0]["value"][1] == "4"
    })
    .await;
    let result = prometheus.query("checkout:lines:count10m").await;
    assert_eq!(result[0]["metric"], serde_json::json!({"__name__": "checkout:lines:count10m", "app": "checkout", "source": "skald"}));

    // Prometheus stops; evaluations go on into the WAL; the ruler is killed and started
    // again meanwhile; Prometheus comes back and receives every one of them.
    prometheus.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(metric(&server, "loki_ruler_remote_write_samples_pending").await >= 2.0, "samples wait while Prometheus is down");
    let killed_at = now_ns() / 1_000_000;
    server.restart().await;
    let back_at = now_ns() / 1_000_000;
    tokio::time::sleep(Duration::from_secs(3)).await;
    prometheus.start_again().await;
    wait_until(Duration::from_secs(30), "the WAL delivered", async || {
        metric(&server, "loki_ruler_remote_write_samples_pending").await == 0.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let times = sample_times(&prometheus, "checkout:lines:count10m").await;
    assert!(times.len() >= 8, "{times:?}");
    for pair in times.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // One sample per second, except while the ruler itself was not running.
        let ruler_down = a >= killed_at - 1_000 && b <= back_at + 2_000;
        assert!(b - a == 1_000 || ruler_down, "a sample is missing between {a} and {b} ({times:?}; ruler down {killed_at}..{back_at})");
    }
    let outage = times.iter().filter(|t| **t > back_at + 1_000).count();
    assert!(outage >= 3, "samples evaluated while Prometheus was down were delivered: {times:?}");
    assert_eq!(metric(&server, "loki_ruler_remote_write_samples_dropped_total").await, 0.0);
}

#[tokio::test]
async fn the_tenants_rule_limits_are_enforced() {
    let config = config("")
        .replace("limits_config:\n", "limits_config:\n  ruler_max_rules_per_rule_group: 2\n  ruler_max_rule_groups_per_tenant: 2\n");
    let server = Server::start(&config).await;
    let (status, message) = post_rules(&server, "a", "ns", GROUP.replace("checkout", "g1").as_str()).await;
    assert_eq!(status, 202, "{message}");
    let three = format!("{GROUP}  - record: third:rule\n    expr: sum(count_over_time({{app=\"x\"}}[1m]))\n");
    assert_eq!(
        post_rules(&server, "a", "ns", &three).await,
        (400, "per-user rules per rule group limit (limit: 2 actual: 3) exceeded\n".to_string())
    );
    assert_eq!(post_rules(&server, "a", "other", GROUP.replace("checkout", "g2").as_str()).await.0, 202);
    assert_eq!(
        post_rules(&server, "a", "ns", GROUP.replace("checkout", "g3").as_str()).await,
        (400, "per-user rule groups limit (limit: 2 actual: 3) exceeded\n".to_string())
    );
    // Replacing a group at the limit is a change, not a third group.
    assert_eq!(post_rules(&server, "a", "ns", GROUP.replace("checkout", "g1").replace("> 2", "> 3").as_str()).await.0, 202);
    // Another tenant has its own count.
    assert_eq!(post_rules(&server, "b", "ns", GROUP.replace("checkout", "g3").as_str()).await.0, 202);
}
