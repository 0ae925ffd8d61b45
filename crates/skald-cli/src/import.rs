//! `skald import FILE... --labels '{job="x"}'`: loads existing log files into one
//! stream, one entry per line, through `/loki/api/v1/push`.
//!
//! - Timestamps: by default "now" when the import starts, plus one nanosecond per line,
//!   so the file order is kept and every entry is distinct. With `--timestamp-prefix`
//!   each line's time is the RFC3339 timestamp its first word holds (the line is kept
//!   whole); a line without one (a stack trace's continuation) takes the previous
//!   line's time, the first ones "now".
//! - Lines: the trailing `\n`/`\r\n` is removed, empty lines are skipped, invalid UTF-8
//!   is replaced by U+FFFD. A line longer than [`MAX_LINE_BYTES`] is an error naming the
//!   file and line number (memory stays bounded by the batch and that cap).
//! - Batches of about `--batch-size` bytes of lines are pushed as snappy protobuf (as
//!   Promtail does) or JSON with `--json`. 429 and 5xx answers and connection errors
//!   are retried with exponential backoff (0.5 s doubling to 30 s, `--max-retries`);
//!   any other error answer stops the import with the server's message.
//! - Progress: a bar of file bytes on stderr when it is a terminal; at the end a line
//!   `imported N lines (M bytes) from F files in S s` on stdout.

use crate::Error;
use crate::args::ImportArgs;
use crate::client::{Client, Failure, Progress, log};
use indicatif::{ProgressBar, ProgressStyle};
use skald_common::{Entry, LabelSet, PushStream};
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::time::{Duration, Instant};

/// The longest line accepted (Loki's own default limit is 256 KB per line).
pub const MAX_LINE_BYTES: usize = 16 << 20;

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Running totals.
#[derive(Default)]
struct Totals {
    lines: u64,
    line_bytes: u64,
    skipped: u64,
}

/// Assigns timestamps to lines.
struct Stamper {
    from_prefix: bool,
    next: i64,
    last: i64,
}

impl Stamper {
    fn stamp(&mut self, line: &str) -> i64 {
        if self.from_prefix {
            let word = line.split_whitespace().next().unwrap_or_default();
            if let Some(ts) = skald_common::parse_rfc3339(word) {
                self.last = ts;
            }
            return self.last;
        }
        let ts = self.next;
        self.next += 1;
        ts
    }
}

/// One batch waiting to be pushed.
struct Batch {
    labels: LabelSet,
    entries: Vec<Entry>,
    bytes: usize,
}

pub async fn import(args: &ImportArgs) -> Result<(), Error> {
    let labels =
        skald_common::parse_label_set(&args.labels).map_err(|e| Error::Usage(format!("invalid --labels {:?}: {e}", args.labels)))?;
    if labels.is_empty() {
        return Err(Error::Usage("--labels needs at least one label, e.g. '{job=\"import\"}'".into()));
    }
    if args.batch_size == 0 {
        return Err(Error::Usage("--batch-size must be greater than 0".into()));
    }
    let client = Client::new(&args.connection)?;
    let mut total_bytes = 0u64;
    for path in &args.files {
        let metadata = std::fs::metadata(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        total_bytes += metadata.len();
    }
    let bar = if args.connection.quiet || !std::io::stderr().is_terminal() { None } else { Some(Progress::show(bytes_bar(total_bytes))) };
    let started = Instant::now();
    let now = skald_common::unix_nanos_now();
    let mut stamper = Stamper { from_prefix: args.timestamp_prefix, next: now, last: now };
    let mut totals = Totals::default();
    let mut batch = Batch { labels, entries: Vec::new(), bytes: 0 };
    let mut read_bytes = 0u64;
    for path in &args.files {
        let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let mut reader = BufReader::new(file);
        let mut buffer = Vec::new();
        let mut line_number = 0u64;
        loop {
            buffer.clear();
            let read = (&mut reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buffer)
                .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
            if read == 0 {
                break;
            }
            line_number += 1;
            read_bytes += read as u64;
            if buffer.len() > MAX_LINE_BYTES {
                return Err(Error::LineTooLong { path: path.display().to_string(), line: line_number, max: MAX_LINE_BYTES });
            }
            let text = trim_newline(&buffer);
            if text.is_empty() {
                totals.skipped += 1;
                continue;
            }
            let line = String::from_utf8_lossy(text).into_owned();
            let ts = stamper.stamp(&line);
            batch.bytes += line.len();
            totals.lines += 1;
            totals.line_bytes += line.len() as u64;
            batch.entries.push(Entry::new(ts, line));
            if batch.bytes >= args.batch_size {
                flush(&client, &mut batch, args).await?;
                if let Some(progress) = &bar {
                    progress.bar().set_position(read_bytes);
                }
            }
        }
    }
    flush(&client, &mut batch, args).await?;
    drop(bar);
    let seconds = started.elapsed().as_secs_f64();
    let mut summary =
        format!("imported {} lines ({} bytes) from {} files in {seconds:.1}s", totals.lines, totals.line_bytes, args.files.len());
    if totals.skipped > 0 {
        summary.push_str(&format!(", {} empty lines skipped", totals.skipped));
    }
    crate::query::write_stdout(&(summary + "\n"))
}

fn bytes_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar
}

fn trim_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Pushes the batch (if any) and empties it.
async fn flush(client: &Client, batch: &mut Batch, args: &ImportArgs) -> Result<(), Error> {
    if batch.entries.is_empty() {
        return Ok(());
    }
    let streams = [PushStream { labels: batch.labels.clone(), entries: std::mem::take(&mut batch.entries) }];
    batch.bytes = 0;
    let (body, content_type) = if args.json {
        (skald_push::encode_json(&streams), "application/json")
    } else {
        (skald_push::encode_protobuf(&streams), "application/x-protobuf")
    };
    push_with_retries(client, body, content_type, args.max_retries).await
}

async fn push_with_retries(client: &Client, body: Vec<u8>, content_type: &str, max_retries: u32) -> Result<(), Error> {
    let mut backoff = MIN_BACKOFF;
    let mut last_problem = String::new();
    for attempt in 0..=max_retries {
        match client.post("/loki/api/v1/push", content_type, body.clone()).await {
            Ok((status, _)) if (200..300).contains(&status) => return Ok(()),
            Ok((status, message)) if status == 429 || status >= 500 => {
                last_problem = format!("{status}: {}", message.trim_end());
            }
            Ok((status, message)) => return Err(Error::Server { status, message: message.trim_end().to_string() }),
            Err(Failure::Transport(reason)) => last_problem = reason,
            Err(Failure::Status(status, message)) => last_problem = format!("{status}: {}", message.trim_end()),
        }
        if attempt < max_retries {
            log(&format!("push failed ({last_problem}), retrying in {:.1}s", backoff.as_secs_f64()));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Err(Error::PushGaveUp { attempts: max_retries + 1, last: last_problem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_increase_or_come_from_the_prefix() {
        let mut plain = Stamper { from_prefix: false, next: 100, last: 100 };
        assert_eq!((plain.stamp("a"), plain.stamp("b")), (100, 101));
        let mut prefixed = Stamper { from_prefix: true, next: 5, last: 5 };
        assert_eq!(prefixed.stamp("no time here"), 5);
        assert_eq!(prefixed.stamp("2024-06-01T12:00:00Z started"), 1_717_243_200_000_000_000);
        assert_eq!(prefixed.stamp("  at frame 1"), 1_717_243_200_000_000_000);
    }

    #[test]
    fn newlines_are_trimmed() {
        assert_eq!(trim_newline(b"a\r\n"), b"a");
        assert_eq!(trim_newline(b"a\n"), b"a");
        assert_eq!(trim_newline(b"a"), b"a");
    }
}
