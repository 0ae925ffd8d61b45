//! `ruler.evaluation.mode: remote`: rules evaluated by a query frontend, as Loki's
//! `RemoteEvaluator` does it. Each instant query is Loki's request (a form POST to
//! `/loki/api/v1/query` with `query`, `direction=forward` and `time` in RFC 3339, the
//! tenant in `X-Scope-OrgID`, `X-Query-Tags: source=ruler,...`); the transport (dskit's
//! httpgrpc to the frontend's gRPC port) is the caller's. The restore of alert state
//! after a restart asks `/loki/api/v1/query_range` the same way.

use crate::manager::RuleQuerier;
use serde_json::Value;
use skald_rules::alert::Labels;
use std::sync::Arc;

/// Carries one form POST to the frontend: `(status, body)`, or why the call failed.
#[async_trait::async_trait]
pub trait FrontendTransport: Send + Sync {
    async fn post_form(&self, tenant: &str, path: &str, form: String) -> Result<(u16, Vec<u8>), String>;
}

/// The `User-Agent` of the ruler's requests (Loki sends `loki-ruler/<version>`).
pub const USER_AGENT: &str = concat!("loki-ruler/skald-", env!("CARGO_PKG_VERSION"));

/// Rules evaluated through a query frontend.
pub struct RemoteRuleQuerier {
    transport: Arc<dyn FrontendTransport>,
}

impl RemoteRuleQuerier {
    pub fn new(transport: Arc<dyn FrontendTransport>) -> RemoteRuleQuerier {
        RemoteRuleQuerier { transport }
    }

    async fn ask(&self, tenant: &str, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in params {
                form.append_pair(name, value);
            }
            form.finish()
        };
        let (status, body) = self.transport.post_form(tenant, path, form).await.map_err(|e| format!("rule evaluation failed: {e}"))?;
        if status / 100 != 2 {
            let shown: String = String::from_utf8_lossy(&body).chars().take(128).collect();
            tracing::warn!(%tenant, status, body = %shown, "rule evaluation failed with non-2xx response");
            return Err(format!("unsuccessful/unexpected response - status code {status}"));
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|e| format!("decoding the frontend's answer: {e}"))?;
        Ok(answer["data"].clone())
    }
}

fn ms_to_rfc3339(ms: i64) -> String {
    skald_common::format_rfc3339_nanos(ms.saturating_mul(1_000_000))
}

fn labels(metric: &Value) -> Labels {
    let mut labels = Labels::new();
    if let Some(map) = metric.as_object() {
        for (name, value) in map {
            labels.insert(name.clone(), value.as_str().unwrap_or_default().to_string());
        }
    }
    labels
}

/// A `[ts, "value"]` pair's value (Prometheus' JSON: the value is a string).
fn sample_value(pair: &Value) -> Result<f64, String> {
    let text = pair[1].as_str().ok_or("a sample without a value")?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| format!("invalid sample value {text:?}")),
    }
}

/// A `[ts, ...]` pair's time in ms (the timestamp is seconds, fractional).
fn sample_ms(pair: &Value) -> Result<i64, String> {
    let seconds = pair[0].as_f64().ok_or("a sample without a timestamp")?;
    Ok((seconds * 1000.0).round() as i64)
}

/// An instant query's samples from Loki's `data` (`vector` or `scalar`).
pub fn decode_instant(data: &Value) -> Result<Vec<(Labels, f64)>, String> {
    match data["resultType"].as_str() {
        Some("vector") => {
            let mut out = Vec::new();
            for sample in data["result"].as_array().into_iter().flatten() {
                out.push((labels(&sample["metric"]), sample_value(&sample["value"])?));
            }
            Ok(out)
        }
        Some("scalar") => Ok(vec![(Labels::new(), sample_value(&data["result"])?)]),
        _ => Err("rule result is not a vector or scalar".to_string()),
    }
}

/// A range query's series (each with the times it has a sample at) from Loki's `data`.
pub fn decode_range(data: &Value) -> Result<Vec<(Labels, Vec<i64>)>, String> {
    match data["resultType"].as_str() {
        Some("matrix") => {
            let mut out = Vec::new();
            for series in data["result"].as_array().into_iter().flatten() {
                let mut times = Vec::new();
                for pair in series["values"].as_array().into_iter().flatten() {
                    times.push(sample_ms(pair)?);
                }
                out.push((labels(&series["metric"]), times));
            }
            Ok(out)
        }
        Some("vector" | "scalar") => Ok(Vec::new()),
        _ => Err("rule result is not a vector or scalar".to_string()),
    }
}

#[async_trait::async_trait]
impl RuleQuerier for RemoteRuleQuerier {
    async fn instant(&self, tenant: &str, expr: &str, ts: i64) -> Result<Vec<(Labels, f64)>, String> {
        let params = [("query", expr.to_string()), ("direction", "forward".to_string()), ("time", ms_to_rfc3339(ts))];
        decode_instant(&self.ask(tenant, "/loki/api/v1/query", &params).await?)
    }

    async fn range(&self, tenant: &str, expr: &str, start: i64, end: i64, step: i64) -> Result<Vec<(Labels, Vec<i64>)>, String> {
        let params = [
            ("query", expr.to_string()),
            ("direction", "forward".to_string()),
            ("start", ms_to_rfc3339(start)),
            ("end", ms_to_rfc3339(end)),
            ("step", format!("{}", step.max(1) as f64 / 1000.0)),
        ];
        decode_range(&self.ask(tenant, "/loki/api/v1/query_range", &params).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// Answers with a fixed status and body, and keeps what was asked.
    struct Canned {
        status: u16,
        body: &'static str,
        asked: Mutex<Vec<(String, String, String)>>,
    }

    #[async_trait::async_trait]
    impl FrontendTransport for Canned {
        async fn post_form(&self, tenant: &str, path: &str, form: String) -> Result<(u16, Vec<u8>), String> {
            self.asked.lock().push((tenant.to_string(), path.to_string(), form));
            Ok((self.status, self.body.as_bytes().to_vec()))
        }
    }

    fn querier(status: u16, body: &'static str) -> (Arc<Canned>, RemoteRuleQuerier) {
        let canned = Arc::new(Canned { status, body, asked: Mutex::new(Vec::new()) });
        (canned.clone(), RemoteRuleQuerier::new(canned))
    }

    #[tokio::test]
    async fn instant_queries_are_lokis_request_and_vectors_come_back_as_samples() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"app":"a"},"value":[1700000000.5,"3"]},{"metric":{},"value":[1700000000.5,"NaN"]}]}}"#;
        let (canned, querier) = querier(200, body);
        let samples = querier.instant("acme", r#"sum(rate({app="a"}[1m]))"#, 1_700_000_000_500).await.unwrap();
        assert_eq!(samples[0], (Labels::from([("app".to_string(), "a".to_string())]), 3.0));
        assert!(samples[1].1.is_nan());
        let (tenant, path, form) = canned.asked.lock()[0].clone();
        assert_eq!((tenant.as_str(), path.as_str()), ("acme", "/loki/api/v1/query"));
        assert_eq!(form, "query=sum%28rate%28%7Bapp%3D%22a%22%7D%5B1m%5D%29%29&direction=forward&time=2023-11-14T22%3A13%3A20.5Z");
    }

    #[tokio::test]
    async fn failures_and_log_results_are_errors_as_loki_words_them() {
        let (_, failing) = querier(400, "parse error");
        assert_eq!(failing.instant("t", "x", 0).await.unwrap_err(), "unsuccessful/unexpected response - status code 400");
        let (_, streams) = querier(200, r#"{"status":"success","data":{"resultType":"streams","result":[]}}"#);
        assert_eq!(streams.instant("t", "x", 0).await.unwrap_err(), "rule result is not a vector or scalar");
        let (_, scalar) = querier(200, r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2.5"]}}"#);
        assert_eq!(scalar.instant("t", "x", 0).await.unwrap(), vec![(Labels::new(), 2.5)]);
    }

    #[tokio::test]
    async fn range_queries_give_each_series_its_sample_times() {
        let body =
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"app":"a"},"values":[[60,"1"],[120.5,"2"]]}]}}"#;
        let (canned, querier) = querier(200, body);
        let series = querier.range("t", "x", 60_000, 120_000, 60_000).await.unwrap();
        assert_eq!(series, vec![(Labels::from([("app".to_string(), "a".to_string())]), vec![60_000, 120_500])]);
        let (_, path, form) = canned.asked.lock()[0].clone();
        assert_eq!(path, "/loki/api/v1/query_range");
        assert!(form.ends_with("&step=60"), "{form}");
    }
}
