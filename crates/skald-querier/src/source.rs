//! The querier's [`StreamSource`]: a tenant's streams from the ingester and the store
//! (several tenants' for a multi-tenant query, each stream labelled with its tenant).

use crate::recent::{RecentData, SelectHints};
use crate::scan::{BlockRef, BlockScan, ScanStats};
use skald_common::LabelSet;
use skald_index::LabelMatcher;
use skald_logql::engine::{EngineError, SourceStream, StreamSource};
use skald_logql::{MatchOp, Matcher};
use skald_storage::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct QuerySource {
    /// One tenant, or the tenants of a multi-tenant query (`tenants.rs`).
    pub tenants: Vec<String>,
    /// Only the streams of this shard `(index, count)`: fingerprint % count == index
    /// (a query frontend's sharded metric query).
    pub shard: Option<(u64, u64)>,
    pub recent: Arc<dyn RecentData>,
    pub store: Arc<Store>,
    pub runtime: tokio::runtime::Handle,
    pub stats: Arc<ScanStats>,
    pub chunks_fetched: AtomicU64,
    pub chunk_bytes: AtomicU64,
    /// Warnings of the evaluation, for the answer's `warnings`.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

/// Compiles LogQL matchers for the index.
pub fn compile_matchers(matchers: &[Matcher]) -> Result<Vec<LabelMatcher>, EngineError> {
    matchers
        .iter()
        .map(|m| match m.op {
            MatchOp::Eq => Ok(LabelMatcher::Eq(m.name.clone(), m.value.clone())),
            MatchOp::Neq => Ok(LabelMatcher::Neq(m.name.clone(), m.value.clone())),
            MatchOp::Re | MatchOp::Nre => {
                LabelMatcher::regex(&m.name, &skald_logql::pipeline::translate_go_regex(&m.value), m.op == MatchOp::Nre)
                    .map_err(|e| EngineError::bad_request(e.to_string()))
            }
        })
        .collect()
}

impl StreamSource for QuerySource {
    fn warn(&self, message: String) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    }

    fn select(&self, matchers: &[Matcher], from: i64, through: i64) -> Result<Vec<SourceStream>, EngineError> {
        self.select_words(matchers, from, through, &[])
    }

    fn select_for_literals(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
        required_literals: &[Vec<u8>],
    ) -> Result<Vec<SourceStream>, EngineError> {
        // The whole words of the literals: an ingester leaves out the blocks whose word
        // filter lacks one (they are never shipped nor decompressed).
        let words: Vec<Vec<u8>> = required_literals.iter().flat_map(|l| skald_chunk::tokens::inner_words(l)).collect();
        self.select_words(matchers, from, through, &words)
    }
}

impl QuerySource {
    /// The streams matching `matchers`; recent blocks lacking one of `words` left out.
    fn select_words(&self, matchers: &[Matcher], from: i64, through: i64, words: &[Vec<u8>]) -> Result<Vec<SourceStream>, EngineError> {
        let compiled = compile_matchers(matchers)?;
        let mut out = Vec::new();
        if let [tenant] = self.tenants.as_slice() {
            for (labels, blocks) in self.select_tenant(tenant, &compiled, from, through, words)? {
                out.push(SourceStream { labels, data: Box::new(BlockScan { blocks, stats: self.stats.clone() }) });
            }
            return Ok(out);
        }
        let (tenants, rest) = crate::tenants::split_matchers(&self.tenants, &compiled);
        for tenant in tenants {
            for (labels, blocks) in self.select_tenant(&tenant, &rest, from, through, words)? {
                let labels = crate::tenants::tenant_labels(&labels, &tenant);
                out.push(SourceStream { labels, data: Box::new(BlockScan { blocks, stats: self.stats.clone() }) });
            }
        }
        Ok(out)
    }

    /// One tenant's streams matching `compiled` in `[from, through)`, with their blocks.
    fn select_tenant(
        &self,
        tenant: &str,
        compiled: &[LabelMatcher],
        from: i64,
        through: i64,
        words: &[Vec<u8>],
    ) -> Result<Vec<(LabelSet, Vec<BlockRef>)>, EngineError> {
        let in_shard = |fingerprint: u64| self.shard.is_none_or(|(index, count)| fingerprint % count == index);
        let mut streams: BTreeMap<u64, (LabelSet, Vec<BlockRef>)> = BTreeMap::new();
        let snapshots = self
            .runtime
            .block_on(self.recent.select(tenant, compiled, from, through, &SelectHints { words: words.to_vec(), shard: self.shard }))
            .map_err(|e| EngineError { status: e.status(), message: e.to_string() })?;
        for snapshot in snapshots.into_iter().filter(|s| in_shard(s.fingerprint)) {
            let entry = streams.entry(snapshot.fingerprint).or_insert_with(|| (snapshot.labels, Vec::new()));
            entry.1.extend(snapshot.blocks.into_iter().map(BlockRef::Memory));
        }
        let mut selected = self.store.select(tenant, compiled, from, through.saturating_sub(1));
        selected.retain(|stream| in_shard(stream.fingerprint));
        let keys: Vec<&str> = selected.iter().flat_map(|s| s.chunks.iter().map(|c| c.key.as_str())).collect();
        // All at once: the store reads each pack's chunks with one request.
        let chunks = self.runtime.block_on(self.store.get_chunks(&keys));
        let mut chunks = chunks.into_iter();
        for stream in selected {
            let chunk_count = stream.chunks.len();
            let entry = streams.entry(stream.fingerprint).or_insert_with(|| (stream.labels, Vec::new()));
            for _ in 0..chunk_count {
                let chunk = chunks
                    .next()
                    .ok_or_else(|| EngineError::internal("chunk fetch count mismatch"))?
                    .map_err(|e| EngineError { status: 500, message: format!("reading chunk from storage: {e}") })?;
                self.chunks_fetched.fetch_add(1, Ordering::Relaxed);
                self.chunk_bytes.fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
                for (i, block) in chunk.blocks.iter().enumerate() {
                    if block.meta.max_ts >= from && block.meta.min_ts < through {
                        entry.1.push(BlockRef::Stored(chunk.clone(), i));
                    }
                }
            }
        }
        Ok(streams.into_values().collect())
    }
}
