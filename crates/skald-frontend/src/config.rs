//! Configuration: the YAML blocks under Loki's names (`frontend`, `frontend_worker`,
//! `query_scheduler`, `query_range`, and the two `limits_config` keys this crate reads),
//! and the runtime settings built from them.
//!
//! Every block refuses unknown keys so that a typo is an error naming the key, and every
//! key has Loki's default.

use serde::{Deserialize, Deserializer, Serialize};
use skald_common::parse_duration;
use std::sync::Arc;
use std::time::Duration;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * NANOS_PER_SECOND;

/// `frontend:`. In Loki the frontend keeps its own queue when no scheduler address is
/// set; Skald always uses a scheduler, so the binary runs one inside the frontend then,
/// with `max_outstanding_per_tenant` as its queue limit.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct FrontendBlock {
    /// `host:port` of the query scheduler's gRPC listener; empty = run one in-process.
    pub scheduler_address: String,
    pub max_outstanding_per_tenant: usize,
    /// TLS towards the scheduler.
    pub grpc_client_config: skald_common::GrpcClientConfig,
    /// Where live tails go (a querier's HTTP URL); empty: a healthy querier of the ring.
    pub tail_proxy_url: String,
}

impl Default for FrontendBlock {
    fn default() -> Self {
        FrontendBlock {
            scheduler_address: String::new(),
            max_outstanding_per_tenant: 2048,
            grpc_client_config: Default::default(),
            tail_proxy_url: String::new(),
        }
    }
}

/// `frontend_worker:` (the querier's side: where to pull parts from, how many at once).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct FrontendWorkerBlock {
    pub scheduler_address: String,
    /// Parts run at once when `match_max_concurrent` is false.
    pub parallelism: usize,
    /// Run as many parts at once as the querier's `max_concurrent`.
    pub match_max_concurrent: bool,
    /// TLS towards the scheduler.
    pub grpc_client_config: skald_common::GrpcClientConfig,
}

impl Default for FrontendWorkerBlock {
    fn default() -> Self {
        FrontendWorkerBlock {
            scheduler_address: String::new(),
            parallelism: 10,
            match_max_concurrent: true,
            grpc_client_config: Default::default(),
        }
    }
}

impl FrontendWorkerBlock {
    /// The concurrency a worker announces, given the querier's `max_concurrent`.
    pub fn concurrency(&self, querier_max_concurrent: usize) -> usize {
        let wanted = if self.match_max_concurrent { querier_max_concurrent } else { self.parallelism };
        wanted.max(1)
    }
}

/// `query_scheduler:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct QuerySchedulerBlock {
    /// Parts a tenant may have queued; one more is refused with 429.
    pub max_outstanding_requests_per_tenant: usize,
}

impl Default for QuerySchedulerBlock {
    fn default() -> Self {
        QuerySchedulerBlock { max_outstanding_requests_per_tenant: 32_000 }
    }
}

/// `query_range:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct QueryRangeBlock {
    pub cache_results: bool,
    pub results_cache: ResultsCacheBlock,
    /// Loki's `-querier.shard-aggregations` (comma-separated): merged with every
    /// tenant's `limits_config.shard_aggregations` (`approx_topk` enables it).
    pub shard_aggregations: String,
    /// Shard metric queries by streams where it is exact (Loki's default: on).
    pub parallelise_shardable_queries: bool,
}

impl Default for QueryRangeBlock {
    fn default() -> Self {
        QueryRangeBlock {
            cache_results: false,
            results_cache: ResultsCacheBlock::default(),
            shard_aggregations: String::new(),
            parallelise_shardable_queries: true,
        }
    }
}

/// `query_range.results_cache:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ResultsCacheBlock {
    pub cache: CacheBlock,
}

/// `query_range.results_cache.cache:` (only the in-memory cache exists in Skald).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CacheBlock {
    pub embedded_cache: EmbeddedCacheBlock,
}

/// `...cache.embedded_cache:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct EmbeddedCacheBlock {
    pub enabled: bool,
    pub max_size_mb: u64,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub ttl: i64,
}

impl Default for EmbeddedCacheBlock {
    fn default() -> Self {
        EmbeddedCacheBlock { enabled: false, max_size_mb: 100, ttl: HOUR }
    }
}

/// The `limits_config` keys of the read path this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitLimits {
    /// Range queries are split into parts of this length (nanoseconds); 0 = not split.
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub split_queries_by_interval: i64,
    /// Most parts of one query running at once.
    pub max_query_parallelism: usize,
}

impl Default for SplitLimits {
    fn default() -> Self {
        SplitLimits { split_queries_by_interval: HOUR, max_query_parallelism: 32 }
    }
}

/// A per-tenant view of the limits the frontend applies.
pub type LimitsFn = Arc<dyn Fn(&str) -> TenantLimits + Send + Sync>;

/// What the frontend needs to know about one tenant's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantLimits {
    pub split: SplitLimits,
    /// `limits_config.max_query_length` (nanoseconds, 0 = none). A longer query is sent
    /// unsplit so that the querier refuses it with its own message.
    pub max_query_length: i64,
    /// `limits_config.tsdb_max_bytes_per_shard`: bytes one shard of a query reads (0 =
    /// no sharding).
    pub max_bytes_per_shard: u64,
    /// `limits_config.tsdb_max_query_parallelism`: most shards of one query.
    pub max_shards: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits { split: SplitLimits::default(), max_query_length: 721 * HOUR, max_bytes_per_shard: 600 << 20, max_shards: 128 }
    }
}

/// Settings of the in-memory results cache for split parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheSettings {
    pub max_bytes: usize,
    pub ttl: Duration,
}

/// Everything [`crate::frontend_router`] needs.
#[derive(Clone)]
pub struct FrontendConfig {
    pub limits: LimitsFn,
    /// `None`: no results cache.
    pub results_cache: Option<CacheSettings>,
    /// Longest a whole query may wait for its parts (Loki's `query_timeout`).
    pub query_timeout: Duration,
    /// `query_range.parallelise_shardable_queries`.
    pub shard_queries: bool,
}

impl FrontendConfig {
    /// The same limits for every tenant, no cache, Loki's 1m query timeout.
    pub fn new(limits: TenantLimits) -> FrontendConfig {
        FrontendConfig {
            limits: Arc::new(move |_| limits),
            results_cache: None,
            query_timeout: Duration::from_secs(60),
            shard_queries: true,
        }
    }

    /// Limits looked up per tenant (for `overrides`).
    pub fn with_tenant_limits(mut self, limits: LimitsFn) -> FrontendConfig {
        self.limits = limits;
        self
    }

    /// Turns the results cache on when `query_range` asks for it.
    pub fn with_query_range(mut self, block: &QueryRangeBlock) -> FrontendConfig {
        let embedded = &block.results_cache.cache.embedded_cache;
        self.results_cache = block.cache_results.then(|| CacheSettings {
            max_bytes: usize::try_from(embedded.max_size_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            ttl: Duration::from_nanos(u64::try_from(embedded.ttl).unwrap_or(0)),
        });
        self.shard_queries = block.parallelise_shardable_queries;
        self
    }

    pub fn with_query_timeout(mut self, timeout: Duration) -> FrontendConfig {
        self.query_timeout = timeout;
        self
    }
}

/// Everything [`crate::scheduler_service`] needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulerConfig {
    pub max_outstanding_requests_per_tenant: usize,
    /// How often a part is handed out in all before it fails because its queriers kept
    /// disconnecting while running it.
    pub max_attempts: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig::from_block(&QuerySchedulerBlock::default())
    }
}

impl SchedulerConfig {
    pub fn from_block(block: &QuerySchedulerBlock) -> SchedulerConfig {
        SchedulerConfig { max_outstanding_requests_per_tenant: block.max_outstanding_requests_per_tenant, max_attempts: 3 }
    }
}

/// A Loki duration: a string like `30m` or `1h30m`, or a number of seconds.
fn de_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Seconds(i64),
    }
    let nanos = match Raw::deserialize(deserializer)? {
        Raw::Text(text) => parse_duration(&text).map_err(|_| serde::de::Error::custom(format!("invalid duration \"{text}\"")))?,
        Raw::Seconds(seconds) => {
            seconds.checked_mul(NANOS_PER_SECOND).ok_or_else(|| serde::de::Error::custom(format!("duration {seconds}s is too long")))?
        }
    };
    if nanos < 0 {
        return Err(serde::de::Error::custom("a duration must not be negative"));
    }
    Ok(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_lokis() {
        let limits: SplitLimits = serde_yaml_ng::from_str("{}").unwrap();
        assert_eq!(limits.split_queries_by_interval, HOUR);
        assert_eq!(limits.max_query_parallelism, 32);
        let worker: FrontendWorkerBlock = serde_yaml_ng::from_str("{}").unwrap();
        assert_eq!(worker.concurrency(4), 4);
        assert_eq!(FrontendWorkerBlock { match_max_concurrent: false, ..worker }.concurrency(4), 10);
    }

    #[test]
    fn durations_and_unknown_keys() {
        let limits: SplitLimits = serde_yaml_ng::from_str("split_queries_by_interval: 30m\nmax_query_parallelism: 4").unwrap();
        assert_eq!(limits.split_queries_by_interval, HOUR / 2);
        let off: SplitLimits = serde_yaml_ng::from_str("split_queries_by_interval: 0").unwrap();
        assert_eq!(off.split_queries_by_interval, 0);
        let err = serde_yaml_ng::from_str::<SplitLimits>("split_queries_by_intervl: 1h").unwrap_err().to_string();
        assert!(err.contains("split_queries_by_intervl"), "{err}");
        let err = serde_yaml_ng::from_str::<SplitLimits>("split_queries_by_interval: soon").unwrap_err().to_string();
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn results_cache_follows_query_range() {
        let block: QueryRangeBlock = serde_yaml_ng::from_str(
            "cache_results: true\nresults_cache:\n  cache:\n    embedded_cache:\n      enabled: true\n      max_size_mb: 2\n",
        )
        .unwrap();
        let config = FrontendConfig::new(TenantLimits::default()).with_query_range(&block);
        assert_eq!(config.results_cache, Some(CacheSettings { max_bytes: 2 << 20, ttl: Duration::from_secs(3600) }));
        let off = FrontendConfig::new(TenantLimits::default()).with_query_range(&QueryRangeBlock::default());
        assert_eq!(off.results_cache, None);
    }
}
