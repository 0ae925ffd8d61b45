//! Sends alerts to Alertmanager (its v2 API, `POST <url>/api/v2/alerts`), as Prometheus'
//! notifier does: a bounded queue (`notification_queue_capacity`; when full the oldest
//! alerts are dropped and counted), batches of up to 64 alerts, every configured
//! Alertmanager receives every batch, each request carries the tenant's
//! `X-Scope-OrgID` and the configured basic auth or `Authorization` header.

use crate::config::RulerConfig;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

const MAX_BATCH: usize = 64;

/// Counters for `/metrics` (named like Prometheus' notifier metrics).
#[derive(Debug, Default)]
pub struct NotifierMetrics {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct Notifier {
    urls: Vec<String>,
    client: reqwest::Client,
    auth: Auth,
    capacity: usize,
    queue: Mutex<VecDeque<(String, serde_json::Value)>>,
    wake: Notify,
    pub metrics: NotifierMetrics,
}

enum Auth {
    None,
    Basic(String, String),
    Header(String),
}

impl Notifier {
    /// A notifier for `ruler.alertmanager_url` (None when no URL is configured).
    pub fn new(config: &RulerConfig) -> Result<Option<Arc<Notifier>>, String> {
        let mut urls = Vec::new();
        for raw in config.alertmanager_url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let parsed = reqwest::Url::parse(raw).map_err(|e| format!("ruler.alertmanager_url: {raw}: {e}"))?;
            urls.push(format!("{}/api/v2/alerts", parsed.as_str().trim_end_matches('/')));
        }
        if urls.is_empty() {
            return Ok(None);
        }
        let c = &config.alertmanager_client;
        let auth = if !c.basic_auth_username.is_empty() || !c.basic_auth_password.is_empty() {
            Auth::Basic(c.basic_auth_username.clone(), c.basic_auth_password.clone())
        } else if !c.credentials.is_empty() {
            Auth::Header(format!("{} {}", c.kind, c.credentials))
        } else if !c.credentials_file.is_empty() {
            let token = std::fs::read_to_string(&c.credentials_file)
                .map_err(|e| format!("ruler.alertmanager_client.credentials_file: {}: {e}", c.credentials_file))?;
            Auth::Header(format!("{} {}", c.kind, token.trim()))
        } else {
            Auth::None
        };
        let timeout = Duration::from_nanos(config.notification_timeout.max(1) as u64);
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(Some(Arc::new(Notifier {
            urls,
            client,
            auth,
            capacity: config.notification_queue_capacity.max(1),
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            metrics: NotifierMetrics::default(),
        })))
    }

    /// Queues a tenant's alerts (Alertmanager's JSON shape).
    pub fn send(&self, tenant: &str, alerts: Vec<serde_json::Value>) {
        if alerts.is_empty() {
            return;
        }
        let mut queue = self.queue.lock();
        for alert in alerts {
            if queue.len() >= self.capacity {
                queue.pop_front();
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
            queue.push_back((tenant.to_string(), alert));
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Sends queued alerts until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            let batch = self.next_batch();
            let Some((tenant, alerts)) = batch else {
                self.wake.notified().await;
                continue;
            };
            let count = alerts.len() as u64;
            let body = serde_json::Value::Array(alerts);
            for url in &self.urls {
                let mut request = self.client.post(url).header("X-Scope-OrgID", &tenant).json(&body);
                request = match &self.auth {
                    Auth::None => request,
                    Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
                    Auth::Header(value) => request.header("Authorization", value),
                };
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        self.metrics.sent.fetch_add(count, Ordering::Relaxed);
                    }
                    Ok(response) => {
                        self.metrics.errors.fetch_add(count, Ordering::Relaxed);
                        tracing::warn!(%url, status = %response.status(), "Alertmanager refused alerts");
                    }
                    Err(error) => {
                        self.metrics.errors.fetch_add(count, Ordering::Relaxed);
                        tracing::warn!(%url, %error, "sending alerts to Alertmanager failed");
                    }
                }
            }
        }
    }

    /// Up to 64 queued alerts of one tenant (the first queued tenant's).
    fn next_batch(&self) -> Option<(String, Vec<serde_json::Value>)> {
        let mut queue = self.queue.lock();
        let tenant = queue.front()?.0.clone();
        let mut alerts = Vec::new();
        let mut rest = VecDeque::with_capacity(queue.len());
        while let Some((t, alert)) = queue.pop_front() {
            if t == tenant && alerts.len() < MAX_BATCH {
                alerts.push(alert);
            } else {
                rest.push_back((t, alert));
            }
        }
        *queue = rest;
        Some((tenant, alerts))
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        let m = &self.metrics;
        format!(
            "# TYPE loki_prometheus_notifications_sent_total counter\nloki_prometheus_notifications_sent_total {}\n\
             # TYPE loki_prometheus_notifications_errors_total counter\nloki_prometheus_notifications_errors_total {}\n\
             # TYPE loki_prometheus_notifications_dropped_total counter\nloki_prometheus_notifications_dropped_total {}\n\
             # TYPE loki_prometheus_notifications_queue_length gauge\nloki_prometheus_notifications_queue_length {}\n",
            m.sent.load(Ordering::Relaxed),
            m.errors.load(Ordering::Relaxed),
            m.dropped.load(Ordering::Relaxed),
            self.queue.lock().len()
        )
    }
}
