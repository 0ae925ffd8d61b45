//! Tailing one file: reading appended lines, following rotation, detecting truncation.
//!
//! Polling (read to EOF, then `stat`) rather than inotify: it works the same on every
//! filesystem (NFS, overlayfs, bind mounts) and costs one `stat` per file per poll.
//!
//! - **Lines**: only complete lines (ending in `\n`; a `\r` before it is removed) are
//!   emitted; a partial last line waits for its newline. A line longer than the limit is
//!   truncated or dropped as soon as the limit is reached, so a file without newlines
//!   never grows the buffer past `limit + READ_CHUNK`.
//! - **Rename + create** (logrotate's default): at EOF the path's inode is compared
//!   with the open file's. When they differ the old file is read to its end first,
//!   its partial last line (if any) emitted, then the new file is opened at offset 0.
//! - **Copy + truncate**: a file smaller than the read offset was truncated; reading
//!   restarts at 0.
//! - **Deleted** (or no longer matched): the file is read to its end, then let go of.
//!
//! Every emitted entry carries the offset just past its line, which the clients turn
//! into positions once the entry is acknowledged.

use crate::outlet::{Ack, Item};
use crate::relabel::Labels;
use skald_agent_stages::{LogEntry, Pipeline};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes read per `read` call.
pub const READ_CHUNK: usize = 256 * 1024;

/// What to do with lines over the limit.
#[derive(Debug, Clone, Copy)]
pub struct LineLimit {
    pub max_bytes: usize,
    /// Truncate to `max_bytes` (else drop the line).
    pub truncate: bool,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollState {
    /// Read something; more may be there.
    Busy,
    /// At the end of the file, nothing new.
    Idle,
    /// Drained and let go of (deleted, or released).
    Finished,
}

/// Counters of one file.
#[derive(Debug, Clone)]
pub struct FileCounters {
    pub bytes: Arc<AtomicU64>,
    pub lines: Arc<AtomicU64>,
    pub dropped_long: Arc<AtomicU64>,
}

pub struct FileReader {
    path: PathBuf,
    key: Arc<str>,
    file: File,
    inode: (u64, u64),
    /// File offset of `buf[0]`: everything before it has been handled.
    offset: u64,
    buf: Vec<u8>,
    /// Skipping the rest of an over-long line until its newline.
    discarding: bool,
    labels: Labels,
    pipeline: Pipeline,
    /// The pipeline may hold entries back (`multiline`): acknowledge only up to the
    /// start of the current line.
    pipeline_holds: bool,
    last_ts: i64,
    limit: LineLimit,
    /// Let go of at the next EOF (deleted, or no longer matched).
    release: bool,
    counters: FileCounters,
}

fn inode_of(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl FileReader {
    /// Opens `path` and seeks to `start` (0 if the file is smaller: truncated meanwhile).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        path: &Path,
        start: u64,
        labels: Labels,
        pipeline: Pipeline,
        pipeline_holds: bool,
        limit: LineLimit,
        counters: FileCounters,
    ) -> std::io::Result<FileReader> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let start = if meta.len() < start { 0 } else { start };
        file.seek(SeekFrom::Start(start))?;
        let key: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        Ok(FileReader {
            path: path.to_path_buf(),
            key,
            file,
            inode: inode_of(&meta),
            offset: start,
            buf: Vec::with_capacity(64 * 1024),
            discarding: false,
            labels,
            pipeline,
            pipeline_holds,
            last_ts: 0,
            limit,
            release: false,
            counters,
        })
    }

    /// Offset up to which the file has been handled.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Entries the stages dropped since the last call, by reason.
    pub fn take_dropped(&mut self) -> Vec<(String, u64)> {
        self.pipeline.take_dropped()
    }

    /// Drain to the end, then let go.
    pub fn request_release(&mut self) {
        self.release = true;
    }

    /// Reads up to `budget` bytes, appending entries (and acknowledgements) to `out`.
    pub fn poll(&mut self, budget: usize, now_ns: i64, out: &mut Vec<Item>) -> PollState {
        let mut read_total = 0;
        while read_total < budget {
            match self.read_chunk(now_ns, out) {
                Ok(0) => break,
                Ok(n) => read_total += n,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "read failed; letting the file go");
                    self.finish(now_ns, out);
                    return PollState::Finished;
                }
            }
        }
        self.flush_due(now_ns, out);
        if read_total > 0 {
            return PollState::Busy;
        }
        self.at_eof(now_ns, out)
    }

    /// Reads one chunk and emits its complete lines; 0 at EOF.
    fn read_chunk(&mut self, now_ns: i64, out: &mut Vec<Item>) -> std::io::Result<usize> {
        let old_len = self.buf.len();
        self.buf.resize(old_len + READ_CHUNK, 0);
        let n = match self.file.read(&mut self.buf[old_len..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(old_len);
                return Err(e);
            }
        };
        self.buf.truncate(old_len + n);
        if n == 0 {
            return Ok(0);
        }
        self.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.emit_lines(now_ns, out);
        Ok(n)
    }

    /// Emits every complete line in `buf` and enforces the line limit on the rest.
    fn emit_lines(&mut self, now_ns: i64, out: &mut Vec<Item>) {
        let mut start = 0;
        let buf = std::mem::take(&mut self.buf);
        while let Some(pos) = memchr::memchr(b'\n', &buf[start..]) {
            let end = start + pos;
            let line_start_offset = self.offset + start as u64;
            let line_end_offset = self.offset + end as u64 + 1;
            if self.discarding {
                self.discarding = false;
                out.push(Item { entry: None, ack: Ack::Offset { key: self.key.clone(), offset: line_end_offset } });
            } else {
                let mut line = &buf[start..end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                self.emit(line, line_start_offset, line_end_offset, now_ns, out);
            }
            start = end + 1;
        }
        // The rest is a partial line.
        let mut rest = buf;
        rest.drain(..start);
        self.offset += start as u64;
        if self.discarding {
            self.offset += rest.len() as u64;
            rest.clear();
        } else if rest.len() > self.limit.max_bytes {
            self.counters.lines.fetch_add(1, Ordering::Relaxed);
            if self.limit.truncate {
                let truncated = cut_utf8(&rest[..self.limit.max_bytes]);
                let entry = self.entry(String::from_utf8_lossy(truncated).into_owned(), now_ns);
                // Acknowledged with the newline that ends the line, later.
                self.run_pipeline(entry, Ack::None, now_ns, out);
            } else {
                self.counters.dropped_long.fetch_add(1, Ordering::Relaxed);
            }
            self.discarding = true;
            self.offset += rest.len() as u64;
            rest.clear();
        }
        self.buf = rest;
    }

    fn emit(&mut self, line: &[u8], start_offset: u64, end_offset: u64, now_ns: i64, out: &mut Vec<Item>) {
        self.counters.lines.fetch_add(1, Ordering::Relaxed);
        let ack_offset = if self.pipeline_holds { start_offset } else { end_offset };
        let ack = Ack::Offset { key: self.key.clone(), offset: ack_offset };
        if line.len() > self.limit.max_bytes {
            if !self.limit.truncate {
                self.counters.dropped_long.fetch_add(1, Ordering::Relaxed);
                out.push(Item { entry: None, ack });
                return;
            }
            let text = String::from_utf8_lossy(cut_utf8(&line[..self.limit.max_bytes])).into_owned();
            let entry = self.entry(text, now_ns);
            self.run_pipeline(entry, ack, now_ns, out);
            return;
        }
        let text = match std::str::from_utf8(line) {
            Ok(text) => text.to_string(),
            Err(_) => String::from_utf8_lossy(line).into_owned(),
        };
        let entry = self.entry(text, now_ns);
        self.run_pipeline(entry, ack, now_ns, out);
    }

    /// A new entry stamped with the read time, strictly after the previous one so two
    /// equal lines read together are not taken for duplicates by the server.
    fn entry(&mut self, line: String, now_ns: i64) -> LogEntry {
        let ts = now_ns.max(self.last_ts + 1);
        self.last_ts = ts;
        LogEntry { labels: self.labels.clone(), line, timestamp_ns: ts, structured_metadata: Vec::new(), tenant: None }
    }

    fn run_pipeline(&mut self, entry: LogEntry, ack: Ack, now_ns: i64, out: &mut Vec<Item>) {
        let mut produced = Vec::new();
        self.pipeline.process(entry, now_ns, &mut produced);
        push_with_ack(produced, ack, out);
    }

    fn flush_due(&mut self, now_ns: i64, out: &mut Vec<Item>) {
        if !self.pipeline_holds {
            return;
        }
        let mut produced = Vec::new();
        self.pipeline.flush_due(now_ns, &mut produced);
        if !produced.is_empty() {
            push_with_ack(produced, Ack::Offset { key: self.key.clone(), offset: self.offset }, out);
        }
    }

    /// At EOF: truncated? rotated? deleted? released?
    fn at_eof(&mut self, now_ns: i64, out: &mut Vec<Item>) -> PollState {
        let read_position = self.offset + self.buf.len() as u64;
        if let Ok(meta) = self.file.metadata()
            && meta.len() < read_position
        {
            tracing::info!(path = %self.path.display(), size = meta.len(), offset = read_position, "file truncated; reading from the start");
            if self.file.seek(SeekFrom::Start(0)).is_ok() {
                self.offset = 0;
                self.buf.clear();
                self.discarding = false;
                return PollState::Busy;
            }
        }
        let on_disk = std::fs::metadata(&self.path).ok().map(|m| inode_of(&m));
        match on_disk {
            Some(inode) if inode == self.inode && !self.release => PollState::Idle,
            Some(_) if !self.release => {
                // Rotated: the old file is drained (we are at its EOF); its partial last
                // line will never be completed.
                self.emit_partial(now_ns, out);
                match File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m))) {
                    Ok((file, meta)) => {
                        tracing::info!(path = %self.path.display(), "file rotated; following the new file");
                        self.file = file;
                        self.inode = inode_of(&meta);
                        self.offset = 0;
                        self.buf.clear();
                        self.discarding = false;
                        PollState::Busy
                    }
                    Err(_) => {
                        self.finish(now_ns, out);
                        PollState::Finished
                    }
                }
            }
            _ => {
                self.finish(now_ns, out);
                PollState::Finished
            }
        }
    }

    fn emit_partial(&mut self, now_ns: i64, out: &mut Vec<Item>) {
        if self.buf.is_empty() || self.discarding {
            return;
        }
        let rest = std::mem::take(&mut self.buf);
        let start = self.offset;
        self.offset += rest.len() as u64;
        self.emit(&rest, start, self.offset, now_ns, out);
    }

    /// Drained: emit what is held and acknowledge the removal of the position.
    pub fn finish(&mut self, now_ns: i64, out: &mut Vec<Item>) {
        self.emit_partial(now_ns, out);
        let mut produced = Vec::new();
        self.pipeline.flush_all(&mut produced);
        push_with_ack(produced, Ack::Removed { key: self.key.clone() }, out);
    }

    /// At shutdown: release held entries, acknowledged at the current offset (the
    /// partial line stays unread, to be read after the restart).
    pub fn shutdown(&mut self, out: &mut Vec<Item>) {
        let mut produced = Vec::new();
        self.pipeline.flush_all(&mut produced);
        let ack = Ack::Offset { key: self.key.clone(), offset: self.offset };
        push_with_ack(produced, ack, out);
    }
}

/// Appends entries, the acknowledgement riding on the last one (or alone).
fn push_with_ack(produced: Vec<LogEntry>, ack: Ack, out: &mut Vec<Item>) {
    let count = produced.len();
    if count == 0 {
        if ack != Ack::None {
            out.push(Item { entry: None, ack });
        }
        return;
    }
    let mut ack = Some(ack);
    for (i, entry) in produced.into_iter().enumerate() {
        let this_ack = if i + 1 == count { ack.take().unwrap_or(Ack::None) } else { Ack::None };
        out.push(Item { entry: Some(entry), ack: this_ack });
    }
}

/// The longest prefix that does not end inside a UTF-8 sequence.
fn cut_utf8(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}

#[cfg(test)]
#[path = "tailer_tests.rs"]
mod tests;
