//! Which file a position belongs to, so that a position is never applied to another
//! file, and a file rotated away is found again.
//!
//! A position is kept with the file's device and inode and a fingerprint of its first
//! bytes (up to [`FINGERPRINT_BYTES`]). The inode tells a renamed file from the new file
//! at the old path (rename + create, delete + create); the fingerprint tells a
//! truncated-and-rewritten file from the one the position was taken in (inodes are
//! reused) and finds the copy that copy + truncate leaves behind (same first bytes,
//! another inode). Rotated files are looked for next to the path, under names that start
//! with the path's file name (`app.log.1`, `app.log-20261204`, the kubelet's
//! `0.log.20261204-101010`); compressed ones are not read.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes of a file's start that make its fingerprint.
pub const FINGERPRINT_BYTES: usize = 512;

/// A file's identity: device, inode and the fingerprint of its first `fp_len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// How many bytes the fingerprint covers (0: the file was empty).
    pub fp_len: u32,
    pub fp_hash: u64,
}

/// Rotated files with these endings are compressed: never read as text.
const COMPRESSED: [&str; 7] = [".gz", ".zst", ".bz2", ".xz", ".lz4", ".zip", ".z"];

impl FileId {
    /// The identity of an open file as it is now.
    pub fn of(file: &File) -> std::io::Result<FileId> {
        let meta = file.metadata()?;
        let (fp_len, fp_hash) = fingerprint(file, FINGERPRINT_BYTES)?;
        Ok(FileId { dev: meta.dev(), ino: meta.ino(), fp_len, fp_hash })
    }

    pub fn inode(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Whether `file` still starts with the bytes this identity saw.
    pub fn prefix_matches(&self, file: &File) -> bool {
        matches!(fingerprint(file, self.fp_len as usize), Ok((len, hash)) if len == self.fp_len && hash == self.fp_hash)
    }

    /// As kept in the positions file: `dev:ino:fp_len:fp_hash` (hash in hex).
    pub fn encode(&self) -> String {
        format!("{}:{}:{}:{:016x}", self.dev, self.ino, self.fp_len, self.fp_hash)
    }

    pub fn parse(text: &str) -> Option<FileId> {
        let mut parts = text.trim().split(':');
        let id = FileId {
            dev: parts.next()?.parse().ok()?,
            ino: parts.next()?.parse().ok()?,
            fp_len: parts.next()?.parse().ok()?,
            fp_hash: u64::from_str_radix(parts.next()?, 16).ok()?,
        };
        parts.next().is_none().then_some(id)
    }
}

/// FNV-1a of the first `limit` bytes (fewer if the file is shorter), and how many.
fn fingerprint(file: &File, limit: usize) -> std::io::Result<(u32, u64)> {
    let mut buf = vec![0u8; limit];
    let mut filled = 0;
    while filled < limit {
        match file.read_at(&mut buf[filled..], filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in &buf[..filled] {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok((filled as u32, hash))
}

/// Where the content `id` was read from went, among the rotated files next to `path`:
/// the same inode (renamed) or, failing that, another file starting with the same bytes
/// (copied) - in both cases at least `min_len` bytes long, so reading can resume at
/// `min_len`. `exclude` is the inode now at `path`. The file is returned open.
pub fn find_rotated(path: &Path, id: &FileId, min_len: u64, exclude: Option<(u64, u64)>) -> Option<(PathBuf, File)> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let mut copy = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let candidate = entry.file_name();
        let Some(candidate) = candidate.to_str() else { continue };
        if candidate == name || !candidate.starts_with(name) || COMPRESSED.iter().any(|ext| candidate.ends_with(ext)) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else { continue };
        let Ok(meta) = file.metadata() else { continue };
        let inode = (meta.dev(), meta.ino());
        if !meta.is_file() || Some(inode) == exclude || meta.len() < min_len || !id.prefix_matches(&file) {
            continue;
        }
        if inode == id.inode() {
            return Some((entry.path(), file));
        }
        if id.fp_len > 0 && copy.is_none() {
            copy = Some((entry.path(), file));
        }
    }
    copy
}

/// The file with inode `inode` among the rotated files next to `path`, open.
pub fn find_inode(path: &Path, inode: (u64, u64)) -> Option<File> {
    let name = path.file_name()?.to_str()?;
    for entry in std::fs::read_dir(path.parent()?).ok()?.flatten() {
        let candidate = entry.file_name();
        let Some(candidate) = candidate.to_str() else { continue };
        if candidate == name || !candidate.starts_with(name) {
            continue;
        }
        if let Ok(meta) = entry.metadata()
            && (meta.dev(), meta.ino()) == inode
        {
            return File::open(entry.path()).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_round_trip() {
        let id = FileId { dev: 2049, ino: 12345, fp_len: 512, fp_hash: 0xdead_beef };
        assert_eq!(FileId::parse(&id.encode()), Some(id));
        assert_eq!(FileId::parse("1:2:3"), None);
        assert_eq!(FileId::parse("1:2:3:zz"), None);
    }

    #[test]
    fn renamed_and_copied_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "first line\nsecond line\n").unwrap();
        let id = FileId::of(&File::open(&path).unwrap()).unwrap();
        // Renamed, and a new file at the path: found by inode.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, "new file\n").unwrap();
        let now = FileId::of(&File::open(&path).unwrap()).unwrap();
        let (found, _) = find_rotated(&path, &id, 11, Some(now.inode())).unwrap();
        assert_eq!(found, dir.path().join("app.log.1"));
        // Copied (another inode, same first bytes), the original gone: found by content.
        std::fs::copy(dir.path().join("app.log.1"), dir.path().join("app.log-20261204")).unwrap();
        std::fs::remove_file(dir.path().join("app.log.1")).unwrap();
        let (found, _) = find_rotated(&path, &id, 11, Some(now.inode())).unwrap();
        assert_eq!(found, dir.path().join("app.log-20261204"));
        // Too short to resume at the offset, compressed, or another file's content: not found.
        assert!(find_rotated(&path, &id, 1000, Some(now.inode())).is_none());
        std::fs::rename(dir.path().join("app.log-20261204"), dir.path().join("app.log.2.gz")).unwrap();
        std::fs::write(dir.path().join("app.log.3"), "other content\n").unwrap();
        assert!(find_rotated(&path, &id, 11, Some(now.inode())).is_none());
    }

    #[test]
    fn prefix_matching() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "abc").unwrap();
        let id = FileId::of(&File::open(&path).unwrap()).unwrap();
        assert_eq!(id.fp_len, 3);
        std::fs::write(&path, "abcdef").unwrap();
        assert!(id.prefix_matches(&File::open(&path).unwrap()), "grown: still the same start");
        std::fs::write(&path, "xbcdef").unwrap();
        assert!(!id.prefix_matches(&File::open(&path).unwrap()), "rewritten");
        std::fs::write(&path, "ab").unwrap();
        assert!(!id.prefix_matches(&File::open(&path).unwrap()), "truncated");
    }
}
