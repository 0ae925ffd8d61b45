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
use skald_chunk::{Chunk, PackInput, decode_chunk, encode_pack};
use skald_common::LabelSet;
use skald_index::{ChunkRef, IndexFile, LabelMatcher, SelectedStream, day_of, locate, pack_chunk_key};
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
    pub packs_written: u64,
    pub index_files_written: u64,
    pub chunks_fetched: u64,
    pub chunk_bytes_fetched: u64,
    /// Read requests sent to the object store (one per object, or per coalesced set of
    /// ranges of a pack).
    pub requests: u64,
    pub cache_bytes: u64,
}

/// A chunk a read wants from an object: its result slot, and its byte range (`None`:
/// the whole object).
type Wanted = (usize, Option<(u64, u64)>);

/// A pack is closed past this many bytes of chunks and the next one begun, so no
/// object grows without bound (docs/packs.md).
pub const PACK_TARGET_BYTES: usize = 64 << 20;

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
    packs_written: AtomicU64,
    requests: AtomicU64,
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
            packs_written: AtomicU64::new(0),
            requests: AtomicU64::new(0),
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
            packs_written: self.packs_written.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            cache_bytes: self.cache.bytes() as u64,
        }
    }

    /// Reads every index file into memory. Called once at startup, before serving;
    /// [`Store::refresh_index`] picks up later changes.
    pub async fn load_index(&self) -> Result<usize, StorageError> {
        Ok(self.refresh_index().await?.files_added)
    }

    /// A fresh, unique key for a pack of `tenant` and `day` written by this store.
    pub fn new_pack_key(&self, tenant: &str, day: i64) -> String {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("packs/{tenant}/{day}/{}-{sequence:016x}.pack", self.writer)
    }

    /// Writes chunks of one tenant and day as packs (a new one past
    /// [`PACK_TARGET_BYTES`]); returns each chunk's reference, in the order given (not
    /// yet indexed: see [`Store::index_chunks`]). Callers give chunks sorted by
    /// fingerprint and time, so a query's chunks sit side by side.
    pub async fn put_pack(&self, tenant: &str, day: i64, chunks: Vec<PackInput>) -> Result<Vec<ChunkRef>, StorageError> {
        let mut refs = Vec::with_capacity(chunks.len());
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut chunks = chunks.into_iter().peekable();
        while let Some(chunk) = chunks.next() {
            batch_bytes += chunk.bytes.len();
            batch.push(chunk);
            if batch_bytes >= PACK_TARGET_BYTES || chunks.peek().is_none() {
                refs.extend(self.put_one_pack(tenant, day, std::mem::take(&mut batch)).await?);
                batch_bytes = 0;
            }
        }
        Ok(refs)
    }

    async fn put_one_pack(&self, tenant: &str, day: i64, chunks: Vec<PackInput>) -> Result<Vec<ChunkRef>, StorageError> {
        let key = self.new_pack_key(tenant, day);
        let count = chunks.len() as u64;
        let (parts, entries) = encode_pack(chunks);
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let payload: PutPayload = parts.into_iter().map(bytes::Bytes::from).collect();
        self.objects.put(&ObjectPath::from(key.as_str()), payload).await?;
        self.packs_written.fetch_add(1, Ordering::Relaxed);
        self.chunks_written.fetch_add(count, Ordering::Relaxed);
        self.chunk_bytes_written.fetch_add(size, Ordering::Relaxed);
        Ok(entries
            .into_iter()
            .map(|e| ChunkRef {
                key: pack_chunk_key(&key, e.offset, e.length),
                from: e.from,
                through: e.through,
                entries: e.entries,
                raw_bytes: e.raw_bytes,
                size: e.length,
            })
            .collect())
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
        self.get_chunks(&[key.to_string()]).await.pop().expect("one result per key")
    }

    /// Reads chunks through the cache, one result per key in order. The chunks of one
    /// pack are read with one ranged request (neighbouring ranges coalesced), so the
    /// requests grow with the packs a query touches, not with its streams.
    pub async fn get_chunks<K: AsRef<str>>(&self, keys: &[K]) -> Vec<Result<Arc<Chunk>, StorageError>> {
        let mut results: Vec<Option<Result<Arc<Chunk>, StorageError>>> =
            keys.iter().map(|key| self.cache.get(key.as_ref()).map(Ok)).collect();
        // Misses by object: (result slot, range).
        let mut by_object: HashMap<&str, Vec<Wanted>> = HashMap::new();
        for (slot, key) in keys.iter().enumerate() {
            if results[slot].is_none() {
                let location = locate(key.as_ref());
                by_object.entry(location.object).or_default().push((slot, location.range));
            }
        }
        let reads = by_object.into_iter().map(|(object, wanted)| async move { (wanted.clone(), self.read_ranges(object, &wanted).await) });
        for (wanted, read) in futures::future::join_all(reads).await {
            match read {
                Ok(parts) => {
                    for ((slot, _), bytes) in wanted.into_iter().zip(parts) {
                        results[slot] = Some(self.decode_and_cache(keys[slot].as_ref(), bytes));
                    }
                }
                Err(error) => {
                    for (slot, _) in wanted {
                        results[slot] = Some(Err(match &error {
                            StorageError::NotFound { key } => StorageError::NotFound { key: key.clone() },
                            StorageError::Unavailable(inner) => StorageError::Unavailable(inner.clone()),
                            other => StorageError::Setup(format!("reading {}: {other}", keys[slot].as_ref())),
                        }));
                    }
                }
            }
        }
        results.into_iter().map(|r| r.expect("every slot filled")).collect()
    }

    /// The bytes of `object` for each wanted range (`None`: the whole object), in order.
    async fn read_ranges(&self, object: &str, wanted: &[Wanted]) -> Result<Vec<bytes::Bytes>, StorageError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if wanted.iter().any(|(_, range)| range.is_none()) {
            let whole = crate::read_object(self.objects.as_ref(), object).await?;
            return Ok(wanted
                .iter()
                .map(|(_, range)| match range {
                    Some((offset, length)) => {
                        whole.slice((*offset as usize).min(whole.len())..((offset + length) as usize).min(whole.len()))
                    }
                    None => whole.clone(),
                })
                .collect());
        }
        let ranges: Vec<std::ops::Range<u64>> =
            wanted.iter().filter_map(|(_, r)| r.map(|(offset, length)| offset..offset + length)).collect();
        let path = ObjectPath::from(object);
        self.objects.get_ranges(&path, &ranges).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound { key: object.to_string() },
            other => StorageError::Unavailable(Arc::new(other)),
        })
    }

    fn decode_and_cache(&self, key: &str, bytes: bytes::Bytes) -> Result<Arc<Chunk>, StorageError> {
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

    fn input(fingerprint: u64, lines: usize) -> PackInput {
        let mut head = HeadBlock::new();
        for i in 0..lines {
            head.append(100 + i as i64, &format!("line {i} of {fingerprint}"), &[]);
        }
        let bytes = encode_chunk(&[head.cut(Codec::Zstd(3)).unwrap()]);
        PackInput { fingerprint, from: 100, through: 100 + lines as i64 - 1, entries: lines as u64, raw_bytes: 10, bytes }
    }

    #[tokio::test]
    async fn a_pack_holds_many_streams_and_reads_back_with_few_requests() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::local(dir.path(), "w", 1 << 20).unwrap();
        let inputs: Vec<PackInput> = (1..=50).map(|fp| input(fp, (fp % 7 + 1) as usize)).collect();
        let refs = store.put_pack("fake", 0, inputs).await.unwrap();
        assert_eq!(store.stats().packs_written, 1);
        assert!(refs.iter().all(|r| r.key.starts_with("packs/fake/0/w-") && r.key.contains(".pack#")));
        let labels = |fp: u64| LabelSet::from_pairs([("n", fp.to_string().as_str())]);
        store
            .index_chunks("fake", refs.iter().cloned().enumerate().map(|(i, r)| (i as u64 + 1, labels(i as u64 + 1), r)).collect())
            .await
            .unwrap();

        let reopened = Store::local(dir.path(), "r", 1 << 20).unwrap();
        reopened.load_index().await.unwrap();
        let keys: Vec<String> = refs.iter().map(|r| r.key.clone()).collect();
        let chunks = reopened.get_chunks(&keys).await;
        for (fp, chunk) in (1..=50u64).zip(&chunks) {
            assert_eq!(chunk.as_ref().unwrap().entries(), fp % 7 + 1);
        }
        assert_eq!(reopened.stats().requests, 1, "one request for the whole pack");
        reopened.get_chunks(&keys).await;
        assert_eq!(reopened.stats().requests, 1, "then the cache");
        // A corrupt range is an error for that chunk only.
        let bad = format!("{}#0+10", skald_index::locate(&keys[0]).object);
        let results = reopened.get_chunks(&[bad, "packs/fake/0/missing.pack#4+5".to_string()]).await;
        assert!(matches!(results[0], Err(StorageError::Chunk { .. })));
        assert!(matches!(results[1], Err(StorageError::NotFound { .. })));
    }
}
