//! A byte-budgeted LRU of decoded chunks, so repeated queries do not re-read objects.

use parking_lot::Mutex;
use skald_chunk::Chunk;
use std::collections::HashMap;
use std::sync::Arc;

pub struct ChunkCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Arc<Chunk>, u64)>,
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
        entry.1 = tick;
        Some(entry.0.clone())
    }

    pub fn insert(&self, key: String, chunk: Arc<Chunk>) {
        let size = chunk.bytes.len();
        if size > self.budget {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner.entries.insert(key, (chunk, tick)) {
            inner.bytes -= old.0.bytes.len();
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone()) else { break };
            if let Some((chunk, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= chunk.bytes.len();
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}
