//! The ingester: push, WAL replay and the read side for queriers.

use crate::IngestError;
use crate::config::IngesterConfig;
use crate::stream::{Rejection, Stream};
use crate::wal_record::{self, WalStream};
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use skald_chunk::EncodedBlock;
use skald_common::{Entry, LabelSet, PushStream, fingerprint, format_rfc3339_nanos};
use skald_index::{LabelMatcher, Postings};
use skald_storage::Store;
use skald_wal::{Wal, WalOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Notify, broadcast};

/// What happened to a push: entries kept, and one message per stream that had entries
/// refused (the caller answers 400 with them; the kept entries stay written).
#[derive(Debug, Default)]
pub struct PushOutcome {
    pub accepted_entries: u64,
    pub accepted_bytes: u64,
    pub duplicates: u64,
    pub errors: Vec<String>,
    /// Streams refused because the tenant has too many active streams (answered 429).
    pub stream_limit_errors: Vec<String>,
}

/// The data of one stream in a query range: blocks are shared, not copied (the head's
/// entries are copied into an uncompressed block).
#[derive(Debug, Clone)]
pub struct StreamSnapshot {
    pub fingerprint: u64,
    pub labels: LabelSet,
    pub blocks: Vec<Arc<EncodedBlock>>,
}

/// Entries just appended, for live tailing.
#[derive(Debug)]
pub struct TailBatch {
    pub tenant: String,
    pub streams: Vec<PushStream>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct IngesterStats {
    pub streams: u64,
    pub head_bytes: u64,
    pub entries_appended: u64,
    pub bytes_appended: u64,
    pub chunks_flushed: u64,
    pub chunks_sealed_pending: u64,
    pub wal_replayed_records: u64,
}

/// A stream's entries that passed the order and duplicate checks of one push.
type Accepted = (Arc<Mutex<Stream>>, u64, LabelSet, Vec<Entry>);

pub(crate) struct Tenant {
    pub streams: RwLock<FxHashMap<u64, Arc<Mutex<Stream>>>>,
    pub postings: RwLock<Postings>,
}

pub struct Ingester {
    pub(crate) cfg: IngesterConfig,
    pub(crate) wal: Option<Arc<Wal>>,
    pub(crate) store: Arc<Store>,
    pub(crate) tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    ready: AtomicBool,
    pub(crate) head_bytes: AtomicUsize,
    pub(crate) flush_notify: Notify,
    /// Pushes hold it shared from WAL append to memory append; WAL truncation holds it
    /// exclusively, so no acknowledged entry is ever only in a deleted segment.
    pub(crate) wal_gate: RwLock<()>,
    /// Serialises flushes.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    tail: broadcast::Sender<Arc<TailBatch>>,
    entries_appended: AtomicU64,
    bytes_appended: AtomicU64,
    pub(crate) chunks_flushed: AtomicU64,
    /// Set once the cutter thread runs: pushes then leave compression to it.
    background_cutting: AtomicBool,
    /// Wakes the cutter thread (a pending-work flag and its condition variable).
    cut_wanted: Mutex<bool>,
    cut_signal: parking_lot::Condvar,
    /// Chunks flushed by reason (full, idle, max_age, forced).
    pub(crate) flush_reasons: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    wal_replayed_records: AtomicU64,
    /// Each tenant's active-stream limit when it differs per tenant (runtime
    /// overrides); else `cfg.max_streams_per_tenant` for all.
    stream_limit: std::sync::OnceLock<StreamLimitFn>,
}

/// A tenant's active-stream limit (0 = unlimited).
pub type StreamLimitFn = Arc<dyn Fn(&str) -> usize + Send + Sync>;

impl Ingester {
    /// Looks each tenant's active-stream limit up with `limit` (per-tenant overrides)
    /// instead of `max_streams_per_tenant`. Set once, before pushes arrive.
    pub fn set_stream_limit(&self, limit: StreamLimitFn) {
        let _ = self.stream_limit.set(limit);
    }

    /// Opens the WAL (if enabled) and returns the ingester, not yet ready: call
    /// [`Ingester::replay`] next.
    pub fn open(cfg: IngesterConfig, store: Arc<Store>) -> Result<(Arc<Ingester>, Option<skald_wal::Replay>), IngestError> {
        let (wal, replay) = if cfg.wal_enabled {
            let opts = WalOptions { segment_size: cfg.wal_segment_size, ..WalOptions::default() };
            let (wal, replay) = Wal::open(&cfg.wal_dir, opts)?;
            (Some(Arc::new(wal)), Some(replay))
        } else {
            (None, None)
        };
        let (tail, _) = broadcast::channel(1024);
        let ingester = Arc::new(Ingester {
            cfg,
            wal,
            store,
            tenants: RwLock::new(HashMap::new()),
            ready: AtomicBool::new(replay.is_none()),
            head_bytes: AtomicUsize::new(0),
            flush_notify: Notify::new(),
            wal_gate: RwLock::new(()),
            flush_lock: tokio::sync::Mutex::new(()),
            tail,
            entries_appended: AtomicU64::new(0),
            bytes_appended: AtomicU64::new(0),
            chunks_flushed: AtomicU64::new(0),
            flush_reasons: Mutex::new(Default::default()),
            background_cutting: AtomicBool::new(false),
            cut_wanted: Mutex::new(false),
            cut_signal: parking_lot::Condvar::new(),
            wal_replayed_records: AtomicU64::new(0),
            stream_limit: std::sync::OnceLock::new(),
        });
        Ok((ingester, replay))
    }

    /// Replays the WAL into memory (blocking; run it off the async runtime), then marks
    /// the ingester ready. Entries are re-appended without the order check, as Loki does.
    pub fn replay(&self, replay: skald_wal::Replay) -> Result<skald_wal::ReplayReport, IngestError> {
        let report = replay.for_each_record(|segment, payload| -> Result<(), IngestError> {
            let record = match wal_record::decode(payload) {
                Ok(record) => record,
                Err(message) => {
                    tracing::warn!(segment, %message, "skipping undecodable wal record");
                    return Ok(());
                }
            };
            let tenant = self.tenant(&record.tenant);
            for (fp, labels, entries) in record.streams {
                let stream = self.stream(&tenant, fp, &labels);
                let mut stream = stream.lock();
                let before = stream.memory_bytes();
                for entry in &entries {
                    if matches!(stream.check(entry, i64::MAX), Err(Rejection::Duplicate)) {
                        continue;
                    }
                    stream.append(entry, Some(segment));
                }
                if stream.head.raw_bytes() >= self.cfg.block_size {
                    stream.cut_head(&self.cfg);
                }
                self.account_head(before, stream.memory_bytes());
            }
            self.wal_replayed_records.fetch_add(1, Ordering::Relaxed);
            self.enforce_head_budget();
            Ok(())
        })?;
        self.ready.store(true, Ordering::SeqCst);
        Ok(report)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn config(&self) -> &IngesterConfig {
        &self.cfg
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(crate) fn tenant(&self, id: &str) -> Arc<Tenant> {
        if let Some(tenant) = self.tenants.read().get(id) {
            return tenant.clone();
        }
        let mut tenants = self.tenants.write();
        tenants
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Tenant { streams: RwLock::new(FxHashMap::default()), postings: RwLock::new(Postings::new()) }))
            .clone()
    }

    fn stream(&self, tenant: &Tenant, fp: u64, labels: &LabelSet) -> Arc<Mutex<Stream>> {
        if let Some(stream) = tenant.streams.read().get(&fp) {
            return stream.clone();
        }
        let mut streams = tenant.streams.write();
        streams
            .entry(fp)
            .or_insert_with(|| {
                tenant.postings.write().insert(fp, labels);
                Arc::new(Mutex::new(Stream::new(labels.clone(), fp)))
            })
            .clone()
    }

    /// The stream, created only while the tenant is under its active-stream limit
    /// (`max_global_streams_per_user`; 0 means no limit). Replay never applies it.
    fn stream_within_limit(&self, tenant_id: &str, tenant: &Tenant, fp: u64, labels: &LabelSet) -> Option<Arc<Mutex<Stream>>> {
        if let Some(stream) = tenant.streams.read().get(&fp) {
            return Some(stream.clone());
        }
        let limit = match self.stream_limit.get() {
            Some(limit) => limit(tenant_id),
            None => self.cfg.max_streams_per_tenant,
        };
        if limit > 0 && tenant.streams.read().len() >= limit {
            return None;
        }
        Some(self.stream(tenant, fp, labels))
    }

    fn account_head(&self, before: usize, after: usize) {
        if after >= before {
            self.head_bytes.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.head_bytes.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Appends validated streams (labels already checked by the distributor). Blocking:
    /// call it from `spawn_blocking` (see [`Ingester::push`]).
    pub fn push_blocking(&self, tenant_id: &str, streams: Vec<PushStream>) -> Result<PushOutcome, IngestError> {
        if !self.is_ready() {
            return Err(IngestError::NotReady("the ingester is replaying its write-ahead log".into()));
        }
        let window = self.cfg.out_of_order_window_nanos();
        let tenant = self.tenant(tenant_id);
        let mut outcome = PushOutcome::default();
        // 1. Check order and duplicates against each stream's state.
        let mut accepted: Vec<Accepted> = Vec::with_capacity(streams.len());
        for push in streams {
            let fp = fingerprint(tenant_id, &push.labels);
            let Some(stream) = self.stream_within_limit(tenant_id, &tenant, fp, &push.labels) else {
                outcome.stream_limit_errors.push(format!(
                    "Maximum active stream limit exceeded when trying to create stream {}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant_id}'",
                    push.labels
                ));
                continue;
            };
            let mut kept = Vec::with_capacity(push.entries.len());
            let mut too_far_behind = 0usize;
            let mut first_refused: Option<(i64, i64)> = None;
            {
                let state = stream.lock();
                let mut highest = state.highest_ts;
                let mut previous: Option<usize> = None;
                for entry in push.entries {
                    if let Some(i) = previous {
                        let prev: &Entry = &kept[i];
                        if prev.ts == entry.ts && prev.line == entry.line && prev.metadata == entry.metadata {
                            outcome.duplicates += 1;
                            continue;
                        }
                    }
                    match state.check(&entry, window) {
                        Err(Rejection::Duplicate) => {
                            outcome.duplicates += 1;
                            continue;
                        }
                        Err(Rejection::TooFarBehind { cutoff }) => {
                            too_far_behind += 1;
                            first_refused.get_or_insert((entry.ts, cutoff));
                            continue;
                        }
                        Ok(()) => {}
                    }
                    if highest != i64::MIN && entry.ts < highest.saturating_sub(window) {
                        too_far_behind += 1;
                        first_refused.get_or_insert((entry.ts, highest - window));
                        continue;
                    }
                    highest = highest.max(entry.ts);
                    previous = Some(kept.len());
                    kept.push(entry);
                }
            }
            if let Some((ts, cutoff)) = first_refused {
                outcome.errors.push(format!(
                    "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}' for stream: {} (total ignored: {too_far_behind})",
                    format_rfc3339_nanos(ts),
                    format_rfc3339_nanos(ts),
                    format_rfc3339_nanos(cutoff),
                    push.labels
                ));
            }
            if !kept.is_empty() {
                accepted.push((stream, fp, push.labels, kept));
            }
        }
        if accepted.is_empty() {
            return Ok(outcome);
        }
        // 2. Make them durable.
        let gate = self.wal_gate.read();
        let segment = match &self.wal {
            Some(wal) => {
                let record: Vec<WalStream<'_>> =
                    accepted.iter().map(|(_, fp, labels, entries)| WalStream { fingerprint: *fp, labels, entries }).collect();
                let payload = wal_record::encode(tenant_id, &record);
                Some(wal.append(&payload)?)
            }
            None => None,
        };
        // 3. Append to memory.
        let mut any_sealed = false;
        let mut needs_cut = false;
        for (stream, _, _, entries) in &accepted {
            let mut state = stream.lock();
            let before = state.memory_bytes();
            let sealed_before = state.sealed.len();
            for entry in entries {
                state.append(entry, segment);
                outcome.accepted_entries += 1;
                outcome.accepted_bytes += entry.line.len() as u64;
            }
            let full = state.head.raw_bytes() >= self.cfg.block_size;
            if full && !self.background_cutting.load(Ordering::Relaxed) {
                state.cut_head(&self.cfg);
            }
            needs_cut |= full;
            any_sealed |= state.sealed.len() > sealed_before;
            self.account_head(before, state.memory_bytes());
        }
        drop(gate);
        self.entries_appended.fetch_add(outcome.accepted_entries, Ordering::Relaxed);
        self.bytes_appended.fetch_add(outcome.accepted_bytes, Ordering::Relaxed);
        if self.background_cutting.load(Ordering::Relaxed) {
            // Compression happens on the cutter thread, not while a client waits...
            let head_bytes = self.head_bytes.load(Ordering::Relaxed);
            if needs_cut || head_bytes > self.cfg.head_memory_budget {
                self.wake_cutter();
            }
            // ...unless it falls behind: then pushes help, so memory stays bounded.
            if head_bytes > self.cfg.head_memory_budget / 4 * 5 {
                any_sealed |= self.enforce_head_budget();
            }
        } else {
            any_sealed |= self.enforce_head_budget();
        }
        if any_sealed {
            self.flush_notify.notify_one();
        }
        if self.tail.receiver_count() > 0 {
            let streams = accepted.into_iter().map(|(_, _, labels, entries)| PushStream { labels, entries }).collect();
            let _ = self.tail.send(Arc::new(TailBatch { tenant: tenant_id.to_string(), streams }));
        }
        Ok(outcome)
    }

    /// Async push: runs [`Ingester::push_blocking`] on the blocking pool.
    pub async fn push(self: &Arc<Self>, tenant: &str, streams: Vec<PushStream>) -> Result<PushOutcome, IngestError> {
        let this = self.clone();
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || this.push_blocking(&tenant, streams))
            .await
            .map_err(|e| IngestError::Internal(format!("push task failed: {e}")))?
    }

    fn wake_cutter(&self) {
        let mut wanted = self.cut_wanted.lock();
        *wanted = true;
        self.cut_signal.notify_one();
    }

    /// Starts the cutter thread: it compresses full head blocks and keeps all heads
    /// within `head_memory_budget`, so that pushes (and their latency) never wait for
    /// compression. Until it runs, pushes cut heads themselves.
    pub fn start_cutter(self: &Arc<Self>) -> std::io::Result<()> {
        let this = self.clone();
        std::thread::Builder::new().name("skald-cutter".into()).spawn(move || {
            lower_priority_of_this_thread();
            loop {
                {
                    let mut wanted = this.cut_wanted.lock();
                    while !*wanted {
                        this.cut_signal.wait(&mut wanted);
                    }
                    *wanted = false;
                }
                let sealed = this.cut_full_heads() | this.enforce_head_budget();
                if sealed {
                    this.flush_notify.notify_one();
                }
            }
        })?;
        self.background_cutting.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Cuts every head holding `block_size` bytes or more. Returns whether a chunk was
    /// sealed.
    fn cut_full_heads(&self) -> bool {
        let mut sealed = false;
        let tenants: Vec<Arc<Tenant>> = self.tenants.read().values().cloned().collect();
        for tenant in tenants {
            let streams: Vec<Arc<Mutex<Stream>>> = tenant.streams.read().values().cloned().collect();
            for stream in streams {
                sealed |= self.cut_off_lock(&stream, |state| state.head.raw_bytes() >= self.cfg.block_size);
            }
        }
        sealed
    }

    /// Cuts the largest head blocks while all heads together exceed the budget.
    /// Returns whether a chunk was sealed.
    fn enforce_head_budget(&self) -> bool {
        if self.head_bytes.load(Ordering::Relaxed) <= self.cfg.head_memory_budget {
            return false;
        }
        let mut heads: Vec<(usize, Arc<Mutex<Stream>>)> = Vec::new();
        for tenant in self.tenants.read().values() {
            for stream in tenant.streams.read().values() {
                let bytes = stream.lock().head.memory_bytes();
                if bytes > 0 {
                    heads.push((bytes, stream.clone()));
                }
            }
        }
        heads.sort_by_key(|h| std::cmp::Reverse(h.0));
        let target = self.cfg.head_memory_budget / 10 * 9;
        let mut sealed = false;
        for (_, stream) in heads {
            if self.head_bytes.load(Ordering::Relaxed) <= target {
                break;
            }
            sealed |= self.cut_off_lock(&stream, |_| true);
        }
        sealed
    }

    /// Cuts a stream's head if `wanted`, compressing it without holding the stream's
    /// lock: pushes to the stream go on meanwhile, and queries still see the entries.
    /// Returns whether a chunk was sealed.
    fn cut_off_lock(&self, stream: &Mutex<Stream>, wanted: impl FnOnce(&Stream) -> bool) -> bool {
        let ticket = {
            let mut state = stream.lock();
            if !wanted(&state) {
                return false;
            }
            match state.begin_cut() {
                Some(ticket) => ticket,
                None => return false,
            }
        };
        let block = ticket.head.encode(self.cfg.codec);
        let mut state = stream.lock();
        let before = state.memory_bytes();
        let sealed_before = state.sealed.len();
        state.finish_cut(ticket, block, &self.cfg);
        self.account_head(before, state.memory_bytes());
        state.sealed.len() > sealed_before
    }

    /// In-memory data of the streams matching `matchers` in `[from, through)`.
    pub fn select(&self, tenant_id: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<StreamSnapshot> {
        self.select_shard(tenant_id, matchers, from, through, None)
    }

    /// [`Ingester::select`] of the streams whose fingerprint is `index` modulo `count`
    /// (a sharded query: the others are not even snapshotted).
    pub fn select_shard(
        &self,
        tenant_id: &str,
        matchers: &[LabelMatcher],
        from: i64,
        through: i64,
        shard: Option<(u64, u64)>,
    ) -> Vec<StreamSnapshot> {
        let Some(tenant) = self.tenants.read().get(tenant_id).cloned() else { return Vec::new() };
        let mut ids = tenant.postings.read().select(matchers);
        if let Some((index, count)) = shard.filter(|(_, count)| *count > 0) {
            ids.retain(|fp| fp % count == index);
        }
        let streams = tenant.streams.read();
        let mut out = Vec::with_capacity(ids.len());
        for fp in ids {
            let Some(stream) = streams.get(&fp) else { continue };
            let state = stream.lock();
            let blocks = state.snapshot_blocks(from, through);
            if !blocks.is_empty() {
                out.push(StreamSnapshot { fingerprint: fp, labels: state.labels.clone(), blocks });
            }
        }
        out
    }

    /// Label names of the in-memory streams (optionally only those matching).
    pub fn label_names(&self, tenant_id: &str, matchers: &[LabelMatcher]) -> Vec<String> {
        let Some(tenant) = self.tenants.read().get(tenant_id).cloned() else { return Vec::new() };

        tenant.postings.read().label_names(matchers)
    }

    pub fn label_values(&self, tenant_id: &str, name: &str, matchers: &[LabelMatcher]) -> Vec<String> {
        let Some(tenant) = self.tenants.read().get(tenant_id).cloned() else { return Vec::new() };

        tenant.postings.read().label_values(name, matchers)
    }

    /// Label sets of in-memory streams matching, for `/series`.
    pub fn series(&self, tenant_id: &str, matchers: &[LabelMatcher]) -> Vec<LabelSet> {
        let Some(tenant) = self.tenants.read().get(tenant_id).cloned() else { return Vec::new() };
        let postings = tenant.postings.read();
        postings.select(matchers).into_iter().filter_map(|fp| postings.labels(fp).cloned()).collect()
    }

    /// Chunks flushed so far, by reason.
    pub fn flush_reasons(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.flush_reasons.lock().clone()
    }

    pub fn subscribe_tail(&self) -> broadcast::Receiver<Arc<TailBatch>> {
        self.tail.subscribe()
    }

    /// The write-ahead log's counters (`None` when the WAL is disabled).
    pub fn wal_stats(&self) -> Option<skald_wal::WalStats> {
        self.wal.as_ref().map(|wal| wal.stats())
    }

    pub fn stats(&self) -> IngesterStats {
        let mut streams = 0u64;
        let mut pending = 0u64;
        for tenant in self.tenants.read().values() {
            let map = tenant.streams.read();
            streams += map.len() as u64;
            for stream in map.values() {
                pending += stream.lock().sealed.len() as u64;
            }
        }
        IngesterStats {
            streams,
            head_bytes: self.head_bytes.load(Ordering::Relaxed) as u64,
            entries_appended: self.entries_appended.load(Ordering::Relaxed),
            bytes_appended: self.bytes_appended.load(Ordering::Relaxed),
            chunks_flushed: self.chunks_flushed.load(Ordering::Relaxed),
            chunks_sealed_pending: pending,
            wal_replayed_records: self.wal_replayed_records.load(Ordering::Relaxed),
        }
    }
}

/// Compression can wait; a push's client or a query cannot. On a busy machine the
/// cutter thread yields the CPU to them (nice 10; Linux applies it to the thread
/// alone). Memory stays bounded regardless: pushes cut heads themselves when the cutter
/// falls behind.
fn lower_priority_of_this_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        if result != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the cutter thread's priority");
        }
    }
}
