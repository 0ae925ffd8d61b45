//! Live tailing across ingesters, for the querier's tail endpoint.
//!
//! [`RemoteTail`] opens a `Tail` stream to every ingester and merges what they send.
//! With replication every entry arrives once per replica, so entries already passed on
//! are dropped: the tail remembers the last [`DEDUP_MEMORY`] entries it saw (by stream,
//! timestamp and content hash), which covers the milliseconds between replicas' copies
//! with bounded memory. A broken stream is reopened every second while the tail lives.

use crate::convert::{matchers_to_proto, tail_stream_from_proto};
use crate::error::describe;
use crate::pool::IngesterClientPool;
use crate::replication::Instance;
use crate::tenant::set_tenant;
use futures::StreamExt;
use skald_common::{Entry, PushStream, fingerprint};
use skald_index::LabelMatcher;
use skald_ingester::TailBatch;
use skald_proto::ingester as pb;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many recent entries the tail remembers to drop replicas' copies.
pub const DEDUP_MEMORY: usize = 100_000;

const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Identity of an entry for deduplication: its stream, timestamp, and a hash of its
/// line and metadata.
type EntryKey = (u64, i64, u64);

pub struct RemoteTail {
    tenant: String,
    receiver: mpsc::Receiver<Vec<PushStream>>,
    tasks: Vec<JoinHandle<()>>,
    connected: Arc<AtomicUsize>,
    seen: HashSet<EntryKey>,
    order: VecDeque<EntryKey>,
}

impl RemoteTail {
    /// Starts tailing `tenant`'s streams matching `matchers` on every ingester.
    pub fn start(pool: Arc<IngesterClientPool>, ingesters: Vec<Instance>, tenant: &str, matchers: &[LabelMatcher]) -> RemoteTail {
        let (sender, receiver) = mpsc::channel(256);
        let body = pb::TailRequest { matchers: matchers_to_proto(matchers) };
        let mut tasks = Vec::with_capacity(ingesters.len());
        let connected = Arc::new(AtomicUsize::new(0));
        for instance in ingesters {
            let task = follow(pool.clone(), instance, tenant.to_string(), body.clone(), sender.clone(), connected.clone());
            tasks.push(tokio::spawn(task));
        }
        RemoteTail { tenant: tenant.to_string(), receiver, tasks, connected, seen: HashSet::new(), order: VecDeque::new() }
    }

    /// How many ingesters' tail streams are open right now.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// The next entries not passed on before; `None` once every ingester stream ended
    /// for good (never, while the tail retries).
    pub async fn recv(&mut self) -> Option<TailBatch> {
        loop {
            let streams = self.receiver.recv().await?;
            let mut fresh_streams = Vec::new();
            for stream in streams {
                let fp = fingerprint(&self.tenant, &stream.labels);
                let mut fresh: Vec<Entry> = Vec::new();
                for entry in stream.entries {
                    if self.first_sighting((fp, entry.ts, content_hash(&entry))) {
                        fresh.push(entry);
                    }
                }
                if !fresh.is_empty() {
                    fresh_streams.push(PushStream { labels: stream.labels, entries: fresh });
                }
            }
            if !fresh_streams.is_empty() {
                return Some(TailBatch { tenant: self.tenant.clone(), streams: fresh_streams });
            }
        }
    }

    fn first_sighting(&mut self, key: EntryKey) -> bool {
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > DEDUP_MEMORY
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}

impl Drop for RemoteTail {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn content_hash(entry: &Entry) -> u64 {
    let mut hasher = DefaultHasher::new();
    entry.line.hash(&mut hasher);
    for label in &entry.metadata {
        label.name.hash(&mut hasher);
        label.value.hash(&mut hasher);
    }
    hasher.finish()
}

/// Keeps one ingester's tail stream open, forwarding what it sends, until the receiver
/// goes away.
async fn follow(
    pool: Arc<IngesterClientPool>,
    instance: Instance,
    tenant: String,
    body: pb::TailRequest,
    sender: mpsc::Sender<Vec<PushStream>>,
    connected: Arc<AtomicUsize>,
) {
    loop {
        let opened = open(&pool, &instance, &tenant, body.clone()).await;
        match opened {
            Ok(mut stream) => {
                let _open = Connected::new(&connected);
                while let Some(message) = stream.next().await {
                    match message {
                        Ok(response) => {
                            let streams: Vec<PushStream> = response.streams.into_iter().map(tail_stream_from_proto).collect();
                            if sender.send(streams).await.is_err() {
                                return;
                            }
                        }
                        Err(status) => {
                            tracing::warn!(ingester = %instance.id, error = %describe(&status), "tail stream from ingester broke");
                            break;
                        }
                    }
                }
            }
            Err(status) => tracing::warn!(ingester = %instance.id, error = %describe(&status), "cannot tail ingester"),
        }
        if sender.is_closed() {
            return;
        }
        tokio::time::sleep(RETRY_DELAY).await;
    }
}

/// Counts an open stream while alive (also when the task is aborted).
struct Connected<'a>(&'a AtomicUsize);

impl<'a> Connected<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Connected(counter)
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn open(
    pool: &IngesterClientPool,
    instance: &Instance,
    tenant: &str,
    body: pb::TailRequest,
) -> Result<tonic::Streaming<pb::TailResponse>, tonic::Status> {
    let mut client = pool.client(&instance.grpc_addr).map_err(tonic::Status::from)?;
    let mut request = tonic::Request::new(body);
    set_tenant(&mut request, tenant)?;
    Ok(client.tail(request).await?.into_inner())
}
