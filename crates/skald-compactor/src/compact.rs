//! One compaction pass: for each tenant and day, merge its index files into one,
//! dropping expired chunks (retention), rewriting chunks that delete requests touch,
//! and merging the day's small packs (and chunk objects of the layout before packs)
//! into one pack (`docs/packs.md`).
//!
//! Order of writes, so that `kill -9` at any point loses nothing and counts nothing
//! twice:
//! 1. the new pack (rewritten chunks, and the chunks of the packs merged) is written
//!    under a new name (unreferenced until step 2);
//! 2. the merged index file is written (new name); readers that see it and the inputs
//!    together count each chunk once, because the index dedupes chunks by key, and at
//!    worst read a chunk twice from two packs, which queries deduplicate;
//! 3. a deletion marker lists the objects (packs, chunk objects) no kept entry names;
//! 4. the input index files are deleted;
//! 5. delete requests are marked processed, and markers older than
//!    `retention_delete_delay` are swept (objects deleted).
//!
//! A restart after any step re-runs the pass: merging already merged files changes
//! nothing, a rewritten chunk no longer holds what a delete request removes, and two
//! copies of a chunk (the same stream, time range and bytes) are packed once.

use crate::deletes::{CompiledDelete, DeleteStatus};
use crate::plan::{self, MergePlan};
use crate::replicas;
use crate::retention::Retention;
use crate::rewrite::{Rewrite, rewrite_chunk};
use crate::{CompactorConfig, CompactorError, deletes, markers};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use skald_chunk::PackInput;
use skald_common::LabelSet;
use skald_index::{ChunkRef, IndexFile, locate};
use skald_storage::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    pub index_files_merged: u64,
    pub index_files_written: u64,
    pub chunks_expired: u64,
    pub chunks_rewritten: u64,
    pub chunks_emptied: u64,
    pub delete_requests_processed: u64,
    /// Objects deleted by the sweep (packs, and chunk objects of the old layout).
    pub chunks_deleted: u64,
    /// Packs and chunk objects merged into new packs.
    pub objects_merged: u64,
    pub packs_written: u64,
    /// Chunks of a stream that overlapped another (replicas' copies) merged into one
    /// sequence, and the copies of entries that dropped out (`replicas.rs`).
    pub overlapping_chunks_merged: u64,
    pub duplicate_entries_dropped: u64,
}

/// Each tenant's retention rules (`limits_config` with the tenant's overrides).
pub type RetentionFn = Arc<dyn Fn(&str) -> Retention + Send + Sync>;

pub struct Compactor {
    store: Arc<Store>,
    config: CompactorConfig,
    retention: RetentionFn,
}

pub(crate) type Entry = (u64, LabelSet, ChunkRef);

impl Compactor {
    /// A compactor applying the same retention to every tenant.
    pub fn new(store: Arc<Store>, config: CompactorConfig, retention: Retention) -> Compactor {
        Compactor::per_tenant(store, config, Arc::new(move |_| retention.clone()))
    }

    /// A compactor asking each tenant's retention on every pass (per-tenant overrides).
    pub fn per_tenant(store: Arc<Store>, config: CompactorConfig, retention: RetentionFn) -> Compactor {
        Compactor { store, config, retention }
    }

    pub fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// Runs one pass at time `now` (Unix nanoseconds).
    pub async fn run_once(&self, now: i64) -> Result<CompactionReport, CompactorError> {
        let mut report = CompactionReport::default();
        let objects = self.store.objects().clone();
        let due = self.due_delete_requests(now).await?;
        let prefix = ObjectPath::from("index");
        let metas: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
        let mut groups: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
        for meta in metas {
            let key = meta.location.to_string();
            let parts: Vec<&str> = key.split('/').collect();
            let [_, tenant, day, _name] = parts.as_slice() else { continue };
            let Ok(day) = day.parse::<i64>() else { continue };
            groups.entry((tenant.to_string(), day)).or_default().push(key);
        }
        for ((tenant, day), keys) in groups {
            let requests: Vec<&CompiledDelete> = due.iter().filter(|d| d.request.tenant == tenant).collect();
            self.compact_day(&tenant, day, keys, &requests, now, &mut report).await?;
        }
        for delete in due {
            let mut request = delete.request;
            request.status = DeleteStatus::Processed;
            deletes::put_request(objects.as_ref(), &request).await?;
            report.delete_requests_processed += 1;
        }
        // Our own queriers forget dropped chunks before the sweep may delete them.
        self.store.refresh_index().await?;
        report.chunks_deleted = markers::sweep(objects.as_ref(), now, self.config.retention_delete_delay).await?;
        Ok(report)
    }

    async fn due_delete_requests(&self, now: i64) -> Result<Vec<CompiledDelete>, CompactorError> {
        let mut due = Vec::new();
        for request in deletes::list_requests(self.store.objects().as_ref(), None).await? {
            if request.status != DeleteStatus::Received || request.created_at.saturating_add(self.config.delete_request_cancel_period) > now
            {
                continue;
            }
            match CompiledDelete::new(request) {
                Ok(compiled) => due.push(compiled),
                Err(error) => tracing::warn!(%error, "skipping a delete request that no longer parses"),
            }
        }
        Ok(due)
    }

    async fn compact_day(
        &self,
        tenant: &str,
        day: i64,
        keys: Vec<String>,
        requests: &[&CompiledDelete],
        now: i64,
        report: &mut CompactionReport,
    ) -> Result<(), CompactorError> {
        let objects = self.store.objects().clone();
        let mut inputs = Vec::with_capacity(keys.len());
        let mut merged: BTreeMap<String, Entry> = BTreeMap::new();
        let mut duplicates = false;
        for key in keys {
            let bytes = match skald_storage::read_object(objects.as_ref(), &key).await {
                Ok(bytes) => bytes,
                Err(skald_storage::StorageError::NotFound { .. }) => continue,
                Err(error) => return Err(error.into()),
            };
            let file = match IndexFile::decode(&bytes) {
                Ok(file) => file,
                Err(error) => {
                    // Left in place (not an input), so nothing it names is lost.
                    tracing::warn!(%key, %error, "not compacting a corrupt index file");
                    continue;
                }
            };
            for entry in file.entries {
                if merged.contains_key(&entry.2.key) {
                    duplicates = true;
                    continue;
                }
                merged.insert(entry.2.key.clone(), entry);
            }
            inputs.push(key);
        }
        let mut changed = inputs.len() > 1 || duplicates;
        let retention = (self.retention)(tenant);
        let mut dropped: Vec<String> = Vec::new();
        let mut kept: Vec<Entry> = Vec::with_capacity(merged.len());
        // Rewritten chunks, written with the day's new pack below.
        let mut fresh: Vec<(LabelSet, PackInput)> = Vec::new();
        for (_, (fingerprint, labels, chunk)) in merged {
            if self.config.retention_enabled && retention.expired(&labels, chunk.through, now) {
                report.chunks_expired += 1;
                dropped.push(chunk.key);
                changed = true;
                continue;
            }
            let touching: Vec<&CompiledDelete> =
                requests.iter().copied().filter(|r| r.touches(&labels, chunk.from, chunk.through)).collect();
            if touching.is_empty() {
                kept.push((fingerprint, labels, chunk));
                continue;
            }
            let rewrite = match rewrite_chunk(&self.store, fingerprint, &labels, &chunk, &touching).await {
                // Already swept (a pass interrupted after its sweep): nothing to rewrite.
                Err(CompactorError::Storage(skald_storage::StorageError::NotFound { key })) => {
                    tracing::warn!(%key, "dropping an index entry whose chunk is gone");
                    Rewrite::Emptied
                }
                other => other?,
            };
            match rewrite {
                Rewrite::Unchanged => kept.push((fingerprint, labels, chunk)),
                Rewrite::Emptied => {
                    report.chunks_emptied += 1;
                    dropped.push(chunk.key);
                    changed = true;
                }
                Rewrite::Replaced(new_chunk) => {
                    report.chunks_rewritten += 1;
                    dropped.push(chunk.key);
                    fresh.push((labels, new_chunk));
                    changed = true;
                }
            }
        }
        let plan = plan::plan_merge(self.store.objects().as_ref(), &kept, &dropped, !fresh.is_empty()).await?;
        if !changed && plan.is_empty() {
            return Ok(());
        }
        let mut seen: HashSet<String> = HashSet::with_capacity(kept.len());
        kept.retain(|e| seen.insert(e.2.key.clone()));
        if !plan.is_empty() || !fresh.is_empty() {
            kept = self.merge_into_pack(tenant, day, kept, fresh, &plan, report).await?;
        }
        // Objects that nothing kept names any more: packs and chunk objects that lost
        // their last chunk, and those merged into the new pack.
        let live: HashSet<&str> = kept.iter().map(|e| locate(&e.2.key).object).collect();
        let mut dead: Vec<String> = dropped.iter().map(|key| locate(key).object.to_string()).chain(plan.objects).collect();
        dead.retain(|object| !live.contains(object.as_str()));
        dead.sort();
        dead.dedup();
        let dropped = dead;
        if !kept.is_empty() {
            let key = self.store.new_index_key(tenant, day);
            let file = IndexFile { entries: kept };
            objects.put(&ObjectPath::from(key), PutPayload::from(file.encode())).await?;
            report.index_files_written += 1;
        }
        markers::write_marker(objects.as_ref(), self.store.writer(), now, &dropped).await?;
        for key in &inputs {
            match objects.delete(&ObjectPath::from(key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        report.index_files_merged += inputs.len() as u64;
        tracing::debug!(tenant, day, inputs = inputs.len(), dropped = dropped.len(), "compacted index files");
        Ok(())
    }

    /// Reads the kept chunks that `plan` moves (those of its objects, and its chunks),
    /// adds the rewritten chunks, and writes them all as the day's new pack; returns the
    /// kept entries with those chunks named in the new pack. Two copies of a chunk (same
    /// stream, time range and bytes: a WAL replay flushes it twice) are packed once, and
    /// chunks of a stream that overlap are merged into one copy (`replicas.rs`).
    async fn merge_into_pack(
        &self,
        tenant: &str,
        day: i64,
        kept: Vec<Entry>,
        fresh: Vec<(LabelSet, PackInput)>,
        plan: &MergePlan,
        report: &mut CompactionReport,
    ) -> Result<Vec<Entry>, CompactorError> {
        let merging: HashSet<&str> = plan.objects.iter().map(String::as_str).collect();
        let (moving, mut staying): (Vec<Entry>, Vec<Entry>) =
            kept.into_iter().partition(|e| merging.contains(locate(&e.2.key).object) || plan.chunks.contains(&e.2.key));
        let keys: Vec<String> = moving.iter().map(|e| e.2.key.clone()).collect();
        let mut packed: Vec<(LabelSet, PackInput)> = fresh;
        for ((fingerprint, labels, chunk_ref), read) in moving.into_iter().zip(self.store.get_chunks(&keys).await) {
            let chunk = match read {
                Ok(chunk) => chunk,
                // Already swept (an index file restored after its objects went): the
                // entry names nothing, as in the rewrite of deletes.
                Err(skald_storage::StorageError::NotFound { key }) => {
                    tracing::warn!(%key, "dropping an index entry whose object is gone");
                    continue;
                }
                Err(error) => return Err(CompactorError::Storage(error)),
            };
            let input = PackInput {
                fingerprint,
                from: chunk_ref.from,
                through: chunk_ref.through,
                entries: chunk_ref.entries,
                raw_bytes: chunk_ref.raw_bytes,
                bytes: chunk.bytes.clone(),
            };
            packed.push((labels, input));
        }
        let mut copies: HashSet<(u64, i64, i64, u32)> = HashSet::with_capacity(packed.len());
        packed.retain(|(_, c)| copies.insert((c.fingerprint, c.from, c.through, crc32c::crc32c(&c.bytes))));
        let (packed, overlaps) = replicas::merge_overlapping(packed)?;
        report.overlapping_chunks_merged += overlaps.chunks_merged;
        report.duplicate_entries_dropped += overlaps.duplicate_entries;
        let labels: Vec<(u64, LabelSet)> = packed.iter().map(|(labels, c)| (c.fingerprint, labels.clone())).collect();
        let refs = self.store.put_pack(tenant, day, packed.into_iter().map(|(_, c)| c).collect()).await?;
        report.objects_merged += merging.len() as u64;
        report.packs_written += refs.iter().map(|r| locate(&r.key).object).collect::<HashSet<_>>().len() as u64;
        staying.extend(labels.into_iter().zip(refs).map(|((fingerprint, labels), chunk_ref)| (fingerprint, labels, chunk_ref)));
        Ok(staying)
    }
}
