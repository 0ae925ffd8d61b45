//! The querier's entry points: LogQL queries, labels, series and index statistics.

use crate::admission::{Admission, Ticket};
use crate::recent::RecentData;
use crate::scan::ScanStats;
use crate::source::{QuerySource, compile_matchers};
use skald_common::{LabelSet, Limits, format_duration};
use skald_index::LabelMatcher;
use skald_logql::engine::{Direction, EngineError, QueryParams, QueryResult, StreamSource, evaluate};
use skald_logql::{Expr, ParseError, parse_expr, parse_matchers};
use skald_storage::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
    #[error("too many outstanding requests")]
    TooManyOutstanding,
    /// A part of the system the query needs did not answer (an ingester, the store).
    #[error("{0}")]
    Unavailable(String),
    /// What Loki answers with a plain error (500), e.g. a feature switched off.
    #[error("{0}")]
    Internal(String),
}

impl QueryError {
    pub fn status(&self) -> u16 {
        match self {
            QueryError::Parse(_) | QueryError::Limit(_) | QueryError::BadRequest(_) => 400,
            QueryError::Engine(e) => e.status,
            QueryError::Timeout(_) => 504,
            QueryError::TooManyOutstanding => 429,
            QueryError::Unavailable(_) => 503,
            QueryError::Internal(_) => 500,
        }
    }
}

/// Execution statistics of one query (Loki's `stats` block, summarised).
#[derive(Debug, Default, Clone, Copy)]
pub struct QueryStats {
    pub exec_time: f64,
    pub total_lines: u64,
    pub total_bytes: u64,
    pub decompressed_bytes: u64,
    pub blocks: u64,
    pub chunks_fetched: u64,
    pub chunk_bytes: u64,
    pub duplicates: u64,
    pub entries_returned: u64,
}

pub struct QueryOutput {
    pub result: QueryResult,
    pub stats: QueryStats,
    /// Loki's `warnings` (for example a variant dropped past `max_query_series`).
    pub warnings: Vec<String>,
}

/// `/index/stats` figures.
#[derive(Debug, Default, Clone, Copy)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub entries: u64,
}

/// A LogQL request as the HTTP layer parsed it.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub query: String,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub limit: usize,
    pub direction: Direction,
    pub instant: bool,
    pub categorize_labels: bool,
}

pub struct Querier {
    pub(crate) recent: Arc<dyn RecentData>,
    pub(crate) store: Arc<Store>,
    limits: Arc<dyn Fn(&str) -> Limits + Send + Sync>,
    admission: Admission,
}

impl Querier {
    /// A querier over `recent` data (this process's ingester, or a cluster's) and the store.
    pub fn new(recent: Arc<dyn RecentData>, store: Arc<Store>, limits: Arc<dyn Fn(&str) -> Limits + Send + Sync>) -> Self {
        Querier { recent, store, limits, admission: Admission::default() }
    }

    /// Replaces the default admission (`querier.max_concurrent`,
    /// `query_scheduler.max_outstanding_requests_per_tenant`).
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    async fn admit(&self, tenant: &str) -> Result<Ticket, QueryError> {
        self.admission.admit(tenant).await.map_err(|_| QueryError::TooManyOutstanding)
    }

    pub fn limits(&self, tenant: &str) -> Limits {
        (self.limits)(tenant)
    }

    /// Parses, checks limits and evaluates a LogQL query.
    pub async fn query(&self, tenant: &str, request: QueryRequest) -> Result<QueryOutput, QueryError> {
        self.query_tenants(&[tenant.to_string()], request).await
    }

    /// The limits of a query over `tenants` (one tenant's own; see `tenants.rs`).
    pub fn tenants_limits(&self, tenants: &[String]) -> Limits {
        crate::tenants::combined_limits(tenants.iter().map(|tenant| self.limits(tenant)))
    }

    /// [`Querier::query`] over several tenants: each stream labelled `__tenant_id__`
    /// (see `tenants.rs`); one tenant is a plain query.
    pub async fn query_tenants(&self, tenants: &[String], request: QueryRequest) -> Result<QueryOutput, QueryError> {
        self.query_shard(tenants, request, None).await
    }

    /// [`Querier::query_tenants`] over one shard of the streams, `(index, count)`: those
    /// whose fingerprint is `index` modulo `count` (Loki's `shards=index_of_count`, sent
    /// by a query frontend that shards a metric query; the shards' answers add up to the
    /// whole query's).
    pub async fn query_shard(
        &self,
        tenants: &[String],
        request: QueryRequest,
        shard: Option<(u64, u64)>,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let limits = self.tenants_limits(tenants);
        let expr = parse_expr(&request.query)?;
        check_approx_topk(&expr, &limits, request.instant)?;
        if matches!(expr, Expr::Variants(_)) && !limits.enable_multi_variant_queries {
            // Loki's ErrVariantsDisabled (400).
            return Err(QueryError::BadRequest("multi variant queries are disabled for this instance".into()));
        }
        if matches!(expr, Expr::Log(_)) && request.limit > limits.max_entries_limit_per_query && limits.max_entries_limit_per_query > 0 {
            return Err(QueryError::Limit(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})",
                request.limit, limits.max_entries_limit_per_query
            )));
        }
        let length = request.end - request.start;
        if limits.max_query_length > 0 && length > limits.max_query_length {
            return Err(QueryError::Limit(format!(
                "the query time range exceeds the limit (query length: {}, limit: {})",
                format_duration(length),
                format_duration(limits.max_query_length)
            )));
        }
        for tenant in tenants {
            self.check_bytes_read(tenant, &expr, request.start, request.end, limits.max_query_bytes_read).await?;
        }
        let _ticket = self.admit(&tenants.join("|")).await?;
        let params = QueryParams {
            start: request.start,
            end: request.end,
            step: request.step,
            limit: request.limit,
            direction: request.direction,
            instant: request.instant,
            max_series: limits.max_query_series,
            categorize_labels: request.categorize_labels,
        };
        let source = Arc::new(QuerySource {
            tenants: tenants.to_vec(),
            shard,
            recent: self.recent.clone(),
            store: self.store.clone(),
            runtime: tokio::runtime::Handle::current(),
            stats: Arc::new(ScanStats::default()),
            chunks_fetched: AtomicU64::new(0),
            chunk_bytes: AtomicU64::new(0),
            warnings: Default::default(),
        });
        let task_source = source.clone();
        let task = tokio::task::spawn_blocking(move || evaluate(&expr, &params, task_source.as_ref() as &dyn StreamSource));
        let timeout = Duration::from_nanos(limits.query_timeout.max(1) as u64);
        let result = match tokio::time::timeout(timeout, task).await {
            Err(_) => return Err(QueryError::Timeout(timeout)),
            Ok(joined) => joined.map_err(|e| QueryError::Engine(EngineError::internal(format!("query task failed: {e}"))))??,
        };
        let entries_returned = match &result {
            QueryResult::Streams(streams) => streams.iter().map(|s| s.entries.len() as u64).sum(),
            QueryResult::Matrix(series) => series.len() as u64,
            QueryResult::Vector(samples) => samples.len() as u64,
            QueryResult::Scalar(..) => 1,
        };
        let scan = &source.stats;
        let stats = QueryStats {
            exec_time: started.elapsed().as_secs_f64(),
            total_lines: scan.lines.load(Ordering::Relaxed),
            total_bytes: scan.bytes.load(Ordering::Relaxed),
            decompressed_bytes: scan.decompressed_bytes.load(Ordering::Relaxed),
            blocks: scan.blocks.load(Ordering::Relaxed),
            chunks_fetched: source.chunks_fetched.load(Ordering::Relaxed),
            chunk_bytes: source.chunk_bytes.load(Ordering::Relaxed),
            duplicates: scan.duplicates.load(Ordering::Relaxed),
            entries_returned,
        };
        let warnings = std::mem::take(&mut *source.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(QueryOutput { result, stats, warnings })
    }

    /// Runs `work` over this tenant's [`QuerySource`] on a blocking thread, under the
    /// tenant's `query_timeout` (the endpoints that scan without a LogQL evaluation:
    /// volumes, patterns).
    pub(crate) async fn with_source<T: Send + 'static>(
        &self,
        tenant: &str,
        work: impl FnOnce(&QuerySource) -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T, QueryError> {
        let limits = self.limits(tenant);
        let _ticket = self.admit(tenant).await?;
        let source = QuerySource {
            tenants: vec![tenant.to_string()],
            shard: None,
            recent: self.recent.clone(),
            store: self.store.clone(),
            runtime: tokio::runtime::Handle::current(),
            stats: Arc::new(ScanStats::default()),
            chunks_fetched: AtomicU64::new(0),
            chunk_bytes: AtomicU64::new(0),
            warnings: Default::default(),
        };
        let task = tokio::task::spawn_blocking(move || work(&source));
        let timeout = Duration::from_nanos(limits.query_timeout.max(1) as u64);
        match tokio::time::timeout(timeout, task).await {
            Err(_) => Err(QueryError::Timeout(timeout)),
            Ok(joined) => joined.map_err(|e| QueryError::Engine(EngineError::internal(format!("query task failed: {e}"))))?,
        }
    }

    pub(crate) fn parse_selector(query: Option<&str>) -> Result<Vec<LabelMatcher>, QueryError> {
        match query {
            None | Some("") => Ok(Vec::new()),
            Some(q) => {
                let matchers = parse_matchers(q)?;
                Ok(compile_matchers(&matchers)?)
            }
        }
    }

    /// Label names seen in `[from, through]` (optionally of streams matching `query`).
    pub async fn label_names(&self, tenant: &str, from: i64, through: i64, query: Option<&str>) -> Result<Vec<String>, QueryError> {
        let matchers = Self::parse_selector(query)?;
        let mut names = self.recent.label_names(tenant, &matchers).await?;
        names.extend(self.store.label_names(tenant, &matchers, from, through));
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        from: i64,
        through: i64,
        query: Option<&str>,
    ) -> Result<Vec<String>, QueryError> {
        let matchers = Self::parse_selector(query)?;
        let mut values = self.recent.label_values(tenant, name, &matchers).await?;
        values.extend(self.store.label_values(tenant, name, &matchers, from, through));
        values.sort();
        values.dedup();
        Ok(values)
    }

    /// Label sets of the streams matching any of the selectors.
    pub async fn series(&self, tenant: &str, selectors: &[String], from: i64, through: i64) -> Result<Vec<LabelSet>, QueryError> {
        let mut out: Vec<LabelSet> = Vec::new();
        for selector in selectors {
            let matchers = Self::parse_selector(Some(selector))?;
            if matchers.is_empty() {
                return Err(QueryError::BadRequest("match[] selector must not be empty".into()));
            }
            out.extend(self.recent.series(tenant, &matchers).await?);
            out.extend(self.store.select(tenant, &matchers, from, through).into_iter().map(|s| s.labels));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Streams, chunks, entries and bytes for a selector over a range.
    pub async fn index_stats(&self, tenant: &str, query: &str, from: i64, through: i64) -> Result<IndexStats, QueryError> {
        let matchers = Self::parse_selector(Some(query))?;
        self.stats_of(tenant, &matchers, from, through).await
    }

    /// Uncompressed bytes of the streams `matchers` select in `[from, through]`.
    pub(crate) async fn selected_bytes(&self, tenant: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Result<u64, QueryError> {
        Ok(self.stats_of(tenant, matchers, from, through).await?.bytes)
    }

    pub(crate) async fn stats_of(
        &self,
        tenant: &str,
        matchers: &[LabelMatcher],
        from: i64,
        through: i64,
    ) -> Result<IndexStats, QueryError> {
        let mut stats = IndexStats::default();
        let mut streams = std::collections::BTreeSet::new();
        for snapshot in
            self.recent.select(tenant, matchers, from, through.saturating_add(1), &crate::recent::SelectHints::default()).await?
        {
            streams.insert(snapshot.fingerprint);
            for block in &snapshot.blocks {
                stats.chunks += 1;
                stats.entries += u64::from(block.meta.entries);
                stats.bytes += block.meta.raw_bytes;
            }
        }
        for stream in self.store.select(tenant, matchers, from, through) {
            streams.insert(stream.fingerprint);
            for chunk in &stream.chunks {
                stats.chunks += 1;
                stats.entries += chunk.entries;
                stats.bytes += chunk.raw_bytes;
            }
        }
        stats.streams = streams.len() as u64;
        Ok(stats)
    }
}

/// `approx_topk` as Loki answers it: only when `limits_config.shard_aggregations` names
/// it, and only for instant queries (both refusals are plain errors there: 500). Skald
/// then answers the exact top k (Loki's sketch estimate can only be above it).
fn check_approx_topk(expr: &Expr, limits: &Limits, instant: bool) -> Result<(), QueryError> {
    let Expr::Sample(sample) = expr else { return Ok(()) };
    if !sample.uses_vector_op(skald_logql::VectorOp::ApproxTopk) {
        return Ok(());
    }
    if !limits.shard_aggregations.iter().any(|a| a == "approx_topk") {
        return Err(QueryError::Internal("approx_topk is not enabled. See -limits.shard_aggregations".into()));
    }
    if !instant {
        return Err(QueryError::Internal("count min sketches are only supported on instant queries".into()));
    }
    Ok(())
}
