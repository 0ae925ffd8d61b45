//! The results cache for split parts: in memory, bounded in bytes (oldest entries go
//! first), entries expire after a TTL. Only successful answers of parts that end more
//! than [`FRESHNESS`] ago are stored, since newer data may still arrive for them.

use crate::config::CacheSettings;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Parts ending less than this long ago are never cached.
pub const FRESHNESS: Duration = Duration::from_secs(600);

pub(crate) struct ResultsCache {
    settings: CacheSettings,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (Instant, Bytes)>,
    /// Keys in insertion order (a key may appear again after being replaced).
    order: VecDeque<String>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

impl ResultsCache {
    pub fn new(settings: CacheSettings) -> ResultsCache {
        ResultsCache { settings, inner: Mutex::new(Entries::default()) }
    }

    /// Whether a part ending at `end` (nanoseconds) may be cached at `now`.
    pub fn cacheable(end: i64, now: i64) -> bool {
        let freshness = i64::try_from(FRESHNESS.as_nanos()).unwrap_or(i64::MAX);
        end < now.saturating_sub(freshness)
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let mut inner = self.inner.lock();
        let found = match inner.map.get(key) {
            Some((stored, body)) if stored.elapsed() <= self.settings.ttl => Some(body.clone()),
            _ => None,
        };
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    pub fn put(&self, key: String, body: Bytes) {
        let size = key.len() + body.len();
        if size > self.settings.max_bytes {
            return;
        }
        let mut inner = self.inner.lock();
        if let Some((_, old)) = inner.map.insert(key.clone(), (Instant::now(), body)) {
            inner.bytes -= key.len() + old.len();
        }
        inner.bytes += size;
        inner.order.push_back(key);
        while inner.bytes > self.settings.max_bytes {
            let Some(oldest) = inner.order.pop_front() else { break };
            // A key queued twice is removed at its first turn only if still present.
            if let Some((_, body)) = inner.map.remove(&oldest) {
                inner.bytes -= oldest.len() + body.len();
            }
        }
        // Keep the order queue bounded when keys are replaced often.
        if inner.order.len() > 2 * inner.map.len() + 16 {
            let Entries { map, order, .. } = &mut *inner;
            let mut seen = std::collections::HashSet::new();
            let mut kept: VecDeque<String> = order.drain(..).rev().filter(|k| map.contains_key(k) && seen.insert(k.clone())).collect();
            kept.make_contiguous().reverse();
            *order = kept;
        }
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        let inner = self.inner.lock();
        (inner.hits, inner.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes_oldest_first() {
        let cache = ResultsCache::new(CacheSettings { max_bytes: 30, ttl: Duration::from_secs(60) });
        cache.put("a".into(), Bytes::from(vec![0; 10]));
        cache.put("b".into(), Bytes::from(vec![0; 10]));
        cache.put("c".into(), Bytes::from(vec![0; 10]));
        assert!(cache.get("a").is_none(), "evicted");
        assert_eq!(cache.get("b").map(|b| b.len()), Some(10));
        cache.put("huge".into(), Bytes::from(vec![0; 100]));
        assert!(cache.get("huge").is_none(), "larger than the cache");
        assert_eq!(cache.counts(), (1, 2));
    }

    #[test]
    fn replaced_keys_and_expiry() {
        let cache = ResultsCache::new(CacheSettings { max_bytes: 1000, ttl: Duration::ZERO });
        for _ in 0..100 {
            cache.put("k".into(), Bytes::from_static(b"v"));
        }
        assert!(cache.inner.lock().order.len() <= 20);
        assert_eq!(cache.inner.lock().bytes, 2);
        std::thread::sleep(Duration::from_millis(2));
        assert!(cache.get("k").is_none(), "expired");
        let now = 10_000 * 1_000_000_000;
        assert!(ResultsCache::cacheable(now - 601 * 1_000_000_000, now));
        assert!(!ResultsCache::cacheable(now - 599 * 1_000_000_000, now));
    }
}
