//! Queries across ingesters: the querier's [`RecentData`] over gRPC.
//!
//! Every ingester an [`IngesterSet`] lists is asked in parallel. With replication each
//! stream lives on several ingesters, so up to `max_errors` of them may fail and the
//! answer is still complete; past that the query fails with 503 naming the ingesters
//! that failed. Answers are concatenated as they are: the querier merges the snapshots
//! of a stream by fingerprint and drops the duplicate entries the replicas hold.

use crate::convert::{labels_from_proto, matchers_to_proto, snapshot_from_proto};
use crate::error::GrpcError;
use crate::pool::IngesterClientPool;
use crate::replication::Instance;
use crate::tenant::set_tenant;
use async_trait::async_trait;
use futures::StreamExt;
use futures::future::join_all;
use skald_common::LabelSet;
use skald_index::LabelMatcher;
use skald_ingester::StreamSnapshot;
use skald_proto::ingester as pb;
use skald_proto::ingester::ingester_client::IngesterClient;
use skald_querier::{QueryError, RecentData};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// Loki's `querier.query_ingesters_within` default: 3h.
pub const DEFAULT_QUERY_INGESTERS_WITHIN: Duration = Duration::from_secs(3 * 3600);

/// The ingesters a querier asks (every ingester in the ring, in a cluster), and how many
/// of them may fail (RF/2 with replication factor RF).
pub trait IngesterSet: Send + Sync {
    fn ingesters(&self) -> (Vec<Instance>, usize);
}

/// A fixed list, for tests and static setups.
pub struct StaticIngesters {
    pub instances: Vec<Instance>,
    pub max_errors: usize,
}

impl IngesterSet for StaticIngesters {
    fn ingesters(&self) -> (Vec<Instance>, usize) {
        (self.instances.clone(), self.max_errors)
    }
}

pub struct RemoteRecentData {
    ingesters: Arc<dyn IngesterSet>,
    pool: Arc<IngesterClientPool>,
    query_ingesters_within: Duration,
}

impl RemoteRecentData {
    /// `query_ingesters_within`: a select whose range ends before `now - this` asks no
    /// ingester (they flushed that data long ago). Zero asks always.
    pub fn new(ingesters: Arc<dyn IngesterSet>, pool: Arc<IngesterClientPool>, query_ingesters_within: Duration) -> Self {
        RemoteRecentData { ingesters, pool, query_ingesters_within }
    }

    /// Runs `call` against every ingester at once; fails with 503 when more than
    /// `max_errors` failed.
    async fn ask_all<T, F, Fut>(&self, tenant: &str, call: F) -> Result<Vec<T>, QueryError>
    where
        F: Fn(IngesterClient<Channel>, String) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let (instances, max_errors) = self.ingesters.ingesters();
        let timeout = self.pool.config().remote_timeout;
        let mut calls = Vec::with_capacity(instances.len());
        for instance in &instances {
            let client = self.pool.client(&instance.grpc_addr);
            let call = &call;
            calls.push(async move {
                let client = client?;
                // The deadline covers streamed answers too, not only their first message.
                match tokio::time::timeout(timeout, call(client, tenant.to_string())).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(status)) => Err(GrpcError::call(&instance.id, &instance.grpc_addr, &status)),
                    Err(_) => Err(GrpcError::call(
                        &instance.id,
                        &instance.grpc_addr,
                        &tonic::Status::deadline_exceeded(format!("no answer within {timeout:?}")),
                    )),
                }
            });
        }
        let results = join_all(calls).await;
        let mut values = Vec::with_capacity(results.len());
        let mut failures: Vec<String> = Vec::new();
        for result in results {
            match result {
                Ok(value) => values.push(value),
                Err(error) => failures.push(error.to_string()),
            }
        }
        if failures.len() > max_errors {
            return Err(QueryError::Unavailable(format!(
                "too many ingesters failed ({} of {}, at most {max_errors} may): {}",
                failures.len(),
                instances.len(),
                failures.join("; ")
            )));
        }
        for failure in &failures {
            tracing::warn!(%failure, "ingester query failed; answering from the other replicas");
        }
        Ok(values)
    }
}

fn request<T>(body: T, tenant: &str) -> Result<tonic::Request<T>, tonic::Status> {
    let mut request = tonic::Request::new(body);
    set_tenant(&mut request, tenant)?;
    Ok(request)
}

fn bad_answer(error: GrpcError) -> tonic::Status {
    tonic::Status::internal(format!("bad answer: {error}"))
}

#[async_trait]
impl RecentData for RemoteRecentData {
    async fn select(
        &self,
        tenant: &str,
        matchers: &[LabelMatcher],
        from: i64,
        through: i64,
        hints: &skald_querier::SelectHints,
    ) -> Result<Vec<StreamSnapshot>, QueryError> {
        if !self.query_ingesters_within.is_zero() {
            let horizon = skald_common::unix_nanos_now().saturating_sub(self.query_ingesters_within.as_nanos() as i64);
            if through < horizon {
                return Ok(Vec::new());
            }
        }
        let (shard_index, shard_count) = hints.shard.unwrap_or((0, 0));
        let body = pb::SelectRequest {
            matchers: matchers_to_proto(matchers),
            from,
            through,
            words: hints.words.clone(),
            shard_index,
            shard_count,
        };
        let answers = self
            .ask_all(tenant, |mut client, tenant| {
                let body = body.clone();
                async move {
                    let mut stream = client.select(request(body, &tenant)?).await?.into_inner();
                    let mut snapshots = Vec::new();
                    while let Some(part) = stream.next().await {
                        for snapshot in part?.streams {
                            snapshots.push(snapshot_from_proto(snapshot).map_err(bad_answer)?);
                        }
                    }
                    Ok(snapshots)
                }
            })
            .await?;
        Ok(answers.into_iter().flatten().collect())
    }

    async fn label_names(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError> {
        let body = pb::LabelNamesRequest { matchers: matchers_to_proto(matchers) };
        let answers = self
            .ask_all(tenant, |mut client, tenant| {
                let body = body.clone();
                async move { Ok(client.label_names(request(body, &tenant)?).await?.into_inner().names) }
            })
            .await?;
        let names: BTreeSet<String> = answers.into_iter().flatten().collect();
        Ok(names.into_iter().collect())
    }

    async fn label_values(&self, tenant: &str, name: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError> {
        let body = pb::LabelValuesRequest { name: name.to_string(), matchers: matchers_to_proto(matchers) };
        let answers = self
            .ask_all(tenant, |mut client, tenant| {
                let body = body.clone();
                async move { Ok(client.label_values(request(body, &tenant)?).await?.into_inner().values) }
            })
            .await?;
        let values: BTreeSet<String> = answers.into_iter().flatten().collect();
        Ok(values.into_iter().collect())
    }

    async fn series(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<LabelSet>, QueryError> {
        let body = pb::SeriesRequest { matchers: matchers_to_proto(matchers) };
        let answers = self
            .ask_all(tenant, |mut client, tenant| {
                let body = body.clone();
                async move { Ok(client.series(request(body, &tenant)?).await?.into_inner().series) }
            })
            .await?;
        let mut series: BTreeSet<LabelSet> = BTreeSet::new();
        for answer in answers {
            for set in answer {
                series.insert(labels_from_proto(set.labels));
            }
        }
        Ok(series.into_iter().collect())
    }
}
