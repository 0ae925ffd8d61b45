use super::*;
use std::io::Write;

fn counters() -> FileCounters {
    FileCounters { bytes: Arc::default(), size: Arc::default(), lines: Arc::default(), dropped_long: Arc::default() }
}

fn reader(path: &Path, start: u64, limit: LineLimit) -> FileReader {
    resume(path, (start > 0).then_some(Saved { offset: start, file: None }), limit)
}

fn resume(path: &Path, saved: Option<Saved>, limit: LineLimit) -> FileReader {
    FileReader::open(path, saved, Labels::new(), Pipeline::default(), false, limit, counters()).unwrap()
}

/// The position a restart would resume from: the last acknowledgement's.
fn saved_position(out: &[Item]) -> Saved {
    out.iter()
        .rev()
        .find_map(|i| match &i.ack {
            Ack::Offset { offset, file, .. } => Some(Saved { offset: *offset, file: Some(*file) }),
            _ => None,
        })
        .unwrap()
}

fn lines_of(out: &[Item]) -> Vec<String> {
    out.iter().filter_map(|i| i.entry.as_ref().map(|e| e.line.clone())).collect()
}

/// Polls until idle; returns everything emitted.
fn drain_items(reader: &mut FileReader) -> Vec<Item> {
    let mut out = Vec::new();
    while reader.poll(1 << 20, 1, &mut out) == PollState::Busy {}
    out
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
fn truncation_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "first line\nsecond line\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0.len(), 2);
    std::fs::write(&path, "").unwrap();
    append(&path, "new\n");
    assert_eq!(drain(&mut r).0, vec!["new"]);
    // Truncated and written past the old size before the next poll: the first bytes
    // changed, so it is still read from 0.
    std::fs::write(&path, "rewritten from the start, longer than before\n").unwrap();
    assert_eq!(drain(&mut r).0, vec!["rewritten from the start, longer than before"]);
}

#[test]
fn copy_truncate_reads_the_rest_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "a1\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["a1"]);
    // Written after the last read, then copied away and truncated (logrotate copytruncate).
    append(&path, "a2\na3 part");
    std::fs::copy(&path, dir.path().join("a.log.1")).unwrap();
    std::fs::write(&path, "").unwrap();
    append(&path, "b1\n");
    assert_eq!(drain(&mut r).0, vec!["a2", "a3 part", "b1"]);
}

#[test]
fn a_truncated_file_renamed_away_while_its_copy_is_read_is_read_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "a1\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["a1"]);
    append(&path, "a2\n");
    std::fs::copy(&path, dir.path().join("a.log.1")).unwrap();
    std::fs::write(&path, "").unwrap();
    // The truncation is seen; the copy is being read when the truncated file, written
    // meanwhile, is renamed away and the path gets a new file.
    let mut out = Vec::new();
    assert_eq!(r.poll(1 << 20, 1, &mut out), PollState::Busy);
    append(&path, "b1\n");
    std::fs::rename(&path, dir.path().join("a.log.2")).unwrap();
    append(&path, "c1\n");
    let (lines, _, _) = drain(&mut r);
    assert_eq!(lines, vec!["a2", "b1", "c1"]);
}

#[test]
fn a_second_copy_truncate_while_the_first_copy_is_read_is_not_missed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "a1\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["a1"]);
    append(&path, "a2\n");
    std::fs::copy(&path, dir.path().join("a.log.1")).unwrap();
    std::fs::write(&path, "").unwrap();
    let mut out = Vec::new();
    assert_eq!(r.poll(1 << 20, 1, &mut out), PollState::Busy);
    // Before the truncated file is reached, it is written, copied and truncated again;
    // the notification of the second copy tells the reader.
    append(&path, "b1\n");
    std::fs::copy(&path, dir.path().join("a.log.2")).unwrap();
    std::fs::write(&path, "").unwrap();
    append(&path, "c1\n");
    r.sibling_written(&dir.path().join("a.log.2"));
    assert_eq!(drain(&mut r).0, vec!["a2", "b1", "c1"]);
}

#[test]
fn restart_resumes_in_the_rotated_file() {
    for rotation in ["rename", "copytruncate", "delete"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "old 1\nold 2\n");
        let mut r = reader(&path, 0, NO_LIMIT);
        let saved = saved_position(&drain_items(&mut r));
        drop(r);
        // While the agent is down: more lines, then the rotation, then the new file.
        append(&path, "old 3\n");
        let rotated = dir.path().join("a.log.1");
        match rotation {
            "rename" => std::fs::rename(&path, &rotated).unwrap(),
            "copytruncate" => {
                std::fs::copy(&path, &rotated).unwrap();
                std::fs::write(&path, "").unwrap();
            }
            _ => std::fs::remove_file(&path).unwrap(),
        }
        append(&path, "new 1, a longer line than the old file had in all\n");
        let mut r = resume(&path, Some(saved), NO_LIMIT);
        let lines = lines_of(&drain_items(&mut r));
        let want: &[&str] = match rotation {
            // The deleted file is gone: the saved offset is not applied to the new one.
            "delete" => &["new 1, a longer line than the old file had in all"],
            _ => &["old 3", "new 1, a longer line than the old file had in all"],
        };
        assert_eq!(lines, want, "{rotation}");
    }
}

#[test]
fn a_promtail_position_is_used_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "one\ntwo\n");
    let mut r = resume(&path, Some(Saved { offset: 4, file: None }), NO_LIMIT);
    assert_eq!(lines_of(&drain_items(&mut r)), vec!["two"]);
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

#[test]
fn files_renamed_away_before_they_were_reached_are_read_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "x1\n");
    let mut r = reader(&path, 0, NO_LIMIT);
    assert_eq!(drain(&mut r).0, vec!["x1"]);
    // Two rotations before the reader looks again: the middle file (y) is only known
    // from the rename notification.
    append(&path, "x2\n");
    std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
    append(&path, "y1\n");
    std::fs::rename(&path, dir.path().join("a.log.2")).unwrap();
    append(&path, "z1\n");
    let renamed = File::open(dir.path().join("a.log.2")).unwrap();
    let id = FileId::of(&renamed).unwrap();
    r.add_renamed(renamed, id);
    // The file being read, reported again, is not queued twice.
    let current = File::open(dir.path().join("a.log.1")).unwrap();
    let current_id = FileId::of(&current).unwrap();
    r.add_renamed(current, current_id);
    assert_eq!(drain(&mut r).0, vec!["x2", "y1", "z1"]);
}

#[test]
fn a_reader_of_a_renamed_file_whose_path_is_gone_drains_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "only\n");
    std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
    let file = File::open(dir.path().join("a.log.1")).unwrap();
    let id = FileId::of(&file).unwrap();
    let mut r = FileReader::reading(&path, file, id, 0, Labels::new(), Pipeline::default(), false, NO_LIMIT, counters());
    let (lines, _, state) = drain(&mut r);
    assert_eq!((lines, state), (vec!["only".to_string()], PollState::Finished));
}
