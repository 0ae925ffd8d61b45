//! Reading one stream's blocks (in memory or from chunks) as one ordered,
//! deduplicated sequence of entries.

use skald_chunk::{Chunk, Codec, DecodedBlock, EncodedBlock};
use skald_logql::engine::{EngineError, EntryRef, ScanRequest, StreamData};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A block of a stream, wherever it lives.
#[derive(Clone)]
pub enum BlockRef {
    Memory(Arc<EncodedBlock>),
    Stored(Arc<Chunk>, usize),
}

impl BlockRef {
    fn meta(&self) -> &skald_chunk::BlockMeta {
        match self {
            BlockRef::Memory(b) => &b.meta,
            BlockRef::Stored(c, i) => &c.blocks[*i].meta,
        }
    }

    fn decode(&self, with_lines: bool) -> Result<DecodedBlock, EngineError> {
        let result = match self {
            BlockRef::Memory(b) => b.decode(with_lines),
            BlockRef::Stored(c, i) => c.decode_block(*i, with_lines),
        };
        result.map_err(|e| EngineError::internal(format!("reading block: {e}")))
    }

    fn decompress_lines(&self) -> Result<Vec<u8>, EngineError> {
        let result = match self {
            BlockRef::Memory(b) => b.decompress_lines(),
            BlockRef::Stored(c, i) => c.decompress_lines(*i),
        };
        result.map_err(|e| EngineError::internal(format!("reading block: {e}")))
    }

    /// False when the block's word filter rules `word` out.
    fn may_contain_word(&self, word: &[u8]) -> bool {
        match self {
            BlockRef::Memory(b) => b.may_contain_word(word),
            BlockRef::Stored(c, i) => c.blocks[*i].may_contain_word(word),
        }
    }

    fn codec(&self) -> Codec {
        match self {
            BlockRef::Memory(b) => b.codec,
            BlockRef::Stored(c, _) => c.codec,
        }
    }
}

/// Counters shared by all scans of one query.
#[derive(Default)]
pub struct ScanStats {
    pub lines: AtomicU64,
    pub bytes: AtomicU64,
    pub decompressed_bytes: AtomicU64,
    pub blocks: AtomicU64,
    /// Blocks skipped by their word filter, never decompressed.
    pub blocks_filtered: AtomicU64,
    pub duplicates: AtomicU64,
}

/// The blocks of one stream, scanned as one sequence.
pub struct BlockScan {
    pub blocks: Vec<BlockRef>,
    pub stats: Arc<ScanStats>,
}

impl BlockScan {
    fn decode_counted(&self, block: &BlockRef, with_lines: bool) -> Result<DecodedBlock, EngineError> {
        let decoded = block.decode(with_lines)?;
        self.stats.blocks.fetch_add(1, Ordering::Relaxed);
        if with_lines && block.codec() != Codec::None {
            self.stats.decompressed_bytes.fetch_add(decoded.lines.len() as u64, Ordering::Relaxed);
        }
        Ok(decoded)
    }
}

/// Whether `haystack` contains every literal (a whole-block prefilter: one memmem pass
/// per literal instead of one per line).
fn contains_all(haystack: &[u8], literals: &[Vec<u8>]) -> bool {
    literals.iter().all(|literal| memchr::memmem::find(haystack, literal).is_some())
}

/// Indices in `lo..hi` of the lines of `block` that contain `literal`, ascending.
fn lines_containing(block: &DecodedBlock, literal: &[u8], lo: usize, hi: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    if lo >= hi {
        return out;
    }
    let start = if lo == 0 { 0 } else { block.ends[lo - 1] as usize };
    let end = block.ends[hi - 1] as usize;
    let finder = memchr::memmem::Finder::new(literal);
    let mut line = lo;
    let mut pos = start;
    while let Some(found) = finder.find(&block.lines[pos..end]) {
        let at = pos + found;
        // Advance to the line holding the match's first byte.
        while line < hi && block.ends[line] as usize <= at {
            line += 1;
        }
        if line >= hi {
            break;
        }
        let line_end = block.ends[line] as usize;
        // A match running past the line's end spans two lines and is no match; either
        // way the search goes on from the next line (one match per line is enough).
        if at + literal.len() <= line_end {
            out.push(line);
        }
        pos = line_end;
        line += 1;
        if line >= hi {
            break;
        }
    }
    out
}

/// The bytes of entry `i` (empty when the lines were not decompressed).
fn line_bytes(block: &DecodedBlock, with_lines: bool, i: usize) -> &[u8] {
    if !with_lines {
        return b"";
    }
    let start = if i == 0 { 0 } else { block.ends[i - 1] as usize };
    block.lines.get(start..block.ends[i] as usize).unwrap_or(b"")
}

/// A line as text. Checked as UTF-8 only when visited, not per block: a count over a
/// `|=` literal visits about 1% of the lines, and checking whole blocks took 5% of such a
/// query. Lines were valid UTF-8 when pushed; should stored bytes not be, they read
/// with U+FFFD in place of the bad bytes instead of failing the query.
fn line_text(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` first: it has an ASCII fast path that the lossy decoder lacks.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

impl StreamData for BlockScan {
    fn scan(&self, request: &ScanRequest<'_>, visit: &mut dyn FnMut(&EntryRef<'_>) -> bool) -> Result<(), EngineError> {
        let ScanRequest { from, through, reverse, need_lines, required_literals } = *request;
        // Words every wanted line holds as whole tokens: a block whose word filter lacks
        // one is skipped without being decompressed.
        let words: Vec<Vec<u8>> = required_literals.iter().flat_map(|l| skald_chunk::tokens::inner_words(l)).collect();
        let mut blocks: Vec<&BlockRef> = Vec::with_capacity(self.blocks.len());
        for block in self.blocks.iter().filter(|b| b.meta().max_ts >= from && b.meta().min_ts < through) {
            if need_lines && words.iter().any(|w| !block.may_contain_word(w)) {
                self.stats.blocks_filtered.fetch_add(1, Ordering::Relaxed);
                self.stats.lines.fetch_add(u64::from(block.meta().entries), Ordering::Relaxed);
                self.stats.bytes.fetch_add(block.meta().raw_bytes, Ordering::Relaxed);
                continue;
            }
            blocks.push(block);
        }
        blocks.sort_by_key(|b| (b.meta().min_ts, b.meta().max_ts));
        let mut overlapping = false;
        let mut max_seen = i64::MIN;
        for block in &blocks {
            if block.meta().min_ts <= max_seen {
                overlapping = true;
                break;
            }
            max_seen = max_seen.max(block.meta().max_ts);
        }
        if overlapping {
            return self.scan_merged(&blocks, request, visit);
        }
        if reverse {
            blocks.reverse();
        }
        let mut lines = 0u64;
        let mut bytes = 0u64;
        let mut stopped = false;
        for block in blocks {
            let decoded = if need_lines && !required_literals.is_empty() {
                // Lines first: when one of the query's `|=` literals is missing from the
                // whole block, no line can pass, and the meta section is never decoded.
                let lines = block.decompress_lines()?;
                self.stats.blocks.fetch_add(1, Ordering::Relaxed);
                self.stats.decompressed_bytes.fetch_add(lines.len() as u64, Ordering::Relaxed);
                if !contains_all(&lines, required_literals) {
                    self.stats.lines.fetch_add(u64::from(block.meta().entries), Ordering::Relaxed);
                    self.stats.bytes.fetch_add(lines.len() as u64, Ordering::Relaxed);
                    continue;
                }
                let mut decoded = block.decode(false)?;
                decoded.lines = lines;
                decoded
            } else {
                self.decode_counted(block, need_lines)?
            };
            let n = decoded.len();
            let lo = decoded.ts.partition_point(|&t| t < from);
            let hi = decoded.ts.partition_point(|&t| t < through);
            let mut visit_one = |i: usize| -> bool {
                let line_len = decoded.line_len(i);
                lines += 1;
                bytes += line_len as u64;
                let line = line_text(line_bytes(&decoded, need_lines, i));
                visit(&EntryRef { ts: decoded.ts[i], line: &line, line_len, metadata: decoded.metadata(i) })
            };
            debug_assert!(hi <= n);
            // With a required literal, only lines holding it can pass: find them with one
            // memmem pass over the block instead of visiting every line.
            let candidates: Option<Vec<usize>> = match (need_lines, required_literals.first()) {
                (true, Some(literal)) => Some(lines_containing(&decoded, literal, lo, hi)),
                _ => None,
            };
            let order: Box<dyn Iterator<Item = usize>> = match (&candidates, reverse) {
                (Some(list), false) => Box::new(list.iter().copied()),
                (Some(list), true) => Box::new(list.iter().rev().copied()),
                (None, false) => Box::new(lo..hi),
                (None, true) => Box::new((lo..hi).rev()),
            };
            for i in order {
                if !visit_one(i) {
                    stopped = true;
                    break;
                }
            }
            if candidates.is_some() {
                // Lines passed over still count as processed.
                let skipped = (hi - lo) as u64 - candidates.as_ref().map_or(0, |c| c.len() as u64);
                lines += skipped;
            }
            if stopped {
                break;
            }
        }
        self.stats.lines.fetch_add(lines, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }
}

impl BlockScan {
    /// Blocks overlap in time (out-of-order data, or the same entries in memory and in
    /// a chunk): merge all entries and drop exact duplicates. Needs the lines to compare.
    fn scan_merged(
        &self,
        blocks: &[&BlockRef],
        request: &ScanRequest<'_>,
        visit: &mut dyn FnMut(&EntryRef<'_>) -> bool,
    ) -> Result<(), EngineError> {
        let ScanRequest { from, through, reverse, need_lines, required_literals } = *request;
        // With `|=` literals, only lines holding them can pass, and a duplicate holds the
        // same line as its original: blocks without every literal are dropped whole, and
        // of the rest only the lines holding the first literal take part in the merge.
        let filtering = need_lines && !required_literals.is_empty();
        let mut kept_blocks: Vec<&BlockRef> = Vec::with_capacity(blocks.len());
        let mut decoded: Vec<DecodedBlock> = Vec::with_capacity(blocks.len());
        let mut passed_over = 0u64;
        for &block in blocks {
            let d = self.decode_counted(block, need_lines)?;
            if filtering && !contains_all(&d.lines, required_literals) {
                passed_over += d.len() as u64;
                continue;
            }
            kept_blocks.push(block);
            decoded.push(d);
        }
        let mut order: Vec<(i64, u32, u32)> = Vec::new();
        for (b, block) in decoded.iter().enumerate() {
            let lo = block.ts.partition_point(|&t| t < from);
            let hi = block.ts.partition_point(|&t| t < through);
            match required_literals.first().filter(|_| filtering) {
                Some(literal) => {
                    let candidates = lines_containing(block, literal, lo, hi);
                    passed_over += (hi - lo - candidates.len()) as u64;
                    order.extend(candidates.into_iter().map(|i| (block.ts[i], b as u32, i as u32)));
                }
                None => order.extend((lo..hi).map(|i| (block.ts[i], b as u32, i as u32))),
            }
        }
        order.sort_by_key(|&(ts, b, i)| (ts, b, i));
        // Only entries with equal timestamps in different blocks can be the same entry
        // twice. When there are none, a count needs no line at all.
        let cross_block_ties = order.windows(2).any(|w| w[0].0 == w[1].0 && w[0].1 != w[1].1);
        let with_lines = need_lines || cross_block_ties;
        if with_lines && !need_lines {
            for (block, decoded) in kept_blocks.iter().zip(decoded.iter_mut()) {
                decoded.lines = block.decompress_lines()?;
            }
        }
        let entry = |&(ts, b, i): &(i64, u32, u32)| {
            let block = &decoded[b as usize];
            let i = i as usize;
            (ts, line_bytes(block, with_lines, i), block.metadata(i), block.line_len(i))
        };
        // Drop entries equal to an earlier one with the same timestamp.
        let mut kept: Vec<(i64, u32, u32)> = Vec::with_capacity(order.len());
        let mut run_start = 0;
        for position in 0..order.len() {
            if position > 0 && order[position].0 != order[position - 1].0 {
                run_start = kept.len();
            }
            if with_lines && run_start < kept.len() {
                let candidate = entry(&order[position]);
                if kept[run_start..].iter().any(|k| entry(k) == candidate) {
                    self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            kept.push(order[position]);
        }
        if reverse {
            kept.reverse();
        }
        let mut lines = 0u64;
        let mut bytes = 0u64;
        for k in &kept {
            let (ts, line, metadata, line_len) = entry(k);
            lines += 1;
            bytes += line_len as u64;
            let line = if need_lines { line_text(line) } else { Cow::Borrowed("") };
            if !visit(&EntryRef { ts, line: &line, line_len, metadata }) {
                break;
            }
        }
        self.stats.lines.fetch_add(lines + passed_over, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use skald_chunk::HeadBlock;

    fn scan_matching(scan: &BlockScan, needle: &str, literals: &[Vec<u8>], reverse: bool) -> Vec<(i64, String)> {
        let request = ScanRequest { from: i64::MIN, through: i64::MAX, reverse, need_lines: true, required_literals: literals };
        let mut out = Vec::new();
        scan.scan(&request, &mut |e| {
            if e.line.contains(needle) {
                out.push((e.ts, e.line.to_string()));
            }
            true
        })
        .unwrap();
        out
    }

    proptest! {
        /// The block prefilter never changes which lines match.
        #[test]
        fn prefilter_never_changes_an_answer(
            lines in proptest::collection::vec("[abc ]{0,16}", 1..200),
            needle in "[abc]{1,4}",
            block_size in 1usize..40,
            reverse in any::<bool>(),
            // Timestamps wrap around (`i % period`): blocks overlap in time and hold
            // different lines at equal times, so the scan merges them.
            period in 1i64..400,
            // Every entry twice, in blocks cut differently: exact duplicates to drop.
            duplicated in any::<bool>(),
        ) {
            let mut blocks = Vec::new();
            let copies = if duplicated { 2 } else { 1 };
            for copy in 0..copies {
                let mut head = HeadBlock::new();
                for (i, line) in lines.iter().enumerate() {
                    head.append(i as i64 % period, line, &[]);
                    if (i + 1) % (block_size + copy) == 0 {
                        blocks.extend(head.cut(Codec::Zstd(1)).map(|b| BlockRef::Memory(Arc::new(b))));
                    }
                }
                blocks.extend(head.cut(Codec::Lz4).map(|b| BlockRef::Memory(Arc::new(b))));
            }
            let scan = BlockScan { blocks, stats: Arc::new(ScanStats::default()) };
            let with = scan_matching(&scan, &needle, &[needle.as_bytes().to_vec()], reverse);
            // With spaces around it the needle is an inner word: the word filters apply.
            let spaced = format!(" {needle} ");
            let filtered = scan_matching(&scan, &spaced, &[spaced.clone().into_bytes()], reverse);
            let unfiltered = scan_matching(&scan, &spaced, &[], reverse);
            prop_assert_eq!(filtered, unfiltered);
            let without = scan_matching(&scan, &needle, &[], reverse);
            prop_assert_eq!(with, without);
        }
    }

    #[test]
    fn counting_overlapping_blocks_needs_lines_only_for_equal_timestamps() {
        let block = |entries: &[(i64, &str)]| {
            let mut head = HeadBlock::new();
            for (ts, line) in entries {
                head.append(*ts, line, &[]);
            }
            BlockRef::Memory(Arc::new(head.cut(Codec::Zstd(1)).unwrap()))
        };
        let count = |blocks: Vec<BlockRef>| {
            let scan = BlockScan { blocks, stats: Arc::new(ScanStats::default()) };
            let request = ScanRequest { from: i64::MIN, through: i64::MAX, reverse: false, need_lines: false, required_literals: &[] };
            let mut n = 0;
            scan.scan(&request, &mut |e| {
                assert!(e.line.is_empty() && e.line_len > 0);
                n += 1;
                true
            })
            .unwrap();
            n
        };
        // Overlapping, no equal timestamps: every entry counts.
        assert_eq!(count(vec![block(&[(1, "a"), (5, "e")]), block(&[(3, "c"), (7, "g")])]), 4);
        // The same entry in two blocks counts once; a different line at the same time twice.
        assert_eq!(count(vec![block(&[(1, "a"), (5, "e")]), block(&[(3, "c"), (5, "e")])]), 3);
        assert_eq!(count(vec![block(&[(1, "a"), (5, "e")]), block(&[(3, "c"), (5, "x")])]), 4);
    }

    #[test]
    fn overlapping_blocks_are_merged_without_duplicates() {
        let mut first = HeadBlock::new();
        first.append(1, "a", &[]);
        first.append(3, "c", &[]);
        let mut second = HeadBlock::new();
        second.append(2, "b", &[]);
        second.append(3, "c", &[]);
        let blocks = vec![
            BlockRef::Memory(Arc::new(first.cut(Codec::Zstd(1)).unwrap())),
            BlockRef::Memory(Arc::new(second.cut(Codec::None).unwrap())),
        ];
        let stats = Arc::new(ScanStats::default());
        let scan = BlockScan { blocks, stats: stats.clone() };
        let got = scan_matching(&scan, "", &[], false);
        assert_eq!(got, vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]);
        assert_eq!(stats.duplicates.load(Ordering::Relaxed), 1);
        let got = scan_matching(&scan, "", &[], true);
        assert_eq!(got.first().map(|e| e.0), Some(3));
    }
}
