//! The positions file: how far each file has been read *and acknowledged*.
//!
//! Format (Promtail's, so a Promtail positions file can be taken over):
//!
//! ```yaml
//! positions:
//!   /var/log/app.log: "12345"
//!   skald-file-id:/var/log/app.log: "2049:131077:512:8c3a5e0f12d4b6a9"
//! ```
//!
//! The second key is Skald's: which file the offset belongs to (`file_id.rs`: device,
//! inode, fingerprint of the first bytes), so that after a restart the offset is applied
//! to that file, wherever rotation moved it, and never to another. Promtail reads its
//! values only for keys it looks up, and drops keys that are not existing paths, so the
//! file stays readable by Promtail. A Promtail file (offsets only) is taken as it is.
//!
//! Offsets are recorded here only when every client has acknowledged (2xx, or given
//! up on) all entries up to that offset, so the file never runs ahead of the server.
//! With several clients the saved offset is the smallest one they agree on. The file
//! is written atomically (a temporary file in the same directory, fsync, rename) every
//! `positions.sync_period` and at shutdown.

use crate::file_id::FileId;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PositionsError {
    #[error("reading positions file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("positions file {path} is not valid: {message} (set positions.ignore_invalid_yaml to start over)")]
    Invalid { path: PathBuf, message: String },
    #[error("writing positions file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

#[derive(Serialize, Deserialize, Default)]
struct FileFormat {
    #[serde(default)]
    positions: BTreeMap<String, String>,
}

/// The key prefix of file identities in the positions map.
const FILE_ID_PREFIX: &str = "skald-file-id:";

/// A saved position: the offset, and the file it belongs to when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub offset: u64,
    pub file: Option<FileId>,
}

/// What one client acknowledged for one file. `generation` orders positions of the
/// files a path has had: a higher one is a later file (see `tailer.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acked {
    Offset {
        offset: u64,
        file: FileId,
        generation: u64,
    },
    /// The file was let go of: forget its position.
    Removed,
}

#[derive(Debug)]
struct State {
    /// Positions read from the file at start, until every client moves past them.
    initial: HashMap<String, Saved>,
    per_client: Vec<HashMap<String, Acked>>,
    dirty: bool,
}

#[derive(Debug)]
pub struct Positions {
    path: PathBuf,
    state: Mutex<State>,
}

impl Positions {
    /// Loads the file (absent = empty) for `clients` clients.
    pub fn load(path: &Path, ignore_invalid: bool, clients: usize) -> Result<Positions, PositionsError> {
        let initial = match std::fs::read_to_string(path) {
            Ok(text) => match parse(&text) {
                Ok(map) => map,
                Err(message) if ignore_invalid => {
                    tracing::warn!(path = %path.display(), %message, "ignoring invalid positions file");
                    HashMap::new()
                }
                Err(message) => return Err(PositionsError::Invalid { path: path.to_path_buf(), message }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(source) => return Err(PositionsError::Read { path: path.to_path_buf(), source }),
        };
        let state = State { initial, per_client: vec![HashMap::new(); clients.max(1)], dirty: false };
        Ok(Positions { path: path.to_path_buf(), state: Mutex::new(state) })
    }

    /// The saved position of a file, if the positions file had one.
    pub fn initial(&self, key: &str) -> Option<Saved> {
        self.state.lock().initial.get(key).copied()
    }

    /// Client `client` has acknowledged everything of `key` before `offset` in `file`.
    pub fn ack(&self, client: usize, key: &str, offset: u64, file: FileId, generation: u64) {
        let mut state = self.state.lock();
        if let Some(map) = state.per_client.get_mut(client) {
            map.insert(key.to_string(), Acked::Offset { offset, file, generation });
        }
        state.dirty = true;
    }

    /// Client `client` has sent everything of a file that was let go of.
    pub fn ack_removed(&self, client: usize, key: &str) {
        let mut state = self.state.lock();
        if let Some(map) = state.per_client.get_mut(client) {
            map.insert(key.to_string(), Acked::Removed);
        }
        let all_removed = state.per_client.iter().all(|m| m.get(key) == Some(&Acked::Removed));
        if all_removed {
            for map in &mut state.per_client {
                map.remove(key);
            }
            state.initial.remove(key);
        }
        state.dirty = true;
    }

    /// The positions every client agrees on: per file, the earliest one acknowledged
    /// (the slowest client's; an older file before a newer one).
    pub fn snapshot(&self) -> BTreeMap<String, Saved> {
        let state = self.state.lock();
        let mut keys: Vec<&String> = state.initial.keys().collect();
        for map in &state.per_client {
            keys.extend(map.keys());
        }
        let mut out = BTreeMap::new();
        for key in keys {
            if out.contains_key(key.as_str()) {
                continue;
            }
            // (generation, offset, file): the initial position is older than any ack.
            let mut agreed: Option<(u64, u64, Option<FileId>)> = None;
            let mut known = true;
            for map in &state.per_client {
                let value = match map.get(key) {
                    Some(Acked::Offset { offset, file, generation }) => Some((*generation, *offset, Some(*file))),
                    Some(Acked::Removed) => continue,
                    None => state.initial.get(key).map(|saved| (0, saved.offset, saved.file)),
                };
                match value {
                    Some(v) => agreed = Some(agreed.map_or(v, |a| if (v.0, v.1) < (a.0, a.1) { v } else { a })),
                    None => known = false,
                }
            }
            if known && let Some((_, offset, file)) = agreed {
                out.insert(key.clone(), Saved { offset, file });
            }
        }
        out
    }

    /// Writes the file if anything changed since the last write.
    pub fn save(&self) -> Result<(), PositionsError> {
        {
            let mut state = self.state.lock();
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
        }
        let mut positions = BTreeMap::new();
        for (key, saved) in self.snapshot() {
            if let Some(file) = saved.file {
                positions.insert(format!("{FILE_ID_PREFIX}{key}"), file.encode());
            }
            positions.insert(key, saved.offset.to_string());
        }
        let file = FileFormat { positions };
        let text = serde_yaml_ng::to_string(&file).unwrap_or_default();
        write_atomically(&self.path, text.as_bytes()).map_err(|source| {
            self.state.lock().dirty = true;
            PositionsError::Write { path: self.path.clone(), source }
        })
    }
}

/// Parses a positions file (Promtail's YAML: `positions: {path: "offset"}`, with Skald's
/// file identities when it wrote them).
pub fn parse(text: &str) -> Result<HashMap<String, Saved>, String> {
    if text.trim().is_empty() {
        return Ok(HashMap::new());
    }
    let file: FileFormat = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for (key, value) in &file.positions {
        if key.starts_with(FILE_ID_PREFIX) {
            continue;
        }
        let offset: u64 = value.trim().parse().map_err(|_| format!("position of {key:?} is not a number: {value:?}"))?;
        let file = match file.positions.get(&format!("{FILE_ID_PREFIX}{key}")) {
            Some(id) => Some(FileId::parse(id).ok_or_else(|| format!("file id of {key:?} is not valid: {id:?}"))?),
            None => None,
        };
        out.insert(key.clone(), Saved { offset, file });
    }
    Ok(out)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_promtail_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.yaml");
        let positions = Positions::load(&path, false, 1).unwrap();
        let id = FileId { dev: 1, ino: 2, fp_len: 3, fp_hash: 4 };
        positions.ack(0, "/var/log/a.log", 42, id, 1);
        positions.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("/var/log/a.log: '42'") || text.contains("/var/log/a.log: \"42\""), "{text}");
        assert!(text.contains("skald-file-id:/var/log/a.log: 1:2:3:0000000000000004"), "{text}");
        let again = Positions::load(&path, false, 1).unwrap();
        assert_eq!(again.initial("/var/log/a.log"), Some(Saved { offset: 42, file: Some(id) }));
    }

    #[test]
    fn promtail_file_is_read() {
        let map = parse("positions:\n  /var/log/x.log: \"1234\"\n").unwrap();
        assert_eq!(map["/var/log/x.log"], Saved { offset: 1234, file: None });
        assert!(parse("positions: [").is_err());
        assert!(parse("positions:\n  /a: \"x\"\n").is_err());
    }

    #[test]
    fn slowest_client_wins_and_removal_needs_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let positions = Positions::load(&dir.path().join("p.yaml"), false, 2).unwrap();
        let (old, new) = (FileId { ino: 1, ..FileId::default() }, FileId { ino: 2, ..FileId::default() });
        positions.ack(0, "/a", 100, old, 1);
        assert_eq!(positions.snapshot().get("/a"), None, "client 1 has acknowledged nothing");
        positions.ack(1, "/a", 60, old, 1);
        assert_eq!(positions.snapshot()["/a"].offset, 60);
        // Client 0 moved on to the file that replaced the rotated one: client 1's
        // position in the older file is the one kept, however the offsets compare.
        positions.ack(0, "/a", 10, new, 2);
        assert_eq!(positions.snapshot()["/a"], Saved { offset: 60, file: Some(old) });
        positions.ack(1, "/a", 30, new, 2);
        assert_eq!(positions.snapshot()["/a"], Saved { offset: 10, file: Some(new) });
        positions.ack_removed(0, "/a");
        assert_eq!(positions.snapshot()["/a"].offset, 30);
        positions.ack_removed(1, "/a");
        assert!(positions.snapshot().is_empty());
    }

    #[test]
    fn invalid_file_is_refused_unless_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "positions: [").unwrap();
        assert!(matches!(Positions::load(&path, false, 1), Err(PositionsError::Invalid { .. })));
        assert!(Positions::load(&path, true, 1).is_ok());
    }
}
