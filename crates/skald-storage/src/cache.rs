//! A byte-budgeted LRU of decoded chunks, so repeated queries do not re-read objects.
//! Recency is kept in an ordered map, so a hit and an eviction cost a logarithm of the
//! entry count, not a scan (packs make caches of 100,000 small chunks ordinary).

use parking_lot::Mutex;
use rustc_hash::FxHashMap as HashMap;
use skald_chunk::Chunk;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct ChunkCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Key -> the chunk and its last use.
    entries: HashMap<String, (Arc<Chunk>, u64)>,
    /// Last use -> key, oldest first.
    order: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
}

impl ChunkCache {
    pub fn new(budget: usize) -> Self {
        ChunkCache { budget, inner: Mutex::new(Inner::default()) }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Chunk>> {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(key)?;
        let old = std::mem::replace(&mut entry.1, tick);
        let chunk = entry.0.clone();
        if let Some(name) = inner.order.remove(&old) {
            inner.order.insert(tick, name);
        }
        Some(chunk)
    }

    pub fn insert(&self, key: String, chunk: Arc<Chunk>) {
        let size = chunk.bytes.len();
        if size > self.budget {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((old, old_tick)) = inner.entries.insert(key.clone(), (chunk, tick)) {
            inner.bytes -= old.bytes.len();
            inner.order.remove(&old_tick);
        }
        inner.order.insert(tick, key);
        inner.bytes += size;
        while inner.bytes > self.budget {
            let Some((_, oldest)) = inner.order.pop_first() else { break };
            if let Some((chunk, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= chunk.bytes.len();
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(bytes: usize) -> Arc<Chunk> {
        Arc::new(Chunk { codec: skald_chunk::Codec::None, blocks: Vec::new(), bytes: vec![0; bytes] })
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = ChunkCache::new(300);
        cache.insert("a".into(), chunk(100));
        cache.insert("b".into(), chunk(100));
        cache.insert("c".into(), chunk(100));
        assert!(cache.get("a").is_some());
        cache.insert("d".into(), chunk(100));
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some() && cache.get("d").is_some());
        cache.insert("a".into(), chunk(50));
        assert_eq!(cache.bytes(), 250);
        cache.insert("big".into(), chunk(301));
        assert!(cache.get("big").is_none(), "larger than the budget: not kept");
    }
}
