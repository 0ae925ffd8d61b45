//! The query scheduler: frontends `Enqueue` parts, queriers `Pull` them.
//!
//! Each `Enqueue` call puts its part in the tenant's queue ([`queue::FairQueue`]) and
//! waits on a oneshot channel for the result. Each `Pull` stream gets a task
//! ([`serve_querier`]) that hands its querier parts while it has fewer than its announced
//! concurrency running, and routes the querier's answers back to the waiting calls.
//! When a querier's stream ends with parts outstanding, those parts are queued again
//! (at most `max_attempts` hand-outs in all) or failed.

mod queue;

use crate::config::SchedulerConfig;
use crate::proto::scheduler_server::{Scheduler, SchedulerServer};
use crate::proto::{AssignedPart, PartDone, PartResult, QuerierMessage, QueryPart, SchedulerMessage, querier_message, scheduler_message};
use parking_lot::Mutex;
use queue::{FairQueue, Pending};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// Largest gRPC message either side accepts (a part's answer can be large).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Builds the scheduler's gRPC service and a handle for its metrics.
pub fn scheduler_service(config: SchedulerConfig) -> (SchedulerServer<SchedulerService>, SchedulerHandle) {
    let inner = Arc::new(Inner {
        config,
        state: Mutex::new(State::default()),
        wake: Notify::new(),
        next_id: AtomicU64::new(1),
        connected: AtomicUsize::new(0),
    });
    let server = SchedulerServer::new(SchedulerService { inner: inner.clone() })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    (server, SchedulerHandle { inner })
}

/// The gRPC service (see [`scheduler_service`]).
pub struct SchedulerService {
    inner: Arc<Inner>,
}

/// Read access to the scheduler's state, for `/metrics` and tests.
#[derive(Clone)]
pub struct SchedulerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    config: SchedulerConfig,
    state: Mutex<State>,
    /// Woken when a part is queued.
    wake: Notify,
    next_id: AtomicU64,
    connected: AtomicUsize,
}

#[derive(Default)]
struct State {
    queue: FairQueue,
    /// Parts handed to a querier, by part id, with the querier connection's id.
    in_flight: HashMap<u64, (Pending, u64)>,
    /// Parts refused because the tenant's queue was full, per tenant.
    discarded: BTreeMap<String, u64>,
}

impl SchedulerHandle {
    /// Queued parts per tenant (tenants with an empty queue are left out).
    pub fn queue_lengths(&self) -> Vec<(String, usize)> {
        self.inner.state.lock().queue.lengths()
    }

    /// Querier connections currently pulling.
    pub fn connected_queriers(&self) -> usize {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Parts running on queriers.
    pub fn in_flight(&self) -> usize {
        self.inner.state.lock().in_flight.len()
    }

    /// The scheduler's metrics in Prometheus' text format, named as Loki's.
    pub fn render_metrics(&self) -> String {
        let (lengths, in_flight, discarded) = {
            let state = self.inner.state.lock();
            (state.queue.lengths(), state.in_flight.len(), state.discarded.clone())
        };
        let mut out = String::new();
        out.push_str("# HELP loki_query_scheduler_queue_length Number of queries in the queue.\n");
        out.push_str("# TYPE loki_query_scheduler_queue_length gauge\n");
        for (tenant, length) in &lengths {
            let _ = writeln!(out, "loki_query_scheduler_queue_length{{user=\"{}\"}} {length}", escape_label(tenant));
        }
        out.push_str("# HELP loki_query_scheduler_discarded_requests_total Total number of query requests discarded.\n");
        out.push_str("# TYPE loki_query_scheduler_discarded_requests_total counter\n");
        for (tenant, count) in &discarded {
            let _ = writeln!(out, "loki_query_scheduler_discarded_requests_total{{user=\"{}\"}} {count}", escape_label(tenant));
        }
        out.push_str(
            "# HELP loki_query_scheduler_connected_querier_clients Number of querier worker clients currently connected to the query-scheduler.\n",
        );
        out.push_str("# TYPE loki_query_scheduler_connected_querier_clients gauge\n");
        let _ = writeln!(out, "loki_query_scheduler_connected_querier_clients {}", self.connected_queriers());
        out.push_str("# HELP loki_query_scheduler_inflight_requests Number of query requests running on queriers.\n");
        out.push_str("# TYPE loki_query_scheduler_inflight_requests gauge\n");
        let _ = writeln!(out, "loki_query_scheduler_inflight_requests {in_flight}");
        out
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Inner {
    /// Waits for the next part and records it as running on connection `querier`.
    /// Cancel-safe: nothing is taken until the future completes.
    async fn next_part(&self, querier: u64) -> (u64, QueryPart) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock();
                if let Some(mut pending) = state.queue.pop() {
                    pending.attempts += 1;
                    let id = pending.id;
                    let part = pending.part.clone();
                    state.in_flight.insert(id, (pending, querier));
                    return (id, part);
                }
            }
            notified.await;
        }
    }

    /// A querier's answer: to the frontend waiting for it, if it still waits.
    fn complete(&self, done: PartDone) {
        let Some((pending, _)) = self.state.lock().in_flight.remove(&done.part_id) else { return };
        let result = done.result.unwrap_or_else(|| PartResult {
            status: 500,
            content_type: crate::error::TEXT_PLAIN.to_string(),
            body: b"querier sent no result\n".to_vec(),
        });
        let _ = pending.reply.send(Ok(result));
    }

    /// The parts of a querier that went away: queued again, or failed.
    fn release(&self, querier_id: &str, parts: &HashSet<u64>) {
        let mut requeued = false;
        let mut state = self.state.lock();
        for id in parts {
            let Some((pending, _)) = state.in_flight.remove(id) else { continue };
            if pending.reply.is_closed() {
                continue;
            }
            if pending.attempts < self.config.max_attempts {
                tracing::warn!(querier = querier_id, part = id, attempts = pending.attempts, "querier went away mid-part; queued again");
                state.queue.push_front(pending);
                requeued = true;
            } else {
                let message = format!("querier {querier_id} disconnected while running the query part (tried {} times)", pending.attempts);
                let _ = pending.reply.send(Err(Status::aborted(message)));
            }
        }
        drop(state);
        if requeued {
            self.wake.notify_waiters();
        }
    }
}

/// Withdraws a part from the queue (or forgets it in flight) when its `Enqueue` call is
/// dropped before the answer.
struct Withdraw {
    inner: Arc<Inner>,
    tenant: String,
    id: u64,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        let mut state = self.inner.state.lock();
        if !state.queue.remove(&self.tenant, self.id) {
            state.in_flight.remove(&self.id);
        }
    }
}

#[tonic::async_trait]
impl Scheduler for SchedulerService {
    async fn enqueue(&self, request: Request<QueryPart>) -> Result<Response<PartResult>, Status> {
        let part = request.into_inner();
        let tenant = part.tenant.clone();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        {
            let mut state = self.inner.state.lock();
            if state.queue.len_of(&tenant) >= self.inner.config.max_outstanding_requests_per_tenant {
                *state.discarded.entry(tenant).or_default() += 1;
                return Err(Status::resource_exhausted("too many outstanding requests"));
            }
            state.queue.push_back(Pending { id, tenant: tenant.clone(), part, reply, attempts: 0 });
        }
        let _withdraw = Withdraw { inner: self.inner.clone(), tenant, id };
        self.inner.wake.notify_waiters();
        match answer.await {
            Ok(Ok(result)) => Ok(Response::new(result)),
            Ok(Err(status)) => Err(status),
            Err(_) => Err(Status::internal("the scheduler dropped the query part")),
        }
    }

    type PullStream = ReceiverStream<Result<SchedulerMessage, Status>>;

    async fn pull(&self, request: Request<Streaming<QuerierMessage>>) -> Result<Response<Self::PullStream>, Status> {
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(QuerierMessage { message: Some(querier_message::Message::Hello(hello)) }) => hello,
            _ => return Err(Status::invalid_argument("the first message of a pull stream must be a hello")),
        };
        let concurrency = usize::try_from(hello.concurrency).unwrap_or(1).max(1);
        let (outbound, receiver) = mpsc::channel(concurrency + 1);
        let connection = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve_querier(self.inner.clone(), connection, hello.querier_id, concurrency, inbound, outbound));
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// Counts a connected querier for as long as it lives.
struct Connected(Arc<Inner>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one querier's pull stream until it ends.
async fn serve_querier(
    inner: Arc<Inner>,
    connection: u64,
    querier_id: String,
    concurrency: usize,
    mut inbound: Streaming<QuerierMessage>,
    outbound: mpsc::Sender<Result<SchedulerMessage, Status>>,
) {
    inner.connected.fetch_add(1, Ordering::Relaxed);
    let _connected = Connected(inner.clone());
    tracing::debug!(querier = %querier_id, concurrency, "querier connected");
    let mut running: HashSet<u64> = HashSet::new();
    loop {
        tokio::select! {
            message = inbound.message() => match message {
                Ok(Some(QuerierMessage { message: Some(querier_message::Message::Done(done)) })) => {
                    running.remove(&done.part_id);
                    inner.complete(done);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(querier = %querier_id, %status, "querier stream failed");
                    break;
                }
            },
            (id, part) = inner.next_part(connection), if running.len() < concurrency => {
                running.insert(id);
                let message = SchedulerMessage { message: Some(scheduler_message::Message::Part(AssignedPart { part_id: id, part: Some(part) })) };
                if outbound.send(Ok(message)).await.is_err() {
                    break;
                }
            }
            () = outbound.closed() => break,
        }
    }
    tracing::debug!(querier = %querier_id, outstanding = running.len(), "querier disconnected");
    inner.release(&querier_id, &running);
}
