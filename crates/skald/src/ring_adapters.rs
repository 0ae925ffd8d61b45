//! The hash ring seen through the small traits the gRPC crate asks for: which ingesters
//! hold a stream (distributor), which ingesters a querier asks, and a live tail across
//! every ingester.

use skald_api::{ApiError, TailFeed};
use skald_common::LabelSet;
use skald_grpc::{IngesterClientPool, IngesterSet, Instance, RemoteTail, ReplicaPicker, Replicas};
use skald_index::LabelMatcher;
use skald_ingester::TailBatch;
use skald_ring::{Cluster, Member, Operation, Ring};
use std::sync::Arc;
use tokio::sync::mpsc;

fn instance(member: &Member) -> Instance {
    Instance { id: member.id.clone(), grpc_addr: member.grpc_addr.clone() }
}

/// Distributors: the `replication_factor` ingesters clockwise from the stream's token.
pub struct RingReplicas {
    pub cluster: Cluster,
    pub replication_factor: usize,
    /// Replicas in distinct zones (`zone_awareness_enabled`).
    pub zone_aware: bool,
}

impl ReplicaPicker for RingReplicas {
    fn pick(&self, tenant: &str, labels: &LabelSet) -> Result<Replicas, String> {
        let token = Ring::token_for(tenant, &labels.to_string());
        let ring = self.cluster.ingester_ring().with_zone_awareness(self.zone_aware);
        let set = ring.get(token, self.replication_factor, Operation::Write).map_err(|e| e.to_string())?;
        Ok(Replicas { instances: set.instances.iter().map(instance).collect(), max_errors: set.max_errors })
    }
}

/// Queriers: every ingester that serves reads. When too few are healthy the unhealthy
/// ones are listed too, so that the query fails naming them instead of silently
/// answering without recent data.
pub struct RingIngesters {
    pub cluster: Cluster,
    pub replication_factor: usize,
    /// A whole zone may be down (`zone_awareness_enabled`).
    pub zone_aware: bool,
}

impl IngesterSet for RingIngesters {
    fn ingesters(&self) -> (Vec<Instance>, usize) {
        let ring = self.cluster.ingester_ring().with_zone_awareness(self.zone_aware);
        match ring.replication_set_for_operation(self.replication_factor, Operation::Read) {
            Ok(set) => (set.instances.iter().map(instance).collect(), set.max_errors),
            Err(_) => (ring.instances().iter().map(instance).collect(), self.replication_factor / 2),
        }
    }
}

/// Live tails over every ingester of the ring (the copies that replication makes are
/// dropped by [`RemoteTail`]).
pub struct RingTail {
    pub cluster: Cluster,
    pub pool: Arc<IngesterClientPool>,
}

#[async_trait::async_trait]
impl TailFeed for RingTail {
    async fn subscribe(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<mpsc::Receiver<Arc<TailBatch>>, ApiError> {
        let ingesters: Vec<Instance> = self.cluster.ingester_ring().all_healthy(Operation::Read).iter().map(instance).collect();
        if ingesters.is_empty() {
            return Err(ApiError::new(503, "no healthy ingester to tail"));
        }
        let mut remote = RemoteTail::start(self.pool.clone(), ingesters, tenant, matchers);
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    batch = remote.recv() => match batch {
                        Some(batch) => {
                            if sender.send(Arc::new(batch)).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    _ = sender.closed() => return,
                }
            }
        });
        Ok(receiver)
    }
}
