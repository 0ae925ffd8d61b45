//! One client: batches entries per tenant and pushes them to a Loki-compatible
//! server, then acknowledges positions.
//!
//! A batch is sent when adding an entry would take it past `batchsize` line bytes, or
//! when it is `batchwait` old. The body is a snappy-compressed protobuf
//! `PushRequest` (`Content-Type: application/x-protobuf`), as Promtail sends.
//!
//! Failures: 429, 5xx and connection errors are retried with exponential backoff
//! (`min_period` doubling up to `max_period`, `max_retries` attempts, 0 = forever);
//! any other status drops the batch (counted in `promtail_dropped_entries_total` with
//! Promtail's reasons, the server's message logged), and so does a 429 when
//! `drop_rate_limited_batches` is set. Sending happens in the receive loop on purpose: while a
//! batch is being retried nothing is received, the channel fills and the readers stop.
//!
//! Acknowledgements: every received item gets a sequence number. An acknowledgement
//! (a file position) with sequence `s` is applied once no open batch holds an entry
//! with a sequence below `s`, i.e. once everything read before it has been sent or
//! given up on.

use crate::config::ClientConfig;
use crate::metrics::{self, Metrics};
use crate::outlet::{Ack, Message};
use crate::positions::Positions;
use crate::relabel::Labels;
use rustc_hash::FxHashMap;
use skald_common::{Entry, Label, LabelSet, PushStream};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub const USER_AGENT: &str = concat!("skald-agent/", env!("CARGO_PKG_VERSION"));

/// Promtail's `reason` values for dropped entries.
const REASON_GENERIC: &str = "ingester_error";
const REASON_RATE_LIMITED: &str = "rate_limited";

struct Batch {
    /// Streams in first-seen order; `index` finds a stream by labels. Consecutive
    /// entries usually share labels, so the last stream is compared first and most
    /// entries are never hashed (hashing every entry's labels showed in profiles).
    streams: Vec<(Labels, Vec<Entry>)>,
    index: FxHashMap<Labels, usize>,
    bytes: usize,
    entries: usize,
    created: Instant,
    first_seq: u64,
}

impl Batch {
    fn push(&mut self, labels: Labels, entry: Entry) {
        if let Some((last, entries)) = self.streams.last_mut()
            && *last == labels
        {
            entries.push(entry);
            return;
        }
        match self.index.get(&labels) {
            Some(&i) => self.streams[i].1.push(entry),
            None => {
                self.index.insert(labels.clone(), self.streams.len());
                self.streams.push((labels, vec![entry]));
            }
        }
    }
}

/// Outcome of sending one batch.
enum Sent {
    Acknowledged,
    /// Dropped on purpose (4xx, retries exhausted): counted, positions move on.
    Dropped,
    /// Not sent because the agent is stopping: positions must not move.
    Abandoned,
}

pub struct Client {
    pub index: usize,
    config: ClientConfig,
    http: reqwest::Client,
    host: String,
    positions: Arc<Positions>,
    metrics: Arc<Metrics>,
    /// Set when shutting down: the instant after which sends are abandoned.
    deadline: watch::Receiver<Option<Instant>>,
    batches: FxHashMap<Option<String>, Batch>,
    next_seq: u64,
    acks: VecDeque<(u64, Ack)>,
    /// Nothing more may be acknowledged (a batch was abandoned at shutdown).
    frozen: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("clients[{index}].{field}: {message}")]
    Http { index: usize, field: String, message: String },
}

impl Client {
    pub fn new(
        index: usize,
        config: ClientConfig,
        positions: Arc<Positions>,
        metrics: Arc<Metrics>,
        deadline: watch::Receiver<Option<Instant>>,
    ) -> Result<Client, ClientError> {
        let http =
            crate::http_client::build(&config, USER_AGENT).map_err(|e| ClientError::Http { index, field: e.field, message: e.message })?;
        let host = crate::config::url_parts(&config.url).map(|(_, host)| host).unwrap_or_default();
        Ok(Client {
            index,
            config,
            http,
            host,
            positions,
            metrics,
            deadline,
            batches: FxHashMap::default(),
            next_seq: 0,
            acks: VecDeque::new(),
            frozen: false,
        })
    }

    /// Receives until every sender is gone, then sends what is left.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let batchwait = Duration::from_nanos(self.config.batchwait.max(1_000_000) as u64);
        let mut tick = tokio::time::interval((batchwait / 10).max(Duration::from_millis(5)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = rx.recv() => {
                    let Some(message) = message else { break };
                    self.receive(message).await;
                }
                _ = tick.tick() => {
                    let due: Vec<Option<String>> = self
                        .batches
                        .iter()
                        .filter(|(_, b)| b.created.elapsed() >= batchwait)
                        .map(|(t, _)| t.clone())
                        .collect();
                    for tenant in due {
                        self.send_tenant(tenant).await;
                    }
                }
            }
        }
        let tenants: Vec<Option<String>> = self.batches.keys().cloned().collect();
        for tenant in tenants {
            self.send_tenant(tenant).await;
        }
        self.apply_acks();
    }

    async fn receive(&mut self, message: Message) {
        for item in message {
            let seq = self.next_seq;
            self.next_seq += 1;
            if let Some(entry) = item.entry {
                let tenant = entry.tenant.clone().or_else(|| self.config.tenant_id.clone());
                let size = entry.line.len() + entry.structured_metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                let full = self.batches.get(&tenant).is_some_and(|b| b.bytes > 0 && b.bytes + size > self.config.batchsize as usize);
                if full {
                    self.send_tenant(tenant.clone()).await;
                }
                let batch = self.batches.entry(tenant).or_insert_with(|| Batch {
                    streams: Vec::new(),
                    index: FxHashMap::default(),
                    bytes: 0,
                    entries: 0,
                    created: Instant::now(),
                    first_seq: seq,
                });
                batch.bytes += size;
                batch.entries += 1;
                let metadata = entry.structured_metadata.into_iter().map(|(k, v)| Label::new(k, v)).collect();
                let line = Entry { ts: entry.timestamp_ns, line: entry.line, metadata };
                batch.push(entry.labels, line);
            }
            if item.ack != Ack::None {
                self.acks.push_back((seq, item.ack));
            }
        }
        self.apply_acks();
    }

    /// Applies acknowledgements no open batch is older than.
    fn apply_acks(&mut self) {
        if self.frozen {
            return;
        }
        let low = self.batches.values().map(|b| b.first_seq).min().unwrap_or(u64::MAX);
        while let Some((seq, _)) = self.acks.front() {
            if *seq >= low {
                break;
            }
            let Some((_, ack)) = self.acks.pop_front() else { break };
            match ack {
                Ack::Offset { key, offset, file, generation } => self.positions.ack(self.index, &key, offset, file, generation),
                Ack::Removed { key } => self.positions.ack_removed(self.index, &key),
                Ack::None => {}
            }
        }
    }

    async fn send_tenant(&mut self, tenant: Option<String>) {
        let Some(batch) = self.batches.remove(&tenant) else { return };
        match self.send(tenant.as_deref(), batch).await {
            Sent::Acknowledged | Sent::Dropped => self.apply_acks(),
            Sent::Abandoned => self.frozen = true,
        }
    }

    fn encode(&self, batch: Batch) -> (Vec<u8>, usize, usize) {
        let mut streams = Vec::with_capacity(batch.streams.len());
        for (labels, entries) in batch.streams {
            let mut set = LabelSet::from_pairs(self.config.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            for (name, value) in labels {
                set.insert(name, value);
            }
            streams.push(PushStream { labels: set, entries });
        }
        (skald_push::encode_protobuf(&streams), batch.entries, batch.bytes)
    }

    async fn send(&mut self, tenant: Option<&str>, batch: Batch) -> Sent {
        if self.frozen {
            return Sent::Abandoned;
        }
        let (body, entries, bytes) = self.encode(batch);
        let host = self.host.clone();
        let tenant_label = tenant.or(self.config.tenant_id.as_deref()).unwrap_or("").to_string();
        self.metrics.add(metrics::ENCODED_BYTES, &[("host", &host)], body.len() as u64);
        let drop = |metrics: &Metrics, reason: &str| {
            let labels = [("host", host.as_str()), ("tenant", tenant_label.as_str()), ("reason", reason)];
            metrics.add(metrics::DROPPED_ENTRIES, &labels, entries as u64);
            metrics.add(metrics::DROPPED_BYTES, &labels, bytes as u64);
        };
        let mut delay = Duration::from_nanos(self.config.backoff_config.min_period as u64);
        let max_delay = Duration::from_nanos(self.config.backoff_config.max_period as u64);
        let max_attempts = self.config.backoff_config.max_retries;
        let mut attempt: u32 = 0;
        let mut last_status = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let mut request = self.http.post(&self.config.url).header("Content-Type", "application/x-protobuf").body(body.clone());
            if let Some(tenant) = tenant {
                request = request.header("X-Scope-OrgID", tenant);
            }
            let result = request.send().await;
            let status_code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "failed".to_string(),
            };
            self.metrics.observe_request(&status_code, &host, started.elapsed().as_secs_f64());
            let reason = match result {
                Ok(response) if response.status().is_success() => {
                    self.metrics.add(metrics::SENT_ENTRIES, &[("host", &host)], entries as u64);
                    self.metrics.add(metrics::SENT_BYTES, &[("host", &host)], bytes as u64);
                    return Sent::Acknowledged;
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    if status == 429 && self.config.drop_rate_limited_batches {
                        tracing::warn!(host = %host, message = %text.trim(), entries, "rate limited; dropping the batch (drop_rate_limited_batches)");
                        drop(&self.metrics, REASON_RATE_LIMITED);
                        return Sent::Dropped;
                    }
                    if status != 429 && status < 500 {
                        tracing::error!(host = %host, status, message = %text.trim(), entries, "server refused a batch; dropping it");
                        drop(&self.metrics, REASON_GENERIC);
                        return Sent::Dropped;
                    }
                    last_status = status;
                    format!("status {status}: {}", text.trim())
                }
                Err(e) => format!("{e}"),
            };
            if max_attempts > 0 && attempt >= max_attempts {
                tracing::error!(host = %host, error = %reason, entries, attempts = attempt, "giving up on a batch after max_retries");
                drop(&self.metrics, if last_status == 429 { REASON_RATE_LIMITED } else { REASON_GENERIC });
                return Sent::Dropped;
            }
            let deadline = *self.deadline.borrow();
            if let Some(deadline) = deadline
                && Instant::now() + delay > deadline
            {
                tracing::warn!(host = %host, error = %reason, entries, "stopping: batch not sent, it will be read again after the restart");
                return Sent::Abandoned;
            }
            tracing::warn!(host = %host, error = %reason, attempt, retry_in = ?delay, "push failed; retrying");
            self.metrics.add(metrics::RETRIES, &[("host", &host), ("tenant", &tenant_label)], 1);
            let mut deadline_rx = self.deadline.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = deadline_rx.changed() => {}
            }
            delay = (delay * 2).min(max_delay);
        }
    }
}
