//! The push path of the distributor.

use crate::discovery::{add_service_name, detect_entry_level, stream_level};
use crate::rate::RateLimiter;
use crate::validation::{validate_entry, validate_labels};
use async_trait::async_trait;
use skald_common::{LabelSet, Limits, PushStream, unix_nanos_now};
use skald_ingester::{IngestError, Ingester, PushOutcome};
use skald_push::{RawStream, StreamLabels};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where validated streams go: one ingester in-process, or (later) replicas over gRPC.
#[async_trait]
pub trait IngesterPush: Send + Sync {
    async fn push(&self, tenant: &str, streams: Vec<PushStream>) -> Result<PushOutcome, IngestError>;
}

#[async_trait]
impl IngesterPush for Arc<Ingester> {
    async fn push(&self, tenant: &str, streams: Vec<PushStream>) -> Result<PushOutcome, IngestError> {
        Ingester::push(self, tenant, streams).await
    }
}

/// Why a push failed as a whole, or partly (`Invalid`: the valid part was written).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    NoStreams(String),
    #[error(transparent)]
    Ingester(#[from] IngestError),
}

impl PushError {
    pub fn status(&self) -> u16 {
        match self {
            PushError::Invalid(_) => 400,
            PushError::RateLimited(_) => 429,
            PushError::NoStreams(_) => 422,
            PushError::Ingester(e) => e.status(),
        }
    }
}

/// What a successful push wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct PushSummary {
    pub entries: u64,
    pub bytes: u64,
}

/// Entries a push refused, and Loki's messages for them.
struct Refused {
    entries: u64,
    message: String,
}

/// What an OTLP push wrote and refused: OTLP answers a request with some records
/// refused as a success with a `partial_success` (rejected count and why).
#[derive(Debug, Default, Clone)]
pub struct OtlpOutcome {
    pub written: PushSummary,
    pub rejected: u64,
    /// The refusals, one per line (empty when nothing was refused).
    pub message: String,
}

pub struct Distributor {
    limits: Arc<dyn Fn(&str) -> Limits + Send + Sync>,
    ingester: Arc<dyn IngesterPush>,
    rate: RateLimiter,
    /// Entries refused, by Loki's reason name (`discarded_samples_total`).
    discarded: parking_lot::Mutex<BTreeMap<&'static str, u64>>,
    received_bytes: AtomicU64,
    received_entries: AtomicU64,
    otlp_default_index_labels: Vec<String>,
}

impl Distributor {
    /// `limits` gives each tenant's limits (overrides can be added behind it).
    pub fn new(limits: Arc<dyn Fn(&str) -> Limits + Send + Sync>, ingester: Arc<dyn IngesterPush>) -> Self {
        Distributor {
            limits,
            ingester,
            rate: RateLimiter::new(),
            discarded: parking_lot::Mutex::new(BTreeMap::new()),
            received_bytes: AtomicU64::new(0),
            received_entries: AtomicU64::new(0),
            otlp_default_index_labels: skald_common::otlp_config::DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    pub fn discarded(&self) -> BTreeMap<&'static str, u64> {
        self.discarded.lock().clone()
    }

    pub fn received(&self) -> (u64, u64) {
        (self.received_entries.load(Ordering::Relaxed), self.received_bytes.load(Ordering::Relaxed))
    }

    fn discard(&self, reason: &'static str, count: u64) {
        *self.discarded.lock().entry(reason).or_default() += count;
    }

    /// Validates and forwards a decoded push. Valid entries are written even when others
    /// are refused; the error then lists what was refused.
    pub async fn push(&self, tenant: &str, raw: Vec<RawStream>) -> Result<PushSummary, PushError> {
        let (summary, refused) = self.push_streams(tenant, raw, true).await?;
        match refused {
            Some(refused) => Err(PushError::Invalid(refused.message)),
            None => Ok(summary),
        }
    }

    /// Maps an OTLP request with the tenant's `otlp_config` (Loki's default index labels
    /// first) and pushes it. `service_name` is the mapping's: its discovery looks at the
    /// resource's attributes, not at the stream's labels. Refused records make an error
    /// only when nothing was written; otherwise they are counted in the outcome.
    pub async fn push_otlp(&self, tenant: &str, request: &skald_push::otlp::ExportLogsServiceRequest) -> Result<OtlpOutcome, PushError> {
        let limits = (self.limits)(tenant);
        let options = skald_push::otlp::MappingOptions {
            config: &limits.otlp_config,
            default_index_labels: &self.otlp_default_index_labels,
            discover_service_name: &limits.discover_service_name,
            now: unix_nanos_now(),
        };
        let streams = skald_push::otlp::to_streams(request, &options).map_err(|e| PushError::Invalid(e.to_string()))?;
        if streams.is_empty() {
            return Err(PushError::NoStreams("error at least one valid stream is required for ingestion".into()));
        }
        let (written, refused) = self.push_streams(tenant, streams, false).await?;
        match refused {
            Some(refused) if written.entries == 0 => Err(PushError::Invalid(refused.message)),
            Some(refused) => Ok(OtlpOutcome { written, rejected: refused.entries, message: refused.message }),
            None => Ok(OtlpOutcome { written, rejected: 0, message: String::new() }),
        }
    }

    /// Sets `distributor.otlp_config.default_resource_attributes_as_index_labels`
    /// (Loki's list by default).
    pub fn with_otlp_default_index_labels(mut self, labels: Vec<String>) -> Self {
        self.otlp_default_index_labels = labels;
        self
    }

    /// Validates and writes; what was written, and what was refused (if anything).
    async fn push_streams(
        &self,
        tenant: &str,
        raw: Vec<RawStream>,
        discover_service_name: bool,
    ) -> Result<(PushSummary, Option<Refused>), PushError> {
        let limits = (self.limits)(tenant);
        let now = unix_nanos_now();
        let mut errors: Vec<String> = Vec::new();
        let mut refused_entries = 0u64;
        let mut streams: Vec<PushStream> = Vec::with_capacity(raw.len());
        let mut total_bytes = 0u64;
        let mut total_entries = 0u64;
        for raw_stream in raw {
            let count = raw_stream.entries.len() as u64;
            // Loki's InvalidLabelsErrorMsg names the label text that failed to parse.
            let labels = match raw_stream.labels {
                StreamLabels::Map(labels) => LabelSet::from_labels(labels),
                StreamLabels::Text(text) => match skald_common::parse_label_set(&text) {
                    Ok(labels) => labels,
                    Err(e) => {
                        errors.push(format!("Error parsing labels '{text}' with error: {e}"));
                        self.discard("invalid_labels", count);
                        refused_entries += count;
                        continue;
                    }
                },
            };
            let mut stream = PushStream { labels, entries: raw_stream.entries };
            if let Err(error) = validate_labels(&stream.labels, &limits) {
                errors.push(error.message);
                self.discard(error.reason, count);
                refused_entries += count;
                continue;
            }
            if discover_service_name {
                add_service_name(&mut stream.labels, &limits.discover_service_name);
            }
            let labels = stream.labels.clone();
            let discover_levels = limits.discover_log_levels && limits.allow_structured_metadata;
            let level_of_stream = if discover_levels { stream_level(&labels) } else { None };
            stream.entries.retain_mut(|entry| match validate_entry(entry, &labels, &limits, now) {
                Ok(()) => {
                    if discover_levels && let Some(level) = detect_entry_level(level_of_stream.as_deref(), &mut entry.metadata, &entry.line)
                    {
                        entry.metadata.push(level);
                    }
                    true
                }
                Err(error) => {
                    *self.discarded.lock().entry(error.reason).or_default() += 1;
                    refused_entries += 1;
                    if errors.len() < 100 {
                        errors.push(error.message);
                    }
                    false
                }
            });
            if stream.entries.is_empty() {
                continue;
            }
            for entry in &stream.entries {
                total_bytes += (entry.line.len() + entry.metadata_bytes()) as u64;
            }
            total_entries += stream.entries.len() as u64;
            streams.push(stream);
        }
        self.received_entries.fetch_add(total_entries, Ordering::Relaxed);
        self.received_bytes.fetch_add(total_bytes, Ordering::Relaxed);
        if !streams.is_empty() {
            let rate = limits.ingestion_rate_mb * 1024.0 * 1024.0;
            let burst = limits.ingestion_burst_size_mb * 1024.0 * 1024.0;
            if !self.rate.allow(tenant, total_bytes, rate, burst) {
                self.discard("rate_limited", total_entries);
                return Err(PushError::RateLimited(format!(
                    "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{total_entries}' lines totaling '{total_bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                    rate as u64
                )));
            }
            let outcome = self.ingester.push(tenant, streams).await?;
            if !outcome.stream_limit_errors.is_empty() {
                self.discard("stream_limit", outcome.stream_limit_errors.len() as u64);
                return Err(PushError::RateLimited(outcome.stream_limit_errors.join("\n")));
            }
            let out_of_order = outcome.errors.len() as u64;
            if out_of_order > 0 {
                self.discard("out_of_order", out_of_order);
                refused_entries += out_of_order;
                total_entries = total_entries.saturating_sub(out_of_order);
            }
            errors.extend(outcome.errors);
        }
        let summary = PushSummary { entries: total_entries, bytes: total_bytes };
        if errors.is_empty() {
            return Ok((summary, None));
        }
        Ok((summary, Some(Refused { entries: refused_entries, message: errors.join("\n") })))
    }
}
