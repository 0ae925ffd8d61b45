//! Keeping the in-memory index in step with object storage: other nodes write index
//! files, and the compactor replaces and deletes them.
//!
//! A refresh snapshots the files it knows *before* listing, so a file this process
//! writes meanwhile (recorded by `index_chunks` after its `put`) is never taken for a
//! deleted one. New files are added before vanished files are removed, so a merged file
//! replacing its inputs leaves no moment in which the chunks are invisible.

use crate::catalog::tenant_of_index_key;
use crate::{StorageError, Store};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use skald_index::IndexFile;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// What one refresh changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshReport {
    pub files_added: usize,
    pub files_removed: usize,
    pub chunks_removed: usize,
}

impl Store {
    /// Lists index files; loads the ones not seen yet and forgets the ones deleted.
    pub async fn refresh_index(&self) -> Result<RefreshReport, StorageError> {
        let known = self.catalog.read().file_keys();
        let prefix = ObjectPath::from("index");
        let metas: Vec<_> = self.objects().list(Some(&prefix)).try_collect().await?;
        let mut listed = HashSet::with_capacity(metas.len());
        let mut loaded: Vec<(String, String, Vec<_>)> = Vec::new();
        for meta in metas {
            let key = meta.location.to_string();
            let Some(tenant) = tenant_of_index_key(&key).map(str::to_string) else { continue };
            listed.insert(key.clone());
            if known.contains(&key) {
                continue;
            }
            let bytes = match crate::read_object(self.objects().as_ref(), &key).await {
                Ok(bytes) => bytes,
                // Deleted (by the compactor) between the listing and the read.
                Err(StorageError::NotFound { .. }) => {
                    listed.remove(&key);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let entries = match IndexFile::decode(&bytes) {
                Ok(file) => file.entries,
                Err(source) => {
                    tracing::warn!(%key, error = %source, "skipping corrupt index file");
                    Vec::new()
                }
            };
            loaded.push((tenant, key, entries));
        }
        let mut report = RefreshReport::default();
        let mut catalog = self.catalog.write();
        for (tenant, key, entries) in loaded {
            if !catalog.has_file(&key) {
                catalog.add_file(&tenant, &key, entries);
                report.files_added += 1;
            }
        }
        for key in known.difference(&listed) {
            if catalog.has_file(key) {
                report.chunks_removed += catalog.remove_file(key).len();
                report.files_removed += 1;
            }
        }
        Ok(report)
    }

    /// Refreshes the index every `every` until the process ends; failures are logged
    /// and the next round tries again.
    pub async fn run_refresh_loop(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            match self.refresh_index().await {
                Ok(report) if report != RefreshReport::default() => tracing::debug!(?report, "index refreshed"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "index refresh failed; retrying next round"),
            }
        }
    }
}
