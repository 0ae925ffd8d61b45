//! The positions file: how far each file has been read *and acknowledged*.
//!
//! Format (Promtail's, so a Promtail positions file can be taken over):
//!
//! ```yaml
//! positions:
//!   /var/log/app.log: "12345"
//! ```
//!
//! Offsets are recorded here only when every client has acknowledged (2xx, or given
//! up on) all entries up to that offset, so the file never runs ahead of the server.
//! With several clients the saved offset is the smallest one they agree on. The file
//! is written atomically (a temporary file in the same directory, fsync, rename) every
//! `positions.sync_period` and at shutdown.

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

/// What one client acknowledged for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acked {
    Offset(u64),
    /// The file was let go of: forget its position.
    Removed,
}

#[derive(Debug)]
struct State {
    /// Offsets read from the file at start, until every client moves past them.
    initial: HashMap<String, u64>,
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

    /// The saved offset of a file, if the positions file had one.
    pub fn initial(&self, key: &str) -> Option<u64> {
        self.state.lock().initial.get(key).copied()
    }

    /// Client `client` has acknowledged everything of `key` before `offset`.
    pub fn ack(&self, client: usize, key: &str, offset: u64) {
        let mut state = self.state.lock();
        if let Some(map) = state.per_client.get_mut(client) {
            map.insert(key.to_string(), Acked::Offset(offset));
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

    /// The offsets every client agrees on.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
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
            let mut agreed: Option<u64> = None;
            let mut known = true;
            for map in &state.per_client {
                let value = match map.get(key) {
                    Some(Acked::Offset(offset)) => Some(*offset),
                    Some(Acked::Removed) => continue,
                    None => state.initial.get(key).copied(),
                };
                match value {
                    Some(v) => agreed = Some(agreed.map_or(v, |a| a.min(v))),
                    None => known = false,
                }
            }
            if known && let Some(offset) = agreed {
                out.insert(key.clone(), offset);
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
        let snapshot = self.snapshot();
        let file = FileFormat { positions: snapshot.into_iter().map(|(k, v)| (k, v.to_string())).collect() };
        let text = serde_yaml_ng::to_string(&file).unwrap_or_default();
        write_atomically(&self.path, text.as_bytes()).map_err(|source| {
            self.state.lock().dirty = true;
            PositionsError::Write { path: self.path.clone(), source }
        })
    }
}

/// Parses a positions file (Promtail's YAML: `positions: {path: "offset"}`).
pub fn parse(text: &str) -> Result<HashMap<String, u64>, String> {
    if text.trim().is_empty() {
        return Ok(HashMap::new());
    }
    let file: FileFormat = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for (key, value) in file.positions {
        let offset: u64 = value.trim().parse().map_err(|_| format!("position of {key:?} is not a number: {value:?}"))?;
        out.insert(key, offset);
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
        positions.ack(0, "/var/log/a.log", 42);
        positions.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("/var/log/a.log: '42'") || text.contains("/var/log/a.log: \"42\""), "{text}");
        let again = Positions::load(&path, false, 1).unwrap();
        assert_eq!(again.initial("/var/log/a.log"), Some(42));
    }

    #[test]
    fn promtail_file_is_read() {
        let map = parse("positions:\n  /var/log/x.log: \"1234\"\n").unwrap();
        assert_eq!(map["/var/log/x.log"], 1234);
        assert!(parse("positions: [").is_err());
        assert!(parse("positions:\n  /a: \"x\"\n").is_err());
    }

    #[test]
    fn slowest_client_wins_and_removal_needs_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let positions = Positions::load(&dir.path().join("p.yaml"), false, 2).unwrap();
        positions.ack(0, "/a", 100);
        assert_eq!(positions.snapshot().get("/a"), None, "client 1 has acknowledged nothing");
        positions.ack(1, "/a", 60);
        assert_eq!(positions.snapshot()["/a"], 60);
        positions.ack_removed(0, "/a");
        assert_eq!(positions.snapshot()["/a"], 60);
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
