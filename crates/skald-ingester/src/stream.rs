//! One stream's in-memory state: head block, open chunk, sealed chunks awaiting flush.

use crate::config::IngesterConfig;
use skald_chunk::{EncodedBlock, HeadBlock};
use skald_common::{Entry, Label, LabelSet};
use std::sync::Arc;
use std::time::Instant;

/// A chunk that is complete and waits for the flush loop.
pub(crate) struct SealedChunk {
    pub blocks: Vec<Arc<EncodedBlock>>,
    pub from: i64,
    pub through: i64,
    pub entries: u64,
    pub raw_bytes: u64,
    /// Oldest WAL segment holding any of its entries.
    pub first_segment: Option<u64>,
    pub reason: &'static str,
}

/// Why an entry was not appended.
pub(crate) enum Rejection {
    /// Identical to the previous entry: dropped silently, as Loki does.
    Duplicate,
    /// Older than the out-of-order window allows.
    TooFarBehind { cutoff: i64 },
}

pub(crate) struct Stream {
    pub labels: LabelSet,
    pub fingerprint: u64,
    pub head: HeadBlock,
    /// Blocks of the open chunk.
    pub blocks: Vec<Arc<EncodedBlock>>,
    pub open_compressed: usize,
    /// Oldest WAL segment holding data of the head or the open chunk.
    pub open_first_segment: Option<u64>,
    pub sealed: Vec<SealedChunk>,
    pub highest_ts: i64,
    /// The last appended entry when the head was cut (the head knows it otherwise).
    last_cut: Option<(i64, String, Vec<Label>)>,
    pub last_append: Instant,
}

impl Stream {
    pub fn new(labels: LabelSet, fingerprint: u64) -> Self {
        Stream {
            labels,
            fingerprint,
            head: HeadBlock::new(),
            blocks: Vec::new(),
            open_compressed: 0,
            open_first_segment: None,
            sealed: Vec::new(),
            highest_ts: i64::MIN,
            last_cut: None,
            last_append: Instant::now(),
        }
    }

    pub fn check(&self, entry: &Entry, window: i64) -> Result<(), Rejection> {
        let is_last = match self.head.last_entry() {
            Some((ts, line, metadata)) => ts == entry.ts && line == entry.line && metadata == entry.metadata.as_slice(),
            None => self
                .last_cut
                .as_ref()
                .is_some_and(|(ts, line, metadata)| *ts == entry.ts && *line == entry.line && *metadata == entry.metadata),
        };
        // Loki's unordered head block also drops an entry equal to any held one with the
        // same timestamp (a retried batch). In-order appends (ts > max) skip the scan.
        if is_last || self.head.contains(entry.ts, &entry.line, &entry.metadata) {
            return Err(Rejection::Duplicate);
        }
        if self.highest_ts != i64::MIN {
            let cutoff = self.highest_ts.saturating_sub(window);
            if entry.ts < cutoff {
                return Err(Rejection::TooFarBehind { cutoff });
            }
        }
        Ok(())
    }

    pub fn append(&mut self, entry: &Entry, segment: Option<u64>) {
        if self.open_first_segment.is_none() {
            self.open_first_segment = segment;
        }
        self.head.append(entry.ts, &entry.line, &entry.metadata);
        self.highest_ts = self.highest_ts.max(entry.ts);
        self.last_append = Instant::now();
    }

    /// Cuts the head into a block of the open chunk; returns the head bytes released.
    pub fn cut_head(&mut self, cfg: &IngesterConfig) -> usize {
        let released = self.head.memory_bytes();
        if let Some((ts, line, metadata)) = self.head.last_entry() {
            self.last_cut = Some((ts, line.to_string(), metadata.to_vec()));
        }
        let Some(block) = self.head.cut(cfg.codec) else { return 0 };
        self.open_compressed += block.compressed_bytes();
        self.blocks.push(Arc::new(block));
        if self.open_compressed >= cfg.chunk_target_size {
            self.seal("full");
        }
        released
    }

    /// Seals the open chunk (not the head).
    pub fn seal(&mut self, reason: &'static str) {
        if self.blocks.is_empty() {
            return;
        }
        let blocks = std::mem::take(&mut self.blocks);
        let from = blocks.iter().map(|b| b.meta.min_ts).min().unwrap_or(0);
        let through = blocks.iter().map(|b| b.meta.max_ts).max().unwrap_or(0);
        let entries = blocks.iter().map(|b| u64::from(b.meta.entries)).sum();
        let raw_bytes = blocks.iter().map(|b| b.meta.raw_bytes).sum();
        self.sealed.push(SealedChunk { blocks, from, through, entries, raw_bytes, first_segment: self.open_first_segment, reason });
        self.open_compressed = 0;
        self.open_first_segment = if self.head.is_empty() { None } else { self.open_first_segment };
    }

    /// Time span of the data not yet sealed.
    pub fn open_span(&self) -> i64 {
        let mut from = i64::MAX;
        let mut through = i64::MIN;
        for block in &self.blocks {
            from = from.min(block.meta.min_ts);
            through = through.max(block.meta.max_ts);
        }
        if !self.head.is_empty() {
            from = from.min(self.head.min_ts());
            through = through.max(self.head.max_ts());
        }
        if from == i64::MAX { 0 } else { through - from }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.blocks.is_empty() && self.sealed.is_empty()
    }

    /// Oldest WAL segment this stream still needs.
    pub fn oldest_segment(&self) -> Option<u64> {
        self.sealed.iter().filter_map(|c| c.first_segment).chain(self.open_first_segment).min()
    }

    /// Shared blocks overlapping `[from, through)` plus a copy of the head entries in range.
    pub fn snapshot_blocks(&self, from: i64, through: i64) -> Vec<Arc<EncodedBlock>> {
        let overlaps = |b: &EncodedBlock| b.meta.max_ts >= from && b.meta.min_ts < through;
        let mut blocks: Vec<Arc<EncodedBlock>> =
            self.sealed.iter().flat_map(|c| c.blocks.iter()).chain(self.blocks.iter()).filter(|b| overlaps(b)).cloned().collect();
        if let Some(head) = self.head.snapshot(from, through) {
            blocks.push(Arc::new(head));
        }
        blocks
    }
}
