//! The pipeline thread shared by targets that receive entries over the network
//! (syslog, loki_push_api, otlp): they hand entries to one thread per scrape config, which
//! runs them through the stages and on to the clients.
//!
//! A thread rather than a task because a compiled [`Pipeline`] need not be `Send`;
//! it is built inside the thread. The input channel is bounded, so a slow client slows
//! the listeners down (TCP backpressure, or a late 204 for pushes).

use crate::metrics::{self, Metrics};
use crate::outlet::{Ack, Item, Outlet};
use skald_agent_stages::{LogEntry, Pipeline};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const INPUT_CAPACITY: usize = 64;
/// How often held entries (`multiline`) are checked for release.
const FLUSH_TICK: Duration = Duration::from_millis(500);

/// Starts the thread; entries sent to the returned channel reach the clients. The
/// thread ends (after releasing held entries) when every sender is dropped.
pub fn spawn_pipeline_thread(
    job_name: String,
    stages: serde_yaml_ng::Value,
    outlet: Outlet,
    metrics: Arc<Metrics>,
    runtime: &tokio::runtime::Handle,
) -> (mpsc::Sender<Vec<LogEntry>>, std::thread::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Vec<LogEntry>>(INPUT_CAPACITY);
    // A tick (an empty message) lets the thread call `flush_due` while idle.
    let ticker = tx.downgrade();
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(FLUSH_TICK).await;
            let Some(tx) = ticker.upgrade() else { break };
            let _ = tx.try_send(Vec::new());
        }
    });
    let handle = std::thread::Builder::new()
        .name(format!("pipeline-{job_name}"))
        .spawn(move || {
            let mut pipeline = match Pipeline::from_yaml(&stages) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(job = %job_name, error = %e, "pipeline");
                    return;
                }
            };
            let mut produced = Vec::new();
            while let Some(entries) = rx.blocking_recv() {
                let now_ns = skald_common::unix_nanos_now();
                for entry in entries {
                    pipeline.process(entry, now_ns, &mut produced);
                }
                pipeline.flush_due(now_ns, &mut produced);
                for (reason, count) in pipeline.take_dropped() {
                    metrics.add(metrics::DROPPED_LINES, &[("reason", &reason)], count);
                }
                if send(&outlet, &mut produced).is_err() {
                    return;
                }
            }
            pipeline.flush_all(&mut produced);
            let _ = send(&outlet, &mut produced);
        })
        .expect("spawning a pipeline thread");
    (tx, handle)
}

fn send(outlet: &Outlet, produced: &mut Vec<LogEntry>) -> Result<(), crate::outlet::Closed> {
    if produced.is_empty() {
        return Ok(());
    }
    let items = produced.drain(..).map(|entry| Item { entry: Some(entry), ack: Ack::None }).collect();
    outlet.send_blocking(items)
}
