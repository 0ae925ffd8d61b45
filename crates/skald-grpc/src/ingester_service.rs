//! The ingester's gRPC service (`skald.ingester.v1.Ingester`): pushes from
//! distributors, reads from queriers, live tails.
//!
//! The tenant is required in `x-scope-orgid`. Select answers are streamed in messages
//! of about `select_batch_bytes`, built lazily from the shared blocks, so a large
//! answer never sits in memory twice and stays under the send limit.

use crate::convert::{block_to_proto, labels_to_proto, matchers_from_proto, push_streams_from_proto, tail_stream_to_proto};
use crate::error::code_for_http;
use crate::server::MessageLimits;
use crate::tenant::tenant_from_metadata;
use futures::Stream;
use skald_index::LabelMatcher;
use skald_ingester::{Ingester, StreamSnapshot, TailBatch};
use skald_proto::ingester as pb;
use skald_proto::ingester::ingester_server::{Ingester as IngesterRpc, IngesterServer};
use skald_proto::logproto::PushRequest;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

/// Default size a Select message is filled to (well under the 4 MiB default limit).
pub const DEFAULT_SELECT_BATCH_BYTES: usize = 1 << 20;

pub struct IngesterService {
    ingester: Arc<Ingester>,
    select_batch_bytes: usize,
}

/// The service to add to a tonic server (see [`crate::server`]).
pub fn ingester_service(ingester: Arc<Ingester>, limits: MessageLimits) -> IngesterServer<IngesterService> {
    // Leave room for the message framing and the labels around the blocks.
    let select_batch_bytes = DEFAULT_SELECT_BATCH_BYTES.min(limits.max_send_msg_size / 2).max(1);
    IngesterServer::new(IngesterService { ingester, select_batch_bytes })
        .max_decoding_message_size(limits.max_recv_msg_size)
        .max_encoding_message_size(limits.max_send_msg_size)
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn read_request<T>(request: Request<T>) -> Result<(String, T), Status> {
    let tenant = tenant_from_metadata(request.metadata(), true)?;
    Ok((tenant, request.into_inner()))
}

fn matchers(matchers: Vec<pb::LabelMatcher>) -> Result<Vec<LabelMatcher>, Status> {
    Ok(matchers_from_proto(matchers)?)
}

#[tonic::async_trait]
impl IngesterRpc for IngesterService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        let (tenant, body) = read_request(request)?;
        let streams = push_streams_from_proto(body)?;
        let label_texts: Vec<String> = streams.iter().map(|s| s.labels.to_string()).collect();
        let outcome = match self.ingester.push(&tenant, streams).await {
            Ok(outcome) => outcome,
            Err(error) => return Err(Status::new(code_for_http(error.status()), error.to_string())),
        };
        let stream_limit = outcome
            .stream_limit_errors
            .into_iter()
            .map(|message| pb::StreamRefusal { stream_index: refused_stream_index(&message, &label_texts), message })
            .collect();
        Ok(Response::new(pb::PushResponse {
            accepted_entries: outcome.accepted_entries,
            accepted_bytes: outcome.accepted_bytes,
            duplicates: outcome.duplicates,
            errors: outcome.errors,
            stream_limit,
        }))
    }

    type SelectStream = ResponseStream<pb::SelectResponse>;

    async fn select(&self, request: Request<pb::SelectRequest>) -> Result<Response<Self::SelectStream>, Status> {
        let (tenant, body) = read_request(request)?;
        let matchers = matchers(body.matchers)?;
        let hints = skald_querier::SelectHints {
            words: body.words.iter().map(|word| word.to_vec()).collect(),
            shard: (body.shard_count > 0).then_some((body.shard_index, body.shard_count)),
        };
        let mut snapshots = self.ingester.select_shard(&tenant, &matchers, body.from, body.through, hints.shard);
        skald_querier::apply_hints(&mut snapshots, &hints);
        let batches = SelectBatches::new(snapshots, self.select_batch_bytes);
        Ok(Response::new(Box::pin(futures::stream::iter(batches.map(Ok)))))
    }

    async fn label_names(&self, request: Request<pb::LabelNamesRequest>) -> Result<Response<pb::LabelNamesResponse>, Status> {
        let (tenant, body) = read_request(request)?;
        let names = self.ingester.label_names(&tenant, &matchers(body.matchers)?);
        Ok(Response::new(pb::LabelNamesResponse { names }))
    }

    async fn label_values(&self, request: Request<pb::LabelValuesRequest>) -> Result<Response<pb::LabelValuesResponse>, Status> {
        let (tenant, body) = read_request(request)?;
        let values = self.ingester.label_values(&tenant, &body.name, &matchers(body.matchers)?);
        Ok(Response::new(pb::LabelValuesResponse { values }))
    }

    async fn series(&self, request: Request<pb::SeriesRequest>) -> Result<Response<pb::SeriesResponse>, Status> {
        let (tenant, body) = read_request(request)?;
        let series = self.ingester.series(&tenant, &matchers(body.matchers)?);
        let series = series.iter().map(|labels| pb::LabelSet { labels: labels_to_proto(labels) }).collect();
        Ok(Response::new(pb::SeriesResponse { series }))
    }

    type TailStream = ResponseStream<pb::TailResponse>;

    async fn tail(&self, request: Request<pb::TailRequest>) -> Result<Response<Self::TailStream>, Status> {
        let (tenant, body) = read_request(request)?;
        let matchers = matchers(body.matchers)?;
        let receiver = self.ingester.subscribe_tail();
        let state = (receiver, tenant, matchers);
        let stream = futures::stream::unfold(state, |(mut receiver, tenant, matchers)| async move {
            loop {
                let batch = match receiver.recv().await {
                    Ok(batch) => batch,
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, %tenant, "grpc tail fell behind; batches dropped");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if let Some(response) = tail_response(&batch, &tenant, &matchers) {
                    return Some((Ok(response), (receiver, tenant, matchers)));
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The streams of a tail batch that belong to the tenant and match, if any.
fn tail_response(batch: &TailBatch, tenant: &str, matchers: &[LabelMatcher]) -> Option<pb::TailResponse> {
    if batch.tenant != tenant {
        return None;
    }
    let mut streams = Vec::new();
    for stream in &batch.streams {
        if matchers.iter().all(|m| m.matches(&stream.labels)) {
            streams.push(tail_stream_to_proto(stream));
        }
    }
    if streams.is_empty() { None } else { Some(pb::TailResponse { streams }) }
}

/// Which request stream a stream-limit message is about. The ingester names the stream
/// by its labels ("...create stream {labels}, reduce..."); a message that names none
/// gets `u32::MAX`, which the distributor then applies to every stream of the request.
fn refused_stream_index(message: &str, label_texts: &[String]) -> u32 {
    let by_text: HashMap<&str, usize> = label_texts.iter().enumerate().map(|(i, text)| (text.as_str(), i)).collect();
    if let Some(start) = message.find("create stream ") {
        let rest = &message[start + "create stream ".len()..];
        if let Some(end) = rest.find("}, reduce")
            && let Some(index) = by_text.get(&rest[..=end])
        {
            return *index as u32;
        }
    }
    for (i, text) in label_texts.iter().enumerate() {
        if message.contains(text.as_str()) {
            return i as u32;
        }
    }
    u32::MAX
}

/// Select answers cut into messages of about `max_bytes`, converted one message at a
/// time. A stream with more blocks than fit goes out in several parts.
struct SelectBatches {
    snapshots: std::vec::IntoIter<StreamSnapshot>,
    /// The stream being sent and how many of its blocks went out already.
    current: Option<(StreamSnapshot, usize)>,
    max_bytes: usize,
}

impl SelectBatches {
    fn new(snapshots: Vec<StreamSnapshot>, max_bytes: usize) -> Self {
        SelectBatches { snapshots: snapshots.into_iter(), current: None, max_bytes }
    }
}

impl Iterator for SelectBatches {
    type Item = pb::SelectResponse;

    fn next(&mut self) -> Option<pb::SelectResponse> {
        let mut response = pb::SelectResponse { streams: Vec::new() };
        let mut bytes = 0usize;
        loop {
            let (snapshot, sent) = match self.current.take() {
                Some(current) => current,
                None => match self.snapshots.next() {
                    Some(snapshot) => (snapshot, 0),
                    None => break,
                },
            };
            let mut part =
                pb::StreamSnapshot { fingerprint: snapshot.fingerprint, labels: labels_to_proto(&snapshot.labels), blocks: Vec::new() };
            let mut next = sent;
            while next < snapshot.blocks.len() {
                let block = &snapshot.blocks[next];
                let size = block.compressed_bytes() + block.word_filter.len();
                // Always take one block into an empty message, however large.
                if bytes > 0 && bytes + size > self.max_bytes {
                    break;
                }
                part.blocks.push(block_to_proto(block));
                bytes += size;
                next += 1;
            }
            if !part.blocks.is_empty() {
                response.streams.push(part);
            }
            if next < snapshot.blocks.len() {
                self.current = Some((snapshot, next));
                break;
            }
            if bytes >= self.max_bytes {
                break;
            }
        }
        if response.streams.is_empty() { None } else { Some(response) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_chunk::{BlockMeta, Codec, EncodedBlock};
    use skald_common::LabelSet;

    fn snapshot(fingerprint: u64, blocks: usize, bytes: usize) -> StreamSnapshot {
        let block = |i: usize| {
            let meta = BlockMeta { min_ts: i as i64, lines_len: bytes as u32, ..BlockMeta::default() };
            Arc::new(EncodedBlock {
                meta,
                codec: Codec::None,
                meta_section: Vec::new(),
                lines_section: vec![0; bytes],
                word_filter: Vec::new(),
            })
        };
        StreamSnapshot {
            fingerprint,
            labels: LabelSet::from_pairs([("fp", fingerprint.to_string())]),
            blocks: (0..blocks).map(block).collect(),
        }
    }

    #[test]
    fn select_batches_split_streams_and_keep_every_block_in_order() {
        let snapshots = vec![snapshot(1, 5, 400), snapshot(2, 1, 100), snapshot(3, 1, 5000)];
        let messages: Vec<pb::SelectResponse> = SelectBatches::new(snapshots, 1000).collect();
        let mut seen: Vec<(u64, i64)> = Vec::new();
        for message in &messages {
            let bytes: usize = message.streams.iter().flat_map(|s| &s.blocks).map(|b| b.lines_section.len()).sum();
            let blocks: usize = message.streams.iter().map(|s| s.blocks.len()).sum();
            assert!(bytes <= 1000 || blocks == 1, "a message over the batch size holds one block: {bytes} bytes in {blocks}");
            for stream in &message.streams {
                assert!(!stream.blocks.is_empty());
                assert_eq!(stream.labels[0].value, stream.fingerprint.to_string());
                seen.extend(stream.blocks.iter().map(|b| (stream.fingerprint, b.min_ts)));
            }
        }
        let want: Vec<(u64, i64)> = vec![(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (3, 0)];
        assert_eq!(seen, want);
        // 400+400 | 400+400 | 400+100 | 5000 (alone).
        assert_eq!(messages.len(), 4);
        assert_eq!(SelectBatches::new(Vec::new(), 1000).count(), 0);
    }

    #[test]
    fn stream_limit_messages_find_their_stream() {
        let texts = vec!["{app=\"a\"}".to_string(), "{app=\"b\", env=\"x\"}".to_string()];
        let message = "Maximum active stream limit exceeded when trying to create stream {app=\"b\", env=\"x\"}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: 't'";
        assert_eq!(refused_stream_index(message, &texts), 1);
        assert_eq!(refused_stream_index("something else", &texts), u32::MAX);
    }
}
