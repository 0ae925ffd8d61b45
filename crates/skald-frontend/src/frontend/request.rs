//! Reading an incoming read request (query string, form body, the headers that change
//! an answer, the tenant) and planning how a `query_range` is split.
//!
//! Parameters are read with Loki's defaults (`pkg/loghttp/params.go`), the same way the
//! querier reads them, so that a part covers exactly what the whole query would have.
//! Whenever the request is not clearly splittable (a parameter that does not parse, a
//! query that does not parse, a range over a limit), the plan is "one part": the querier
//! then answers, with its own error message where there is one.

use crate::config::TenantLimits;
use crate::merge::{Combine, LogOrder, MergeKind};
use crate::proto::{Pair, QueryPart};
use crate::split::{split_logs, split_metric};
use axum::http::{HeaderMap, Method};
use skald_common::{format_rfc3339_nanos, parse_duration, parse_duration_or_seconds, parse_timestamp, unix_nanos_now};
use skald_logql::{Expr, parse_expr};

const SECOND: i64 = 1_000_000_000;
/// Loki refuses range queries of more than this many steps.
const MAX_POINTS: i64 = 11_000;
/// Headers that change an answer and so travel with a part.
const FORWARDED_HEADERS: [&str; 3] = ["x-scope-orgid", "x-loki-response-encoding-flags", "x-query-tags"];

/// An incoming request, reduced to what a part carries.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub tenant: String,
}

impl Incoming {
    pub fn new(method: Method, path: String, params: Vec<(String, String)>, headers: &HeaderMap) -> Incoming {
        let mut forwarded = Vec::new();
        for name in FORWARDED_HEADERS {
            for value in headers.get_all(name) {
                if let Ok(value) = value.to_str() {
                    forwarded.push((name.to_string(), value.to_string()));
                }
            }
        }
        // The querier checks the tenant again (and refuses a missing one when auth is on).
        let tenant = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("fake").to_string();
        Incoming { method, path, params, headers: forwarded, tenant }
    }

    /// The first non-empty value of a parameter (as the querier reads it).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// This request as one part, parameters as they came.
    pub fn whole(&self) -> QueryPart {
        let method = if self.method == Method::POST { "POST" } else { "GET" };
        self.part(method, self.params.clone())
    }

    fn part(&self, method: &str, params: Vec<(String, String)>) -> QueryPart {
        QueryPart {
            tenant: self.tenant.clone(),
            method: method.to_string(),
            path: self.path.clone(),
            params: params.into_iter().map(|(name, value)| Pair { name, value }).collect(),
            headers: self.headers.iter().map(|(name, value)| Pair { name: name.clone(), value: value.clone() }).collect(),
        }
    }

    /// The same request over another range (`end` inclusive for metric parts, exclusive
    /// for log parts, as the querier reads it).
    fn with_range(&self, start: i64, end: i64, step: i64) -> QueryPart {
        let mut params: Vec<(String, String)> =
            self.params.iter().filter(|(k, _)| !matches!(k.as_str(), "start" | "end" | "since" | "step")).cloned().collect();
        params.push(("start".to_string(), timestamp_param(start)));
        params.push(("end".to_string(), timestamp_param(end)));
        params.push(("step".to_string(), step_param(step)));
        self.part("GET", params)
    }

    /// The index statistics of `selector` over this request's range (`start`, `end`,
    /// `since` as they came): how many bytes a sharded query reads.
    pub fn stats_part(&self, selector: &str) -> QueryPart {
        let mut params: Vec<(String, String)> =
            self.params.iter().filter(|(k, _)| matches!(k.as_str(), "start" | "end" | "since")).cloned().collect();
        params.push(("query".to_string(), selector.to_string()));
        let mut part = self.part("GET", params);
        part.path = "/loki/api/v1/index/stats".to_string();
        part
    }

    /// Key of a part's answer in the results cache: everything that changes it.
    pub fn cache_key(&self, part: &QueryPart) -> String {
        let mut key = format!("{}\u{0}{}", part.tenant, part.path);
        let mut params: Vec<(&str, &str)> = part.params.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
        params.sort();
        for (name, value) in params {
            key.push('\u{0}');
            key.push_str(name);
            key.push('=');
            key.push_str(value);
        }
        if let Some(flags) = self.header("x-loki-response-encoding-flags") {
            key.push_str("\u{0}flags=");
            key.push_str(flags);
        }
        key
    }
}

/// A timestamp the querier reads back exactly (integers of 10 digits or fewer would be
/// read as seconds).
fn timestamp_param(ns: i64) -> String {
    if ns >= 10_000_000_000 { ns.to_string() } else { format_rfc3339_nanos(ns) }
}

fn step_param(step: i64) -> String {
    if step % SECOND == 0 { (step / SECOND).to_string() } else { format!("{step}ns") }
}

/// One part of a split range query.
#[derive(Debug, Clone)]
pub(crate) struct PlannedPart {
    pub part: QueryPart,
    /// Nanoseconds; the newest time the part covers (for the results cache).
    pub end: i64,
}

/// How a range query runs: its parts (in merge order) and how they merge.
#[derive(Debug)]
pub(crate) struct Plan {
    pub parts: Vec<PlannedPart>,
    pub merge: MergeKind,
}

impl Plan {
    /// Each (metric) part as `shards` parts, one per shard of the streams.
    pub fn sharded(self, shards: usize, combine: Combine) -> Plan {
        let mut parts = Vec::with_capacity(self.parts.len() * shards);
        for planned in self.parts {
            for index in 0..shards {
                let mut part = planned.part.clone();
                part.params.push(Pair { name: "shards".to_string(), value: format!("{index}_of_{shards}") });
                parts.push(PlannedPart { part, end: planned.end });
            }
        }
        Plan { parts, merge: MergeKind::Shards { combine, shards } }
    }
}

/// Splits a `query_range` into at least `min_parts` parts, or `None` to send it whole.
pub(crate) fn plan_range(incoming: &Incoming, limits: &TenantLimits, min_parts: usize) -> Option<Plan> {
    let interval = match limits.split.split_queries_by_interval {
        interval if interval > 0 => interval,
        // Not split by time: one part, when one is enough.
        _ if min_parts <= 1 => i64::MAX / 4,
        _ => return None,
    };
    let query = incoming.get("query")?;
    let now = unix_nanos_now();
    let end = match incoming.get("end") {
        Some(v) => parse_timestamp(v).ok()?,
        None => now,
    };
    let span = match incoming.get("since") {
        Some(v) => parse_duration(v).ok()?,
        None => 3600 * SECOND,
    };
    let start = match incoming.get("start") {
        Some(v) => parse_timestamp(v).ok()?,
        None => end.checked_sub(span)?,
    };
    if end < start {
        return None;
    }
    let step = match incoming.get("step") {
        Some(v) => parse_duration_or_seconds(v).ok().filter(|s| *s > 0)?,
        None => ((end - start) / SECOND / 250).max(1) * SECOND,
    };
    let length = end.checked_sub(start)?;
    if length / step > MAX_POINTS || (limits.max_query_length > 0 && length > limits.max_query_length) {
        return None;
    }
    let limit = match incoming.get("limit") {
        Some(v) => usize::try_from(v.parse::<i64>().ok().filter(|l| *l > 0)?).ok()?,
        None => 100,
    };
    let order = match incoming.get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => LogOrder::Backward,
        Some("forward") => LogOrder::Forward,
        Some(_) => return None,
    };
    let plan = match parse_expr(query).ok()? {
        Expr::Sample(_) | Expr::Variants(_) => {
            let parts = split_metric(start, end, step, interval)
                .into_iter()
                .map(|r| PlannedPart { part: incoming.with_range(r.start, r.end, step), end: r.end })
                .collect();
            Plan { parts, merge: MergeKind::Metric }
        }
        Expr::Log(_) => {
            let mut parts: Vec<PlannedPart> = split_logs(start, end, interval)
                .into_iter()
                .map(|r| PlannedPart { part: incoming.with_range(r.start, r.end, step), end: r.end })
                .collect();
            if order == LogOrder::Backward {
                parts.reverse();
            }
            Plan { parts, merge: MergeKind::Logs { order, limit } }
        }
    };
    if plan.parts.len() < min_parts.max(1) {
        return None;
    }
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(params: &[(&str, &str)]) -> Incoming {
        let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Incoming::new(Method::GET, "/loki/api/v1/query_range".into(), params, &HeaderMap::new())
    }

    fn value<'a>(part: &'a QueryPart, name: &str) -> &'a str {
        part.params.iter().find(|p| p.name == name).map(|p| p.value.as_str()).unwrap_or_default()
    }

    #[test]
    fn metric_queries_split_by_step_and_hour() {
        let request =
            incoming(&[("query", "count_over_time({a=\"b\"}[5m])"), ("start", "1717200000"), ("end", "1717210800"), ("step", "600")]);
        let plan = plan_range(&request, &TenantLimits::default(), 2).unwrap();
        assert_eq!(plan.merge, MergeKind::Metric);
        assert_eq!(plan.parts.len(), 4, "3h with the last step on a boundary");
        assert_eq!(value(&plan.parts[0].part, "start"), "1717200000000000000");
        assert_eq!(value(&plan.parts[0].part, "end"), "1717203000000000000");
        assert_eq!(value(&plan.parts[0].part, "step"), "600");
        assert_eq!(value(&plan.parts[3].part, "start"), "1717210800000000000");
    }

    #[test]
    fn backward_log_queries_run_newest_first() {
        let request = incoming(&[("query", "{a=\"b\"}"), ("start", "1717200000"), ("end", "1717207200"), ("limit", "7")]);
        let plan = plan_range(&request, &TenantLimits::default(), 2).unwrap();
        assert_eq!(plan.merge, MergeKind::Logs { order: LogOrder::Backward, limit: 7 });
        assert_eq!(value(&plan.parts[0].part, "start"), "1717203600000000000");
        assert_eq!(value(&plan.parts[1].part, "end"), "1717203600000000000");
    }

    #[test]
    fn unclear_requests_go_whole() {
        let limits = TenantLimits::default();
        let base = [("start", "1717200000"), ("end", "1717207200")];
        let with = |extra: (&str, &str)| {
            let mut params = base.to_vec();
            params.push(extra);
            incoming(&params)
        };
        assert!(plan_range(&with(("query", "{a=")), &limits, 2).is_none(), "parse error");
        assert!(plan_range(&incoming(&[("query", "{a=\"b\"}"), ("start", "yesterday")]), &limits, 2).is_none());
        assert!(plan_range(&with(("direction", "sideways")), &limits, 2).is_none());
        let mut no_split = limits;
        no_split.split.split_queries_by_interval = 0;
        assert!(plan_range(&with(("query", "{a=\"b\"}")), &no_split, 2).is_none());
        let mut short = limits;
        short.max_query_length = 3600 * SECOND;
        assert!(plan_range(&with(("query", "{a=\"b\"}")), &short, 2).is_none(), "too long: the querier refuses it");
    }
}
