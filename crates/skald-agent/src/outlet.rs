//! What targets hand to the clients: entries and position acknowledgements, in read
//! order, over one bounded channel per client.
//!
//! The channels are the agent's backpressure: when a client cannot send (server down,
//! 429s) its channel fills, `send` blocks, and the readers stop reading. Memory is
//! bounded by `CHANNEL_CAPACITY` messages of at most `MAX_MESSAGE_BYTES` line bytes
//! per client, plus one batch being built and one being sent, whatever the backlog.
//!
//! `limits_config.readline_rate` is applied here, to every entry of every target after
//! its pipeline (where Promtail applies its global limiter): a token bucket of
//! `readline_burst` lines refilled at `readline_rate` per second; over the rate an
//! entry is dropped (its acknowledgement still passes, so positions move on) or, with
//! `readline_rate_drop: false`, the sending thread waits for a token.

use crate::config::LimitsConfig;
use crate::file_id::FileId;
use crate::metrics::{self, Metrics};
use parking_lot::Mutex;
use skald_agent_stages::LogEntry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Messages waiting per client.
pub const CHANNEL_CAPACITY: usize = 16;
/// Readers send a message once it holds this many line bytes (or at the end of a read
/// round).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A position to record once everything before it was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    None,
    /// The file `key` has been read and handled up to `offset` of `file`, the
    /// `generation`-th file the agent followed (later files have higher ones).
    Offset {
        key: Arc<str>,
        offset: u64,
        file: FileId,
        generation: u64,
    },
    /// The file `key` was let go of after draining.
    Removed {
        key: Arc<str>,
    },
}

/// One entry (or none, for a bare acknowledgement), then the acknowledgement that
/// becomes true once it (and everything before it) is sent.
#[derive(Debug, Clone)]
pub struct Item {
    pub entry: Option<LogEntry>,
    pub ack: Ack,
}

pub type Message = Vec<Item>;

/// The sending side of every client's channel.
#[derive(Debug, Clone)]
pub struct Outlet {
    senders: Vec<mpsc::Sender<Message>>,
    limiter: Option<Arc<RateLimiter>>,
}

/// Promtail's global read-line limiter.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    drop: bool,
    state: Mutex<(f64, Instant)>,
    dropped: Arc<AtomicU64>,
}

impl RateLimiter {
    /// `None` unless `readline_rate_enabled`.
    pub fn from_limits(limits: &LimitsConfig, metrics: &Metrics) -> Option<RateLimiter> {
        limits.readline_rate_enabled.then(|| RateLimiter {
            rate: limits.readline_rate,
            burst: f64::from(limits.readline_burst),
            drop: limits.readline_rate_drop,
            state: Mutex::new((f64::from(limits.readline_burst), Instant::now())),
            dropped: metrics.counter(metrics::DROPPED_LINES, &[("reason", "global_rate_limiter_drop")]),
        })
    }

    /// Takes a token: `Ok` when the entry may pass, else how long until one is due.
    fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock();
        let (tokens, last) = &mut *state;
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }

    /// Applies the limit to a message (blocking while waiting for tokens).
    fn apply(&self, message: &mut Message) {
        for item in message.iter_mut().filter(|item| item.entry.is_some()) {
            loop {
                match self.take(Instant::now()) {
                    Ok(()) => break,
                    Err(_) if self.drop => {
                        item.entry = None;
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(wait) => std::thread::sleep(wait),
                }
            }
        }
    }
}

/// The channel was closed: the clients are gone (shutdown).
#[derive(Debug, Clone, Copy)]
pub struct Closed;

impl Outlet {
    pub fn new(capacity: usize, clients: usize) -> (Outlet, Vec<mpsc::Receiver<Message>>) {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..clients {
            let (tx, rx) = mpsc::channel(capacity);
            senders.push(tx);
            receivers.push(rx);
        }
        (Outlet { senders, limiter: None }, receivers)
    }

    pub fn with_limiter(mut self, limiter: Option<RateLimiter>) -> Outlet {
        self.limiter = limiter.map(Arc::new);
        self
    }

    /// From a blocking thread; waits while a channel is full.
    pub fn send_blocking(&self, mut message: Message) -> Result<(), Closed> {
        if message.is_empty() {
            return Ok(());
        }
        if let Some(limiter) = &self.limiter {
            limiter.apply(&mut message);
        }
        let last = self.senders.len().saturating_sub(1);
        let mut message = Some(message);
        for (i, sender) in self.senders.iter().enumerate() {
            let copy = if i == last { message.take().unwrap_or_default() } else { message.clone().unwrap_or_default() };
            sender.blocking_send(copy).map_err(|_| Closed)?;
        }
        Ok(())
    }

    /// Messages waiting in the fullest channel (for the progress line).
    pub fn backlog(&self) -> usize {
        self.senders.iter().map(|s| s.max_capacity() - s.capacity()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(drop: bool) -> RateLimiter {
        let limits = LimitsConfig {
            readline_rate_enabled: true,
            readline_rate: 10.0,
            readline_burst: 3,
            readline_rate_drop: drop,
            ..LimitsConfig::default()
        };
        RateLimiter::from_limits(&limits, &Metrics::default()).unwrap()
    }

    #[test]
    fn burst_then_rate() {
        let limiter = limiter(true);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(start).is_ok());
        }
        let wait = limiter.take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert!(limiter.take(start + Duration::from_millis(100)).is_ok());
        assert!(limiter.take(start + Duration::from_millis(100)).is_err());
        // Tokens never pile up beyond the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.take(later).is_ok());
        }
        assert!(limiter.take(later).is_err());
    }

    #[test]
    fn dropping_keeps_the_acknowledgements() {
        let limiter = limiter(true);
        let entry =
            LogEntry { labels: Default::default(), line: "x".into(), timestamp_ns: 0, structured_metadata: Vec::new(), tenant: None };
        let mut message: Message = (0..5)
            .map(|i| Item { entry: Some(entry.clone()), ack: if i == 4 { Ack::Removed { key: "k".into() } } else { Ack::None } })
            .collect();
        limiter.apply(&mut message);
        assert_eq!(message.iter().filter(|i| i.entry.is_some()).count(), 3);
        assert_eq!(message.len(), 5);
        assert_eq!(message[4].ack, Ack::Removed { key: "k".into() });
        assert_eq!(limiter.dropped.load(Ordering::Relaxed), 2);
    }
}
