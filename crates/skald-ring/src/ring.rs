//! The consistent-hash ring of ingesters, with dskit's replication rules.
//!
//! Every ingester owns random `u32` tokens. A stream's key (`token_for(tenant, labels)`)
//! is placed on the ring, and its replicas are the first `replication_factor` distinct
//! instances met walking clockwise from the first token greater than the key.
//!
//! As in dskit (`ring.Get` then `defaultReplicationStrategy.Filter`):
//! - an instance whose state cannot serve the operation (anything but ACTIVE for a
//!   write; anything but ACTIVE or LEAVING for a read) still takes a place in the walk
//!   but *extends* it by one instance, so the data goes to the next one too;
//! - then instances that are unhealthy (heartbeat too old, failure detector says dead)
//!   or in a state that cannot serve are removed from the set; the quorum is
//!   `max(RF, walked)/2 + 1`, and `max_errors` is how many of the remaining instances may
//!   fail with the quorum still met. Fewer than the quorum is
//!   [`RingError::TooManyUnhealthy`].

use std::sync::Arc;

use crate::error::RingError;
use crate::member::{InstanceState, Member};

/// What the replicas are for: the states that serve each differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Write,
    Read,
}

impl Operation {
    /// Whether an instance in `state` serves this operation.
    pub fn serves(self, state: InstanceState) -> bool {
        match self {
            Operation::Write => state == InstanceState::Active,
            Operation::Read => matches!(state, InstanceState::Active | InstanceState::Leaving),
        }
    }

    /// Whether meeting an instance in `state` lengthens the walk by one instance.
    pub(crate) fn extends_replica_set(self, state: InstanceState) -> bool {
        !self.serves(state)
    }
}

/// The instances to send one request to, and how many of them may fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSet {
    pub instances: Vec<Member>,
    /// Failures tolerated with the quorum still met.
    pub max_errors: usize,
}

impl ReplicationSet {
    /// Successes needed: every instance but `max_errors`.
    pub fn min_success(&self) -> usize {
        self.instances.len() - self.max_errors
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RingToken {
    pub(crate) token: u32,
    /// Index into `Ring::instances`.
    pub(crate) instance: usize,
}

/// A snapshot of the ingesters and their tokens; never updated, cheap to clone (the
/// cluster builds one per membership change and hands out clones).
#[derive(Debug, Clone, Default)]
pub struct Ring {
    instances: Arc<[Member]>,
    /// Every token of every instance, sorted by token (then instance id for ties).
    tokens: Arc<[RingToken]>,
    /// dskit's `zone_awareness_enabled`: a stream's replicas in distinct zones.
    zone_aware: bool,
}

impl Ring {
    /// Builds the ring of `instances` (their `tokens`, `state` and `healthy` are used).
    pub fn new(mut instances: Vec<Member>) -> Ring {
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        let mut tokens = Vec::new();
        for (index, instance) in instances.iter().enumerate() {
            for &token in &instance.tokens {
                tokens.push(RingToken { token, instance: index });
            }
        }
        // Instances are sorted by id, so ties on a token break by id.
        tokens.sort_by_key(|entry| (entry.token, entry.instance));
        Ring { instances: instances.into(), tokens: tokens.into(), zone_aware: false }
    }

    /// The same ring, placing each stream's replicas in distinct zones (`Member::zone`)
    /// when `enabled`, as dskit does with `zone_awareness_enabled`.
    pub fn with_zone_awareness(mut self, enabled: bool) -> Ring {
        self.zone_aware = enabled;
        self
    }

    /// Loki's `TokenFor`: 32-bit FNV-1 (Go's `fnv.New32`) of the tenant, then the
    /// canonical label string.
    pub fn token_for(tenant: &str, labels_canonical: &str) -> u32 {
        const OFFSET_BASIS: u32 = 2_166_136_261;
        const PRIME: u32 = 16_777_619;
        let mut hash = OFFSET_BASIS;
        for &byte in tenant.as_bytes().iter().chain(labels_canonical.as_bytes()) {
            hash = hash.wrapping_mul(PRIME);
            hash ^= u32::from(byte);
        }
        hash
    }

    /// The replicas for `token` (see the module docs for the rules).
    pub fn get(&self, token: u32, replication_factor: usize, op: Operation) -> Result<ReplicationSet, RingError> {
        if self.tokens.is_empty() {
            return Err(RingError::EmptyRing);
        }
        let walked = self.walk(token, replication_factor, op);

        // dskit: when joining/leaving instances lengthened the walk, the quorum is
        // computed on the longer set.
        let effective_factor = replication_factor.max(walked.len());
        let min_success = effective_factor / 2 + 1;
        let mut healthy = Vec::with_capacity(walked.len());
        let mut unhealthy = Vec::new();
        for index in walked {
            let instance = &self.instances[index];
            if instance.healthy && op.serves(instance.state) {
                healthy.push(instance.clone());
            } else {
                unhealthy.push(instance.grpc_addr.clone());
            }
        }
        if healthy.len() < min_success {
            return Err(RingError::TooManyUnhealthy { required: min_success, found: healthy.len(), unhealthy });
        }
        let max_errors = healthy.len() - min_success;
        Ok(ReplicationSet { instances: healthy, max_errors })
    }

    /// Indexes of the distinct instances met walking clockwise from `token`.
    fn walk(&self, token: u32, replication_factor: usize, op: Operation) -> Vec<usize> {
        if self.zone_aware {
            return crate::zones::walk(&self.instances, &self.tokens, token, replication_factor, op);
        }
        let token_count = self.tokens.len();
        let mut wanted = replication_factor;
        let mut chosen: Vec<usize> = Vec::with_capacity(wanted + 2);
        // First token strictly greater than the key (dskit's searchToken), wrapping.
        let mut position = self.tokens.partition_point(|entry| entry.token <= token);
        let mut steps = 0;
        while chosen.len() < wanted.min(self.instances.len()) && steps < token_count {
            steps += 1;
            let entry = self.tokens[position % token_count];
            position += 1;
            if chosen.contains(&entry.instance) {
                continue;
            }
            chosen.push(entry.instance);
            if op.extends_replica_set(self.instances[entry.instance].state) {
                wanted += 1;
            }
        }
        chosen
    }

    /// Every instance that serves `op` and is healthy: whom a querier asks.
    pub fn all_healthy(&self, op: Operation) -> Vec<Member> {
        let mut healthy = Vec::new();
        for instance in self.instances.iter() {
            if instance.healthy && op.serves(instance.state) {
                healthy.push(instance.clone());
            }
        }
        healthy
    }

    /// dskit's `GetReplicationSetForOperation`: every healthy instance, with the errors
    /// tolerated when each stream lives on `replication_factor` of them (a querier asks
    /// them all and may lose `replication_factor / 2`).
    pub fn replication_set_for_operation(&self, replication_factor: usize, op: Operation) -> Result<ReplicationSet, RingError> {
        if self.tokens.is_empty() {
            return Err(RingError::EmptyRing);
        }
        if self.zone_aware {
            return crate::zones::replication_set_for_operation(&self.instances, replication_factor, op);
        }
        let healthy = self.all_healthy(op);
        let required = self.instances.len().max(replication_factor) - replication_factor / 2;
        if healthy.len() < required {
            let mut unhealthy = Vec::new();
            for instance in self.instances.iter() {
                if !(instance.healthy && op.serves(instance.state)) {
                    unhealthy.push(instance.grpc_addr.clone());
                }
            }
            return Err(RingError::TooManyUnhealthy { required, found: healthy.len(), unhealthy });
        }
        let max_errors = healthy.len() - required;
        Ok(ReplicationSet { instances: healthy, max_errors })
    }

    /// Number of instances in the ring (with or without tokens).
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The instances, sorted by id.
    pub fn instances(&self) -> &[Member] {
        &self.instances
    }

    /// Share of the token space each instance owns, in percent, in `instances()` order.
    /// A token owns the range from the previous token (exclusive) up to itself.
    pub fn ownership(&self) -> Vec<f64> {
        let mut owned = vec![0u64; self.instances.len()];
        let token_count = self.tokens.len();
        if token_count == 0 {
            return vec![0.0; self.instances.len()];
        }
        for index in 0..token_count {
            let previous = self.tokens[(index + token_count - 1) % token_count].token;
            let current = self.tokens[index];
            let distance = if token_count == 1 { 1u64 << 32 } else { u64::from(current.token.wrapping_sub(previous)) };
            owned[current.instance] += distance;
        }
        let total = (1u64 << 32) as f64;
        owned.into_iter().map(|share| share as f64 * 100.0 / total).collect()
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
