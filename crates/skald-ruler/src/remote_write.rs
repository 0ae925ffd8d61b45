//! Prometheus remote write of what rules produce (recording rules' series, `ALERTS` and
//! `ALERTS_FOR_STATE`), through a write-ahead log so a receiver outage loses nothing:
//! each evaluation's samples are appended to the WAL (`skald-wal`: CRC-checked records,
//! fsync before the append returns) before anything is sent, and every client
//! (`ruler.remote_write.clients`) sends the records in order, retrying with backoff while
//! the receiver fails (connection errors, 5xx, 429), and remembers how far it got
//! (`<wal.dir>/<client>.position`, written after each accepted request), so a restart
//! resends nothing already accepted (Prometheus refuses a batch holding an out-of-order
//! sample) and skips nothing. A request the receiver refuses as bad (another 4xx) is
//! dropped and counted. Segments every client is past are deleted; records older than
//! `wal.max_age` that no client could send are dropped and counted, which bounds the
//! memory and disk an endless outage can take.
//!
//! A record is `tenant length (u16 LE) | tenant | prometheus.WriteRequest` (protobuf);
//! a request is the concatenation of consecutive records' WriteRequests of one tenant
//! (protobuf concatenation merges the `timeseries` lists), snappy-compressed, with
//! `X-Scope-OrgID: <tenant>` when `add_org_id_header` is on.

use crate::config::{RemoteWriteClient, RulerConfig};
use parking_lot::Mutex;
use prost::Message;
use skald_rules::Labels;
use skald_wal::{Wal, WalOptions};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// One WAL record in memory: where it is, whose it is, its WriteRequest, its samples.
#[derive(Debug, Clone)]
struct Record {
    position: Position,
    tenant: String,
    request: bytes::Bytes,
    samples: u64,
    /// The samples' time (ms), for `max_age`.
    ts: i64,
}

/// A record's place in the WAL: its segment, and its index among that segment's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub index: u64,
}

#[derive(Debug, Default)]
pub struct RemoteWriteMetrics {
    pub samples_appended: AtomicU64,
    pub samples_sent: AtomicU64,
    pub samples_failed: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub requests_retried: AtomicU64,
}

pub struct RemoteWriter {
    wal: Arc<Wal>,
    dir: PathBuf,
    /// Records some client has not sent yet, oldest first.
    records: Mutex<VecDeque<Record>>,
    /// The position the next appended record gets.
    next: Mutex<Position>,
    clients: Vec<Arc<ClientState>>,
    wake: Notify,
    max_age_ms: i64,
    add_org_id: bool,
    pub metrics: RemoteWriteMetrics,
}

struct ClientState {
    name: String,
    config: RemoteWriteClient,
    /// The first record not yet accepted by this client's receiver.
    next: Mutex<Position>,
}

fn encode_record(tenant: &str, request: &WriteRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + tenant.len() + request.encoded_len());
    out.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    out.extend_from_slice(tenant.as_bytes());
    request.encode(&mut out).expect("a Vec grows");
    out
}

fn decode_record(payload: &[u8]) -> Option<(String, bytes::Bytes, u64, i64)> {
    let len = u16::from_le_bytes(payload.get(..2)?.try_into().ok()?) as usize;
    let tenant = std::str::from_utf8(payload.get(2..2 + len)?).ok()?.to_string();
    let body = bytes::Bytes::copy_from_slice(&payload[2 + len..]);
    let request = WriteRequest::decode(body.as_ref()).ok()?;
    let samples = request.timeseries.iter().map(|t| t.samples.len() as u64).sum();
    let ts = request.timeseries.iter().flat_map(|t| t.samples.iter().map(|s| s.timestamp)).max().unwrap_or(0);
    Some((tenant, body, samples, ts))
}

fn position_file(dir: &Path, client: &str) -> PathBuf {
    dir.join(format!("{client}.position"))
}

fn read_position(dir: &Path, client: &str) -> Position {
    let text = std::fs::read_to_string(position_file(dir, client)).unwrap_or_default();
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(segment), Some(index)) => Position { segment, index },
        _ => Position::default(),
    }
}

fn write_position(dir: &Path, client: &str, p: Position) -> std::io::Result<()> {
    let tmp = dir.join(format!("{client}.position.tmp"));
    std::fs::write(&tmp, format!("{} {}\n", p.segment, p.index))?;
    std::fs::rename(tmp, position_file(dir, client))
}

impl RemoteWriter {
    /// Opens (and replays) the WAL at `dir` and the clients of `config.remote_write`;
    /// None when remote write is off.
    pub fn open(config: &RulerConfig, dir: &Path) -> Result<Option<Arc<RemoteWriter>>, String> {
        let clients = config.remote_write.resolved()?;
        if clients.is_empty() {
            return Ok(None);
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("ruler.wal.dir {}: {e}", dir.display()))?;
        let options = WalOptions { segment_size: 8 << 20, sync: true };
        let (wal, replay) = Wal::open(dir, options).map_err(|e| format!("ruler WAL {}: {e}", dir.display()))?;
        let clients: Vec<Arc<ClientState>> = clients
            .into_iter()
            .map(|(name, client)| {
                let next = read_position(dir, &name);
                Arc::new(ClientState { name, config: client, next: Mutex::new(next) })
            })
            .collect();
        let oldest = clients.iter().map(|c| *c.next.lock()).min().unwrap_or_default();
        let mut records = VecDeque::new();
        let mut at = Position::default();
        for record in replay {
            let record = record.map_err(|e| format!("ruler WAL {}: {e}", dir.display()))?;
            if record.segment != at.segment {
                at = Position { segment: record.segment, index: 0 };
            }
            if at >= oldest
                && let Some((tenant, request, samples, ts)) = decode_record(&record.payload)
            {
                records.push_back(Record { position: at, tenant, request, samples, ts });
            }
            at.index += 1;
        }
        // Appends start a new segment, so positions of new records never collide.
        let current = wal.rotate().map_err(|e| format!("ruler WAL {}: {e}", dir.display()))?;
        tracing::info!(dir = %dir.display(), pending = records.len(), "ruler WAL replayed");
        Ok(Some(Arc::new(RemoteWriter {
            wal: Arc::new(wal),
            dir: dir.to_path_buf(),
            records: Mutex::new(records),
            next: Mutex::new(Position { segment: current, index: 0 }),
            clients,
            wake: Notify::new(),
            max_age_ms: config.wal.max_age / 1_000_000,
            add_org_id: config.remote_write.add_org_id_header,
            metrics: RemoteWriteMetrics::default(),
        })))
    }

    /// Starts one sender per client.
    pub fn start(self: &Arc<Self>) {
        for client in &self.clients {
            tokio::spawn(self.clone().run_client(client.clone()));
        }
    }

    /// Appends a tenant's samples (durable when this returns), to be sent.
    pub async fn append(self: &Arc<Self>, tenant: &str, ts: i64, samples: Vec<(Labels, f64)>) -> Result<(), String> {
        if samples.is_empty() {
            return Ok(());
        }
        let request = WriteRequest {
            timeseries: samples
                .iter()
                .map(|(labels, value)| TimeSeries {
                    // Sorted by name (`Labels` is a BTreeMap), as remote write wants.
                    labels: labels.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
                    samples: vec![Sample { value: *value, timestamp: ts }],
                })
                .collect(),
        };
        let payload = encode_record(tenant, &request);
        let count = samples.len() as u64;
        let this = self.clone();
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || {
            // One appender at a time: the position of a record is its order in the WAL.
            let mut next = this.next.lock();
            let segment = this.wal.append(&payload).map_err(|e| e.to_string())?;
            if segment != next.segment {
                *next = Position { segment, index: 0 };
            }
            let position = *next;
            next.index += 1;
            let body = bytes::Bytes::copy_from_slice(&payload[2 + tenant.len()..]);
            this.records.lock().push_back(Record { position, tenant, request: body, samples: count, ts });
            this.metrics.samples_appended.fetch_add(count, Ordering::Relaxed);
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| e.to_string())??;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Records from `from` on: consecutive ones of one tenant, up to `max_samples`.
    fn batch(&self, from: Position, max_samples: usize) -> Vec<Record> {
        let records = self.records.lock();
        let mut out: Vec<Record> = Vec::new();
        let mut samples = 0;
        for r in records.iter().filter(|r| r.position >= from) {
            if out.first().is_some_and(|first| first.tenant != r.tenant) || (!out.is_empty() && samples + r.samples as usize > max_samples)
            {
                break;
            }
            samples += r.samples as usize;
            out.push(r.clone());
        }
        out
    }

    async fn run_client(self: Arc<Self>, client: Arc<ClientState>) {
        let http = match reqwest::Client::builder().timeout(Duration::from_millis(client.config.remote_timeout.max(1))).build() {
            Ok(c) => c,
            Err(error) => {
                tracing::error!(client = %client.name, %error, "remote write client");
                return;
            }
        };
        let q = &client.config.queue_config;
        let mut backoff = q.min_backoff.max(1);
        loop {
            let waiting = self.wake.notified();
            self.drop_expired();
            let from = *client.next.lock();
            let batch = self.batch(from, q.max_samples_per_send.max(1));
            let Some(last) = batch.last() else {
                // Wake on an append, or look again shortly (expiry, missed wake-ups).
                let _ = tokio::time::timeout(Duration::from_secs(1), waiting).await;
                continue;
            };
            let after = Position { segment: last.position.segment, index: last.position.index + 1 };
            let samples: u64 = batch.iter().map(|r| r.samples).sum();
            let mut body = Vec::new();
            for r in &batch {
                body.extend_from_slice(&r.request);
            }
            match self.send(&http, &client.config, &batch[0].tenant, &body).await {
                Outcome::Accepted => {
                    self.metrics.samples_sent.fetch_add(samples, Ordering::Relaxed);
                    backoff = q.min_backoff.max(1);
                }
                Outcome::Refused(why) => {
                    tracing::warn!(client = %client.name, %why, samples, "remote write receiver refused samples; dropped");
                    self.metrics.samples_dropped.fetch_add(samples, Ordering::Relaxed);
                }
                Outcome::Retry(why) => {
                    tracing::warn!(client = %client.name, %why, backoff_ms = backoff, "remote write failed; retrying");
                    self.metrics.samples_failed.fetch_add(samples, Ordering::Relaxed);
                    self.metrics.requests_retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                    backoff = (backoff * 2).min(q.max_backoff.max(1));
                    continue;
                }
            }
            *client.next.lock() = after;
            if let Err(error) = write_position(&self.dir, &client.name, after) {
                tracing::warn!(client = %client.name, %error, "saving the remote write position failed");
            }
            self.forget_delivered();
        }
    }

    async fn send(&self, http: &reqwest::Client, config: &RemoteWriteClient, tenant: &str, body: &[u8]) -> Outcome {
        let compressed = match snap::raw::Encoder::new().compress_vec(body) {
            Ok(c) => c,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let mut request = http
            .post(&config.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header("User-Agent", concat!("skald-ruler/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &config.headers {
            if !name.trim().eq_ignore_ascii_case("x-scope-orgid") {
                request = request.header(name, value);
            }
        }
        if self.add_org_id_header() {
            request = request.header("X-Scope-OrgID", tenant);
        }
        if let Some(auth) = &config.basic_auth {
            let password = if auth.password_file.is_empty() {
                auth.password.clone()
            } else {
                std::fs::read_to_string(&auth.password_file).unwrap_or_default().trim().to_string()
            };
            request = request.basic_auth(&auth.username, Some(password));
        } else if let Some(auth) = &config.authorization {
            let credentials = if auth.credentials_file.is_empty() {
                auth.credentials.clone()
            } else {
                std::fs::read_to_string(&auth.credentials_file).unwrap_or_default().trim().to_string()
            };
            request = request.header("Authorization", format!("{} {credentials}", auth.kind));
        }
        match request.body(compressed).send().await {
            Err(e) => Outcome::Retry(e.to_string()),
            Ok(r) if r.status().is_success() => Outcome::Accepted,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                let why = format!("{status}: {}", text.trim());
                if status.is_server_error() || (status.as_u16() == 429 && config.queue_config.retry_on_http_429) {
                    Outcome::Retry(why)
                } else {
                    Outcome::Refused(why)
                }
            }
        }
    }

    fn add_org_id_header(&self) -> bool {
        self.add_org_id
    }

    /// Drops from memory what every client sent, and deletes WAL segments every client
    /// is past.
    fn forget_delivered(&self) {
        let oldest = self.clients.iter().map(|c| *c.next.lock()).min().unwrap_or_default();
        let mut records = self.records.lock();
        while records.front().is_some_and(|r| r.position < oldest) {
            records.pop_front();
        }
        let keep_from = records.front().map(|r| r.position.segment).unwrap_or_else(|| self.next.lock().segment);
        drop(records);
        if let Err(error) = self.wal.remove_segments_before(keep_from) {
            tracing::warn!(%error, "removing delivered ruler WAL segments failed");
        }
    }

    /// Drops records older than `wal.max_age` (moving every client past them).
    fn drop_expired(&self) {
        let cutoff = crate::manager::now_ms() - self.max_age_ms;
        let mut records = self.records.lock();
        let mut last_dropped = None;
        while let Some(front) = records.front().filter(|r| r.ts < cutoff) {
            self.metrics.samples_dropped.fetch_add(front.samples, Ordering::Relaxed);
            last_dropped = Some(front.position);
            records.pop_front();
        }
        drop(records);
        if let Some(p) = last_dropped {
            let after = Position { segment: p.segment, index: p.index + 1 };
            for c in &self.clients {
                let mut next = c.next.lock();
                if *next < after {
                    *next = after;
                }
            }
        }
    }

    /// Samples appended and not yet sent by every client.
    pub fn pending_samples(&self) -> u64 {
        self.records.lock().iter().map(|r| r.samples).sum()
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let mut out = String::new();
        for (name, kind, v) in [
            ("loki_ruler_wal_samples_appended_total", "counter", m.samples_appended.load(Ordering::Relaxed)),
            ("loki_ruler_remote_write_samples_sent_total", "counter", m.samples_sent.load(Ordering::Relaxed)),
            ("loki_ruler_remote_write_samples_failed_total", "counter", m.samples_failed.load(Ordering::Relaxed)),
            ("loki_ruler_remote_write_samples_dropped_total", "counter", m.samples_dropped.load(Ordering::Relaxed)),
            ("loki_ruler_remote_write_retries_total", "counter", m.requests_retried.load(Ordering::Relaxed)),
            ("loki_ruler_remote_write_samples_pending", "gauge", self.pending_samples()),
        ] {
            out.push_str(&format!("# TYPE {name} {kind}\n{name} {v}\n"));
        }
        out
    }
}

enum Outcome {
    Accepted,
    /// Sent again after a backoff (the receiver is down or overloaded).
    Retry(String),
    /// Never accepted (a 4xx): dropped.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "x".into() }],
                samples: vec![Sample { value: 2.5, timestamp: 1000 }],
            }],
        };
        let payload = encode_record("tenant-a", &request);
        let (tenant, body, samples, ts) = decode_record(&payload).unwrap();
        assert_eq!((tenant.as_str(), samples, ts), ("tenant-a", 1, 1000));
        assert_eq!(WriteRequest::decode(body.as_ref()).unwrap(), request);
        // Concatenated requests are one request with both lists.
        let mut two = body.to_vec();
        two.extend_from_slice(&body);
        assert_eq!(WriteRequest::decode(two.as_slice()).unwrap().timeseries.len(), 2);
        assert!(decode_record(&[5, 0, b'a']).is_none());
    }

    #[test]
    fn positions_persist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_position(dir.path(), "c"), Position::default());
        write_position(dir.path(), "c", Position { segment: 3, index: 7 }).unwrap();
        assert_eq!(read_position(dir.path(), "c"), Position { segment: 3, index: 7 });
    }
}
