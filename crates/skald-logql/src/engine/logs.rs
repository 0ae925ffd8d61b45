//! Log queries: the newest (or oldest) `limit` entries that pass the pipeline.

use super::value::entry_labels;
use super::{Direction, EngineError, QueryParams, QueryResult, ScanRequest, StreamSource, required_literals};
use crate::ast::LogExpr;
use crate::engine::value::{LogEntry, StreamResult};
use crate::pipeline::Pipeline;
use skald_common::LabelSet;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An entry that may be returned: time, (stream, position in stream), labels, entry.
type Candidate = (i64, (usize, usize), LabelSet, LogEntry);

pub(crate) fn evaluate_logs(log: &LogExpr, params: &QueryParams, source: &dyn StreamSource) -> Result<QueryResult, EngineError> {
    let pipeline = Pipeline::new(&log.pipeline).map_err(|e| EngineError::bad_request(e.0))?;
    let literals = required_literals(&log.pipeline);
    let streams = source.select_for_literals(&log.matchers, params.start, params.end, &literals)?;
    let reverse = params.direction == Direction::Backward;
    let limit = params.limit;
    let request = ScanRequest { from: params.start, through: params.end, reverse, need_lines: true, required_literals: &literals };
    // Every stream contributes at most `limit` entries; the best `limit` overall win.
    // Streams are scanned in parallel; a candidate's (stream, position) keeps ties in a
    // stable order whatever the scheduling.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(streams.len()).max(1);
    let next = AtomicUsize::new(0);
    let worker = || -> Result<Vec<Candidate>, EngineError> {
        let mut found = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(stream) = streams.get(index).filter(|_| limit > 0) else { break };
            let mut processor = pipeline.for_stream(&stream.labels);
            let mut taken = 0usize;
            stream.data.scan(&request, &mut |entry| {
                let Some(processed) = processor.process(entry.ts, entry.line, entry.metadata) else { return true };
                let (labels, structured_metadata, parsed) = entry_labels(processed.labels, params.categorize_labels);
                let line = processed.line.to_string();
                found.push((entry.ts, (index, taken), labels, LogEntry { ts: entry.ts, line, structured_metadata, parsed }));
                taken += 1;
                taken < limit
            })?;
        }
        Ok(found)
    };
    let mut candidates: Vec<Candidate> = if workers == 1 {
        worker()?
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
            let mut all = Vec::new();
            for handle in handles {
                all.extend(handle.join().unwrap_or_else(|_| Err(EngineError::internal("a query worker panicked")))?);
            }
            Ok::<_, EngineError>(all)
        })?
    };
    if reverse {
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)).then_with(|| a.1.cmp(&b.1)));
    } else {
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)).then_with(|| a.1.cmp(&b.1)));
    }
    candidates.truncate(limit);
    let mut grouped: HashMap<LabelSet, Vec<LogEntry>> = HashMap::new();
    let mut order: Vec<LabelSet> = Vec::new();
    for (_, _, labels, entry) in candidates {
        let list = grouped.entry(labels.clone()).or_insert_with(|| {
            order.push(labels);
            Vec::new()
        });
        list.push(entry);
    }
    let streams = order
        .into_iter()
        .map(|labels| {
            let entries = grouped.remove(&labels).unwrap_or_default();
            StreamResult { labels, entries }
        })
        .collect();
    Ok(QueryResult::Streams(streams))
}
