use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skald_wal::{
    MAX_RECORD_SIZE, ReplayRecord, ReplayReport, SEGMENT_HEADER, SEGMENT_HEADER_LEN, Wal, WalError, WalOptions, segment_file_name,
};

fn opts(segment_size: u64) -> WalOptions {
    WalOptions { segment_size, sync: true }
}

fn replay_all(dir: &Path, o: WalOptions) -> (Wal, Vec<ReplayRecord>, ReplayReport) {
    let (wal, mut replay) = Wal::open(dir, o).unwrap();
    let recs: Vec<ReplayRecord> = (&mut replay).map(|r| r.unwrap()).collect();
    let report = replay.report().clone();
    (wal, recs, report)
}

fn payloads(recs: &[ReplayRecord]) -> Vec<Vec<u8>> {
    recs.iter().map(|r| r.payload.clone()).collect()
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_file_name(id))
}

fn segment_ids(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> =
        fs::read_dir(dir).unwrap().filter_map(|e| skald_wal::parse_segment_name(e.unwrap().file_name().to_str()?)).collect();
    ids.sort();
    ids
}

fn payload(i: usize) -> Vec<u8> {
    let len = 1 + (i * 37) % 300;
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

#[test]
fn round_trip_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let mut written = Vec::new();
    let mut segs = Vec::new();
    {
        let (wal, recs, report) = replay_all(&dir, opts(1024));
        assert!(recs.is_empty());
        assert_eq!(report, ReplayReport::default());
        assert_eq!(wal.current_segment(), 1);
        for i in 0..200 {
            let p = payload(i);
            segs.push(wal.append(&p).unwrap());
            written.push(p);
        }
        let batch: Vec<Vec<u8>> = (200..210).map(payload).collect();
        let refs: Vec<&[u8]> = batch.iter().map(|b| b.as_slice()).collect();
        wal.append_batch(&refs).unwrap();
        written.extend(batch);
        assert!(segs.windows(2).all(|w| w[0] <= w[1]));
        assert!(*segs.last().unwrap() >= 5, "expected several segments");
        let on_disk: u64 = segment_ids(&dir).iter().map(|id| fs::metadata(seg_path(&dir, *id)).unwrap().len()).sum();
        assert_eq!(wal.disk_bytes(), on_disk);
        let st = wal.stats();
        assert_eq!(st.records, 210);
        assert!(st.syncs >= 1);
    }
    let n_segs = segment_ids(&dir).len() as u64;
    let (wal, recs, report) = replay_all(&dir, opts(1024));
    assert_eq!(payloads(&recs), written);
    assert_eq!(report.records, 210);
    assert_eq!(report.segments, n_segs);
    assert_eq!(report.bytes, written.iter().map(|p| p.len() as u64).sum::<u64>());
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.corrupt_segments, 0);
    // Records carry their segment ids, which match what append returned.
    let rec_segs: Vec<u64> = recs.iter().take(200).map(|r| r.segment).collect();
    assert_eq!(rec_segs, segs);

    // Appends after replay go to a brand-new segment.
    let last_old = *segment_ids(&dir).last().unwrap();
    assert_eq!(wal.current_segment(), last_old + 1);
    assert_eq!(wal.append(b"after").unwrap(), last_old + 1);
    drop(wal);
    let (_wal, recs, _) = replay_all(&dir, opts(1024));
    assert_eq!(recs.len(), 211);
    assert_eq!(recs.last().unwrap().payload, b"after");
    assert_eq!(recs.last().unwrap().segment, last_old + 1);
}

#[test]
fn for_each_record_streams() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (wal, _) = Wal::open(tmp.path(), opts(512)).unwrap();
        for i in 0..50 {
            wal.append(&payload(i)).unwrap();
        }
    }
    let (_wal, replay) = Wal::open(tmp.path(), opts(512)).unwrap();
    let mut got = Vec::new();
    let report = replay
        .for_each_record(|seg, p| {
            got.push((seg, p.to_vec()));
            Ok::<_, WalError>(())
        })
        .unwrap();
    assert_eq!(report.records, 50);
    assert_eq!(got.into_iter().map(|(_, p)| p).collect::<Vec<_>>(), (0..50).map(payload).collect::<Vec<_>>());
}

/// Writes `n` records into one segment and returns (dir, payloads, start offset of last record).
fn single_segment(n: usize) -> (tempfile::TempDir, Vec<Vec<u8>>, u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    {
        let (wal, _) = Wal::open(tmp.path(), opts(1 << 20)).unwrap();
        for i in 0..n {
            let p = payload(i + 5);
            assert_eq!(wal.append(&p).unwrap(), 1);
            written.push(p);
        }
    }
    let len = fs::metadata(seg_path(tmp.path(), 1)).unwrap().len();
    let last_start = len - 8 - written.last().unwrap().len() as u64;
    (tmp, written, last_start, len)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn torn_tail_truncated_at_every_offset() {
    let (tmp, written, last_start, len) = single_segment(5);
    let src = tmp.path();
    for cut in last_start..len {
        let work = tempfile::tempdir().unwrap();
        copy_dir(src, work.path());
        let f = OpenOptions::new().write(true).open(seg_path(work.path(), 1)).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let (wal, recs, report) = replay_all(work.path(), opts(1 << 20));
        assert_eq!(payloads(&recs), written[..4].to_vec(), "cut at {cut}");
        assert_eq!(report.truncated_bytes, cut - last_start);
        assert_eq!(report.corrupt_segments, 0);
        assert_eq!(fs::metadata(seg_path(work.path(), 1)).unwrap().len(), last_start);
        // New appends never go after the damaged tail.
        assert_eq!(wal.append(b"new").unwrap(), 2);
        drop(wal);
        let (_wal, recs, report) = replay_all(work.path(), opts(1 << 20));
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[4].payload, b"new");
        assert_eq!(report.truncated_bytes, 0);
    }
}

#[test]
fn flipped_byte_in_last_record_truncates() {
    let (tmp, written, last_start, len) = single_segment(5);
    for pos in last_start..len {
        for xor in [0x01u8, 0x80, 0xff] {
            let work = tempfile::tempdir().unwrap();
            copy_dir(tmp.path(), work.path());
            let path = seg_path(work.path(), 1);
            let mut bytes = fs::read(&path).unwrap();
            bytes[pos as usize] ^= xor;
            fs::write(&path, &bytes).unwrap();
            let (_wal, recs, report) = replay_all(work.path(), opts(1 << 20));
            assert_eq!(payloads(&recs), written[..4].to_vec(), "flip at {pos}");
            assert_eq!(report.truncated_bytes, len - last_start);
            assert_eq!(fs::metadata(&path).unwrap().len(), last_start);
        }
    }
}

#[test]
fn zero_filled_tail_is_not_records() {
    let (tmp, written, _, len) = single_segment(3);
    let path = seg_path(tmp.path(), 1);
    OpenOptions::new().write(true).open(&path).unwrap().set_len(len + 4096).unwrap();
    let (_wal, recs, report) = replay_all(tmp.path(), opts(1 << 20));
    assert_eq!(payloads(&recs), written);
    assert_eq!(report.truncated_bytes, 4096);
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn garbage_never_panics() {
    // Random-ish garbage after a valid header, in last and non-last segments.
    let tmp = tempfile::tempdir().unwrap();
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for id in 1..=20u64 {
        let mut bytes = SEGMENT_HEADER.to_vec();
        for _ in 0..(id * 97) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        if id % 3 == 0 {
            // Huge length field.
            bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        fs::write(seg_path(tmp.path(), id), bytes).unwrap();
    }
    let (_wal, recs, report) = replay_all(tmp.path(), opts(1 << 20));
    assert!(recs.is_empty());
    assert_eq!(report.corrupt_segments, 19);
    assert!(report.truncated_bytes > 0);
}

#[test]
fn corrupt_middle_segment_skips_rest_of_it_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut by_seg: Vec<(u64, Vec<u8>)> = Vec::new();
    {
        let (wal, _) = Wal::open(dir, opts(1000)).unwrap();
        for i in 0..60 {
            let p = payload(i);
            let s = wal.append(&p).unwrap();
            by_seg.push((s, p));
        }
    }
    let ids = segment_ids(dir);
    assert!(ids.len() >= 4);
    let victim = ids[1];
    // Corrupt the payload of the 2nd record in the victim segment.
    let path = seg_path(dir, victim);
    let mut bytes = fs::read(&path).unwrap();
    let first_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let second = 8 + 8 + first_len;
    bytes[second + 8] ^= 0x55;
    let orig_len = bytes.len();
    fs::write(&path, &bytes).unwrap();

    let (_wal, recs, report) = replay_all(dir, opts(1000));
    let mut seen_in_victim = 0;
    let expected: Vec<Vec<u8>> = by_seg
        .iter()
        .filter(|(s, _)| {
            if *s == victim {
                seen_in_victim += 1;
                seen_in_victim == 1
            } else {
                true
            }
        })
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(payloads(&recs), expected);
    assert_eq!(report.corrupt_segments, 1);
    assert_eq!(report.skipped_bytes, (orig_len - second) as u64);
    assert_eq!(report.truncated_bytes, 0);
    // Middle segments are left untouched.
    assert_eq!(fs::metadata(&path).unwrap().len(), orig_len as u64);
}

#[test]
fn bad_header_segment_skipped_and_torn_creation_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let (wal, _) = Wal::open(dir, opts(300)).unwrap();
        for i in 0..30 {
            wal.append(&payload(i)).unwrap();
        }
    }
    let ids = segment_ids(dir);
    let victim = ids[1];
    let path = seg_path(dir, victim);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] = b'X';
    fs::write(&path, &bytes).unwrap();
    // Crash during creation of the next segment: partial header.
    let last = *ids.last().unwrap();
    fs::write(seg_path(dir, last + 1), &SEGMENT_HEADER[..3]).unwrap();
    // Unrelated files are ignored.
    fs::write(dir.join("notes.txt"), b"hello").unwrap();
    fs::write(dir.join("1.wal"), b"junk").unwrap();

    let (wal, recs, report) = replay_all(dir, opts(300));
    assert_eq!(report.corrupt_segments, 1);
    assert_eq!(report.skipped_bytes, bytes.len() as u64);
    assert_eq!(report.segments, ids.len() as u64 - 1);
    assert!(!seg_path(dir, last + 1).exists());
    assert!(recs.iter().all(|r| r.segment != victim));
    assert_eq!(recs.len() as u64, report.records);
    assert!(recs.len() < 30 && recs.len() > 20);
    assert!(wal.append(b"x").unwrap() > last);
}

#[test]
fn concurrent_appends_replayed_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    const THREADS: usize = 8;
    const PER: usize = 150;
    {
        let (wal, _) = Wal::open(&dir, opts(64 << 10)).unwrap();
        let wal = Arc::new(wal);
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let mut p = format!("{t}:{i}:").into_bytes();
                        p.resize(p.len() + (t * 131 + i * 17) % 2000, b'z');
                        if i % 10 == 9 {
                            let extra = format!("{t}:{i}b:").into_bytes();
                            wal.append_batch(&[&p, &extra]).unwrap();
                        } else {
                            wal.append(&p).unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let st = wal.stats();
        assert_eq!(st.records as usize, THREADS * PER + THREADS * PER / 10);
        eprintln!("appends: {}, syncs: {}", THREADS * PER, st.syncs);
    }
    let (_wal, recs, _) = replay_all(&dir, opts(64 << 10));
    let mut seen = HashSet::new();
    let mut last_per_thread = [-1i64; THREADS];
    for r in &recs {
        let s = String::from_utf8_lossy(&r.payload).to_string();
        let mut parts = s.split(':');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i_str = parts.next().unwrap();
        assert!(seen.insert((t, i_str.to_string())), "duplicate {t}:{i_str}");
        if let Ok(i) = i_str.parse::<i64>() {
            assert!(i > last_per_thread[t], "out of order for thread {t}");
            last_per_thread[t] = i;
        }
    }
    assert_eq!(seen.len(), THREADS * PER + THREADS * PER / 10);
}

#[test]
fn remove_segments_before_and_rotate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (wal, _) = Wal::open(dir, opts(1 << 20)).unwrap();
    assert_eq!(wal.current_segment(), 1);
    assert_eq!(wal.disk_bytes(), 0);
    // Rotating before anything was written creates segment 1.
    assert_eq!(wal.rotate().unwrap(), 1);
    // Rotating an empty segment is a no-op.
    assert_eq!(wal.rotate().unwrap(), 1);
    assert_eq!(wal.append(b"a").unwrap(), 1);
    assert_eq!(wal.rotate().unwrap(), 2);
    assert_eq!(wal.append(b"b").unwrap(), 2);
    assert_eq!(wal.rotate().unwrap(), 3);
    assert_eq!(wal.append(b"c").unwrap(), 3);
    assert_eq!(wal.current_segment(), 3);
    assert_eq!(wal.disk_bytes(), 3 * (SEGMENT_HEADER_LEN + 9));
    assert_eq!(segment_ids(dir), vec![1, 2, 3]);

    assert_eq!(wal.remove_segments_before(3).unwrap(), 2);
    assert_eq!(segment_ids(dir), vec![3]);
    assert_eq!(wal.disk_bytes(), SEGMENT_HEADER_LEN + 9);
    // Never removes the current segment, and is idempotent.
    assert_eq!(wal.remove_segments_before(100).unwrap(), 0);
    assert_eq!(segment_ids(dir), vec![3]);
    drop(wal);

    let (wal, recs, _) = replay_all(dir, opts(1 << 20));
    assert_eq!(payloads(&recs), vec![b"c".to_vec()]);
    assert_eq!(wal.current_segment(), 4);
    wal.append(b"d").unwrap();
    assert_eq!(wal.remove_segments_before(4).unwrap(), 1);
    assert_eq!(segment_ids(dir), vec![4]);
}

#[test]
fn invalid_records_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20)).unwrap();
    let e = wal.append(b"").unwrap_err();
    assert!(matches!(e, WalError::EmptyRecord));
    // calloc'd and never touched: cheap.
    let big = vec![0u8; MAX_RECORD_SIZE + 1];
    let e = wal.append(&big).unwrap_err();
    assert!(matches!(e, WalError::RecordTooLarge { .. }), "{e}");
    assert!(e.to_string().starts_with("wal record too large"));
    let e = wal.append_batch(&[b"ok", b""]).unwrap_err();
    assert!(matches!(e, WalError::EmptyRecord));
    assert_eq!(wal.disk_bytes(), 0, "nothing written");
    assert_eq!(wal.append_batch(&[]).unwrap(), 1);
}

#[test]
fn unsynced_mode_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let o = WalOptions { segment_size: 4096, sync: false };
    {
        let (wal, _) = Wal::open(tmp.path(), o.clone()).unwrap();
        for i in 0..100 {
            wal.append(&payload(i)).unwrap();
        }
    }
    let (_wal, recs, _) = replay_all(tmp.path(), o);
    assert_eq!(payloads(&recs), (0..100).map(payload).collect::<Vec<_>>());
}

#[test]
fn wal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wal>();
    fn check_send<T: Send>() {}
    check_send::<skald_wal::Replay>();
}
