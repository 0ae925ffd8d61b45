//! Streaming replay of the segments that existed when the WAL was opened.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use crate::error::WalError;
use crate::format::{MAX_RECORD_SIZE, RECORD_HEADER_LEN, SEGMENT_HEADER, SEGMENT_HEADER_LEN};

/// Summary of a replay, available from [`Replay::report`] at any time and
/// complete once the iterator is exhausted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments whose header was valid and whose records were read.
    pub segments: u64,
    /// Intact records returned.
    pub records: u64,
    /// Payload bytes of the records returned.
    pub bytes: u64,
    /// Bytes cut off the end of the last segment (torn tail after a crash).
    pub truncated_bytes: u64,
    /// Segments that were skipped (bad header) or stopped early (bad record
    /// before the last segment).
    pub corrupt_segments: u64,
    /// Bytes not replayed in corrupt segments (left on disk untouched).
    pub skipped_bytes: u64,
}

/// One replayed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRecord {
    /// Id of the segment the record was read from.
    pub segment: u64,
    /// Byte offset of the record (its length field) inside the segment file.
    pub offset: u64,
    pub payload: Vec<u8>,
}

/// Iterator over every intact record of every segment present when the WAL was
/// opened, in order. Reads one segment at a time through a buffered reader and
/// holds at most one record in memory. Yields `Err` only for I/O errors (after
/// which it moves on to the next segment); corruption is handled as described
/// in the crate docs and reported in [`ReplayReport`].
pub struct Replay {
    pending: VecDeque<(u64, PathBuf)>,
    /// Id of the newest segment at open: its bad tail is truncated.
    last_id: Option<u64>,
    cur: Option<SegmentReader>,
    report: ReplayReport,
}

struct SegmentReader {
    id: u64,
    path: PathBuf,
    reader: BufReader<File>,
    /// Offset of the next unread byte == end of the last good record.
    offset: u64,
    file_len: u64,
}

enum Bad {
    Short,
    Length(u32),
    Checksum,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Short => f.write_str("incomplete record"),
            Bad::Length(n) => write!(f, "invalid record length {n}"),
            Bad::Checksum => f.write_str("checksum mismatch"),
        }
    }
}

impl Replay {
    pub(crate) fn new(segments: Vec<(u64, PathBuf)>) -> Self {
        let last_id = segments.last().map(|(id, _)| *id);
        Replay { pending: segments.into(), last_id, cur: None, report: ReplayReport::default() }
    }

    /// Counters so far (final once iteration returned `None`).
    pub fn report(&self) -> &ReplayReport {
        &self.report
    }

    /// Ids of the segments not yet started.
    pub fn remaining_segments(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().map(|(id, _)| *id)
    }

    /// Drains the iterator, calling `f(segment_id, payload)` for every record,
    /// and returns the final report. Stops at the first error from `f` or I/O.
    pub fn for_each_record<E: From<WalError>>(mut self, mut f: impl FnMut(u64, &[u8]) -> Result<(), E>) -> Result<ReplayReport, E> {
        for rec in &mut self {
            let rec = rec?;
            f(rec.segment, &rec.payload)?;
        }
        Ok(self.report)
    }

    /// Opens the next segment and validates its header. `Ok(None)` when the
    /// segment was skipped.
    fn open_segment(&mut self, id: u64, path: PathBuf) -> Result<Option<SegmentReader>, WalError> {
        let file = match File::open(&path) {
            Ok(f) => f,
            // Removed concurrently by `remove_segments_before`.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(WalError::io("wal segment open failed", Some(path), e)),
        };
        let file_len = file.metadata().map_err(|e| WalError::io("wal segment stat failed", Some(path.clone()), e))?.len();
        let mut reader = BufReader::with_capacity(256 << 10, file);
        let mut header = [0u8; SEGMENT_HEADER.len()];
        let n = read_full(&mut reader, &mut header).map_err(|e| WalError::io("wal segment read failed", Some(path.clone()), e))?;
        if n < header.len() || header != SEGMENT_HEADER {
            tracing::warn!(
                file = %path.display(),
                file_len,
                "wal segment has an invalid header; skipping the whole segment"
            );
            self.report.corrupt_segments += 1;
            self.report.skipped_bytes += file_len;
            return Ok(None);
        }
        self.report.segments += 1;
        Ok(Some(SegmentReader { id, path, reader, offset: SEGMENT_HEADER_LEN, file_len }))
    }

    /// Reads the next record of the current segment. `Ok(None)` at a clean end.
    fn read_record(seg: &mut SegmentReader) -> Result<Result<Option<ReplayRecord>, Bad>, io::Error> {
        let remaining = seg.file_len.saturating_sub(seg.offset);
        if remaining == 0 {
            return Ok(Ok(None));
        }
        if remaining < RECORD_HEADER_LEN as u64 {
            return Ok(Err(Bad::Short));
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        if read_full(&mut seg.reader, &mut h)? < h.len() {
            return Ok(Err(Bad::Short));
        }
        let len = u32::from_le_bytes(h[..4].try_into().unwrap());
        let crc = u32::from_le_bytes(h[4..].try_into().unwrap());
        if len == 0 || len as usize > MAX_RECORD_SIZE {
            return Ok(Err(Bad::Length(len)));
        }
        if len as u64 > remaining - RECORD_HEADER_LEN as u64 {
            return Ok(Err(Bad::Short));
        }
        // Bounded by the file size checked above, so garbage cannot make us
        // allocate more than the file holds.
        let mut payload = vec![0u8; len as usize];
        if read_full(&mut seg.reader, &mut payload)? < payload.len() {
            return Ok(Err(Bad::Short));
        }
        if crc32c::crc32c(&payload) != crc {
            return Ok(Err(Bad::Checksum));
        }
        let offset = seg.offset;
        seg.offset += RECORD_HEADER_LEN as u64 + len as u64;
        Ok(Ok(Some(ReplayRecord { segment: seg.id, offset, payload })))
    }

    fn handle_bad(&mut self, seg: SegmentReader, bad: Bad) {
        let rest = seg.file_len.saturating_sub(seg.offset);
        if Some(seg.id) == self.last_id {
            tracing::warn!(
                file = %seg.path.display(),
                offset = seg.offset,
                truncated_bytes = rest,
                "wal: {bad} at the tail of the last segment (torn write); truncating to the last good record"
            );
            drop(seg.reader);
            let res = OpenOptions::new().write(true).open(&seg.path).and_then(|f| {
                f.set_len(seg.offset)?;
                f.sync_all()
            });
            if let Err(e) = res {
                tracing::warn!(
                    file = %seg.path.display(),
                    offset = seg.offset,
                    error = %e,
                    "wal: failed to truncate torn tail; it will be treated as corruption next time"
                );
            }
            self.report.truncated_bytes += rest;
        } else {
            tracing::warn!(
                file = %seg.path.display(),
                offset = seg.offset,
                skipped_bytes = rest,
                "wal: {bad} in segment; skipping the rest of it and continuing with the next segment"
            );
            self.report.corrupt_segments += 1;
            self.report.skipped_bytes += rest;
        }
    }
}

impl Iterator for Replay {
    type Item = Result<ReplayRecord, WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(seg) = self.cur.as_mut() else {
                let (id, path) = self.pending.pop_front()?;
                match self.open_segment(id, path) {
                    Ok(Some(seg)) => self.cur = Some(seg),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                continue;
            };
            match Self::read_record(seg) {
                Ok(Ok(Some(rec))) => {
                    self.report.records += 1;
                    self.report.bytes += rec.payload.len() as u64;
                    return Some(Ok(rec));
                }
                Ok(Ok(None)) => self.cur = None,
                Ok(Err(bad)) => {
                    let seg = self.cur.take().unwrap();
                    self.handle_bad(seg, bad);
                }
                Err(e) => {
                    let seg = self.cur.take().unwrap();
                    return Some(Err(WalError::io("wal segment read failed", Some(seg.path), e)));
                }
            }
        }
    }
}

/// Like `read_exact`, but returns the number of bytes read on EOF instead of
/// failing (the file may be shorter than its metadata said).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
