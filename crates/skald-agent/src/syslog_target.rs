//! Syslog listeners: TCP (octet counting *and* newline framing, told apart per
//! message by its first byte: a digit starts `LEN SP MSG`, `<` a newline-ended one)
//! and UDP (one message per datagram).
//!
//! Each message is parsed (`syslog.rs`), given the configured labels, the connection
//! and message meta labels, relabeled, stripped of `__` labels and handed to the
//! scrape config's pipeline thread. A TCP connection silent for `idle_timeout` is
//! closed. A message longer than `max_message_length` is truncated (newline framing)
//! or ends the connection (an octet count over the limit: the stream cannot be
//! resynchronised).

use crate::config::{ListenProtocol, SyslogConfig};
use crate::metrics::{self, Metrics};
use crate::relabel::{self, Labels, Rule};
use crate::syslog;
use skald_agent_stages::LogEntry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// What every connection of one listener shares.
pub struct SyslogTarget {
    pub config: SyslogConfig,
    pub relabel: Vec<Rule>,
    pub metrics: Arc<Metrics>,
    pub entries: mpsc::Sender<Vec<LogEntry>>,
}

impl SyslogTarget {
    /// Binds the listener (errors name the address) and returns the serving future.
    pub async fn bind(self) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let target = Arc::new(self);
        match target.config.listen_protocol {
            ListenProtocol::Tcp => {
                let listener = TcpListener::bind(&target.config.listen_address).await?;
                let addr = listener.local_addr()?;
                let handle = tokio::spawn(async move {
                    loop {
                        let Ok((stream, peer)) = listener.accept().await else { continue };
                        let target = target.clone();
                        tokio::spawn(async move { target.serve_tcp(stream, peer).await });
                    }
                });
                Ok((addr, handle))
            }
            ListenProtocol::Udp => {
                let socket = UdpSocket::bind(&target.config.listen_address).await?;
                let addr = socket.local_addr()?;
                let handle = tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let Ok((n, peer)) = socket.recv_from(&mut buf).await else { continue };
                        let max = (target.config.max_message_length as usize).max(1);
                        let message = &buf[..n.min(max)];
                        if let Some(entry) = target.entry(message, peer) {
                            let _ = target.entries.send(vec![entry]).await;
                        }
                    }
                });
                Ok((addr, handle))
            }
        }
    }

    async fn serve_tcp(&self, mut stream: tokio::net::TcpStream, peer: SocketAddr) {
        let idle = Duration::from_nanos(self.config.idle_timeout.max(1) as u64);
        let max = (self.config.max_message_length as usize).max(1);
        let mut framer = Framer::new(max);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let read = tokio::time::timeout(idle, stream.read(&mut chunk)).await;
            let n = match read {
                Ok(Ok(n)) => n,
                Ok(Err(_)) | Err(_) => 0,
            };
            let mut entries = Vec::new();
            let end = n == 0;
            let frames = if end { framer.finish() } else { framer.push(&chunk[..n]) };
            match frames {
                Ok(frames) => {
                    for frame in frames {
                        if let Some(entry) = self.entry(&frame, peer) {
                            entries.push(entry);
                        }
                    }
                }
                Err(message) => {
                    tracing::warn!(peer = %peer, error = message, "closing syslog connection");
                    self.metrics.add(metrics::SYSLOG_ERRORS, &[], 1);
                    return;
                }
            }
            if !entries.is_empty() && self.entries.send(entries).await.is_err() {
                return;
            }
            if end {
                return;
            }
        }
    }

    /// Parses and labels one message; `None` when unparsable or dropped by relabeling.
    fn entry(&self, frame: &[u8], peer: SocketAddr) -> Option<LogEntry> {
        let now_ns = skald_common::unix_nanos_now();
        let message = match syslog::parse(frame, now_ns) {
            Ok(m) => m,
            Err(e) => {
                self.metrics.add(metrics::SYSLOG_ERRORS, &[], 1);
                tracing::debug!(peer = %peer, error = %e, "unparsable syslog message");
                return None;
            }
        };
        self.metrics.add(metrics::SYSLOG_ENTRIES, &[], 1);
        let mut labels: Labels = self.config.labels.clone();
        labels.insert("__syslog_connection_ip_address".into(), peer.ip().to_string());
        labels.insert("__syslog_connection_hostname".into(), peer.ip().to_string());
        message.meta_labels(self.config.label_structured_data, &mut labels);
        let mut labels = relabel::process(labels, &self.relabel)?;
        relabel::drop_internal(&mut labels);
        let timestamp_ns = match message.timestamp_ns {
            Some(ts) if self.config.use_incoming_timestamp => ts,
            _ => now_ns,
        };
        let line = if self.config.use_rfc5424_message && message.rfc5424 {
            String::from_utf8_lossy(frame).trim_end_matches(['\n', '\r']).to_string()
        } else {
            message.message
        };
        Some(LogEntry { labels, line, timestamp_ns, structured_metadata: Vec::new(), tenant: None })
    }
}

/// Feeds `data` through the TCP framer in pieces of `piece` bytes, parses every frame and
/// derives its meta labels; returns the number of messages parsed. For the fuzz target
/// (`fuzz/fuzz_targets/syslog_parse.rs`): what a listener does with bytes from the network.
pub fn parse_stream_for_fuzzing(data: &[u8], piece: usize, max_message_length: usize) -> usize {
    let mut framer = Framer::new(max_message_length.max(1));
    let mut parsed = 0;
    let mut frames = Vec::new();
    for chunk in data.chunks(piece.max(1)) {
        match framer.push(chunk) {
            Ok(more) => frames.extend(more),
            Err(_) => return parsed,
        }
    }
    frames.extend(framer.finish().unwrap_or_default());
    for frame in frames {
        assert!(frame.len() <= max_message_length.max(1), "a frame longer than max_message_length");
        if let Ok(message) = syslog::parse(&frame, 1_700_000_000_000_000_000) {
            let mut labels = Labels::new();
            message.meta_labels(true, &mut labels);
            parsed += 1;
        }
    }
    parsed
}

/// Splits a TCP byte stream into messages.
struct Framer {
    buf: Vec<u8>,
    max: usize,
    /// Skipping the rest of an over-long newline-framed message.
    discarding: bool,
}

impl Framer {
    fn new(max: usize) -> Framer {
        Framer { buf: Vec::new(), max, discarding: false }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut start = 0;
        loop {
            if self.discarding {
                match memchr::memchr(b'\n', &self.buf[start..]) {
                    Some(pos) => {
                        start += pos + 1;
                        self.discarding = false;
                    }
                    None => {
                        start = self.buf.len();
                        break;
                    }
                }
            }
            while start < self.buf.len() && matches!(self.buf[start], b'\n' | b'\r' | b' ' | 0) {
                start += 1;
            }
            let rest = &self.buf[start..];
            if rest.is_empty() {
                break;
            }
            if rest[0].is_ascii_digit() {
                // Octet counting: LEN SP MSG.
                let Some(space) = rest.iter().position(|b| *b == b' ') else {
                    if rest.len() > 10 {
                        return Err("octet count too long");
                    }
                    break;
                };
                let len: usize = std::str::from_utf8(&rest[..space]).ok().and_then(|s| s.parse().ok()).ok_or("bad octet count")?;
                if len > self.max {
                    return Err("octet-counted message longer than max_message_length");
                }
                if rest.len() < space + 1 + len {
                    break;
                }
                frames.push(rest[space + 1..space + 1 + len].to_vec());
                start += space + 1 + len;
            } else {
                match memchr::memchr(b'\n', rest) {
                    Some(pos) => {
                        frames.push(rest[..pos.min(self.max)].to_vec());
                        start += pos + 1;
                    }
                    None if rest.len() > self.max => {
                        frames.push(rest[..self.max].to_vec());
                        self.discarding = true;
                        start = self.buf.len();
                    }
                    None => break,
                }
            }
        }
        self.buf.drain(..start);
        Ok(frames)
    }

    /// At the end of the connection: a last newline-framed message without newline.
    fn finish(&mut self) -> Result<Vec<Vec<u8>>, &'static str> {
        let rest = std::mem::take(&mut self.buf);
        let trimmed: &[u8] = rest.trim_ascii();
        if trimmed.is_empty() || self.discarding || trimmed[0].is_ascii_digit() {
            return Ok(Vec::new());
        }
        Ok(vec![trimmed.to_vec()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counting_and_newlines_mix() {
        let mut framer = Framer::new(1000);
        let mut frames = framer.push(b"11 <13>1 - -").unwrap();
        assert!(frames.is_empty());
        frames.extend(framer.push(b" -<13>hello\n<13>world\n5 <13>x").unwrap());
        frames.extend(framer.finish().unwrap());
        let frames: Vec<String> = frames.into_iter().map(|f| String::from_utf8(f).unwrap()).collect();
        assert_eq!(frames, vec!["<13>1 - - -", "<13>hello", "<13>world", "<13>x"]);
    }

    #[test]
    fn over_long_messages_are_bounded() {
        let mut framer = Framer::new(8);
        let frames = framer.push(b"<13>abcdefghijkl").unwrap();
        assert_eq!(frames, vec![b"<13>abcd".to_vec()]);
        assert!(framer.buf.is_empty());
        let frames = framer.push(b"xyz\n<13>ok\n").unwrap();
        assert_eq!(frames, vec![b"<13>ok".to_vec()]);
        assert!(Framer::new(8).push(b"100 <13>").is_err());
        assert!(Framer::new(8).push(b"12345678901234").is_err());
    }
}
