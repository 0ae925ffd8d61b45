//! One copy of each entry in storage, whatever the replication factor.
//!
//! With `replication_factor: 3` every ingester holding a stream flushes its own chunks
//! of it: the same entries, three times, cut at different moments (so the copies are
//! not byte-identical and the exact-copy check of the pack merge misses them). Queries
//! already read them as one (`skald-querier/src/scan.rs` merges blocks that overlap in
//! time and drops entries equal to an earlier one at the same timestamp); the compactor
//! makes storage match: chunks of one stream whose time ranges overlap are decoded,
//! merged in time order with the same rule, and written again as chunks that no longer
//! overlap. The next pass finds nothing to merge, so each entry is rewritten once.
//!
//! The rule is the query path's, so a query answers the same before and after: within
//! a run of equal timestamps, an entry with the same line and structured metadata as
//! an earlier one is dropped. Entries at different timestamps are never compared.
//! Chunks are only compared within one tenant and day (the unit of a compaction pass),
//! so copies of a stream cut on different sides of midnight stay until queries merge them.

use crate::CompactorError;
use crate::chunk_writer::ChunkWriter;
use crate::compact::Entry;
use skald_chunk::{Codec, PackInput, decode_chunk};
use skald_common::{Label, LabelSet};
use std::collections::{HashMap, HashSet};

/// Compressed bytes at which a merged chunk is sealed (the ingester's
/// `chunk_target_size` default).
const CHUNK_TARGET_BYTES: usize = 1_572_864;

/// What merging overlapping chunks did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OverlapReport {
    /// Chunks read because another chunk of their stream overlapped them.
    pub chunks_merged: u64,
    /// Chunks written in their place.
    pub chunks_written: u64,
    /// Entries dropped as copies of another (replicas' copies).
    pub duplicate_entries: u64,
}

/// The keys of chunks whose time range overlaps another chunk of the same stream
/// (both named by `kept`): the pass merges them.
pub fn overlapping_chunks(kept: &[Entry]) -> HashSet<&str> {
    let mut by_stream: HashMap<u64, Vec<(i64, i64, &str)>> = HashMap::new();
    for (fingerprint, _, chunk) in kept {
        by_stream.entry(*fingerprint).or_default().push((chunk.from, chunk.through, chunk.key.as_str()));
    }
    let mut out = HashSet::new();
    for ranges in by_stream.values_mut() {
        if ranges.len() < 2 {
            continue;
        }
        for run in overlapping_runs(ranges, |r| (r.0, r.1)) {
            out.extend(run.iter().map(|r| r.2));
        }
    }
    out
}

/// Groups `items` (sorted here by start) into runs whose time ranges chain together
/// (`from <= the run's latest through`: ranges are inclusive, so two chunks sharing
/// one timestamp overlap); returns the runs of two or more.
fn overlapping_runs<T: Clone>(items: &mut [T], range: impl Fn(&T) -> (i64, i64)) -> Vec<Vec<T>> {
    items.sort_by_key(|item| range(item));
    let mut runs = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut through = i64::MIN;
    for item in items.iter() {
        let (from, to) = range(item);
        if !current.is_empty() && from > through {
            if current.len() > 1 {
                runs.push(std::mem::take(&mut current));
            }
            current.clear();
        }
        through = if current.is_empty() { to } else { through.max(to) };
        current.push(item.clone());
    }
    if current.len() > 1 {
        runs.push(current);
    }
    runs
}

/// Replaces each run of overlapping chunks of a stream in `packed` by merged chunks
/// without duplicate entries; chunks that overlap nothing pass through untouched.
pub fn merge_overlapping(packed: Vec<(LabelSet, PackInput)>) -> Result<(Vec<(LabelSet, PackInput)>, OverlapReport), CompactorError> {
    let mut report = OverlapReport::default();
    let mut by_stream: HashMap<u64, Vec<(LabelSet, PackInput)>> = HashMap::new();
    for item in packed {
        by_stream.entry(item.1.fingerprint).or_default().push(item);
    }
    let mut out = Vec::new();
    for (_, mut chunks) in by_stream {
        if chunks.len() < 2 {
            out.extend(chunks);
            continue;
        }
        let labels = chunks[0].0.clone();
        let mut indexed: Vec<(usize, i64, i64)> = chunks.iter().enumerate().map(|(i, (_, c))| (i, c.from, c.through)).collect();
        let runs = overlapping_runs(&mut indexed, |r| (r.1, r.2));
        let mut taken: Vec<Option<PackInput>> = chunks.drain(..).map(|(_, c)| Some(c)).collect();
        for run in runs {
            let inputs: Vec<PackInput> = run.iter().filter_map(|(i, _, _)| taken[*i].take()).collect();
            report.chunks_merged += inputs.len() as u64;
            let (merged, duplicates) = merge_run(&inputs)?;
            report.duplicate_entries += duplicates;
            report.chunks_written += merged.len() as u64;
            out.extend(merged.into_iter().map(|c| (labels.clone(), c)));
        }
        out.extend(taken.into_iter().flatten().map(|c| (labels.clone(), c)));
    }
    out.sort_by_key(|(_, c)| (c.fingerprint, c.from, c.through));
    Ok((out, report))
}

/// One entry of a run, owned (runs are one stream's copies: small next to a day).
struct Owned {
    ts: i64,
    line: Vec<u8>,
    metadata: Vec<Label>,
}

/// Merges one run of a stream's overlapping chunks; returns the new chunks (in time
/// order, never sharing a timestamp) and how many entries were copies.
fn merge_run(inputs: &[PackInput]) -> Result<(Vec<PackInput>, u64), CompactorError> {
    let fingerprint = inputs[0].fingerprint;
    let mut codec: Option<Codec> = None;
    let mut entries: Vec<Owned> = Vec::new();
    for input in inputs {
        let corrupt =
            |source| CompactorError::Chunk { key: format!("stream {fingerprint:016x} [{}, {}]", input.from, input.through), source };
        let chunk = decode_chunk(input.bytes.clone()).map_err(corrupt)?;
        codec.get_or_insert(chunk.codec);
        for i in 0..chunk.blocks.len() {
            let block = chunk.decode_block(i, true).map_err(corrupt)?;
            entries.extend((0..block.len()).map(|j| Owned {
                ts: block.ts[j],
                line: block.line(j).to_vec(),
                metadata: block.metadata(j).to_vec(),
            }));
        }
    }
    // Stable: entries at one timestamp keep the order of the chunks (by start) and of
    // their blocks, as the query's merge orders them.
    entries.sort_by_key(|e| e.ts);
    let mut kept: Vec<Owned> = Vec::with_capacity(entries.len());
    let mut duplicates = 0u64;
    let mut run_start = 0;
    for entry in entries {
        if kept.last().is_some_and(|last| last.ts != entry.ts) {
            run_start = kept.len();
        }
        if kept[run_start..].iter().any(|k| k.ts == entry.ts && k.line == entry.line && k.metadata == entry.metadata) {
            duplicates += 1;
            continue;
        }
        kept.push(entry);
    }
    let codec = codec.unwrap_or(Codec::None);
    let mut chunks = Vec::new();
    let mut writer = ChunkWriter::new(fingerprint, codec);
    for (i, entry) in kept.iter().enumerate() {
        writer.append(entry.ts, &String::from_utf8_lossy(&entry.line), &entry.metadata);
        // A chunk ends only where the timestamp changes, so no two chunks share one.
        let next_differs = kept.get(i + 1).is_none_or(|next| next.ts != entry.ts);
        if next_differs && writer.compressed_bytes() >= CHUNK_TARGET_BYTES {
            chunks.extend(writer.seal());
        }
    }
    chunks.extend(writer.seal());
    Ok((chunks, duplicates))
}

#[cfg(test)]
mod tests;
