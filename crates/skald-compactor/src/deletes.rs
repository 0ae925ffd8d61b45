//! Delete requests: what `POST /loki/api/v1/delete` records, kept in object storage
//! under `compactor/delete_requests/<tenant>/<request_id>.json`, one JSON object each.
//!
//! A request is `received` until the compactor processes it (after
//! `delete_request_cancel_period`), then `processed`. Cancelling a received request
//! deletes its object. Processing is idempotent: a chunk rewritten without the
//! matching entries no longer matches, so a compactor killed before it marked a
//! request processed simply does the (now empty) work again.

use crate::CompactorError;
use crate::retention::compile_matchers;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use skald_common::Label;
use skald_common::LabelSet;
use skald_index::LabelMatcher;
use skald_logql::Expr;
use skald_logql::pipeline::Pipeline;

const PREFIX: &str = "compactor/delete_requests";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteStatus {
    Received,
    Processed,
}

/// One delete request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    pub request_id: String,
    pub tenant: String,
    /// A log selector, optionally with line filters: `{app="x"} |= "secret"`.
    pub query: String,
    /// Inclusive bounds in Unix nanoseconds.
    pub start: i64,
    pub end: i64,
    pub created_at: i64,
    pub status: DeleteStatus,
}

/// A request compiled for matching entries.
pub struct CompiledDelete {
    pub request: DeleteRequest,
    pub matchers: Vec<LabelMatcher>,
    pipeline: Pipeline,
}

/// Checks a delete query: a log selector with an optional pipeline (no metric query).
pub fn parse_delete_query(query: &str) -> Result<(Vec<LabelMatcher>, Pipeline), String> {
    let expr = skald_logql::parse_expr(query).map_err(|e| e.to_string())?;
    let Expr::Log(log) = expr else {
        return Err("a delete query is a log selector with optional line filters, not a metric query".into());
    };
    let matchers = compile_matchers(&log.matchers)?;
    let pipeline = Pipeline::new(&log.pipeline).map_err(|e| e.to_string())?;
    Ok((matchers, pipeline))
}

impl CompiledDelete {
    pub fn new(request: DeleteRequest) -> Result<CompiledDelete, CompactorError> {
        let (matchers, pipeline) = parse_delete_query(&request.query)
            .map_err(|message| CompactorError::BadRequest(format!("delete request {}: invalid query: {message}", request.request_id)))?;
        Ok(CompiledDelete { request, matchers, pipeline })
    }

    /// True when the request may remove entries of this stream between `from` and
    /// `through`.
    pub fn touches(&self, labels: &LabelSet, from: i64, through: i64) -> bool {
        from <= self.request.end && through >= self.request.start && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// A per-stream matcher of entries to delete.
    pub fn for_stream(&self, labels: &LabelSet) -> EntryMatcher {
        EntryMatcher { start: self.request.start, end: self.request.end, pipeline: self.pipeline.for_stream(labels) }
    }
}

pub struct EntryMatcher {
    start: i64,
    end: i64,
    pipeline: skald_logql::pipeline::StreamPipeline,
}

impl EntryMatcher {
    pub fn deletes(&mut self, ts: i64, line: &str, metadata: &[Label]) -> bool {
        ts >= self.start && ts <= self.end && self.pipeline.process(ts, line, metadata).is_some()
    }
}

fn key_of(tenant: &str, request_id: &str) -> String {
    format!("{PREFIX}/{tenant}/{request_id}.json")
}

pub async fn put_request(objects: &dyn ObjectStore, request: &DeleteRequest) -> Result<(), CompactorError> {
    let body = serde_json::to_vec(request).map_err(|e| CompactorError::Internal(e.to_string()))?;
    objects.put(&ObjectPath::from(key_of(&request.tenant, &request.request_id)), PutPayload::from(body)).await?;
    Ok(())
}

pub async fn delete_request(objects: &dyn ObjectStore, tenant: &str, request_id: &str) -> Result<(), CompactorError> {
    objects.delete(&ObjectPath::from(key_of(tenant, request_id))).await?;
    Ok(())
}

/// Every request of `tenant` (all tenants when `None`), oldest first. Unreadable
/// objects are skipped with a warning.
pub async fn list_requests(objects: &dyn ObjectStore, tenant: Option<&str>) -> Result<Vec<DeleteRequest>, CompactorError> {
    let prefix = match tenant {
        Some(tenant) => ObjectPath::from(format!("{PREFIX}/{tenant}")),
        None => ObjectPath::from(PREFIX),
    };
    let metas: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        let key = meta.location.to_string();
        let bytes = match skald_storage::read_object(objects, &key).await {
            Ok(bytes) => bytes,
            Err(skald_storage::StorageError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        match serde_json::from_slice::<DeleteRequest>(&bytes) {
            Ok(request) => out.push(request),
            Err(error) => tracing::warn!(%key, %error, "skipping unreadable delete request"),
        }
    }
    out.sort_by(|a, b| (a.created_at, &a.request_id).cmp(&(b.created_at, &b.request_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_and_filters_apply() {
        assert!(parse_delete_query("rate({a=\"b\"}[1m])").unwrap_err().contains("metric"));
        assert!(parse_delete_query("{a=").is_err());
        let request = DeleteRequest {
            request_id: "r".into(),
            tenant: "t".into(),
            query: r#"{app="x"} |= "secret""#.into(),
            start: 10,
            end: 20,
            created_at: 0,
            status: DeleteStatus::Received,
        };
        let compiled = CompiledDelete::new(request).unwrap();
        let labels = LabelSet::from_pairs([("app", "x")]);
        assert!(compiled.touches(&labels, 0, 10));
        assert!(!compiled.touches(&labels, 21, 30));
        assert!(!compiled.touches(&LabelSet::from_pairs([("app", "y")]), 0, 30));
        let mut entries = compiled.for_stream(&labels);
        assert!(entries.deletes(15, "a secret here", &[]));
        assert!(!entries.deletes(15, "nothing", &[]));
        assert!(!entries.deletes(25, "a secret here", &[]));
    }
}
