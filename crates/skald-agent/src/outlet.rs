//! What targets hand to the clients: entries and position acknowledgements, in read
//! order, over one bounded channel per client.
//!
//! The channels are the agent's backpressure: when a client cannot send (server down,
//! 429s) its channel fills, `send` blocks, and the readers stop reading. Memory is
//! bounded by `CHANNEL_CAPACITY` messages of at most `MAX_MESSAGE_BYTES` line bytes
//! per client, plus one batch being built and one being sent, whatever the backlog.

use crate::file_id::FileId;
use skald_agent_stages::LogEntry;
use std::sync::Arc;
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
        (Outlet { senders }, receivers)
    }

    /// From a blocking thread; waits while a channel is full.
    pub fn send_blocking(&self, message: Message) -> Result<(), Closed> {
        if message.is_empty() {
            return Ok(());
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
