//! Replicated writes: the distributor's [`IngesterPush`] over gRPC.
//!
//! Each stream goes to the ingesters a [`ReplicaPicker`] names (the hash ring, in a
//! cluster). Streams are grouped per ingester, one request per ingester, all sent at
//! once. A stream is written once `instances.len() - max_errors` ingesters took it
//! (quorum: 2 of 3 for RF=3); the push returns as soon as every stream has its quorum,
//! and the slower requests finish in the background (their answers are only logged).
//!
//! A stream fails once more than `max_errors` ingesters failed it. Then the push fails:
//! with the ingesters' 429 when they refused the stream for the stream limit (as
//! `PushOutcome::stream_limit_errors`, the local ingester's way), otherwise with a 5xx
//! naming each ingester that failed and why.

use crate::convert::stream_to_proto;
use crate::error::{GrpcError, describe};
use crate::pool::IngesterClientPool;
use crate::tenant::set_tenant;
use async_trait::async_trait;
use skald_common::{LabelSet, PushStream};
use skald_distributor::IngesterPush;
use skald_ingester::{IngestError, PushOutcome};
use skald_proto::ingester as pb;
use skald_proto::logproto::{PushRequest, StreamAdapter};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

/// An ingester as the ring knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    pub id: String,
    /// `host:port` of its gRPC server.
    pub grpc_addr: String,
}

/// The ingesters that hold one stream, and how many of them may fail.
#[derive(Debug, Clone)]
pub struct Replicas {
    pub instances: Vec<Instance>,
    pub max_errors: usize,
}

/// Which ingesters hold a stream (the hash ring, in a cluster).
pub trait ReplicaPicker: Send + Sync {
    /// An error (too few healthy ingesters) fails the push with 500 and this message.
    fn pick(&self, tenant: &str, labels: &LabelSet) -> Result<Replicas, String>;
}

pub struct ReplicatedPush {
    picker: Arc<dyn ReplicaPicker>,
    pool: Arc<IngesterClientPool>,
}

impl ReplicatedPush {
    pub fn new(picker: Arc<dyn ReplicaPicker>, pool: Arc<IngesterClientPool>) -> Self {
        ReplicatedPush { picker, pool }
    }
}

/// One stream's progress toward its quorum.
struct StreamTally {
    needed: usize,
    max_errors: usize,
    acks: usize,
    /// Why each failed ingester failed: (ingester, message, was a stream-limit refusal).
    failures: Vec<(String, String, bool)>,
}

impl StreamTally {
    fn decided(&self) -> bool {
        self.acks >= self.needed || self.failures.len() > self.max_errors
    }
}

/// What one ingester answered for its part of the push.
struct IngesterAnswer {
    instance: Instance,
    streams: Vec<usize>,
    result: Result<pb::PushResponse, GrpcError>,
}

#[async_trait]
impl IngesterPush for ReplicatedPush {
    async fn push(&self, tenant: &str, streams: Vec<PushStream>) -> Result<PushOutcome, IngestError> {
        // 1. Replicas of every stream, grouped per ingester.
        let mut tallies = Vec::with_capacity(streams.len());
        let mut per_ingester: HashMap<Instance, Vec<usize>> = HashMap::new();
        for (index, stream) in streams.iter().enumerate() {
            let replicas = self.picker.pick(tenant, &stream.labels).map_err(IngestError::Internal)?;
            if replicas.instances.is_empty() || replicas.max_errors >= replicas.instances.len() {
                return Err(IngestError::Internal(format!(
                    "no usable replicas for stream {}: {} ingesters, {} may fail",
                    stream.labels,
                    replicas.instances.len(),
                    replicas.max_errors
                )));
            }
            tallies.push(StreamTally {
                needed: replicas.instances.len() - replicas.max_errors,
                max_errors: replicas.max_errors,
                acks: 0,
                failures: Vec::new(),
            });
            for instance in replicas.instances {
                per_ingester.entry(instance).or_default().push(index);
            }
        }
        let entries: u64 = streams.iter().map(|s| s.entries.len() as u64).sum();
        let bytes: u64 = streams.iter().flat_map(|s| s.entries.iter()).map(|e| e.line.len() as u64).sum();
        let labels: Vec<LabelSet> = streams.iter().map(|s| s.labels.clone()).collect();
        let adapters: Vec<StreamAdapter> = streams.into_iter().map(stream_to_proto).collect();

        // 2. One request per ingester, all at once; each runs to its end even after we return.
        let (sender, mut answers) = mpsc::channel::<IngesterAnswer>(per_ingester.len().max(1));
        for (instance, indexes) in per_ingester {
            let request = PushRequest { streams: indexes.iter().map(|i| adapters[*i].clone()).collect(), format: String::new() };
            let pool = self.pool.clone();
            let tenant = tenant.to_string();
            let sender = sender.clone();
            tokio::spawn(async move {
                let result = push_to(&pool, &instance, &tenant, request).await;
                if let Err(error) = &result {
                    tracing::warn!(%error, "push to ingester failed");
                }
                let _ = sender.send(IngesterAnswer { instance, streams: indexes, result }).await;
            });
        }
        drop(sender);

        // 3. Count answers until every stream is decided.
        let mut undecided = tallies.len();
        let mut outcome = PushOutcome::default();
        let mut errors: BTreeSet<String> = BTreeSet::new();
        while undecided > 0 {
            let Some(answer) = answers.recv().await else { break };
            let name = format!("{} ({})", answer.instance.id, answer.instance.grpc_addr);
            let mut refused: HashMap<usize, String> = HashMap::new();
            let mut failure: Option<String> = None;
            match answer.result {
                Ok(response) => {
                    outcome.duplicates = outcome.duplicates.max(response.duplicates);
                    errors.extend(response.errors);
                    for refusal in response.stream_limit {
                        if refusal.stream_index == u32::MAX {
                            for i in &answer.streams {
                                refused.insert(*i, refusal.message.clone());
                            }
                        } else if let Some(i) = answer.streams.get(refusal.stream_index as usize) {
                            refused.insert(*i, refusal.message);
                        }
                    }
                }
                Err(GrpcError::Call { message, .. }) => failure = Some(message),
                Err(error) => failure = Some(error.to_string()),
            }
            for index in answer.streams {
                let tally = &mut tallies[index];
                if tally.decided() {
                    continue;
                }
                if let Some(message) = &failure {
                    tally.failures.push((name.clone(), message.clone(), false));
                } else if let Some(message) = refused.remove(&index) {
                    tally.failures.push((name.clone(), message, true));
                } else {
                    tally.acks += 1;
                }
                if tally.decided() {
                    undecided -= 1;
                }
            }
        }

        // 4. Every stream has its quorum, or the push fails naming why.
        let mut server_errors: Vec<String> = Vec::new();
        for (index, tally) in tallies.iter().enumerate() {
            if tally.acks >= tally.needed {
                continue;
            }
            if tally.failures.is_empty() {
                server_errors.push(format!("stream {}: no answer from its ingesters", labels[index]));
                continue;
            }
            let all_limited = tally.failures.iter().all(|(_, _, limited)| *limited);
            if all_limited {
                // Passed through as the ingesters' 429, as the local ingester does.
                outcome.stream_limit_errors.push(tally.failures[0].1.clone());
                continue;
            }
            let reasons: Vec<String> = tally.failures.iter().map(|(name, message, _)| format!("ingester {name}: {message}")).collect();
            server_errors.push(format!(
                "stream {}: {} of {} replicas failed, at most {} may: {}",
                labels[index],
                tally.failures.len(),
                tally.needed + tally.max_errors,
                tally.max_errors,
                reasons.join("; ")
            ));
        }
        if !server_errors.is_empty() {
            let shown = server_errors.len().min(10);
            let mut message = format!("push failed to reach a quorum of ingesters: {}", server_errors[..shown].join("\n"));
            if server_errors.len() > shown {
                message.push_str(&format!("\n(and {} more streams)", server_errors.len() - shown));
            }
            return Err(IngestError::Internal(message));
        }
        outcome.accepted_entries = entries;
        outcome.accepted_bytes = bytes;
        outcome.errors = errors.into_iter().collect();
        Ok(outcome)
    }
}

async fn push_to(pool: &IngesterClientPool, instance: &Instance, tenant: &str, body: PushRequest) -> Result<pb::PushResponse, GrpcError> {
    let mut client = pool.client(&instance.grpc_addr)?;
    let mut request = tonic::Request::new(body);
    set_tenant(&mut request, tenant).map_err(|status| GrpcError::BadMessage(describe(&status)))?;
    match client.push(request).await {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => Err(GrpcError::call(&instance.id, &instance.grpc_addr, &status)),
    }
}
