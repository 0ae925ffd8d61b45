use super::*;
use std::io::Write;

fn counters() -> FileCounters {
    FileCounters { bytes: Arc::default(), lines: Arc::default(), dropped_long: Arc::default() }
}

fn reader(path: &Path, start: u64, limit: LineLimit) -> FileReader {
    FileReader::open(path, start, Labels::new(), Pipeline::default(), false, limit, counters()).unwrap()
}

const NO_LIMIT: LineLimit = LineLimit { max_bytes: 1 << 20, truncate: true };

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Polls until idle; returns the lines and the last acknowledged offset.
fn drain(reader: &mut FileReader) -> (Vec<String>, Option<u64>, PollState) {
    let mut out = Vec::new();
    let mut state;
    loop {
        state = reader.poll(1 << 20, 1, &mut out);
        if state != PollState::Busy {
            break;
        }
    }
    let lines = out.iter().filter_map(|i| i.entry.as_ref().map(|e| e.line.clone())).collect();
    let ack = out.iter().rev().find_map(|i| match &i.ack {
        Ack::Offset { offset, .. } => Some(*offset),
        _ => None,
    });
    (lines, ack, state)
}

#[test]
fn complete_lines_only_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "one\ntwo\r\nthr");
    let mut r = reader(&path, 0, NO_LIMIT);
    let (lines, ack, state) = drain(&mut r);
    assert_eq!(lines, vec!["one", "two"]);
    assert_eq!(ack, Some(9));
    assert_eq!(state, PollState::Idle);
    append(&path, "ee\n");
    let (lines, ack, _) = drain(&mut r);
    assert_eq!(lines, vec!["three"]);
    assert_eq!(ack, Some(15));
}

#[test]
fn starts_at_saved_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "one\ntwo\n");
    let mut r = reader(&path, 4, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["two"]);
    // A saved offset past the end (file truncated while we were down): from 0.
    let mut r = reader(&path, 100, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["one", "two"]);
}

#[test]
fn rename_and_create_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "a1\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["a1"]);
    append(&path, "a2\npartial");
    std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
    append(&path, "b1\n");
    let (lines, ack, _) = drain(&mut r);
    assert_eq!(lines, vec!["a2", "partial", "b1"]);
    assert_eq!(ack, Some(3));
}

#[test]
fn copy_truncate_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "first line\nsecond line\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0.len(), 2);
    std::fs::write(&path, "").unwrap();
    append(&path, "new\n");
    assert_eq!(drain(&mut r).0, vec!["new"]);
}

#[test]
fn deleted_file_is_finished_after_draining() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "x\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    append(&path, "y\n");
    std::fs::remove_file(&path).unwrap();
    let mut out = Vec::new();
    let mut state = PollState::Busy;
    while state == PollState::Busy {
        state = r.poll(1 << 20, 1, &mut out);
    }
    assert_eq!(state, PollState::Finished);
    let lines: Vec<_> = out.iter().filter_map(|i| i.entry.as_ref().map(|e| e.line.as_str())).collect();
    assert_eq!(lines, vec!["x", "y"]);
    assert!(matches!(out.last().unwrap().ack, Ack::Removed { .. }));
}

#[test]
fn long_lines_truncated_or_dropped_without_buffering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let long = "x".repeat(READ_CHUNK * 3);
    append(&path, &format!("short\n{long}\nafter\n"));
    let mut r = reader(&path, 0, LineLimit { max_bytes: 10, truncate: true });
    let (lines, ack, _) = drain(&mut r);
    assert_eq!(lines, vec!["short", "xxxxxxxxxx", "after"]);
    assert_eq!(ack, Some(std::fs::metadata(&path).unwrap().len()));
    assert!(r.buf.capacity() <= 2 * READ_CHUNK + 64 * 1024, "buffer grew to {}", r.buf.capacity());
    let mut r = reader(&path, 0, LineLimit { max_bytes: 10, truncate: false });
    let (lines, _, _) = drain(&mut r);
    assert_eq!(lines, vec!["short", "after"]);
    assert_eq!(r.counters.dropped_long.load(Ordering::Relaxed), 1);
}

#[test]
fn equal_lines_get_distinct_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "same\nsame\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    let mut out = Vec::new();
    r.poll(1 << 20, 1000, &mut out);
    let ts: Vec<i64> = out.iter().filter_map(|i| i.entry.as_ref().map(|e| e.timestamp_ns)).collect();
    assert_eq!(ts, vec![1000, 1001]);
}

#[test]
fn utf8_cut_keeps_whole_characters() {
    assert_eq!(cut_utf8("aé".as_bytes()), "aé".as_bytes());
    assert_eq!(cut_utf8(&"aé".as_bytes()[..2]), b"a");
}
