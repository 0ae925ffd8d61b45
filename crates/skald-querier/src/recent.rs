//! Where a querier finds recent data, not yet (or only just) flushed to the store: the
//! ingester of this process (`-target=all`), or every ingester of a cluster over gRPC.
//!
//! The querier only needs four questions answered; everything else (merging with the
//! store, deduplication of the copies that replication makes, LogQL) happens above,
//! so a remote implementation ships blocks as they are and the querier treats them
//! exactly like local ones.

use crate::querier::QueryError;
use skald_common::LabelSet;
use skald_index::LabelMatcher;
use skald_ingester::{Ingester, StreamSnapshot};

#[async_trait::async_trait]
pub trait RecentData: Send + Sync {
    /// Streams matching `matchers` with their blocks overlapping `[from, through)`.
    /// Several snapshots of one stream (one per replica) may come back; the querier
    /// merges them and drops duplicate entries.
    async fn select(&self, tenant: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Result<Vec<StreamSnapshot>, QueryError>;
    async fn label_names(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError>;
    async fn label_values(&self, tenant: &str, name: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError>;
    async fn series(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<LabelSet>, QueryError>;
}

/// The ingester of this process.
#[async_trait::async_trait]
impl RecentData for Ingester {
    async fn select(&self, tenant: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Result<Vec<StreamSnapshot>, QueryError> {
        Ok(Ingester::select(self, tenant, matchers, from, through))
    }

    async fn label_names(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError> {
        Ok(Ingester::label_names(self, tenant, matchers))
    }

    async fn label_values(&self, tenant: &str, name: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError> {
        Ok(Ingester::label_values(self, tenant, name, matchers))
    }

    async fn series(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<LabelSet>, QueryError> {
        Ok(Ingester::series(self, tenant, matchers))
    }
}
