//! Query admission: at most `max_concurrent` queries run at once on this querier (the
//! rest wait, as in Loki's querier workers), and each tenant may have at most
//! `max_outstanding_per_tenant` queries running or waiting (Loki's query scheduler
//! answers 429 "too many outstanding requests" beyond it), so one tenant's flood
//! cannot queue up without bound or starve the others for long.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Loki's `querier.max_concurrent` default.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;
/// Loki's `query_scheduler.max_outstanding_requests_per_tenant` default.
pub const DEFAULT_MAX_OUTSTANDING_PER_TENANT: usize = 32_000;

pub struct Admission {
    running: Arc<Semaphore>,
    outstanding: Arc<Mutex<HashMap<String, usize>>>,
    max_outstanding_per_tenant: usize,
}

/// A running query's place; dropping it lets the next one in.
pub struct Ticket {
    _permit: OwnedSemaphorePermit,
    _count: OutstandingCount,
}

/// A tenant's outstanding count, decremented on drop (also when a waiting query is
/// cancelled because its client went away).
struct OutstandingCount {
    tenant: String,
    outstanding: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for OutstandingCount {
    fn drop(&mut self) {
        let mut counts = self.outstanding.lock();
        if let Some(count) = counts.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.tenant);
            }
        }
    }
}

/// The tenant already has as many queries outstanding as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyOutstanding;

impl Admission {
    pub fn new(max_concurrent: usize, max_outstanding_per_tenant: usize) -> Self {
        Admission {
            running: Arc::new(Semaphore::new(max_concurrent.max(1))),
            outstanding: Arc::new(Mutex::new(HashMap::new())),
            max_outstanding_per_tenant: max_outstanding_per_tenant.max(1),
        }
    }

    /// Waits for a free slot, unless the tenant already has too many queries outstanding.
    pub async fn admit(&self, tenant: &str) -> Result<Ticket, TooManyOutstanding> {
        let count = {
            let mut counts = self.outstanding.lock();
            let count = counts.entry(tenant.to_string()).or_insert(0);
            if *count >= self.max_outstanding_per_tenant {
                return Err(TooManyOutstanding);
            }
            *count += 1;
            OutstandingCount { tenant: tenant.to_string(), outstanding: self.outstanding.clone() }
        };
        let permit = self.running.clone().acquire_owned().await.expect("the admission semaphore is never closed");
        Ok(Ticket { _permit: permit, _count: count })
    }

    /// Queries of this tenant running or waiting.
    pub fn outstanding(&self, tenant: &str) -> usize {
        self.outstanding.lock().get(tenant).copied().unwrap_or(0)
    }
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_OUTSTANDING_PER_TENANT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tenant_over_its_outstanding_limit_is_refused_and_others_are_not() {
        let admission = Admission::new(1, 2);
        let first = admission.admit("a").await.unwrap();
        // The second of tenant a waits for the slot; a third is refused at once.
        let waiting = {
            let admission = &admission;
            async move { admission.admit("a").await }
        };
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).await.is_none(), "the second query should wait for the slot");
        assert_eq!(admission.outstanding("a"), 2);
        assert_eq!(admission.admit("a").await.err(), Some(TooManyOutstanding));
        // Tenant b is not refused (it waits for the slot like anyone).
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(admission.outstanding("a"), 1);
        drop(second);
        assert_eq!(admission.outstanding("a"), 0);
        let b = admission.admit("b").await.unwrap();
        drop(b);
    }

    #[tokio::test]
    async fn a_cancelled_waiting_query_gives_back_its_place() {
        let admission = Admission::new(1, 1);
        let running = admission.admit("x").await.unwrap();
        {
            let waiting = admission.admit("y");
            tokio::pin!(waiting);
            assert!(futures_poll_once(waiting.as_mut()).await.is_none());
            assert_eq!(admission.outstanding("y"), 1);
        }
        assert_eq!(admission.outstanding("y"), 0, "dropping a waiting query must release its count");
        drop(running);
    }

    /// Polls a future once; `Some` if it completed.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(value) => std::task::Poll::Ready(Some(value)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}
