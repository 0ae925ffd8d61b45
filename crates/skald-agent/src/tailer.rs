//! Tailing one file: reading appended lines, following rotation, detecting truncation.
//!
//! A reader reads when polled (read to EOF, then `stat`): `files.rs` polls it when the
//! kernel reports a change and at a fixed interval otherwise, which works the same on
//! every filesystem (NFS, overlayfs, bind mounts).
//!
//! - **Lines**: only complete lines (ending in `\n`; a `\r` before it is removed) are
//!   emitted; a partial last line waits for its newline. A line longer than the limit is
//!   truncated or dropped as soon as the limit is reached, so a file without newlines
//!   never grows the buffer past `limit + READ_CHUNK`.
//! - **Rename + create** (logrotate's default), **delete + create**: at EOF the path's
//!   inode is compared with the open file's. When they differ the old file (still open)
//!   has been read to its end; its partial last line (if any) is emitted, then the new
//!   file is opened at offset 0.
//! - **Copy + truncate**, **truncate**: a file smaller than the read offset, or whose
//!   first bytes changed (`file_id.rs`), was truncated. The copy, if one is next to it,
//!   is read from the offset to its end first (what was written between the last read
//!   and the copy), then the file from 0.
//! - **Deleted** (or no longer matched): the file is read to its end, then let go of.
//! - **Restart**: a saved position names its file (device, inode, fingerprint). If the
//!   path holds another file now, the saved one is looked for among the rotated files
//!   next to it and read from the offset to its end first; a position is never applied
//!   to a file it was not taken in.
//!
//! Every emitted entry carries the offset just past its line and the file's identity,
//! which the clients turn into positions once the entry is acknowledged.

use crate::file_id::{FileId, find_inode, find_rotated};
use crate::outlet::{Ack, Item};
use crate::positions::Saved;
use crate::relabel::Labels;
use skald_agent_stages::{LogEntry, Pipeline};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Generations of followed files, process-wide: a file opened later has a higher one, so
/// positions of a path's successive files can be ordered (`positions.rs`).
static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// Bytes read per `read` call.
pub const READ_CHUNK: usize = 256 * 1024;
/// Smallest read: files that get a few lines at a time are read in small chunks, so the
/// buffer (and its zeroing) stays small; a file with much unread data gets READ_CHUNK.
const MIN_READ: usize = 8 * 1024;
/// An idle reader keeps at most this much buffer capacity (a thousand idle files must
/// not hold a read chunk each).
const IDLE_BUFFER: usize = 16 * 1024;

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
    /// The file's size when last looked at (`promtail_file_bytes_total`).
    pub size: Arc<AtomicU64>,
    pub lines: Arc<AtomicU64>,
    pub dropped_long: Arc<AtomicU64>,
}

pub struct FileReader {
    path: PathBuf,
    key: Arc<str>,
    file: File,
    /// The identity of the file being read (which may be a rotated one, not the path's).
    id: FileId,
    generation: u64,
    /// The file's size and modification time at the last check (its first bytes are
    /// compared when they change).
    last_seen: (u64, i64, i64),
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
    /// Files the path had that were renamed away before this reader got to them
    /// (`rotation.rs`), oldest first: read from their start before the path's next file.
    pending: std::collections::VecDeque<(File, FileId)>,
    /// Inodes of files this reader has read to their end (most recent last, bounded).
    done: std::collections::VecDeque<(u64, u64)>,
    counters: FileCounters,
}

fn inode_of(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl FileReader {
    /// Opens `path` where `saved` says reading stopped: in the same file if it is still
    /// there (from 0 if it was truncated), else first in the rotated file the position
    /// belongs to, if it can be found next to the path. Without a saved position, from 0.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        path: &Path,
        saved: Option<Saved>,
        labels: Labels,
        pipeline: Pipeline,
        pipeline_holds: bool,
        limit: LineLimit,
        counters: FileCounters,
    ) -> std::io::Result<FileReader> {
        let current = File::open(path)?;
        let current_id = FileId::of(&current)?;
        let current_len = current.metadata()?.len();
        // Read after the first file: the saved file itself, when the position is
        // resumed in its copy and the file, truncated since, was renamed away too.
        let mut then = None;
        let (mut file, id, start) = match saved {
            None => (current, current_id, 0),
            // A Promtail positions file: no identity to check.
            Some(Saved { offset, file: None }) => (current, current_id, if current_len < offset { 0 } else { offset }),
            Some(Saved { offset, file: Some(saved_id) }) => {
                if saved_id.inode() == current_id.inode() && current_len >= offset && saved_id.prefix_matches(&current) {
                    (current, current_id, offset)
                } else if let Some((found, file)) = find_rotated(path, &saved_id, offset, Some(current_id.inode())) {
                    tracing::info!(path = %path.display(), rotated = %found.display(), offset, "resuming in the rotated file first");
                    let id = FileId::of(&file)?;
                    if id.inode() != saved_id.inode() && saved_id.inode() != current_id.inode() {
                        then = find_inode(path, saved_id.inode()).and_then(|f| FileId::of(&f).ok().map(|id| (f, id)));
                    }
                    (file, id, offset)
                } else {
                    if offset > 0 {
                        tracing::warn!(path = %path.display(), offset, "the file of the saved position is gone; reading the file from its start");
                    }
                    (current, current_id, 0)
                }
            }
        };
        file.seek(SeekFrom::Start(start))?;
        let mut reader = Self::reading(path, file, id, start, labels, pipeline, pipeline_holds, limit, counters);
        if let Some((file, id)) = then {
            reader.add_renamed(file, id);
        }
        Ok(reader)
    }

    /// A reader for `path` that starts in `file` (`id`) at `start`, which `file` has been
    /// sought to (a file renamed away from `path`, when `path` may be gone).
    #[allow(clippy::too_many_arguments)]
    pub fn reading(
        path: &Path,
        file: File,
        id: FileId,
        start: u64,
        labels: Labels,
        pipeline: Pipeline,
        pipeline_holds: bool,
        limit: LineLimit,
        counters: FileCounters,
    ) -> FileReader {
        let key: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        FileReader {
            path: path.to_path_buf(),
            key,
            file,
            id,
            generation: next_generation(),
            last_seen: (0, 0, 0),
            offset: start,
            buf: Vec::with_capacity(64 * 1024),
            discarding: false,
            labels,
            pipeline,
            pipeline_holds,
            last_ts: 0,
            limit,
            release: false,
            pending: Default::default(),
            done: Default::default(),
            counters,
        }
    }

    /// The acknowledgement of everything before `offset` of the file being read.
    fn ack_at(&self, offset: u64) -> Ack {
        Ack::Offset { key: self.key.clone(), offset, file: self.id, generation: self.generation }
    }

    /// The acknowledgement of where reading stands (kept saved while nothing is read).
    pub fn position_ack(&self) -> Ack {
        self.ack_at(self.offset)
    }

    /// Reads `file` from `offset` from now on (a rotated copy, or the path's new file).
    fn switch_to(&mut self, file: File, id: FileId, offset: u64) {
        if self.id.inode() != id.inode() {
            self.done.push_back(self.id.inode());
            if self.done.len() > 32 {
                self.done.pop_front();
            }
        }
        self.file = file;
        self.id = id;
        self.generation = next_generation();
        self.last_seen = (0, 0, 0);
        self.offset = offset;
        self.buf.clear();
        self.discarding = false;
    }

    /// Offset up to which the file has been handled.
    /// The file being read now, its identity and how far it was read (for a reader
    /// that is done).
    pub fn into_file(self) -> (File, FileId, u64) {
        (self.file, self.id, self.offset)
    }

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
        if self.check_truncation() {
            return PollState::Busy;
        }
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
        if self.buf.capacity() > IDLE_BUFFER {
            self.buf.shrink_to(self.buf.len().max(IDLE_BUFFER / 4));
        }
        self.at_eof(now_ns, out)
    }

    /// Reads one chunk and emits its complete lines; 0 at EOF.
    fn read_chunk(&mut self, now_ns: i64, out: &mut Vec<Item>) -> std::io::Result<usize> {
        let old_len = self.buf.len();
        // The size seen at the last look bounds what is there to read (the file may
        // have grown since: a short read is followed by another).
        let unread = self.last_seen.0.saturating_sub(self.offset + old_len as u64);
        let chunk = usize::try_from(unread).unwrap_or(READ_CHUNK).clamp(MIN_READ, READ_CHUNK);
        self.buf.resize(old_len + chunk, 0);
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
                out.push(Item { entry: None, ack: self.ack_at(line_end_offset) });
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
        let ack = self.ack_at(ack_offset);
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
            push_with_ack(produced, self.ack_at(self.offset), out);
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
        push_with_ack(produced, self.ack_at(self.offset), out);
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

#[path = "tailer_rotation.rs"]
mod rotation;

#[cfg(test)]
#[path = "tailer_tests.rs"]
mod tests;
