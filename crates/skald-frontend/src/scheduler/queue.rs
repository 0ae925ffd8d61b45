//! The scheduler's fair queue: one FIFO per tenant, served round-robin across the
//! tenants that have work, so a tenant with 100 queued parts and a tenant with one each
//! get every other turn.

use crate::proto::{PartResult, QueryPart};
use std::collections::{HashMap, VecDeque};
use tokio::sync::oneshot;
use tonic::Status;

/// A part waiting in the queue or running on a querier.
pub(crate) struct Pending {
    pub id: u64,
    pub tenant: String,
    pub part: QueryPart,
    pub reply: oneshot::Sender<Result<PartResult, Status>>,
    /// How often it has been handed to a querier.
    pub attempts: u32,
}

#[derive(Default)]
pub(crate) struct FairQueue {
    tenants: HashMap<String, VecDeque<Pending>>,
    /// Tenants with queued parts, the next to serve first. Each appears once.
    rotation: VecDeque<String>,
}

impl FairQueue {
    pub fn len_of(&self, tenant: &str) -> usize {
        self.tenants.get(tenant).map_or(0, VecDeque::len)
    }

    /// Queues a new part behind the tenant's others.
    pub fn push_back(&mut self, pending: Pending) {
        let tenant = pending.tenant.clone();
        let queue = self.tenants.entry(tenant.clone()).or_default();
        queue.push_back(pending);
        if queue.len() == 1 {
            self.rotation.push_back(tenant);
        }
    }

    /// Queues a part again (its querier went away) ahead of everything: it has waited
    /// already.
    pub fn push_front(&mut self, pending: Pending) {
        let tenant = pending.tenant.clone();
        let queue = self.tenants.entry(tenant.clone()).or_default();
        queue.push_front(pending);
        if queue.len() == 1 {
            self.rotation.push_front(tenant);
        }
    }

    /// The next part, round-robin across tenants. Parts whose frontend has gone are
    /// dropped on the way.
    pub fn pop(&mut self) -> Option<Pending> {
        while let Some(tenant) = self.rotation.pop_front() {
            let Some(queue) = self.tenants.get_mut(&tenant) else { continue };
            let mut found = None;
            while let Some(pending) = queue.pop_front() {
                if !pending.reply.is_closed() {
                    found = Some(pending);
                    break;
                }
            }
            if queue.is_empty() {
                self.tenants.remove(&tenant);
            } else {
                self.rotation.push_back(tenant);
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Withdraws a queued part; false when it is not queued (any more).
    pub fn remove(&mut self, tenant: &str, id: u64) -> bool {
        let Some(queue) = self.tenants.get_mut(tenant) else { return false };
        let Some(position) = queue.iter().position(|p| p.id == id) else { return false };
        queue.remove(position);
        if queue.is_empty() {
            self.tenants.remove(tenant);
            self.rotation.retain(|t| t != tenant);
        }
        true
    }

    /// Queue length per tenant, sorted by tenant.
    pub fn lengths(&self) -> Vec<(String, usize)> {
        let mut lengths: Vec<(String, usize)> = self.tenants.iter().map(|(t, q)| (t.clone(), q.len())).collect();
        lengths.sort();
        lengths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: u64, tenant: &str) -> (Pending, oneshot::Receiver<Result<PartResult, Status>>) {
        let (reply, receiver) = oneshot::channel();
        (Pending { id, tenant: tenant.to_string(), part: QueryPart::default(), reply, attempts: 0 }, receiver)
    }

    #[test]
    fn tenants_take_turns() {
        let mut queue = FairQueue::default();
        let mut receivers = Vec::new();
        for id in 0..5 {
            let (p, r) = pending(id, "a");
            queue.push_back(p);
            receivers.push(r);
        }
        let (p, r) = pending(100, "b");
        queue.push_back(p);
        receivers.push(r);
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop().map(|p| p.id)).collect();
        assert_eq!(order, vec![0, 100, 1, 2, 3, 4]);
        assert!(queue.lengths().is_empty());
    }

    #[test]
    fn withdrawn_and_abandoned_parts_are_skipped() {
        let mut queue = FairQueue::default();
        let (a, _ra) = pending(1, "a");
        let (b, rb) = pending(2, "a");
        let (c, _rc) = pending(3, "a");
        queue.push_back(a);
        queue.push_back(b);
        queue.push_back(c);
        assert!(queue.remove("a", 1));
        assert!(!queue.remove("a", 1));
        drop(rb);
        assert_eq!(queue.lengths(), vec![("a".to_string(), 2)]);
        assert_eq!(queue.pop().map(|p| p.id), Some(3));
        assert!(queue.pop().is_none());
    }

    #[test]
    fn requeued_parts_go_first() {
        let mut queue = FairQueue::default();
        let (a, _ra) = pending(1, "a");
        let (b, _rb) = pending(2, "b");
        let (again, _r) = pending(3, "c");
        queue.push_back(a);
        queue.push_back(b);
        queue.push_front(again);
        assert_eq!(queue.pop().map(|p| p.id), Some(3));
        assert_eq!(queue.len_of("a"), 1);
    }
}
