//! One stream's in-memory state: head block, open chunk, sealed chunks awaiting flush.

use crate::config::IngesterConfig;
use skald_chunk::{EncodedBlock, HeadBlock};
use skald_common::{Entry, Label, LabelSet};
use std::collections::VecDeque;
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

/// A head taken out of its stream to be compressed off the stream's lock (see
/// [`Stream::begin_cut`]).
enum PendingCut {
    /// Being compressed; queries still read its entries.
    Compressing(Arc<HeadBlock>),
    /// Compressed, waiting for an older cut to finish so blocks keep their cut order.
    Done(Arc<EncodedBlock>),
}

/// A head handed out by [`Stream::begin_cut`]: compress it, then give the block to
/// [`Stream::finish_cut`].
pub(crate) struct CutTicket {
    id: u64,
    pub head: Arc<HeadBlock>,
}

pub(crate) struct Stream {
    pub labels: LabelSet,
    pub fingerprint: u64,
    pub head: HeadBlock,
    /// Blocks of the open chunk.
    pub blocks: Vec<Arc<EncodedBlock>>,
    /// Heads being compressed off the lock, oldest first; they belong after `blocks`
    /// and before `head`.
    cuts: VecDeque<(u64, PendingCut)>,
    next_cut: u64,
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
            cuts: VecDeque::new(),
            next_cut: 0,
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

    /// Heap bytes of uncompressed entries: the head and the heads being compressed.
    pub fn memory_bytes(&self) -> usize {
        self.uncompressed().map(HeadBlock::memory_bytes).sum()
    }

    /// Cuts the head into a block of the open chunk here, under the caller's lock (after
    /// finishing any cut in progress the same way, to keep the blocks' order).
    pub fn cut_head(&mut self, cfg: &IngesterConfig) {
        self.finish_cuts_here(cfg);
        if let Some(ticket) = self.begin_cut() {
            let block = ticket.head.encode(cfg.codec);
            self.finish_cut(ticket, block, cfg);
        }
    }

    /// Takes the head out to be compressed without holding the stream's lock, so
    /// pushes to the stream need not wait for compression. Until [`Stream::finish_cut`]
    /// the entries stay visible to queries. `None` when the head is empty.
    pub fn begin_cut(&mut self) -> Option<CutTicket> {
        let (ts, line, metadata) = self.head.last_entry()?;
        self.last_cut = Some((ts, line.to_string(), metadata.to_vec()));
        let head = Arc::new(std::mem::replace(&mut self.head, HeadBlock::new()));
        let id = self.next_cut;
        self.next_cut += 1;
        self.cuts.push_back((id, PendingCut::Compressing(head.clone())));
        Some(CutTicket { id, head })
    }

    /// Installs the block compressed from a ticket's head. Blocks enter the open chunk
    /// in cut order; a cut that someone finished meanwhile (a flush does, under the
    /// lock) is dropped.
    pub fn finish_cut(&mut self, ticket: CutTicket, block: Option<EncodedBlock>, cfg: &IngesterConfig) {
        self.install(ticket.id, block, cfg);
    }

    fn install(&mut self, id: u64, block: Option<EncodedBlock>, cfg: &IngesterConfig) {
        let Some(position) = self.cuts.iter().position(|(cut, _)| *cut == id) else { return };
        match block {
            Some(block) => self.cuts[position].1 = PendingCut::Done(Arc::new(block)),
            // An empty head (never handed out): nothing to install.
            None => drop(self.cuts.remove(position)),
        }
        while let Some((_, PendingCut::Done(block))) = self.cuts.front() {
            let block = block.clone();
            self.cuts.pop_front();
            self.open_compressed += block.compressed_bytes();
            self.blocks.push(block);
            if self.open_compressed >= cfg.chunk_target_size {
                self.seal("full");
            }
        }
    }

    /// Compresses, under the caller's lock, the heads whose cut is still in progress
    /// elsewhere (their owners' results are then dropped). The front of `cuts` is
    /// always a head being compressed: finished ones are drained as they reach it.
    fn finish_cuts_here(&mut self, cfg: &IngesterConfig) {
        while let Some((id, PendingCut::Compressing(head))) = self.cuts.front() {
            let (id, block) = (*id, head.encode(cfg.codec));
            self.install(id, block, cfg);
        }
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
        self.open_first_segment = if self.head.is_empty() && self.cuts.is_empty() { None } else { self.open_first_segment };
    }

    /// Time span of the data not yet sealed.
    pub fn open_span(&self) -> i64 {
        let mut from = i64::MAX;
        let mut through = i64::MIN;
        for block in &self.blocks {
            from = from.min(block.meta.min_ts);
            through = through.max(block.meta.max_ts);
        }
        for head in self.uncompressed() {
            if !head.is_empty() {
                from = from.min(head.min_ts());
                through = through.max(head.max_ts());
            }
        }
        if from == i64::MAX { 0 } else { through - from }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.cuts.is_empty() && self.blocks.is_empty() && self.sealed.is_empty()
    }

    /// Whether the head or a head being compressed holds entries.
    pub fn has_uncompressed(&self) -> bool {
        !self.head.is_empty() || !self.cuts.is_empty()
    }

    /// The heads being compressed (oldest first), then the head.
    fn uncompressed(&self) -> impl Iterator<Item = &HeadBlock> {
        let cutting = self.cuts.iter().filter_map(|(_, cut)| match cut {
            PendingCut::Compressing(head) => Some(&**head),
            PendingCut::Done(_) => None,
        });
        cutting.chain(std::iter::once(&self.head))
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
        for cut in &self.cuts {
            match cut {
                (_, PendingCut::Compressing(head)) => blocks.extend(head.snapshot(from, through).into_iter().map(Arc::new)),
                (_, PendingCut::Done(block)) if overlaps(block) => blocks.push(block.clone()),
                _ => {}
            }
        }
        blocks.extend(self.head.snapshot(from, through).into_iter().map(Arc::new));
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> IngesterConfig {
        IngesterConfig::new(std::path::Path::new("/nonexistent"))
    }

    fn append(stream: &mut Stream, from: i64, count: i64, segment: u64) {
        for ts in from..from + count {
            stream.append(&Entry { ts, line: format!("line {ts}"), metadata: Vec::new() }, Some(segment));
        }
    }

    /// Every entry a query would see, in the order of the blocks it is given.
    fn visible(stream: &Stream) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        for block in stream.snapshot_blocks(i64::MIN, i64::MAX) {
            let decoded = block.decode(true).unwrap();
            for i in 0..decoded.len() {
                out.push((decoded.ts[i], String::from_utf8(decoded.line(i).to_vec()).unwrap()));
            }
        }
        out
    }

    /// What the cutter does off the lock: compress the ticket's head and install it.
    fn compress(stream: &mut Stream, ticket: CutTicket, cfg: &IngesterConfig) {
        let block = ticket.head.encode(cfg.codec);
        stream.finish_cut(ticket, block, cfg);
    }

    fn expected(ranges: &[(i64, i64)]) -> Vec<(i64, String)> {
        ranges.iter().flat_map(|&(from, count)| (from..from + count).map(|ts| (ts, format!("line {ts}")))).collect()
    }

    #[test]
    fn a_head_being_compressed_stays_visible_and_blocks_keep_their_cut_order() {
        let cfg = config();
        let mut stream = Stream::new(LabelSet::default(), 1);
        append(&mut stream, 0, 10, 1);
        let first = stream.begin_cut().unwrap();
        append(&mut stream, 10, 10, 1);
        let second = stream.begin_cut().unwrap();
        append(&mut stream, 20, 5, 2);
        let all = expected(&[(0, 25)]);
        assert_eq!(visible(&stream), all);
        assert!(stream.head.len() == 5 && stream.memory_bytes() > stream.head.memory_bytes());

        // The newer cut finishes first: it waits for the older one.
        compress(&mut stream, second, &cfg);
        assert!(stream.blocks.is_empty());
        assert_eq!(visible(&stream), all);

        compress(&mut stream, first, &cfg);
        let firsts: Vec<i64> = stream.blocks.iter().map(|b| b.meta.min_ts).collect();
        assert_eq!(firsts, vec![0, 10]);
        assert_eq!(visible(&stream), all);
        assert_eq!(stream.memory_bytes(), stream.head.memory_bytes());
    }

    #[test]
    fn a_cut_under_the_lock_finishes_pending_cuts_and_their_late_result_is_dropped() {
        let cfg = config();
        let mut stream = Stream::new(LabelSet::default(), 1);
        append(&mut stream, 0, 10, 1);
        let pending = stream.begin_cut().unwrap();
        append(&mut stream, 10, 10, 1);
        stream.cut_head(&cfg);
        assert_eq!(stream.blocks.len(), 2);
        assert!(!stream.has_uncompressed());

        compress(&mut stream, pending, &cfg);
        assert_eq!(stream.blocks.len(), 2, "the late block is not installed twice");
        assert_eq!(visible(&stream), expected(&[(0, 20)]));
    }

    #[test]
    fn sealing_while_a_cut_is_pending_keeps_its_wal_segment() {
        let cfg = IngesterConfig { chunk_target_size: 1, ..config() };
        let mut stream = Stream::new(LabelSet::default(), 1);
        append(&mut stream, 0, 10, 3);
        let older = stream.begin_cut().unwrap();
        append(&mut stream, 10, 10, 3);
        let newer = stream.begin_cut().unwrap();
        // The older cut fills the chunk, which is sealed; the newer one is still pending.
        compress(&mut stream, older, &cfg);
        assert_eq!(stream.sealed.len(), 1);
        assert!(stream.head.is_empty() && stream.has_uncompressed());
        assert_eq!(stream.open_first_segment, Some(3));
        compress(&mut stream, newer, &cfg);
        assert_eq!(stream.sealed.len(), 2);
        assert_eq!(visible(&stream), expected(&[(0, 20)]));
    }

    #[test]
    fn a_duplicate_of_the_last_entry_is_caught_while_its_head_is_compressed() {
        let mut stream = Stream::new(LabelSet::default(), 1);
        append(&mut stream, 0, 3, 1);
        let _pending = stream.begin_cut().unwrap();
        let last = Entry { ts: 2, line: "line 2".into(), metadata: Vec::new() };
        assert!(matches!(stream.check(&last, i64::MAX), Err(Rejection::Duplicate)));
    }
}
