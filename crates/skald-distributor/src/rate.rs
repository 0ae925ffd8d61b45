//! Per-tenant token buckets for the ingestion rate limit (bytes per second with a burst),
//! as Loki's local rate-limit strategy.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Instant;

pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        RateLimiter { buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `bytes` tokens from the tenant's bucket if there are enough; refills at
    /// `rate` bytes/s up to `burst` bytes. A request larger than the burst never fits.
    pub fn allow(&self, tenant: &str, bytes: u64, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        let needed = bytes as f64;
        if needed <= bucket.tokens {
            bucket.tokens -= needed;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse() {
        let limiter = RateLimiter::new();
        assert!(limiter.allow("a", 600, 100.0, 1000.0));
        assert!(!limiter.allow("a", 600, 100.0, 1000.0));
        assert!(limiter.allow("b", 600, 100.0, 1000.0));
        assert!(!limiter.allow("c", 2000, 100.0, 1000.0));
    }
}
