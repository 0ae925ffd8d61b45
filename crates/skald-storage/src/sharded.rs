//! Several buckets as one store (Loki's `bucketnames: a,b,c`): each object lives in
//! the bucket picked by the FNV-1a hash of its key, modulo the number of buckets, as
//! Loki spreads chunks; listings ask every bucket.

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};
use std::ops::Range;
use std::sync::Arc;

/// One store for `stores`: the store itself when there is one.
pub fn spread(mut stores: Vec<Arc<dyn ObjectStore>>) -> Arc<dyn ObjectStore> {
    if stores.len() == 1 {
        return stores.remove(0);
    }
    Arc::new(Sharded { shards: Arc::new(stores) })
}

#[derive(Debug)]
struct Sharded {
    shards: Arc<Vec<Arc<dyn ObjectStore>>>,
}

/// The shard of a key: FNV-1a (32 bit) of its bytes, as Loki's `bucketFromKey`.
fn shard_of(key: &str, shards: usize) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.as_bytes() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as usize % shards
}

impl Sharded {
    fn shard(&self, location: &Path) -> &Arc<dyn ObjectStore> {
        &self.shards[shard_of(location.as_ref(), self.shards.len())]
    }
}

impl std::fmt::Display for Sharded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sharded({} buckets)", self.shards.len())
    }
}

#[async_trait]
impl ObjectStore for Sharded {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.shard(location).put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.shard(location).put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.shard(location).get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.shard(location).get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let shards = self.shards.clone();
        locations
            .and_then(move |location| {
                let store = shards[shard_of(location.as_ref(), shards.len())].clone();
                async move {
                    store.delete(&location).await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let listings: Vec<_> = self.shards.iter().map(|store| store.list(prefix)).collect();
        futures::stream::iter(listings).flatten().boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut merged = ListResult { common_prefixes: Vec::new(), objects: Vec::new(), extensions: Default::default() };
        for store in self.shards.iter() {
            let part = store.list_with_delimiter(prefix).await?;
            merged.common_prefixes.extend(part.common_prefixes);
            merged.objects.extend(part.objects);
        }
        merged.common_prefixes.sort();
        merged.common_prefixes.dedup();
        merged.objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(merged)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let (source, target) = (self.shard(from), self.shard(to));
        if Arc::ptr_eq(source, target) {
            return source.copy_opts(from, to, options).await;
        }
        let bytes = source.get(from).await?.bytes().await?;
        let mode = match options.mode {
            object_store::CopyMode::Overwrite => object_store::PutMode::Overwrite,
            object_store::CopyMode::Create => object_store::PutMode::Create,
        };
        target.put_opts(to, bytes.into(), PutOptions { mode, ..PutOptions::default() }).await?;
        Ok(())
    }
}

use bytes::Bytes;

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn keys_spread_as_loki_spreads_them() {
        // FNV-1a of "" is its offset basis; of "a" the published test vector.
        assert_eq!(shard_of("", 1 << 31), 0x811c_9dc5 % (1 << 31));
        assert_eq!(shard_of("a", usize::MAX), 0xe40c_292c);
    }

    #[tokio::test]
    async fn every_object_is_found_in_its_bucket() {
        let buckets: Vec<Arc<InMemory>> = (0..3).map(|_| Arc::new(InMemory::new())).collect();
        let store = spread(buckets.iter().map(|b| b.clone() as Arc<dyn ObjectStore>).collect());
        for i in 0..30 {
            store.put(&Path::from(format!("chunks/t/{i}")), PutPayload::from(vec![i as u8])).await.unwrap();
        }
        let per_bucket: Vec<usize> = futures::future::join_all(buckets.iter().map(|b| b.list(None).count())).await;
        assert_eq!(per_bucket.iter().sum::<usize>(), 30);
        assert!(per_bucket.iter().all(|&n| n > 0), "{per_bucket:?}");
        assert_eq!(store.list(Some(&Path::from("chunks"))).count().await, 30);
        assert_eq!(store.get(&Path::from("chunks/t/7")).await.unwrap().bytes().await.unwrap().as_ref(), &[7]);
        store.copy(&Path::from("chunks/t/7"), &Path::from("other/7")).await.unwrap();
        let deleted: Vec<_> = store
            .delete_stream(futures::stream::iter(vec![Ok(Path::from("chunks/t/7")), Ok(Path::from("other/7"))]).boxed())
            .collect()
            .await;
        assert!(deleted.iter().all(|r| r.is_ok()));
        assert_eq!(store.list(None).count().await, 29);
        assert_eq!(store.list_with_delimiter(Some(&Path::from("chunks/t"))).await.unwrap().objects.len(), 29);
    }
}
