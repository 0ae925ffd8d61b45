//! Log volumes (`/index/volume`, `/index/volume_range`): bytes of log lines per stream
//! (or per label) over a range, as Loki's volume API reports them
//! (`pkg/storage/stores/tsdb/single_file_index.go` Volume,
//! `pkg/storage/stores/index/seriesvolume`, `pkg/querier/queryrange/volume.go`).
//!
//! - The streams are those matching the selector (plus `name=~".+"` for every target
//!   label the selector does not name).
//! - Aggregation by series (the default): each stream counts under its labels restricted
//!   to the labels the selector's matchers name (or to `targetLabels` when given; all
//!   labels for `{}`). Aggregation by labels: each label name of a stream (restricted to
//!   the targets, if any) counts the stream's bytes.
//! - A range request is cut into step buckets aligned to multiples of the step; each
//!   bucket keeps its `limit` largest entries and is reported at the bucket's end (the
//!   last at `end`). An instant request is one bucket reported at `end`.
//! - Series are sorted by their first value, descending, then by name.
//!
//! Unlike Loki, which sums chunk sizes rounded to KiB from the index, Skald counts the
//! exact bytes of the lines in the range (block metadata only; lines are never
//! decompressed).

use crate::querier::{Querier, QueryError};
use skald_common::{Label, LabelSet};
use skald_logql::engine::{ScanRequest, StreamSource};
use skald_logql::{MatchOp, Matcher, parse_matchers};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Loki's default `limit` of the volume endpoints.
pub const DEFAULT_VOLUME_LIMIT: usize = 100;

/// What a volume request aggregates by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateBy {
    Series,
    Labels,
}

impl AggregateBy {
    /// `aggregateBy` as Loki accepts it (empty means `series`).
    pub fn parse(value: &str) -> Option<AggregateBy> {
        match value {
            "" | "series" => Some(AggregateBy::Series),
            "labels" => Some(AggregateBy::Labels),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct VolumeRequest {
    pub query: String,
    pub start: i64,
    pub end: i64,
    /// Bucket width (ns); `None` for an instant request (one bucket).
    pub step: Option<i64>,
    pub limit: usize,
    pub target_labels: Vec<String>,
    pub aggregate_by: AggregateBy,
}

/// One result series: its labels and `(bucket time ns, bytes)` points in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSeries {
    pub labels: LabelSet,
    pub points: Vec<(i64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeResult {
    /// `matrix` when any series has more than one point, else `vector` (as Loki).
    pub matrix: bool,
    pub series: Vec<VolumeSeries>,
}

/// Which labels key a stream's volume.
#[derive(Debug, Clone)]
pub struct VolumePlan {
    /// Label names to keep (series) or to report (labels); ignored when `include_all`.
    pub labels: BTreeSet<String>,
    /// `{}`: every label of the stream.
    pub include_all: bool,
    /// Target labels were given (aggregation by labels then reports only those).
    pub targeted: bool,
    pub aggregate_by: AggregateBy,
}

/// The matchers to select streams with and the aggregation plan (Loki's
/// `PrepareLabelsAndMatchers`).
pub fn plan(query: &str, target_labels: &[String], aggregate_by: AggregateBy) -> Result<(Vec<Matcher>, VolumePlan), QueryError> {
    let trimmed = query.trim();
    let match_all = trimmed == "{}" || trimmed.chars().filter(|c| !c.is_whitespace()).collect::<String>() == "{}";
    let mut matchers = if match_all { Vec::new() } else { parse_matchers(query)? };
    let targets: Vec<String> = target_labels.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    let plan = if targets.is_empty() {
        VolumePlan { labels: matchers.iter().map(|m| m.name.clone()).collect(), include_all: match_all, targeted: false, aggregate_by }
    } else {
        for target in &targets {
            if !matchers.iter().any(|m| &m.name == target) {
                matchers.push(Matcher { name: target.clone(), op: MatchOp::Re, value: ".+".to_string() });
            }
        }
        VolumePlan { labels: targets.into_iter().collect(), include_all: false, targeted: true, aggregate_by }
    };
    Ok((matchers, plan))
}

/// The keys a stream's bytes count under: one label set (series) or one `{name=""}`
/// per label name (labels).
pub fn volume_keys(labels: &LabelSet, plan: &VolumePlan) -> Vec<LabelSet> {
    let keep = |l: &Label| plan.include_all || plan.labels.contains(&l.name);
    match plan.aggregate_by {
        AggregateBy::Series => vec![LabelSet::from_labels(labels.iter().filter(|l| keep(l)).cloned().collect())],
        AggregateBy::Labels => labels
            .iter()
            .filter(|l| if plan.targeted { plan.labels.contains(&l.name) } else { true })
            .map(|l| LabelSet::from_pairs([(l.name.clone(), String::new())]))
            .collect(),
    }
}

/// Step buckets of a range request: `(first ns, reported time ns)`, aligned to
/// multiples of the step as Loki's `ForInterval` (the first bucket starts at `start`,
/// each bucket but the last is reported 1 ms before the next one starts, the last at
/// `end`). An instant request is one bucket reported at `end`.
pub fn buckets(start: i64, end: i64, step: Option<i64>) -> Vec<(i64, i64)> {
    let Some(step) = step.filter(|s| *s > 0) else { return vec![(start, end)] };
    let aligned = start - start.rem_euclid(step);
    let mut out = Vec::new();
    let mut from = aligned;
    while from < end {
        let next = from + step;
        let at = if next >= end { end } else { next - 1_000_000 };
        out.push((from.max(start), at));
        from = next;
    }
    if out.is_empty() {
        out.push((start, end));
    }
    out
}

/// Index of the bucket holding `ts` (buckets sorted by their start).
fn bucket_of(buckets: &[(i64, i64)], ts: i64) -> usize {
    buckets.partition_point(|(from, _)| *from <= ts).saturating_sub(1)
}

/// Folds per-stream, per-bucket byte counts into Loki's result: keys per the plan,
/// top `limit` per bucket, sorted by first value descending then by name.
pub fn aggregate(streams: &[(LabelSet, Vec<u64>)], buckets: &[(i64, i64)], plan: &VolumePlan, limit: usize) -> VolumeResult {
    let mut per_bucket: Vec<HashMap<LabelSet, u64>> = vec![HashMap::new(); buckets.len()];
    for (labels, bytes) in streams {
        let keys = volume_keys(labels, plan);
        for (bucket, &b) in bytes.iter().enumerate() {
            if b == 0 {
                continue;
            }
            for key in &keys {
                *per_bucket[bucket].entry(key.clone()).or_default() += b;
            }
        }
    }
    let mut series: BTreeMap<LabelSet, Vec<(i64, u64)>> = BTreeMap::new();
    for (bucket, volumes) in per_bucket.into_iter().enumerate() {
        let mut list: Vec<(LabelSet, u64)> = volumes.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.to_string().cmp(&b.0.to_string())));
        list.truncate(limit);
        for (key, bytes) in list {
            series.entry(key).or_default().push((buckets[bucket].1, bytes));
        }
    }
    let matrix = series.values().any(|points| points.len() > 1);
    let mut series: Vec<VolumeSeries> = series.into_iter().map(|(labels, points)| VolumeSeries { labels, points }).collect();
    series.sort_by(|a, b| b.points[0].1.cmp(&a.points[0].1).then_with(|| a.labels.to_string().cmp(&b.labels.to_string())));
    VolumeResult { matrix, series }
}

impl Querier {
    /// Volumes of the streams matching `request.query` (see the module documentation).
    pub async fn volume(&self, tenant: &str, request: VolumeRequest) -> Result<VolumeResult, QueryError> {
        let (matchers, plan) = plan(&request.query, &request.target_labels, request.aggregate_by)?;
        let buckets = buckets(request.start, request.end, request.step);
        let (start, through) = (request.start, request.end.saturating_add(1));
        let limit = request.limit;
        self.with_source(tenant, move |source| {
            let streams = source.select(&matchers, start, through)?;
            let scan = ScanRequest { from: start, through, reverse: false, need_lines: false, required_literals: &[] };
            let mut counted: Vec<(LabelSet, Vec<u64>)> = Vec::with_capacity(streams.len());
            for stream in streams {
                let mut bytes = vec![0u64; buckets.len()];
                stream.data.scan(&scan, &mut |entry| {
                    bytes[bucket_of(&buckets, entry.ts)] += entry.line_len as u64;
                    true
                })?;
                counted.push((stream.labels, bytes));
            }
            Ok(aggregate(&counted, &buckets, &plan, limit))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied())
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn series_aggregation_keeps_the_labels_the_selector_names() {
        let (matchers, plan) = plan(r#"{service_name=~".+"}"#, &[], AggregateBy::Series).unwrap();
        assert_eq!(matchers.len(), 1);
        let streams = vec![
            (ls(&[("service_name", "api"), ("pod", "a")]), vec![100]),
            (ls(&[("service_name", "api"), ("pod", "b")]), vec![50]),
            (ls(&[("service_name", "db"), ("pod", "c")]), vec![400]),
            (ls(&[("service_name", "idle"), ("pod", "d")]), vec![0]),
        ];
        let result = aggregate(&streams, &buckets(0, 10 * S, None), &plan, 100);
        assert!(!result.matrix);
        let got: Vec<(String, u64)> = result.series.iter().map(|s| (s.labels.to_string(), s.points[0].1)).collect();
        assert_eq!(got, vec![(r#"{service_name="db"}"#.to_string(), 400), (r#"{service_name="api"}"#.to_string(), 150)]);
        assert_eq!(result.series[0].points[0].0, 10 * S);

        // limit keeps the largest.
        let result = aggregate(&streams, &buckets(0, 10 * S, None), &plan, 1);
        assert_eq!(result.series.len(), 1);
        assert_eq!(result.series[0].labels, ls(&[("service_name", "db")]));
    }

    #[test]
    fn target_labels_and_label_aggregation() {
        let (matchers, plan_t) = plan(r#"{env="prod"}"#, &["pod".to_string()], AggregateBy::Series).unwrap();
        assert!(matchers.iter().any(|m| m.name == "pod" && m.op == MatchOp::Re && m.value == ".+"));
        let streams = vec![(ls(&[("env", "prod"), ("pod", "a")]), vec![10]), (ls(&[("env", "prod"), ("pod", "b")]), vec![30])];
        let result = aggregate(&streams, &buckets(0, S, None), &plan_t, 100);
        assert_eq!(result.series[0].labels, ls(&[("pod", "b")]));

        let (_, by_labels) = plan(r#"{env="prod"}"#, &[], AggregateBy::Labels).unwrap();
        let result = aggregate(&streams, &buckets(0, S, None), &by_labels, 100);
        let got: Vec<(String, u64)> = result.series.iter().map(|s| (s.labels.to_string(), s.points[0].1)).collect();
        assert_eq!(got, vec![(r#"{env=""}"#.to_string(), 40), (r#"{pod=""}"#.to_string(), 40)]);

        let (matchers, all) = plan("{}", &[], AggregateBy::Series).unwrap();
        assert!(matchers.is_empty() && all.include_all);
        let result = aggregate(&streams, &buckets(0, S, None), &all, 100);
        assert_eq!(result.series[0].labels, ls(&[("env", "prod"), ("pod", "b")]));
    }

    #[test]
    fn range_buckets_are_step_aligned_and_reported_at_their_end() {
        let got = buckets(65 * S, 185 * S, Some(60 * S));
        assert_eq!(got, vec![(65 * S, 120 * S - 1_000_000), (120 * S, 180 * S - 1_000_000), (180 * S, 185 * S)]);
        assert_eq!(bucket_of(&got, 65 * S), 0);
        assert_eq!(bucket_of(&got, 120 * S), 1);
        assert_eq!(bucket_of(&got, 185 * S), 2);

        let (_, plan) = plan(r#"{app="a"}"#, &[], AggregateBy::Series).unwrap();
        let streams = vec![(ls(&[("app", "a")]), vec![5, 0, 7])];
        let result = aggregate(&streams, &got, &plan, 10);
        assert!(result.matrix);
        assert_eq!(result.series[0].points, vec![(120 * S - 1_000_000, 5), (185 * S, 7)]);
    }
}
