//! The flush loop: seals chunks that are idle, old or forced, writes sealed chunks to
//! the store (one pack per tenant and day, `docs/packs.md`), indexes them, drops them
//! from memory and releases WAL segments.

use crate::IngestError;
use crate::ingester::Ingester;
use crate::stream::SealedChunk;
use skald_chunk::{PackInput, encode_chunk};
use skald_common::LabelSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What one flush did.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlushReport {
    pub chunks: u64,
    pub bytes: u64,
    pub streams_removed: u64,
    pub wal_segments_removed: u64,
}

struct Pending {
    tenant: String,
    fingerprint: u64,
    labels: LabelSet,
    /// Identifies the sealed chunk in the stream: (from, through, entries).
    id: (i64, i64, u64),
    bytes: Vec<u8>,
    from: i64,
    through: i64,
    entries: u64,
    raw_bytes: u64,
    reason: &'static str,
}

impl Ingester {
    /// Runs until the process ends: flushes every `flush_check_period` and whenever a
    /// chunk is sealed. Errors are logged and retried on the next round with backoff.
    pub async fn run_flush_loop(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.flush_check_period) => {}
                _ = self.flush_notify.notified() => {}
            }
            match self.flush(false).await {
                Ok(report) => {
                    backoff = Duration::from_millis(500);
                    if report.chunks > 0 {
                        tracing::debug!(chunks = report.chunks, bytes = report.bytes, "flushed chunks");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "flush failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// Seals what is due (everything when `force`), writes sealed chunks, indexes them.
    pub async fn flush(&self, force: bool) -> Result<FlushReport, IngestError> {
        let _serial = self.flush_lock.lock().await;
        let pending = self.collect_due(force);
        let mut report = FlushReport::default();
        let mut by_tenant: std::collections::BTreeMap<String, Vec<Pending>> = Default::default();
        for chunk in pending {
            by_tenant.entry(chunk.tenant.clone()).or_default().push(chunk);
        }
        for (tenant, chunks) in by_tenant {
            let mut refs = Vec::with_capacity(chunks.len());
            let mut ids = Vec::with_capacity(chunks.len());
            // One pack per day (of each chunk's first entry), the streams side by side.
            let mut by_day: std::collections::BTreeMap<i64, Vec<Pending>> = Default::default();
            for chunk in chunks {
                by_day.entry(skald_index::day_of(chunk.from)).or_default().push(chunk);
            }
            for (day, mut chunks) in by_day {
                chunks.sort_by_key(|c| (c.fingerprint, c.from));
                let mut inputs = Vec::with_capacity(chunks.len());
                let mut described = Vec::with_capacity(chunks.len());
                for chunk in chunks {
                    report.bytes += chunk.bytes.len() as u64;
                    *self.flush_reasons.lock().entry(chunk.reason).or_default() += 1;
                    inputs.push(PackInput {
                        fingerprint: chunk.fingerprint,
                        from: chunk.from,
                        through: chunk.through,
                        entries: chunk.entries,
                        raw_bytes: chunk.raw_bytes,
                        bytes: chunk.bytes,
                    });
                    described.push((chunk.fingerprint, chunk.labels, chunk.id));
                }
                let written = self.store.put_pack(&tenant, day, inputs).await?;
                for ((fingerprint, labels, id), chunk_ref) in described.into_iter().zip(written) {
                    refs.push((fingerprint, labels, chunk_ref));
                    ids.push((fingerprint, id));
                }
            }
            self.store.index_chunks(&tenant, refs).await?;
            report.chunks += ids.len() as u64;
            self.chunks_flushed.fetch_add(ids.len() as u64, Ordering::Relaxed);
            self.drop_flushed(&tenant, &ids);
        }
        report.streams_removed = self.remove_empty_streams(force);
        report.wal_segments_removed = self.release_wal()?;
        Ok(report)
    }

    /// Seals due chunks and encodes every sealed chunk (under each stream's lock, briefly).
    fn collect_due(&self, force: bool) -> Vec<Pending> {
        let idle = self.cfg.chunk_idle_period;
        let max_age = self.cfg.max_chunk_age.as_nanos() as i64;
        let mut out = Vec::new();
        let tenants: Vec<(String, Arc<crate::ingester::Tenant>)> =
            self.tenants.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (tenant_id, tenant) in tenants {
            let streams: Vec<_> = tenant.streams.read().values().cloned().collect();
            for stream in streams {
                let mut state = stream.lock();
                let reason = if force {
                    Some("forced")
                } else if state.last_append.elapsed() >= idle && (state.has_uncompressed() || !state.blocks.is_empty()) {
                    Some("idle")
                } else if state.open_span() > max_age {
                    Some("max_age")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    let before = state.memory_bytes();
                    state.cut_head(&self.cfg);
                    state.seal(reason);
                    let after = state.memory_bytes();
                    self.head_bytes.fetch_sub(before.saturating_sub(after), Ordering::Relaxed);
                }
                for sealed in &state.sealed {
                    out.push(encode_pending(&tenant_id, state.fingerprint, &state.labels, sealed));
                }
            }
        }
        out
    }

    fn drop_flushed(&self, tenant_id: &str, ids: &[(u64, (i64, i64, u64))]) {
        let Some(tenant) = self.tenants.read().get(tenant_id).cloned() else { return };
        let streams = tenant.streams.read();
        for (fp, id) in ids {
            if let Some(stream) = streams.get(fp) {
                stream.lock().sealed.retain(|c| (c.from, c.through, c.entries) != *id);
            }
        }
    }

    /// Forgets streams with nothing in memory that have been idle (all of them when
    /// forced), so memory follows active streams.
    fn remove_empty_streams(&self, force: bool) -> u64 {
        let idle = self.cfg.chunk_idle_period;
        let mut removed = 0;
        for tenant in self.tenants.read().values() {
            let mut streams = tenant.streams.write();
            let mut postings = tenant.postings.write();
            streams.retain(|fp, stream| {
                let state = stream.lock();
                let remove = state.is_empty() && (force || state.last_append.elapsed() >= idle);
                if remove {
                    postings.remove(*fp);
                    removed += 1;
                }
                !remove
            });
        }
        removed
    }

    /// Deletes WAL segments that no stream needs any more.
    fn release_wal(&self) -> Result<u64, IngestError> {
        let Some(wal) = &self.wal else { return Ok(0) };
        let _gate = self.wal_gate.write();
        let mut oldest: Option<u64> = None;
        for tenant in self.tenants.read().values() {
            for stream in tenant.streams.read().values() {
                if let Some(segment) = stream.lock().oldest_segment() {
                    oldest = Some(oldest.map_or(segment, |o: u64| o.min(segment)));
                }
            }
        }
        let keep_from = match oldest {
            Some(segment) => segment,
            // Nothing unflushed: start a fresh segment so the old ones can all go.
            None => wal.rotate()?,
        };
        Ok(wal.remove_segments_before(keep_from)? as u64)
    }
}

fn encode_pending(tenant: &str, fingerprint: u64, labels: &LabelSet, sealed: &SealedChunk) -> Pending {
    Pending {
        tenant: tenant.to_string(),
        fingerprint,
        labels: labels.clone(),
        id: (sealed.from, sealed.through, sealed.entries),
        bytes: encode_chunk(&sealed.blocks.iter().map(|b| b.as_ref()).collect::<Vec<_>>()),
        from: sealed.from,
        through: sealed.through,
        entries: sealed.entries,
        raw_bytes: sealed.raw_bytes,
        reason: sealed.reason,
    }
}
