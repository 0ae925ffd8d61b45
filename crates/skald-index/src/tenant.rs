//! One tenant's index of flushed chunks, partitioned by day.

use crate::matcher::LabelMatcher;
use crate::postings::Postings;
use rustc_hash::FxHashMap;
use skald_common::LabelSet;
use std::collections::BTreeMap;

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// The day number (since the epoch) a timestamp falls in.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_NANOS)
}

/// Where a chunk lives and what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    /// Object key in the store.
    pub key: String,
    /// Inclusive time bounds of the entries in the chunk.
    pub from: i64,
    pub through: i64,
    pub entries: u64,
    /// Bytes of line text.
    pub raw_bytes: u64,
    /// Bytes of the chunk object.
    pub size: u64,
}

/// A stream chosen by a selector, with its chunks overlapping the query range.
#[derive(Debug, Clone)]
pub struct SelectedStream {
    pub fingerprint: u64,
    pub labels: LabelSet,
    pub chunks: Vec<ChunkRef>,
}

#[derive(Debug, Default)]
struct DayIndex {
    postings: Postings,
    chunks: FxHashMap<u64, Vec<ChunkRef>>,
}

/// The index of one tenant's flushed chunks.
#[derive(Debug, Default)]
pub struct TenantIndex {
    days: BTreeMap<i64, DayIndex>,
}

impl TenantIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a chunk of stream `fingerprint` in every day it overlaps. Adding the same
    /// chunk key twice is a no-op.
    pub fn add_chunk(&mut self, fingerprint: u64, labels: &LabelSet, chunk: ChunkRef) {
        for day in day_of(chunk.from)..=day_of(chunk.through) {
            let index = self.days.entry(day).or_default();
            index.postings.insert(fingerprint, labels);
            let list = index.chunks.entry(fingerprint).or_default();
            if !list.iter().any(|c| c.key == chunk.key) {
                list.push(chunk.clone());
            }
        }
    }

    /// Removes chunks (by key) from every day, dropping streams left without chunks.
    pub fn remove_chunks(&mut self, keys: &[String]) {
        for index in self.days.values_mut() {
            let mut emptied = Vec::new();
            for (fp, list) in index.chunks.iter_mut() {
                list.retain(|c| !keys.contains(&c.key));
                if list.is_empty() {
                    emptied.push(*fp);
                }
            }
            for fp in emptied {
                index.chunks.remove(&fp);
                index.postings.remove(fp);
            }
        }
        self.days.retain(|_, index| !index.chunks.is_empty());
    }

    fn days_in(&self, from: i64, through: i64) -> impl Iterator<Item = &DayIndex> {
        self.days.range(day_of(from)..=day_of(through)).map(|(_, index)| index)
    }

    /// Streams matching every matcher with at least one chunk overlapping
    /// `[from, through]`, each with those chunks (deduplicated across days).
    pub fn select(&self, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<SelectedStream> {
        let mut days = self.days_in(from, through);
        if let (Some(day), None) = (days.next(), days.next()) {
            return Self::select_in_day(day, matchers, from, through);
        }
        let mut out: BTreeMap<u64, SelectedStream> = BTreeMap::new();
        for index in self.days_in(from, through) {
            for fp in index.postings.select(matchers) {
                let Some(chunks) = index.chunks.get(&fp) else { continue };
                for chunk in chunks.iter().filter(|c| c.through >= from && c.from <= through) {
                    let stream = out.entry(fp).or_insert_with(|| SelectedStream {
                        fingerprint: fp,
                        labels: index.postings.labels(fp).cloned().unwrap_or_default(),
                        chunks: Vec::new(),
                    });
                    if !stream.chunks.iter().any(|c| c.key == chunk.key) {
                        stream.chunks.push(chunk.clone());
                    }
                }
            }
        }
        out.into_values().collect()
    }

    /// [`TenantIndex::select`] over one day: each stream is met once, so no map is
    /// needed to merge days (with 100,000 streams the map's upkeep was a tenth of a
    /// count over all of them).
    fn select_in_day(index: &DayIndex, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<SelectedStream> {
        let mut out = Vec::new();
        for fp in index.postings.select(matchers) {
            let Some(chunks) = index.chunks.get(&fp) else { continue };
            let mut kept: Vec<ChunkRef> = Vec::new();
            for chunk in chunks.iter().filter(|c| c.through >= from && c.from <= through) {
                if !kept.iter().any(|c| c.key == chunk.key) {
                    kept.push(chunk.clone());
                }
            }
            if !kept.is_empty() {
                out.push(SelectedStream { fingerprint: fp, labels: index.postings.labels(fp).cloned().unwrap_or_default(), chunks: kept });
            }
        }
        out.sort_unstable_by_key(|s| s.fingerprint);
        out
    }

    pub fn label_names(&self, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<String> {
        if matchers.is_empty() {
            let mut names: Vec<String> = self.days_in(from, through).flat_map(|d| d.postings.label_names(&[])).collect();
            names.sort();
            names.dedup();
            return names;
        }
        let mut names: Vec<String> =
            self.select(matchers, from, through).into_iter().flat_map(|s| s.labels.into_vec().into_iter().map(|l| l.name)).collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn label_values(&self, name: &str, matchers: &[LabelMatcher], from: i64, through: i64) -> Vec<String> {
        let mut values: Vec<String> =
            self.select(matchers, from, through).into_iter().filter_map(|s| s.labels.get(name).map(str::to_string)).collect();
        values.sort();
        values.dedup();
        values
    }

    /// Every chunk key (for retention and tests).
    pub fn chunk_count(&self) -> usize {
        let mut keys: Vec<&str> = self.days.values().flat_map(|d| d.chunks.values().flatten().map(|c| c.key.as_str())).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(key: &str, from: i64, through: i64) -> ChunkRef {
        ChunkRef { key: key.into(), from, through, entries: 1, raw_bytes: 1, size: 1 }
    }

    #[test]
    fn chunks_are_found_by_time_and_labels() {
        let mut index = TenantIndex::new();
        let labels = LabelSet::from_pairs([("job", "a")]);
        index.add_chunk(1, &labels, chunk("c1", 0, 10));
        index.add_chunk(1, &labels, chunk("c2", DAY_NANOS - 5, DAY_NANOS + 5));
        index.add_chunk(1, &labels, chunk("c2", DAY_NANOS - 5, DAY_NANOS + 5));
        let m = [LabelMatcher::Eq("job".into(), "a".into())];
        assert_eq!(index.select(&m, 0, DAY_NANOS * 2)[0].chunks.len(), 2);
        assert_eq!(index.select(&m, 11, 20).len(), 0);
        assert_eq!(index.select(&m, DAY_NANOS, DAY_NANOS + 1)[0].chunks[0].key, "c2");
        assert_eq!(index.chunk_count(), 2);
        index.remove_chunks(&["c2".to_string()]);
        assert_eq!(index.chunk_count(), 1);
        assert_eq!(index.label_values("job", &[], 0, 100), vec!["a"]);
    }
}
