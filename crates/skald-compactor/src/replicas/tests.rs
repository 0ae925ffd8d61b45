use super::*;
use proptest::prelude::*;
use skald_common::Label;

type Triple = (i64, String, Vec<Label>);

fn chunk(fingerprint: u64, entries: &[Triple]) -> PackInput {
    let mut writer = ChunkWriter::new(fingerprint, Codec::Zstd(3));
    for (ts, line, metadata) in entries {
        writer.append(*ts, line, metadata);
    }
    writer.seal().expect("entries")
}

fn entries_of(chunks: &[(LabelSet, PackInput)]) -> Vec<(u64, Triple)> {
    let mut out = Vec::new();
    for (_, c) in chunks {
        let decoded = decode_chunk(c.bytes.clone()).unwrap();
        for i in 0..decoded.blocks.len() {
            let block = decoded.decode_block(i, true).unwrap();
            for j in 0..block.len() {
                out.push((c.fingerprint, (block.ts[j], String::from_utf8(block.line(j).to_vec()).unwrap(), block.metadata(j).to_vec())));
            }
        }
    }
    out
}

fn labels(name: &str) -> LabelSet {
    LabelSet::from_pairs([("job", name)])
}

/// The entries of a stream, numbered, one per millisecond from `start`.
fn numbered(start: i64, range: std::ops::Range<usize>) -> Vec<Triple> {
    range.map(|i| (start + i as i64 * 1_000_000, format!("line {i}"), Vec::new())).collect()
}

#[test]
fn three_replicas_cut_at_different_points_become_one_copy() {
    let all = numbered(1_000, 0..300);
    // Replica a: one chunk; b: two (cut at 100); c: three (cut at 50 and 220).
    let cuts: [&[usize]; 3] = [&[0, 300], &[0, 100, 300], &[0, 50, 220, 300]];
    let mut packed = Vec::new();
    for replica in cuts {
        for w in replica.windows(2) {
            packed.push((labels("a"), chunk(7, &all[w[0]..w[1]])));
        }
    }
    // Another stream with one chunk: untouched, byte for byte.
    let alone = chunk(9, &numbered(0, 0..10));
    packed.push((labels("b"), alone.clone()));
    let (merged, report) = merge_overlapping(packed).unwrap();
    assert_eq!(report, OverlapReport { chunks_merged: 6, chunks_written: 1, duplicate_entries: 600 });
    let got: Vec<Triple> = entries_of(&merged).into_iter().filter(|(f, _)| *f == 7).map(|(_, e)| e).collect();
    assert_eq!(got, all);
    let stream_a = merged.iter().find(|(_, c)| c.fingerprint == 7).unwrap();
    assert_eq!((stream_a.1.from, stream_a.1.through, stream_a.1.entries), (1_000, 1_000 + 299 * 1_000_000, 300));
    assert!(merged.iter().any(|(_, c)| *c == alone));
    // Merged once: the next pass finds nothing to merge.
    let (again, report) = merge_overlapping(merged.clone()).unwrap();
    assert_eq!(report, OverlapReport::default());
    assert_eq!(again, merged);
}

#[test]
fn equal_timestamps_keep_every_distinct_entry() {
    let meta = vec![Label { name: "trace_id".into(), value: "abc".into() }];
    let first = vec![(5, "x".to_string(), Vec::new()), (5, "y".to_string(), Vec::new()), (6, "z".to_string(), Vec::new())];
    // The same entries, plus "x" with metadata (a different entry) and "y" again.
    let second = vec![(5, "y".to_string(), Vec::new()), (5, "x".to_string(), meta.clone()), (6, "z".to_string(), Vec::new())];
    let (merged, report) = merge_overlapping(vec![(labels("a"), chunk(1, &first)), (labels("a"), chunk(1, &second))]).unwrap();
    assert_eq!(report.duplicate_entries, 2);
    let got: Vec<Triple> = entries_of(&merged).into_iter().map(|(_, e)| e).collect();
    assert_eq!(got, vec![first[0].clone(), first[1].clone(), (5, "x".to_string(), meta), first[2].clone()]);
}

#[test]
fn chunks_that_only_touch_are_merged_and_those_apart_are_not() {
    // [0, 10] and [10, 20] share timestamp 10: one run. [30, 40] stands apart.
    let a = chunk(3, &[(0, "a".into(), vec![]), (10, "b".into(), vec![])]);
    let b = chunk(3, &[(10, "b".into(), vec![]), (20, "c".into(), vec![])]);
    let c = chunk(3, &[(30, "d".into(), vec![]), (40, "e".into(), vec![])]);
    let (merged, report) = merge_overlapping(vec![(labels("a"), a), (labels("a"), b), (labels("a"), c.clone())]).unwrap();
    assert_eq!(report, OverlapReport { chunks_merged: 2, chunks_written: 1, duplicate_entries: 1 });
    assert_eq!(merged.len(), 2);
    assert_eq!(merged[1].1, c);
}

#[test]
fn a_large_merge_is_cut_into_chunks_that_share_no_timestamp() {
    // Incompressible lines, so the merged stream passes the chunk target several times;
    // every line at one of few timestamps, so cuts must wait for a timestamp to change.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random_line = || {
        (0..200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect::<String>()
    };
    let all: Vec<Triple> = (0..24_000).map(|i| ((i / 1000) as i64, random_line(), Vec::new())).collect();
    let packed = vec![(labels("a"), chunk(1, &all)), (labels("a"), chunk(1, &all[..12_000]))];
    let (merged, report) = merge_overlapping(packed).unwrap();
    assert!(report.chunks_written >= 2, "{report:?}");
    for pair in merged.windows(2) {
        assert!(pair[0].1.through < pair[1].1.from, "{} {}", pair[0].1.through, pair[1].1.from);
    }
    let mut got: Vec<Triple> = entries_of(&merged).into_iter().map(|(_, e)| e).collect();
    let mut want = all;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn overlapping_chunks_are_found() {
    let entry = |fingerprint: u64, key: &str, from: i64, through: i64| {
        (fingerprint, labels("a"), skald_index::ChunkRef { key: key.into(), from, through, entries: 1, raw_bytes: 1, size: 10 })
    };
    let kept = vec![
        entry(1, "packs/t/1/a-1.pack#0+10", 0, 100),
        entry(1, "packs/t/1/b-1.pack#0+10", 50, 150),
        entry(1, "packs/t/1/c-1.pack#0+10", 200, 300),
        entry(2, "packs/t/1/c-1.pack#10+10", 0, 100),
        entry(2, "packs/t/1/d-1.pack#0+10", 101, 200),
    ];
    let mut found: Vec<&str> = overlapping_chunks(&kept).into_iter().collect();
    found.sort();
    assert_eq!(found, vec!["packs/t/1/a-1.pack#0+10", "packs/t/1/b-1.pack#0+10"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Each replica holds some of a stream's entries (a replica may have missed some),
    /// cut into chunks at its own points: the merge holds every entry any replica held,
    /// once, and what overlapped nothing is left alone.
    #[test]
    fn replicas_merge_into_their_union(
        lines in proptest::collection::vec((0i64..40, 0u8..6), 1..120),
        replicas in proptest::collection::vec((proptest::collection::vec(any::<bool>(), 120), 1usize..5), 1..4),
    ) {
        let mut truth: Vec<Triple> = lines.iter().map(|(ts, l)| (*ts, format!("l{l}"), Vec::new())).collect();
        truth.sort();
        truth.dedup();
        let mut packed = Vec::new();
        let mut union: Vec<Triple> = Vec::new();
        for (held, pieces) in &replicas {
            let mine: Vec<Triple> = truth.iter().zip(held).filter(|(_, h)| **h).map(|(e, _)| e.clone()).collect();
            union.extend(mine.iter().cloned());
            let size = mine.len().div_ceil(*pieces).max(1);
            for part in mine.chunks(size) {
                packed.push((labels("a"), chunk(1, part)));
            }
        }
        union.sort();
        union.dedup();
        let (merged, _) = merge_overlapping(packed).unwrap();
        let mut got: Vec<Triple> = entries_of(&merged).into_iter().map(|(_, e)| e).collect();
        got.sort();
        prop_assert_eq!(got, union);
        // Stable: a second pass changes nothing.
        let (again, report) = merge_overlapping(merged.clone()).unwrap();
        prop_assert_eq!(report, OverlapReport::default());
        prop_assert_eq!(again, merged);
    }
}
