//! The store: writes chunks and index files, keeps every tenant's index in memory, and
//! reads chunks through the cache.

use crate::StorageError;
use crate::cache::ChunkCache;
use crate::catalog::Catalog;
use crate::config::Backend;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parking_lot::RwLock;
use skald_chunk::{Chunk, decode_chunk};
use skald_common::LabelSet;
use skald_index::{ChunkRef, IndexFile, LabelMatcher, SelectedStream, day_of};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a chunk covers, as its writer knows it.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSummary {
    pub from: i64,
    pub through: i64,
    pub entries: u64,
    pub raw_bytes: u64,
}

/// Counters for `/metrics` and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStats {
    pub chunks_written: u64,
    pub chunk_bytes_written: u64,
    pub index_files_written: u64,
    pub chunks_fetched: u64,
    pub chunk_bytes_fetched: u64,
    pub cache_bytes: u64,
}

pub struct Store {
    objects: Arc<dyn ObjectStore>,
    /// Names this writer's index files; unique per process start.
    writer: String,
    sequence: AtomicU64,
    pub(crate) catalog: RwLock<Catalog>,
    cache: ChunkCache,
    chunks_written: AtomicU64,
    chunk_bytes_written: AtomicU64,
    index_files_written: AtomicU64,
    chunks_fetched: AtomicU64,
    chunk_bytes_fetched: AtomicU64,
}

impl Store {
    pub fn new(objects: Arc<dyn ObjectStore>, writer: &str, cache_bytes: usize) -> Store {
        Store {
            objects,
            writer: writer.to_string(),
            sequence: AtomicU64::new(0),
            catalog: RwLock::new(Catalog::default()),
            cache: ChunkCache::new(cache_bytes),
            chunks_written: AtomicU64::new(0),
            chunk_bytes_written: AtomicU64::new(0),
            index_files_written: AtomicU64::new(0),
            chunks_fetched: AtomicU64::new(0),
            chunk_bytes_fetched: AtomicU64::new(0),
        }
    }

    /// A store on the local filesystem under `dir` (created if missing).
    pub fn local(dir: &std::path::Path, writer: &str, cache_bytes: usize) -> Result<Store, StorageError> {
        Store::from_backend(&Backend::Filesystem(dir.to_path_buf()), writer, cache_bytes)
    }

    /// A store on the configured backend (see [`crate::StorageConfig::backend`]).
    pub fn from_backend(backend: &Backend, writer: &str, cache_bytes: usize) -> Result<Store, StorageError> {
        Ok(Store::new(backend.object_store()?, writer, cache_bytes))
    }

    /// The object store underneath, for the compactor.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// This process's writer id (part of every index file name it writes).
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// A fresh, unique key for an index file of `tenant` and `day` written by this store.
    pub fn new_index_key(&self, tenant: &str, day: i64) -> String {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("index/{tenant}/{day}/{}-{sequence:016x}.idx", self.writer)
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            chunks_written: self.chunks_written.load(Ordering::Relaxed),
            chunk_bytes_written: self.chunk_bytes_written.load(Ordering::Relaxed),
            index_files_written: self.index_files_written.load(Ordering::Relaxed),
            chunks_fetched: self.chunks_fetched.load(Ordering::Relaxed),
            chunk_bytes_fetched: self.chunk_bytes_fetched.load(Ordering::Relaxed),
            cache_bytes: self.cache.bytes() as u64,
        }
    }

    /// Reads every index file into memory. Called once at startup, before serving;
    /// [`Store::refresh_index`] picks up later changes.
    pub async fn load_index(&self) -> Result<usize, StorageError> {
        Ok(self.refresh_index().await?.files_added)
    }

    /// Writes one chunk object; returns its reference (not yet indexed).
    pub async fn put_chunk(
        &self,
        tenant: &str,
        fingerprint: u64,
        chunk_bytes: Vec<u8>,
        summary: ChunkSummary,
    ) -> Result<ChunkRef, StorageError> {
        let ChunkSummary { from, through, entries, raw_bytes } = summary;
        let crc = crc32c::crc32c(&chunk_bytes);
        let key = format!("chunks/{tenant}/{fingerprint:016x}/{from:x}-{through:x}-{crc:08x}");
        let size = chunk_bytes.len() as u64;
        self.objects.put(&ObjectPath::from(key.as_str()), PutPayload::from(chunk_bytes)).await?;
        self.chunks_written.fetch_add(1, Ordering::Relaxed);
        self.chunk_bytes_written.fetch_add(size, Ordering::Relaxed);
        Ok(ChunkRef { key, from, through, entries, raw_bytes, size })
    }

    /// Writes index files for chunks already stored (one file per day touched) and
    /// adds them to the in-memory index, making them visible to queries.
    pub async fn index_chunks(&self, tenant: &str, chunks: Vec<(u64, LabelSet, ChunkRef)>) -> Result<(), StorageError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let mut by_day: HashMap<i64, IndexFile> = HashMap::new();
        for entry in chunks {
            by_day.entry(day_of(entry.2.from)).or_default().entries.push(entry);
        }
        let mut written = Vec::with_capacity(by_day.len());
        for (day, file) in by_day {
            let key = self.new_index_key(tenant, day);
            self.objects.put(&ObjectPath::from(key.as_str()), PutPayload::from(file.encode())).await?;
            self.index_files_written.fetch_add(1, Ordering::Relaxed);
            written.push((key, file));
        }
        let mut catalog = self.catalog.write();
        for (key, file) in written {
            catalog.add_file(tenant, &key, file.entries);
        }
        Ok(())
    }

    pub fn select(&self, tenant: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<SelectedStream> {
        self.catalog.read().tenants.get(tenant).map(|t| t.index.select(matchers, from, through)).unwrap_or_default()
    }

    pub fn label_names(&self, tenant: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<String> {
        self.catalog.read().tenants.get(tenant).map(|t| t.index.label_names(matchers, from, through)).unwrap_or_default()
    }

    pub fn label_values(&self, tenant: &str, name: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<String> {
        self.catalog.read().tenants.get(tenant).map(|t| t.index.label_values(name, matchers, from, through)).unwrap_or_default()
    }

    pub fn tenants(&self) -> Vec<String> {
        self.catalog.read().tenants.keys().cloned().collect()
    }

    /// Reads a chunk through the cache.
    pub async fn get_chunk(&self, key: &str) -> Result<Arc<Chunk>, StorageError> {
        if let Some(chunk) = self.cache.get(key) {
            return Ok(chunk);
        }
        let bytes = crate::read_object(self.objects.as_ref(), key).await?;
        self.chunks_fetched.fetch_add(1, Ordering::Relaxed);
        self.chunk_bytes_fetched.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let chunk = decode_chunk(bytes.to_vec()).map_err(|source| StorageError::Chunk { key: key.to_string(), source })?;
        let chunk = Arc::new(chunk);
        self.cache.insert(key.to_string(), chunk.clone());
        Ok(chunk)
    }

    /// Total bytes of objects under a prefix (`chunks`, `index`), for benchmarks.
    pub async fn bytes_under(&self, prefix: &str) -> Result<u64, StorageError> {
        let prefix = ObjectPath::from(prefix);
        let metas: Vec<_> = self.objects.list(Some(&prefix)).try_collect().await?;
        Ok(metas.iter().map(|m| m.size).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_chunk::{Codec, HeadBlock, encode_chunk};

    #[tokio::test]
    async fn chunks_round_trip_and_index_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::local(dir.path(), "test", 1 << 20).unwrap();
        let mut head = HeadBlock::new();
        head.append(100, "hello", &[]);
        let bytes = encode_chunk(&[head.cut(Codec::Zstd(3)).unwrap()]);
        let labels = LabelSet::from_pairs([("job", "x")]);
        let chunk = store.put_chunk("fake", 7, bytes, ChunkSummary { from: 100, through: 100, entries: 1, raw_bytes: 5 }).await.unwrap();
        store.index_chunks("fake", vec![(7, labels.clone(), chunk.clone())]).await.unwrap();
        let m = [LabelMatcher::Eq("job".into(), "x".into())];
        assert_eq!(store.select("fake", &m, 0, 200).len(), 1);
        assert!(store.select("other", &m, 0, 200).is_empty());
        assert_eq!(store.get_chunk(&chunk.key).await.unwrap().entries(), 1);

        let reopened = Store::local(dir.path(), "test2", 1 << 20).unwrap();
        assert_eq!(reopened.load_index().await.unwrap(), 1);
        assert_eq!(reopened.select("fake", &m, 0, 200)[0].chunks[0], chunk);
    }
}
