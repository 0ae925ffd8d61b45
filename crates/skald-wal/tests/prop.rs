//! Property: whatever byte offset a crash cuts the log at, replay returns
//! exactly the records that were complete before that point (a prefix of
//! what was appended), and the WAL keeps working afterwards.

use std::fs::{self, OpenOptions};
use std::io::Write;

use proptest::prelude::*;
use skald_wal::{Wal, WalOptions, parse_segment_name, segment_file_name};

fn segment_ids(dir: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = fs::read_dir(dir).unwrap().filter_map(|e| parse_segment_name(e.unwrap().file_name().to_str()?)).collect();
    ids.sort();
    ids
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn crash_at_random_offset_replays_a_prefix(
        sizes in prop::collection::vec(1usize..700, 1..60),
        segment_size in 64u64..3000,
        crash_frac in 0.0f64..=1.0,
        garbage in prop::collection::vec(any::<u8>(), 0..40),
        snap in 0u8..3,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let o = WalOptions { segment_size, sync: false };
        // (segment, end offset of the record in it, payload)
        let mut log = Vec::new();
        {
            let (wal, _) = Wal::open(dir, o.clone()).unwrap();
            for (i, &n) in sizes.iter().enumerate() {
                let p: Vec<u8> = (0..n).map(|j| (i * 7 + j) as u8).collect();
                let seg = wal.append(&p).unwrap();
                let end = fs::metadata(dir.join(segment_file_name(seg))).unwrap().len();
                log.push((seg, end, p));
            }
        }
        // The crash point is a byte position in the concatenated segments:
        // segment k cut at offset `cut`, later segments not yet created.
        let ids = segment_ids(dir);
        let lens: Vec<u64> = ids.iter().map(|id| fs::metadata(dir.join(segment_file_name(*id))).unwrap().len()).collect();
        let total: u64 = lens.iter().sum();
        let mut pos = (crash_frac * total as f64) as u64;
        let mut k = 0;
        while k + 1 < ids.len() && pos > lens[k] {
            pos -= lens[k];
            k += 1;
        }
        let mut cut = pos.min(lens[k]);
        let crash_seg = ids[k];
        // Often crash exactly on (or one byte after) a record boundary.
        if snap > 0 {
            let boundary = log
                .iter()
                .filter(|(s, end, _)| *s == crash_seg && *end <= cut)
                .map(|(_, end, _)| *end)
                .max()
                .unwrap_or(8);
            cut = (boundary + u64::from(snap - 1)).min(lens[k]);
        }
        for id in &ids[k + 1..] {
            fs::remove_file(dir.join(segment_file_name(*id))).unwrap();
        }
        {
            let mut f = OpenOptions::new().write(true).open(dir.join(segment_file_name(crash_seg))).unwrap();
            f.set_len(cut).unwrap();
            // A torn write may leave garbage after the cut (only where a
            // record was being written, i.e. after a complete header).
            if cut >= 8 {
                use std::io::{Seek, SeekFrom};
                f.seek(SeekFrom::Start(cut)).unwrap();
                f.write_all(&garbage).unwrap();
            }
        }
        let expected: Vec<Vec<u8>> = log
            .iter()
            .filter(|(s, end, _)| *s < crash_seg || (*s == crash_seg && *end <= cut))
            .map(|(_, _, p)| p.clone())
            .collect();

        let (wal, replay) = Wal::open(dir, o.clone()).unwrap();
        let got: Vec<Vec<u8>> = replay.map(|r| r.unwrap().payload).collect();
        prop_assert_eq!(&got, &expected);
        // Appending after the crash works and lands in a new segment.
        let s = wal.append(b"post-crash").unwrap();
        prop_assert!(s > crash_seg);
        drop(wal);
        let (_wal, replay) = Wal::open(dir, o).unwrap();
        let again: Vec<Vec<u8>> = replay.map(|r| r.unwrap().payload).collect();
        prop_assert_eq!(&again[..again.len() - 1], &expected[..]);
        prop_assert_eq!(again.last().unwrap().as_slice(), b"post-crash");
    }
}
