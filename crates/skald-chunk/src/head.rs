//! The head block: the open, uncompressed tail of a stream that appends go to.

use crate::block::{EncodedBlock, encode_block};
use crate::codec::Codec;
use rustc_hash::FxHashMap;
use skald_common::Label;

/// Most bytes of lines in one block of a head snapshot.
pub const SNAPSHOT_PART_BYTES: usize = 1 << 20;

/// Entries appended since the last cut, in arrival order (which may be out of time
/// order within the ingester's accepted window; cutting sorts them).
#[derive(Debug, Default, Clone)]
pub struct HeadBlock {
    ts: Vec<i64>,
    /// End offset of each line in `lines`.
    ends: Vec<u32>,
    lines: Vec<u8>,
    /// The distinct structured metadata sets of the head (entries repeat a few sets,
    /// such as `detected_level=info`, so each is stored once).
    metadata_sets: Vec<Vec<Label>>,
    set_index: FxHashMap<Vec<Label>, u32>,
    /// Per entry: 0 for none, else 1 + index into `metadata_sets`. Empty while no entry
    /// has metadata.
    metadata_of: Vec<u32>,
    min_ts: i64,
    max_ts: i64,
    in_order: bool,
}

impl HeadBlock {
    pub fn new() -> Self {
        HeadBlock { in_order: true, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Bytes of line text held.
    pub fn raw_bytes(&self) -> usize {
        self.lines.len()
    }

    /// Approximate heap bytes held (for the ingester's memory budget).
    pub fn memory_bytes(&self) -> usize {
        self.lines.capacity()
            + self.ts.capacity() * 8
            + self.ends.capacity() * 4
            + self.metadata_of.capacity() * 4
            + self.metadata_sets.len() * 96
    }

    pub fn min_ts(&self) -> i64 {
        self.min_ts
    }

    pub fn max_ts(&self) -> i64 {
        self.max_ts
    }

    pub fn append(&mut self, ts: i64, line: &str, metadata: &[Label]) {
        if self.ts.is_empty() {
            self.min_ts = ts;
            self.max_ts = ts;
        } else {
            if ts < self.max_ts {
                self.in_order = false;
            }
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
        }
        if !metadata.is_empty() || !self.metadata_of.is_empty() {
            self.record_metadata(metadata);
        }
        self.ts.push(ts);
        self.lines.extend_from_slice(line.as_bytes());
        self.ends.push(self.lines.len() as u32);
    }

    /// The most recently appended entry (arrival order).
    pub fn last_entry(&self) -> Option<(i64, &str, &[Label])> {
        let i = self.ts.len().checked_sub(1)?;
        Some((self.ts[i], self.line_at(i), self.metadata_at(i)))
    }

    /// Copies the entries with `from <= ts < through` into uncompressed blocks of at
    /// most [`SNAPSHOT_PART_BYTES`] of lines each (in time order), so readers can treat
    /// head data like any other block, and a head that grew big (its cut still
    /// pending) still fits the messages that carry blocks to a querier.
    pub fn snapshot(&self, from: i64, through: i64) -> Vec<EncodedBlock> {
        if self.ts.is_empty() || self.max_ts < from || self.min_ts >= through {
            return Vec::new();
        }
        let order: Vec<u32> = self.sorted_order().into_iter().filter(|&i| (from..through).contains(&self.ts[i as usize])).collect();
        let mut blocks = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut raw = 0usize;
            while end < order.len() && (end == start || raw + self.line_at(order[end] as usize).len() <= SNAPSHOT_PART_BYTES) {
                raw += self.line_at(order[end] as usize).len();
                end += 1;
            }
            let entries = order[start..end].iter().map(|&i| {
                let i = i as usize;
                (self.ts[i], self.line_at(i).as_bytes(), self.metadata_at(i))
            });
            blocks.push(encode_block(entries, end - start, raw, Codec::None, false));
            start = end;
        }
        blocks
    }

    fn line_at(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let bytes = &self.lines[start..self.ends[i] as usize];
        // Lines are appended from `&str`, so this never fails.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Notes the metadata of the entry being appended (before `ts` grows).
    fn record_metadata(&mut self, metadata: &[Label]) {
        if self.metadata_of.is_empty() {
            self.metadata_of.resize(self.ts.len(), 0);
        }
        let slot = if metadata.is_empty() {
            0
        } else if let Some(index) = self.set_index.get(metadata) {
            index + 1
        } else {
            let index = self.metadata_sets.len() as u32;
            self.metadata_sets.push(metadata.to_vec());
            self.set_index.insert(metadata.to_vec(), index);
            index + 1
        };
        self.metadata_of.push(slot);
    }

    fn metadata_at(&self, i: usize) -> &[Label] {
        match self.metadata_of.get(i) {
            Some(&slot) if slot > 0 => &self.metadata_sets[slot as usize - 1],
            _ => &[],
        }
    }

    /// Indices of the entries, sorted by timestamp (stable: arrival order breaks ties).
    fn sorted_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.ts.len() as u32).collect();
        if !self.in_order {
            order.sort_by_key(|&i| self.ts[i as usize]);
        }
        order
    }

    /// Visits entries with `from <= ts < through` in timestamp order.
    pub fn for_each_in(&self, from: i64, through: i64, mut visit: impl FnMut(i64, &str, &[Label])) {
        if self.ts.is_empty() || self.max_ts < from || self.min_ts >= through {
            return;
        }
        for i in self.sorted_order() {
            let i = i as usize;
            let ts = self.ts[i];
            if ts >= from && ts < through {
                visit(ts, self.line_at(i), self.metadata_at(i));
            }
        }
    }

    /// Checks whether an entry with exactly this timestamp, line and metadata is held.
    pub fn contains(&self, ts: i64, line: &str, metadata: &[Label]) -> bool {
        if self.ts.is_empty() || ts < self.min_ts || ts > self.max_ts {
            return false;
        }
        (0..self.ts.len()).rev().any(|i| self.ts[i] == ts && self.line_at(i) == line && self.metadata_at(i) == metadata)
    }

    /// Compresses the entries into a block (sorted by time) and empties the head.
    pub fn cut(&mut self, codec: Codec) -> Option<EncodedBlock> {
        let block = self.encode(codec)?;
        *self = HeadBlock::new();
        Some(block)
    }

    /// Compresses the entries into a block (sorted by time), leaving the head as it is:
    /// the ingester compresses a head it has taken out of its stream this way, off the
    /// stream's lock.
    pub fn encode(&self, codec: Codec) -> Option<EncodedBlock> {
        if self.ts.is_empty() {
            return None;
        }
        let order = self.sorted_order();
        let entries = order.iter().map(|&i| {
            let i = i as usize;
            (self.ts[i], self.line_at(i).as_bytes(), self.metadata_at(i))
        });
        Some(encode_block(entries, self.ts.len(), self.lines.len(), codec, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_head_snapshots_as_several_blocks_of_bounded_size() {
        let mut head = HeadBlock::new();
        let line = "x".repeat(1000);
        // Appended out of order: the snapshot's blocks follow time.
        for i in (0..2_500i64).rev() {
            head.append(i, &line, &[]);
        }
        let blocks = head.snapshot(0, i64::MAX);
        assert_eq!(blocks.len(), 3, "2.5 MB of lines in parts of at most 1 MiB");
        assert!(blocks.iter().all(|b| b.meta.raw_bytes <= SNAPSHOT_PART_BYTES as u64));
        assert_eq!(blocks.iter().map(|b| b.meta.entries as usize).sum::<usize>(), 2_500);
        assert!(blocks.windows(2).all(|w| w[0].meta.max_ts < w[1].meta.min_ts));
        assert_eq!(head.snapshot(100, 200).iter().map(|b| b.meta.entries).sum::<u32>(), 100);
        assert!(head.snapshot(5_000, 6_000).is_empty());
    }

    #[test]
    fn snapshot_parts_rule_out_words_their_lines_lack() {
        let mut head = HeadBlock::new();
        for i in 0..1_200i64 {
            // The first part (1 MiB of lines) never says "timeout"; the last one does.
            let line = if i < 1_100 { format!("{i:04} request served {}", "x".repeat(1000)) } else { format!("{i:04} request timeout") };
            head.append(i, &line, &[]);
        }
        let blocks = head.snapshot(0, i64::MAX);
        assert_eq!(blocks.len(), 2);
        assert!(blocks.iter().all(|b| b.word_filter.is_empty()));
        assert!(!blocks[0].may_contain_word(b"timeout"));
        assert!(blocks[1].may_contain_word(b"timeout"));
        assert!(blocks.iter().all(|b| b.may_contain_word(b"request")));
        // A compressed block without a filter rules nothing out.
        let mut compressed = blocks[0].clone();
        compressed.codec = Codec::Zstd(3);
        assert!(compressed.may_contain_word(b"timeout"));
    }
}
