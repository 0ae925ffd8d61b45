//! Kernel notifications (inotify, through the `notify` crate) on the directories the
//! file targets' globs start from, so that a new file is opened as soon as it is
//! created - before it can be rotated away - and a written file is read at once,
//! instead of at the next scan or poll. The periodic scan and poll stay, as the fallback
//! for filesystems without notifications (NFS, some FUSE mounts) and for watches that
//! could not be set (the inotify watch limit).

use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// What the notifications since the last wait call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Nothing happened within the timeout.
    Timeout,
    /// Files were written: poll the readers.
    Written,
    /// Files were created, renamed, removed (or events were lost): scan the globs again.
    Rescan,
}

pub struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    /// Directories watched, with whether recursively.
    watched: HashSet<(PathBuf, bool)>,
}

impl Watch {
    /// A watcher, or none (polling only) when the kernel refuses one.
    pub fn new() -> Watch {
        let (tx, events) = mpsc::channel();
        let watcher = match notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        }) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(%error, "file notifications unavailable; relying on periodic scans");
                None
            }
        };
        Watch { watcher, events, watched: HashSet::new() }
    }

    /// Watches each root (recursively if asked) not yet watched. A root that does not
    /// exist yet is left for a later call (the periodic scan makes one).
    pub fn ensure(&mut self, roots: &[(PathBuf, bool)]) {
        let Some(watcher) = self.watcher.as_mut() else { return };
        for (root, recursive) in roots {
            let key = (root.clone(), *recursive);
            if self.watched.contains(&key) || !root.is_dir() {
                continue;
            }
            let mode = if *recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            match watcher.watch(root, mode) {
                Ok(()) => {
                    tracing::debug!(dir = %root.display(), recursive, "watching for file changes");
                    self.watched.insert(key);
                }
                Err(error) => tracing::warn!(dir = %root.display(), %error, "cannot watch directory; it is scanned periodically"),
            }
        }
    }

    /// Waits up to `timeout` for notifications; takes every one pending.
    pub fn wait(&mut self, timeout: Duration) -> Notified {
        let mut notified = Notified { wake: Wake::Timeout, renames: Vec::new(), written: Vec::new() };
        let first = match self.events.recv_timeout(timeout) {
            Ok(event) => event,
            Err(_) => return notified,
        };
        notified.wake = classify(&first, &mut self.watched, &mut notified);
        while let Ok(event) = self.events.try_recv() {
            if classify(&event, &mut self.watched, &mut notified) == Wake::Rescan {
                notified.wake = Wake::Rescan;
            }
        }
        notified
    }
}

/// What a wait brought.
pub struct Notified {
    pub wake: Wake,
    /// Renames seen (from, to), in order: a file renamed before its reader got to it is
    /// still to be read.
    pub renames: Vec<(PathBuf, PathBuf)>,
    /// Files created, or written and closed (a rotated copy is complete then).
    pub written: Vec<PathBuf>,
}

fn classify(event: &notify::Result<notify::Event>, watched: &mut HashSet<(PathBuf, bool)>, notified: &mut Notified) -> Wake {
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    if let Ok(event) = event {
        match (&event.kind, event.paths.as_slice()) {
            (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), [from, to]) => notified.renames.push((from.clone(), to.clone())),
            (EventKind::Create(_) | EventKind::Access(AccessKind::Close(AccessMode::Write)), paths) => {
                notified.written.extend(paths.iter().cloned())
            }
            _ => {}
        }
    }
    match event {
        // Events were dropped (queue overflow) or a watch broke: look at everything.
        Err(_) => Wake::Rescan,
        Ok(event) => match event.kind {
            EventKind::Modify(notify::event::ModifyKind::Data(_)) | EventKind::Access(_) => Wake::Written,
            EventKind::Remove(_) => {
                // A watched directory that disappears is watched again when it comes back.
                watched.retain(|(dir, _)| !event.paths.iter().any(|p| p == dir || Path::new(dir).starts_with(p)));
                Wake::Rescan
            }
            _ => Wake::Rescan,
        },
    }
}
