//! The writer: segment management and group commit.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::WalError;
use crate::format::{
    MAX_RECORD_SIZE, RECORD_HEADER_LEN, SEGMENT_HEADER, SEGMENT_HEADER_LEN, parse_segment_name, record_header, segment_file_name,
};
use crate::replay::Replay;

/// WAL configuration.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Start a new segment once the current one has reached this many bytes
    /// (segments may exceed it by one append). Default 128 MiB.
    pub segment_size: u64,
    /// `fdatasync` before acknowledging appends. Default `true`; `false`
    /// gives no durability guarantee and exists for benchmarks and tests.
    pub sync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: 128 << 20, sync: true }
    }
}

/// Cumulative counters since open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended successfully (written; with `sync`, also durable).
    pub records: u64,
    /// Bytes written to segments (record headers included).
    pub bytes: u64,
    /// `fdatasync` rounds performed by group-commit leaders.
    pub syncs: u64,
    /// Wall time spent in those rounds, in nanoseconds (what a push waits for the disk).
    pub sync_nanos: u64,
    /// Segments created.
    pub segments_created: u64,
}

/// A write-ahead log. `Send + Sync`; share it with an `Arc` and call
/// [`append`](Wal::append) from any number of threads.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    state: Mutex<State>,
    synced: Condvar,
    /// Appenders between "about to take the lock" and "wrote their records".
    /// A group-commit leader lets them write first so they join its sync.
    arriving: AtomicUsize,
    records: AtomicU64,
    bytes: AtomicU64,
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
    segments_created: AtomicU64,
}

struct Segment {
    id: u64,
    path: PathBuf,
    file: Arc<File>,
    /// End of the last complete record written.
    len: u64,
    /// Prefix known durable.
    synced_len: u64,
    /// A write failed and could not be rolled back: never write here again.
    broken: bool,
}

struct Failure {
    /// Appends with `lo < seq <= hi` failed.
    lo: u64,
    hi: u64,
    kind: io::ErrorKind,
    msg: String,
}

struct State {
    /// Id the next created segment gets.
    next_id: u64,
    current: Option<Segment>,
    /// Rotated-out segments that still hold unsynced records.
    unsynced: Vec<Segment>,
    /// Sizes of the segment files on disk other than `current`.
    closed: BTreeMap<u64, u64>,
    /// Sequence number of the last write (one per append call).
    written_seq: u64,
    /// Every append with `seq <= resolved_seq` is durable or failed.
    resolved_seq: u64,
    /// A group-commit leader is running `fdatasync` without the lock.
    syncing: bool,
    failures: VecDeque<Failure>,
}

const MAX_REMEMBERED_FAILURES: usize = 1024;

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` and returns it together
    /// with a [`Replay`] of every segment already there. New appends go to a
    /// new segment created on first use, so replaying concurrently with
    /// appending is safe (though the ingester normally replays first).
    pub fn open(dir: &Path, opts: WalOptions) -> Result<(Wal, Replay), WalError> {
        fs::create_dir_all(dir).map_err(|e| WalError::io("wal directory create failed", Some(dir.into()), e))?;
        let mut segments = list_segments(dir)?;
        let next_id = segments.last().map_or(1, |(id, _)| id.saturating_add(1));

        // A newest segment shorter than the header whose bytes are a prefix of
        // the header was being created when we crashed: it holds no records.
        if let Some((_, path)) = segments.last() {
            let torn_creation = match fs::read(path) {
                Ok(bytes) => bytes.len() < SEGMENT_HEADER.len() && SEGMENT_HEADER.starts_with(&bytes),
                Err(_) => false,
            };
            if torn_creation {
                tracing::warn!(file = %path.display(), "wal: removing segment with incomplete header (crash during creation)");
                fs::remove_file(path).map_err(|e| WalError::io("wal segment remove failed", Some(path.clone()), e))?;
                sync_dir(dir)?;
                segments.pop();
            }
        }

        let mut closed = BTreeMap::new();
        for (id, path) in &segments {
            let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            closed.insert(*id, len);
        }
        let wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(State {
                next_id,
                current: None,
                unsynced: Vec::new(),
                closed,
                written_seq: 0,
                resolved_seq: 0,
                syncing: false,
                failures: VecDeque::new(),
            }),
            synced: Condvar::new(),
            arriving: AtomicUsize::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            sync_nanos: AtomicU64::new(0),
            segments_created: AtomicU64::new(0),
        };
        Ok((wal, Replay::new(segments)))
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and returns the id of the segment it went to, once
    /// it is durable (with `sync`).
    pub fn append(&self, payload: &[u8]) -> Result<u64, WalError> {
        self.append_batch(&[payload])
    }

    /// Appends several records with one write and one sync; they all land in
    /// the same segment, whose id is returned. All-or-nothing with respect to
    /// the acknowledgement: on error none of them is acknowledged (though some
    /// may still be replayed). An empty batch is a no-op.
    pub fn append_batch(&self, payloads: &[&[u8]]) -> Result<u64, WalError> {
        for p in payloads {
            if p.is_empty() {
                return Err(WalError::EmptyRecord);
            }
            if p.len() > MAX_RECORD_SIZE {
                return Err(WalError::RecordTooLarge { size: p.len(), max: MAX_RECORD_SIZE });
            }
        }
        if payloads.is_empty() {
            return Ok(self.current_segment());
        }
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let mut st = self.state.lock();
        let written = self.write_locked(&mut st, payloads);
        self.arriving.fetch_sub(1, Ordering::SeqCst);
        let (seg_id, seq) = written?;
        if self.opts.sync {
            self.wait_durable(st, seq)?;
        }
        self.records.fetch_add(payloads.len() as u64, Ordering::Relaxed);
        Ok(seg_id)
    }

    /// Closes the current segment and starts a new one; returns the new id.
    /// Every record appended before this call is in a segment with a smaller
    /// id. (Records in the old segment are synced by their own appenders.)
    pub fn rotate(&self) -> Result<u64, WalError> {
        let mut st = self.state.lock();
        if let Some(cur) = &st.current
            && cur.len == SEGMENT_HEADER_LEN
            && !cur.broken
        {
            // Nothing written to it yet: it already is a fresh segment.
            return Ok(cur.id);
        }
        // Otherwise (including "no segment created since open") start one.
        self.rotate_locked(&mut st)
    }

    /// Deletes the segment files with ids smaller than `id` (never the
    /// current one) and returns how many were deleted. Call it only for
    /// segments whose records are flushed to storage (and, after `open`, only
    /// once replay has moved past them).
    pub fn remove_segments_before(&self, id: u64) -> Result<usize, WalError> {
        let victims: Vec<(u64, PathBuf)> = {
            let mut st = self.state.lock();
            let cur = st.current.as_ref().map(|s| s.id);
            let ids: Vec<u64> = st.closed.range(..id).map(|(k, _)| *k).filter(|k| Some(*k) != cur).collect();
            for k in &ids {
                st.closed.remove(k);
            }
            ids.into_iter().map(|k| (k, self.segment_path(k))).collect()
        };
        let mut removed = 0;
        let mut first_err = None;
        for (_, path) in &victims {
            match fs::remove_file(path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(WalError::io("wal segment remove failed", Some(path.clone()), e));
                    }
                }
            }
        }
        if removed > 0 && self.opts.sync {
            sync_dir(&self.dir)?;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }

    /// Id of the segment the next append goes to (it may not exist yet).
    pub fn current_segment(&self) -> u64 {
        current_id(&self.state.lock())
    }

    /// Total size of the segment files.
    pub fn disk_bytes(&self) -> u64 {
        let st = self.state.lock();
        st.closed.values().sum::<u64>() + st.current.as_ref().map_or(0, |s| s.len)
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        WalStats {
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            sync_nanos: self.sync_nanos.load(Ordering::Relaxed),
            segments_created: self.segments_created.load(Ordering::Relaxed),
        }
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(segment_file_name(id))
    }

    /// Writes the records at the end of the current segment (rotating first if
    /// needed) and returns `(segment id, write sequence number)`.
    fn write_locked(&self, st: &mut State, payloads: &[&[u8]]) -> Result<(u64, u64), WalError> {
        let need_rotate = match &st.current {
            None => true,
            Some(s) => s.broken || (s.len >= self.opts.segment_size && s.len > SEGMENT_HEADER_LEN),
        };
        if need_rotate {
            self.rotate_locked(st)?;
        }
        let seg = st.current.as_mut().expect("current segment after rotate");

        let headers: Vec<[u8; RECORD_HEADER_LEN]> = payloads.iter().map(|p| record_header(p)).collect();
        let mut slices = Vec::with_capacity(payloads.len() * 2);
        let mut total = 0u64;
        for (h, p) in headers.iter().zip(payloads) {
            slices.push(IoSlice::new(h));
            slices.push(IoSlice::new(p));
            total += (RECORD_HEADER_LEN + p.len()) as u64;
        }
        if let Err(e) = write_all_vectored(&seg.file, &mut slices) {
            // Roll back to the last complete record so no garbage sits in the
            // middle of the segment.
            let rollback = seg.file.set_len(seg.len).and_then(|()| (&*seg.file).seek(SeekFrom::Start(seg.len)).map(|_| ()));
            if let Err(te) = rollback {
                tracing::warn!(
                    file = %seg.path.display(),
                    offset = seg.len,
                    error = %te,
                    "wal: could not truncate segment after a failed write; starting a new segment on the next append"
                );
                seg.broken = true;
            }
            return Err(WalError::io("wal write failed", Some(seg.path.clone()), e));
        }
        seg.len += total;
        self.bytes.fetch_add(total, Ordering::Relaxed);
        st.written_seq += 1;
        Ok((seg.id, st.written_seq))
    }

    /// Creates segment `next_id` and makes it current. On failure the current
    /// segment stays as it was.
    fn rotate_locked(&self, st: &mut State) -> Result<u64, WalError> {
        let id = st.next_id;
        let path = self.segment_path(id);
        let created = (|| -> io::Result<File> {
            let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
            f.write_all(&SEGMENT_HEADER)?;
            if self.opts.sync {
                f.sync_data()?;
                sync_dir(&self.dir).map_err(|e| match e {
                    WalError::Io { source, .. } => source,
                    other => io::Error::other(other.to_string()),
                })?;
            }
            Ok(f)
        })();
        let file = match created {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(WalError::io("wal segment create failed", Some(path), e));
            }
        };
        st.next_id = id.saturating_add(1);
        self.segments_created.fetch_add(1, Ordering::Relaxed);
        let new = Segment { id, path, file: Arc::new(file), len: SEGMENT_HEADER_LEN, synced_len: SEGMENT_HEADER_LEN, broken: false };
        if let Some(old) = st.current.replace(new) {
            st.closed.insert(old.id, old.len);
            if self.opts.sync && old.synced_len < old.len {
                st.unsynced.push(old);
            }
        }
        Ok(id)
    }

    /// Waits until write `seq` is durable, leading a group-commit round when
    /// no sync is in flight.
    fn wait_durable(&self, mut st: MutexGuard<'_, State>, seq: u64) -> Result<(), WalError> {
        loop {
            if st.resolved_seq >= seq {
                return match st.failures.iter().find(|f| f.lo < seq && seq <= f.hi) {
                    None => Ok(()),
                    Some(f) => Err(WalError::io("wal sync failed", None, io::Error::new(f.kind, f.msg.clone()))),
                };
            }
            if st.syncing {
                self.synced.wait(&mut st);
                continue;
            }
            self.lead_sync(&mut st);
        }
    }

    /// One group-commit round: syncs every file holding writes up to the
    /// current `written_seq`, then publishes the result.
    fn lead_sync(&self, st: &mut MutexGuard<'_, State>) {
        st.syncing = true;
        // Appenders queued on the lock right now would otherwise just miss
        // this round and need another fdatasync: hand them the lock first.
        // Bounded, so a thread preempted between the increment and `lock()`
        // cannot stall the round for long.
        for _ in 0..16 {
            if self.arriving.load(Ordering::SeqCst) == 0 {
                break;
            }
            MutexGuard::unlocked_fair(st, std::thread::yield_now);
        }
        let target = st.written_seq;
        let current = st.current.as_ref().map(|s| (s.id, s.file.clone(), s.len));
        let old = std::mem::take(&mut st.unsynced);
        let old_files: Vec<Arc<File>> = old.iter().map(|s| s.file.clone()).collect();

        let started = std::time::Instant::now();
        let result = MutexGuard::unlocked(st, || -> io::Result<()> {
            for f in &old_files {
                f.sync_data()?;
            }
            if let Some((_, f, _)) = &current {
                f.sync_data()?;
            }
            Ok(())
        });
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.sync_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        st.syncing = false;
        match result {
            Ok(()) => {
                st.resolved_seq = st.resolved_seq.max(target);
                if let Some((id, _, len)) = current {
                    if let Some(s) = st.current.as_mut().filter(|s| s.id == id) {
                        s.synced_len = s.synced_len.max(len);
                    } else if let Some(s) = st.unsynced.iter_mut().find(|s| s.id == id) {
                        s.synced_len = s.synced_len.max(len);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "wal: fdatasync failed; failing all unacknowledged appends and starting a new segment");
                // The kernel may have dropped the dirty pages: nothing written
                // since the last good sync may be trusted, in any file of this
                // round. Fail every outstanding append and cut the files back.
                let hi = st.written_seq;
                let lo = st.resolved_seq;
                st.failures.push_back(Failure { lo, hi, kind: e.kind(), msg: e.to_string() });
                while st.failures.len() > MAX_REMEMBERED_FAILURES {
                    st.failures.pop_front();
                }
                st.resolved_seq = hi;
                for s in &old {
                    truncate_best_effort(s);
                    st.closed.insert(s.id, s.synced_len);
                }
                if let Some((id, _, _)) = current {
                    if let Some(s) = st.current.as_mut().filter(|s| s.id == id) {
                        truncate_best_effort(s);
                        s.len = s.synced_len;
                        s.broken = true;
                    } else if let Some(pos) = st.unsynced.iter().position(|s| s.id == id) {
                        let s = st.unsynced.remove(pos);
                        truncate_best_effort(&s);
                        st.closed.insert(s.id, s.synced_len);
                    }
                }
            }
        }
        self.synced.notify_all();
    }
}

fn current_id(st: &State) -> u64 {
    st.current.as_ref().map_or(st.next_id, |s| s.id)
}

fn truncate_best_effort(s: &Segment) {
    if let Err(e) = s.file.set_len(s.synced_len) {
        tracing::warn!(file = %s.path.display(), offset = s.synced_len, error = %e, "wal: truncate after failed sync failed");
    }
}

fn write_all_vectored(mut file: &File, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer"));
            }
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| WalError::io("wal directory sync failed", Some(dir.into()), e))
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let rd = fs::read_dir(dir).map_err(|e| WalError::io("wal directory read failed", Some(dir.into()), e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| WalError::io("wal directory read failed", Some(dir.into()), e))?;
        let name = ent.file_name();
        let Some(id) = name.to_str().and_then(parse_segment_name) else {
            continue;
        };
        if ent.file_type().map(|t| t.is_file()).unwrap_or(false) {
            out.push((id, ent.path()));
        }
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}
