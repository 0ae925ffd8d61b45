//! Sharding a metric query by streams (Loki's `parallelise_shardable_queries`): the
//! streams are cut into N shards by fingerprint, each querier part reads one shard
//! (`shards=<i>_of_<N>`), and the shards' answers are combined point by point.
//!
//! Only what is exact is sharded: `sum`, `count`, `min` or `max` (with or without
//! grouping) over one range aggregation of one stream selector, without grouping of its
//! own and without a stage that can make two streams one series (`drop`, `keep`,
//! `label_format`). Then every series of the inner aggregation comes from one stream, so
//! from one shard, and the outer aggregation over all shards is the combination of its
//! per-shard results: the sum of sums and of counts, the minimum of minimums, the
//! maximum of maximums. Anything else (`avg`, `topk`, binary operations, ...) runs
//! unsharded.
//!
//! The shard count follows Loki's rule: the bytes the query selects (the index's
//! statistics, asked first) over `tsdb_max_bytes_per_shard`, rounded up to a power of
//! two, at most `tsdb_max_query_parallelism`.

use crate::merge::Combine;
use skald_logql::{Expr, LogExpr, RangeOp, SampleExpr, Stage, VectorOp, parse_expr};

/// How a shardable query's shards combine, and the stream selector the index is asked
/// about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shardable {
    pub combine: Combine,
    pub selector: String,
}

fn unparen(expr: &SampleExpr) -> &SampleExpr {
    match expr {
        SampleExpr::Paren(inner) => unparen(inner),
        other => other,
    }
}

/// Whether `query` can be sharded exactly, and how.
pub(crate) fn shardable(query: &str) -> Option<Shardable> {
    let Ok(Expr::Sample(sample)) = parse_expr(query) else { return None };
    let SampleExpr::VectorAggregation(outer) = unparen(&sample) else { return None };
    let combine = match outer.op {
        VectorOp::Sum | VectorOp::Count => Combine::Sum,
        VectorOp::Min => Combine::Min,
        VectorOp::Max => Combine::Max,
        _ => return None,
    };
    let SampleExpr::RangeAggregation(range) = unparen(&outer.expr) else { return None };
    if range.grouping.is_some() || range.op == RangeOp::AbsentOverTime {
        return None;
    }
    let merges_streams = range.log.pipeline.iter().any(|stage| matches!(stage, Stage::Drop(_) | Stage::Keep(_) | Stage::LabelFormat(_)));
    if merges_streams {
        return None;
    }
    let selector = LogExpr { matchers: range.log.matchers.clone(), pipeline: Vec::new() }.to_string();
    Some(Shardable { combine, selector })
}

/// Loki's shard count: `bytes / bytes_per_shard` rounded up to a power of two, at most
/// `max_shards` (itself rounded down to a power of two); 1 means unsharded.
pub(crate) fn shard_count(bytes: u64, bytes_per_shard: u64, max_shards: usize) -> usize {
    if bytes_per_shard == 0 || max_shards < 2 {
        return 1;
    }
    let wanted = usize::try_from(bytes.div_ceil(bytes_per_shard)).unwrap_or(usize::MAX).max(1);
    let cap = 1usize << (usize::BITS - 1 - max_shards.leading_zeros());
    wanted.checked_next_power_of_two().unwrap_or(cap).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_forms_are_sharded() {
        let sum = shardable(r#"sum by (app) (rate({app=~"a.*", env="p"} |= "x" | json [5m]))"#).unwrap();
        assert_eq!(sum, Shardable { combine: Combine::Sum, selector: r#"{app=~"a.*", env="p"}"#.to_string() });
        assert_eq!(shardable("count(count_over_time({a=\"b\"}[1m]))").map(|s| s.combine), Some(Combine::Sum));
        assert_eq!(shardable("max without (x) (max_over_time({a=\"b\"} | unwrap v [1m]))").map(|s| s.combine), Some(Combine::Max));
        assert_eq!(shardable("(min(bytes_rate({a=\"b\"}[1m])))").map(|s| s.combine), Some(Combine::Min));
        for unsharded in [
            "avg(rate({a=\"b\"}[1m]))",
            "topk(2, sum by (x) (rate({a=\"b\"}[1m])))",
            "sum(rate({a=\"b\"}[1m])) / 2",
            "rate({a=\"b\"}[1m])",
            "sum(max_over_time({a=\"b\"} | unwrap v [1m]) by (x))",
            "sum(rate({a=\"b\"} | drop a [1m]))",
            "sum(rate({a=\"b\"} | keep c [1m]))",
            "sum(rate({a=\"b\"} | label_format a=c [1m]))",
            "sum(absent_over_time({a=\"b\"}[1m]))",
            "sum(sum by (x) (rate({a=\"b\"}[1m])))",
            "{a=\"b\"}",
            "not a query",
        ] {
            assert_eq!(shardable(unsharded), None, "{unsharded}");
        }
    }

    #[test]
    fn shard_counts_are_powers_of_two_within_the_limit() {
        const MB: u64 = 1 << 20;
        assert_eq!(shard_count(0, 600 * MB, 128), 1);
        assert_eq!(shard_count(600 * MB, 600 * MB, 128), 1);
        assert_eq!(shard_count(601 * MB, 600 * MB, 128), 2);
        assert_eq!(shard_count(5 * 600 * MB, 600 * MB, 128), 8);
        assert_eq!(shard_count(1_000_000 * MB, 600 * MB, 100), 64);
        assert_eq!(shard_count(10 * MB, 0, 128), 1, "off");
        assert_eq!(shard_count(10 * MB, MB, 1), 1);
    }
}
