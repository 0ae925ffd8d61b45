//! Following a file through rotation: what happens at the end of the file being read
//! (the path now holds another file, or none), truncation (the copy of copy + truncate),
//! and files renamed away before the reader got to them (reported by `watch.rs` as
//! rename pairs, queued with [`FileReader::add_renamed`]).

use super::{FileReader, PollState, inode_of, next_generation};
use crate::file_id::{FINGERPRINT_BYTES, FileId, find_rotated};
use crate::outlet::Item;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

impl FileReader {
    /// The path's file `id` was renamed away (to a name the globs do not match, or one
    /// already tailed): read it from its start before moving on, unless it is the file
    /// being read or one read already.
    pub fn add_renamed(&mut self, file: File, id: FileId) {
        let inode = id.inode();
        if inode == self.id.inode() || self.done.contains(&inode) || self.pending.iter().any(|(_, p)| p.inode() == inode) {
            return;
        }
        self.pending.push_back((file, id));
    }

    /// Starts with the renamed-away files (a new reader for a path whose earlier files
    /// were renamed before it existed): the path's file is opened again after them.
    pub fn read_renamed_first(&mut self) {
        if self.offset == 0
            && let Some((file, id)) = self.pending.pop_front()
        {
            tracing::info!(path = %self.path.display(), "reading a file renamed away before it was opened");
            self.switch_to(file, id, 0);
        }
    }

    /// A file next to the path, named like its rotated copies, was created or written
    /// (`sibling`). If nothing of the path's file has been read yet (a new reader, or
    /// the truncated file queued after its copy), a copy + truncate could have taken
    /// content this reader never saw, and no later check could tell: compare the copy
    /// with the file now. The same start: the file still holds that content, and its
    /// fingerprint now covers it (a later truncation shows). Another start: the file was
    /// already truncated, so the copy is read from its start first. Once something was
    /// read, truncation is detected by the usual checks, which find the copy by its
    /// first bytes.
    pub fn sibling_written(&mut self, sibling: &std::path::Path) {
        if self.check_truncation() {
            return;
        }
        let unstarted = self.offset == 0 && self.buf.is_empty();
        let path_inode = std::fs::metadata(&self.path).ok().map(|m| inode_of(&m));
        let queued = !unstarted && self.pending.front().is_some_and(|(_, id)| Some(id.inode()) == path_inode);
        if !unstarted && !queued {
            return;
        }
        let Ok(copy) = File::open(sibling) else { return };
        let Ok(copy_id) = FileId::of(&copy) else { return };
        let inode = copy_id.inode();
        if copy_id.fp_len == 0
            || inode == self.id.inode()
            || self.done.contains(&inode)
            || self.pending.iter().any(|(_, p)| p.inode() == inode)
        {
            return;
        }
        let (file, id) = match self.pending.front_mut() {
            Some((file, id)) if queued => (&*file, id),
            _ => (&self.file, &mut self.id),
        };
        let same_start = copy_id.prefix_matches(file);
        // The file as it is now: holding the copied content, or already truncated (its
        // truncation is accounted for by reading the copy first).
        if let Ok(now) = FileId::of(file)
            && (!same_start || now.fp_len > id.fp_len)
        {
            *id = now;
        }
        if same_start {
            return;
        }
        tracing::info!(path = %self.path.display(), copy = %sibling.display(), "file truncated before it was read; reading its copy first");
        if queued {
            self.pending.push_front((copy, copy_id));
        } else {
            self.read_copy_first(copy, copy_id, 0);
        }
    }

    /// Reads `copy` (of the file being read, now truncated) from `offset`, then the
    /// truncated file from its start - even if it is renamed away meanwhile (a rename
    /// right after a copy + truncate: the path would then lead elsewhere).
    fn read_copy_first(&mut self, copy: File, copy_id: FileId, offset: u64) {
        let truncated = self.file.try_clone().ok().and_then(|f| FileId::of(&f).ok().map(|id| (f, id)));
        self.switch_to(copy, copy_id, offset);
        if let Some((file, id)) = truncated {
            self.done.retain(|inode| *inode != id.inode());
            self.pending.retain(|(_, p)| p.inode() != id.inode());
            self.pending.push_front((file, id));
        }
    }

    /// At EOF: truncated? rotated? deleted? released?
    pub(super) fn at_eof(&mut self, now_ns: i64, out: &mut Vec<Item>) -> PollState {
        let on_disk = std::fs::metadata(&self.path).ok().map(|m| inode_of(&m));
        if on_disk == Some(self.id.inode()) && !self.release {
            return PollState::Idle;
        }
        // The file being read is drained (we are at its end) and no longer the path's
        // (rotated, deleted, released): its partial last line will never be completed.
        if let Some((mut file, id)) = self.pending.pop_front() {
            self.emit_partial(now_ns, out);
            tracing::info!(path = %self.path.display(), "reading the path's next file from its start");
            // A cloned handle shares its offset with the one it was cloned from.
            if let Err(e) = file.seek(SeekFrom::Start(0)) {
                tracing::warn!(path = %self.path.display(), error = %e, "seek failed");
            }
            self.switch_to(file, id, 0);
            return PollState::Busy;
        }
        match on_disk {
            Some(_) if !self.release => {
                self.emit_partial(now_ns, out);
                match File::open(&self.path).and_then(|f| FileId::of(&f).map(|id| (f, id))) {
                    Ok((file, id)) => {
                        tracing::info!(path = %self.path.display(), "file rotated; following the new file");
                        self.switch_to(file, id, 0);
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

    /// Before reading: was the file truncated (smaller than what was read, or its first
    /// bytes changed) since the last look? Then reading continues elsewhere (true).
    /// Checked only when the size or modification time changed (one `fstat` otherwise).
    pub(super) fn check_truncation(&mut self) -> bool {
        let Ok(meta) = self.file.metadata() else { return false };
        let seen = (meta.len(), meta.mtime(), meta.mtime_nsec());
        if seen == self.last_seen {
            return false;
        }
        self.last_seen = seen;
        self.counters.size.store(meta.len(), std::sync::atomic::Ordering::Relaxed);
        let read_position = self.offset + self.buf.len() as u64;
        if meta.len() < read_position || !self.id.prefix_matches(&self.file) {
            self.truncated(read_position);
            return true;
        }
        self.extend_fingerprint(meta.len());
        false
    }

    /// The file was truncated (or rewritten from its start) after `read_position` bytes
    /// were read: read the rest from its copy if one is next to it, then the file from 0.
    fn truncated(&mut self, read_position: u64) {
        if let Some((copy, mut file)) = find_rotated(&self.path, &self.id, read_position, Some(self.id.inode()))
            && let Ok(id) = FileId::of(&file)
            // From the start of the partial line held in `buf`, which is read again.
            && file.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            tracing::info!(path = %self.path.display(), copy = %copy.display(), offset = self.offset, "file truncated; reading the rest of its copy first");
            self.read_copy_first(file, id, self.offset);
            return;
        }
        tracing::info!(path = %self.path.display(), offset = read_position, "file truncated; reading from the start");
        match self.file.seek(SeekFrom::Start(0)) {
            Ok(_) => {
                self.id = FileId::of(&self.file).unwrap_or(self.id);
                self.generation = next_generation();
                self.last_seen = (0, 0, 0);
                self.offset = 0;
                self.buf.clear();
                self.discarding = false;
            }
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "seek failed"),
        }
    }

    /// A fingerprint taken while the file was short covers more once it has grown.
    fn extend_fingerprint(&mut self, len: u64) {
        if (self.id.fp_len as usize) < FINGERPRINT_BYTES
            && len > u64::from(self.id.fp_len)
            && let Ok(id) = FileId::of(&self.file)
        {
            self.id = id;
        }
    }
}
