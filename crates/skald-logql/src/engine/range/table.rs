//! The table of output series of a range aggregation: label keys hashed into reused
//! buffers, each series holding one accumulator per step.

use super::acc::{Acc, AccMode};
use super::{MAX_INTERMEDIATE_SERIES, Window};
use crate::ast::Grouping;
use crate::engine::EngineError;
use crate::pipeline::labels::set_label;
use skald_common::{Label, LabelSet};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(super) struct SeriesAcc {
    pub(super) labels: LabelSet,
    /// The next series with the same key hash (`NONE` ends the chain).
    next_same_hash: u32,
}

const NONE: u32 = u32::MAX;

/// The hash of a sorted label list (names and values, each terminated by 0xff, which
/// UTF-8 never contains).
fn hash_labels(labels: &[Label]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for l in labels {
        h.write(l.name.as_bytes());
        h.write_u8(0xff);
        h.write(l.value.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

/// Output series of a range aggregation, addressed by index. Samples are keyed by
/// their labels after the aggregation's grouping; the key is built into a reused
/// buffer and hashed, and a `LabelSet` is only allocated for a new series.
pub(super) struct SeriesTable<'g> {
    pub(super) grouping: Option<&'g Grouping>,
    /// `by` names, sorted and deduplicated (the order of the grouped set).
    by_sorted: Vec<&'g str>,
    pub(super) steps: usize,
    max_series: usize,
    /// Key hash -> the newest series with that hash.
    by_hash: HashMap<u64, u32, BuildHasherDefault<NoHash>>,
    pub(super) series: Vec<SeriesAcc>,
    /// `steps` accumulators per series, series after series.
    pub(super) accs: Vec<Acc>,
    /// Scratch for grouped keys.
    key: Vec<Label>,
}

impl<'g> SeriesTable<'g> {
    pub(super) fn new(grouping: Option<&'g Grouping>, steps: usize, max_series: usize) -> Self {
        let mut by_sorted: Vec<&str> = match grouping {
            Some(g) if !g.without => g.labels.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        by_sorted.sort_unstable();
        by_sorted.dedup();
        SeriesTable {
            grouping,
            by_sorted,
            steps,
            max_series,
            by_hash: HashMap::default(),
            series: Vec::new(),
            accs: Vec::new(),
            key: Vec::new(),
        }
    }

    /// The series of a full (sorted) label set.
    pub(super) fn index_of(&mut self, labels: &[Label]) -> Result<usize, EngineError> {
        match self.grouping {
            None => self.index_of_key(labels),
            Some(g) if g.without => {
                let mut key = std::mem::take(&mut self.key);
                let mut n = 0;
                for l in labels.iter().filter(|l| !g.labels.contains(&l.name)) {
                    set_label(&mut key, n, &l.name, &l.value);
                    n += 1;
                }
                key.truncate(n);
                let r = self.index_of_key(&key);
                self.key = key;
                r
            }
            Some(_) => {
                let mut key = std::mem::take(&mut self.key);
                let mut n = 0;
                for name in &self.by_sorted {
                    if let Ok(i) = labels.binary_search_by(|l| l.name.as_str().cmp(name)) {
                        set_label(&mut key, n, name, &labels[i].value);
                        n += 1;
                    }
                }
                key.truncate(n);
                let r = self.index_of_key(&key);
                self.key = key;
                r
            }
        }
    }

    /// The series of a sample under a `by` grouping, reading label values through
    /// `get` (so the sample's full label set is never built).
    pub(super) fn index_of_by<'a>(&mut self, get: impl Fn(&str) -> Option<&'a str>) -> Result<usize, EngineError> {
        let mut key = std::mem::take(&mut self.key);
        let mut n = 0;
        for name in &self.by_sorted {
            if let Some(value) = get(name) {
                set_label(&mut key, n, name, value);
                n += 1;
            }
        }
        key.truncate(n);
        let r = self.index_of_key(&key);
        self.key = key;
        r
    }

    /// The series whose labels are exactly `key` (sorted), created when new.
    fn index_of_key(&mut self, key: &[Label]) -> Result<usize, EngineError> {
        let hash = hash_labels(key);
        let head = self.by_hash.get(&hash).copied().unwrap_or(NONE);
        let mut i = head;
        while i != NONE {
            let s = &self.series[i as usize];
            if s.labels.as_slice() == key {
                return Ok(i as usize);
            }
            i = s.next_same_hash;
        }
        if self.series.len() >= MAX_INTERMEDIATE_SERIES {
            return Err(crate::engine::value::max_series_error(self.max_series));
        }
        let index = self.series.len();
        self.series.push(SeriesAcc { labels: LabelSet::from_labels(key.to_vec()), next_same_hash: head });
        self.accs.resize(self.accs.len() + self.steps, Acc::default());
        self.by_hash.insert(hash, index as u32);
        Ok(index)
    }

    /// True when series `index` has exactly these labels.
    pub(super) fn is(&self, index: usize, labels: &[Label]) -> bool {
        self.series[index].labels.as_slice() == labels
    }

    /// Adds another worker's table into this one.
    pub(super) fn merge(&mut self, other: SeriesTable<'_>) -> Result<(), EngineError> {
        let steps = self.steps;
        for (i, series) in other.series.iter().enumerate() {
            let index = self.index_of_key(series.labels.as_slice())?;
            let mine = &mut self.accs[index * steps..(index + 1) * steps];
            for (acc, theirs) in mine.iter_mut().zip(&other.accs[i * steps..(i + 1) * steps]) {
                acc.merge(theirs);
            }
        }
        Ok(())
    }

    pub(super) fn add(&mut self, series: usize, window: &Window, ts: i64, value: f64, mode: AccMode) {
        let (lo, hi) = window.steps_of(ts);
        let steps = &mut self.accs[series * self.steps..(series + 1) * self.steps];
        for acc in steps.iter_mut().take(hi.wrapping_add(1)).skip(lo) {
            acc.add(ts, value, mode);
        }
    }
}

/// The key hashes are already FxHash values.
#[derive(Default)]
struct NoHash(u64);

impl Hasher for NoHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
