//! Merging the `streams` results of a split log query.
//!
//! The engine orders a log result's entries by time (newest first for `backward`), then
//! by stream labels, then by position within the stream; keeps the first `limit`; and
//! lists streams in the order of their first entry. Parts cover disjoint time ranges and
//! arrive in the direction's order, so replaying that order part by part (sorting each
//! part's entries the same way) and stopping at `limit` gives the unsplit answer.

use super::{MergeError, labels_of};
use serde_json::{Map, Value};
use skald_common::LabelSet;
use std::collections::HashMap;

/// The direction of a log query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOrder {
    /// Newest first (Loki's default).
    Backward,
    Forward,
}

/// One entry of a part: time, stream slot in the merged output, position in its part
/// stream, and the entry as sent (`[ts, line]` or `[ts, line, {..}]`).
struct PartEntry {
    ts: i64,
    slot: usize,
    position: usize,
    value: Value,
}

/// Merged output streams, in order of first appearance.
#[derive(Default)]
struct Slots {
    index: HashMap<LabelSet, usize>,
    labels: Vec<LabelSet>,
    streams: Vec<Value>,
    entries: Vec<Vec<Value>>,
}

impl Slots {
    fn slot(&mut self, labels: LabelSet, stream: &Value) -> usize {
        if let Some(&slot) = self.index.get(&labels) {
            return slot;
        }
        let slot = self.labels.len();
        self.index.insert(labels.clone(), slot);
        self.labels.push(labels);
        self.streams.push(stream.clone());
        self.entries.push(Vec::new());
        slot
    }
}

pub(super) fn merge_streams(results: Vec<Value>, order: LogOrder, limit: usize) -> Result<Value, MergeError> {
    let mut slots = Slots::default();
    let mut taken = 0usize;
    for result in results {
        if taken >= limit {
            break;
        }
        let Value::Array(list) = result else {
            return Err(MergeError("a streams result is not an array".to_string()));
        };
        let mut part_labels = Vec::with_capacity(list.len());
        let mut part_streams = Vec::with_capacity(list.len());
        let mut entries = Vec::new();
        for (stream_index, mut item) in list.into_iter().enumerate() {
            let stream = item.get_mut("stream").map(Value::take).unwrap_or(Value::Object(Map::new()));
            part_labels.push(labels_of(&stream, "stream")?);
            part_streams.push(stream);
            let Some(Value::Array(values)) = item.get_mut("values").map(Value::take) else {
                return Err(MergeError("a stream has no values array".to_string()));
            };
            for (position, value) in values.into_iter().enumerate() {
                let ts = entry_time(&value)?;
                entries.push(PartEntry { ts, slot: stream_index, position, value });
            }
        }
        entries.sort_by(|a, b| {
            let by_time = match order {
                LogOrder::Backward => b.ts.cmp(&a.ts),
                LogOrder::Forward => a.ts.cmp(&b.ts),
            };
            by_time
                .then_with(|| part_labels[a.slot].cmp(&part_labels[b.slot]))
                .then_with(|| a.slot.cmp(&b.slot))
                .then_with(|| a.position.cmp(&b.position))
        });
        // Slots are made only for entries that are kept, so that a stream whose entries
        // were all cut by the limit does not appear.
        let mut pending_slots: Vec<Option<usize>> = vec![None; part_labels.len()];
        for entry in entries.into_iter().take(limit - taken) {
            let slot = match pending_slots[entry.slot] {
                Some(slot) => slot,
                None => {
                    let slot = slots.slot(part_labels[entry.slot].clone(), &part_streams[entry.slot]);
                    pending_slots[entry.slot] = Some(slot);
                    slot
                }
            };
            slots.entries[slot].push(entry.value);
            taken += 1;
        }
    }
    let mut list = Vec::with_capacity(slots.streams.len());
    for (stream, values) in slots.streams.into_iter().zip(slots.entries) {
        let mut item = Map::new();
        item.insert("stream".to_string(), stream);
        item.insert("values".to_string(), Value::Array(values));
        list.push(Value::Object(item));
    }
    Ok(Value::Array(list))
}

/// The nanosecond timestamp of a `["<ns>", "<line>", ...]` entry.
fn entry_time(value: &Value) -> Result<i64, MergeError> {
    let text = value.get(0).and_then(Value::as_str).ok_or_else(|| MergeError("a stream entry has no timestamp string".to_string()))?;
    text.parse().map_err(|_| MergeError(format!("invalid entry timestamp \"{text}\"")))
}
