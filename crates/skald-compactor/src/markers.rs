//! Deletion markers: objects (packs, chunk objects) no index names any more, to be deleted after
//! `retention_delete_delay` (queriers that loaded the old index may still read them).
//!
//! A marker is one object `compactor/markers/<created:020>-<writer>-<n>.txt` listing
//! chunk keys, one a line. It is written only after the index that no longer names the
//! chunks, so a crash never deletes a chunk that an index file still names; the sweep
//! deletes the chunks, then the marker (deleting an already deleted chunk is fine).

use crate::CompactorError;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::atomic::{AtomicU64, Ordering};

const PREFIX: &str = "compactor/markers";

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

pub async fn write_marker(objects: &dyn ObjectStore, writer: &str, now: i64, chunk_keys: &[String]) -> Result<(), CompactorError> {
    if chunk_keys.is_empty() {
        return Ok(());
    }
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let key = format!("{PREFIX}/{:020}-{writer}-{n}.txt", now.max(0));
    let body = chunk_keys.join("\n");
    objects.put(&ObjectPath::from(key), PutPayload::from(body.into_bytes())).await?;
    Ok(())
}

/// Deletes the chunks of markers older than `delay`; returns how many chunks went.
pub async fn sweep(objects: &dyn ObjectStore, now: i64, delay: i64) -> Result<u64, CompactorError> {
    let prefix = ObjectPath::from(PREFIX);
    let metas: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
    let mut deleted = 0;
    for meta in metas {
        let key = meta.location.to_string();
        let Some(name) = key.rsplit('/').next() else { continue };
        let Some(created) = name.split('-').next().and_then(|t| t.parse::<i64>().ok()) else {
            tracing::warn!(%key, "ignoring a marker with an unreadable name");
            continue;
        };
        if created.saturating_add(delay) > now {
            continue;
        }
        let body = match skald_storage::read_object(objects, &key).await {
            Ok(body) => body,
            Err(skald_storage::StorageError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        for chunk_key in String::from_utf8_lossy(&body).lines().filter(|l| !l.is_empty()) {
            match objects.delete(&ObjectPath::from(chunk_key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(error) => return Err(error.into()),
            }
        }
        match objects.delete(&meta.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(deleted)
}
