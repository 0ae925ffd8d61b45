//! What the ruler sends to Alertmanager: its v2 API's postable alerts
//! (`POST /api/v2/alerts`, a JSON array), built as Prometheus' notifier builds them:
//! external labels added where the alert has no label of that name, `startsAt` the time
//! the alert fired, `endsAt` its resolution or, while it fires, the time until which it
//! is valid without being resent.

use crate::alert::{Alert, Labels};

/// RFC 3339 with milliseconds, in UTC (Go's `strfmt.DateTime`).
pub fn rfc3339_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "0001-01-01T00:00:00.000Z".to_string(),
    }
}

/// One alert in Alertmanager's shape.
pub fn postable_alert(alert: &Alert, external_labels: &Labels, generator_url: &str) -> serde_json::Value {
    let mut labels = alert.labels.clone();
    for (name, value) in external_labels {
        labels.entry(name.clone()).or_insert_with(|| value.clone());
    }
    let starts_at = alert.fired_at.unwrap_or(alert.active_at);
    let ends_at = alert.resolved_at.or(alert.valid_until).unwrap_or(starts_at);
    serde_json::json!({
        "labels": labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339_ms(starts_at),
        "endsAt": rfc3339_ms(ends_at),
        "generatorURL": generator_url,
    })
}

/// The link an alert carries back to its rule, as Loki builds it: Grafana Explore under
/// `external_url` with the rule's expression (and the data source, when
/// `datasource_uid` is set), as `left={"queries":[...]}`.
pub fn explore_link(external_url: &str, expr: &str, datasource_uid: &str) -> String {
    // Go's json.Marshal: strings escaped for HTML (`<` as `\u003c`...).
    let quote = |s: &str| {
        let mut out = String::new();
        skald_common::go_json_quote(s, &mut out);
        out
    };
    let mut query = format!("{{\"expr\":{},\"queryType\":\"range\"", quote(expr));
    if !datasource_uid.is_empty() {
        query.push_str(&format!(",\"datasource\":{{\"type\":\"loki\",\"uid\":{}}}", quote(datasource_uid)));
    }
    let left = format!("{{\"queries\":[{query}}}]}}");
    format!("{external_url}/explore?left={}", crate::humanize::query_escape(&left))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertState;

    #[test]
    fn a_firing_alert_in_alertmanagers_shape() {
        let alert = Alert {
            labels: [("alertname", "HighErrors"), ("cluster", "mine")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: [("summary".to_string(), "bad".to_string())].into_iter().collect(),
            value: 3.0,
            state: AlertState::Firing,
            active_at: 1_700_000_000_000,
            fired_at: Some(1_700_000_060_000),
            resolved_at: None,
            last_sent_at: Some(1_700_000_060_000),
            valid_until: Some(1_700_000_300_000),
            keep_firing_since: None,
        };
        let external: Labels = [("cluster", "eu"), ("region", "west")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let json = postable_alert(&alert, &external, "http://skald/graph");
        assert_eq!(json["labels"]["cluster"], "mine");
        assert_eq!(json["labels"]["region"], "west");
        assert_eq!(json["startsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(json["endsAt"], "2023-11-14T22:18:20.000Z");
        assert_eq!(json["annotations"]["summary"], "bad");
    }

    /// Loki's `ruler_test.go` answer for expr `up` and data source `uid`.
    #[test]
    fn the_generator_url_is_lokis_explore_link() {
        let expected = format!(
            "http://localhost:8080/explore?left=%7B%22queries%22%3A%5B{}%5D%7D",
            crate::humanize::query_escape(r#"{"expr":"up","queryType":"range","datasource":{"type":"loki","uid":"uid"}}"#)
        );
        assert_eq!(explore_link("http://localhost:8080", "up", "uid"), expected);
        assert!(explore_link("", "sum(x) > 1", "").contains("%5Cu003e"));
    }
}
