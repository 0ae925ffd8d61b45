//! Sums the sections of every chunk under a directory (chunk objects, and the chunks of
//! packs), to see where bytes go.
//! `cargo run --release -p skald-chunk --example chunk_stats -- DATA_DIR/packs`
#[path = "support/chunk_files.rs"]
mod support;

fn main() {
    let dir = std::env::args().nth(1).expect("chunks or packs directory");
    let files = support::chunk_files(&dir);
    let (mut total, mut meta, mut meta_raw, mut lines, mut raw, mut blocks, mut entries, mut filters, mut chunks) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        total += bytes.len() as u64;
        let ranges: Vec<(usize, usize)> = if file.extension().is_some_and(|e| e == "pack") {
            let directory = skald_chunk::decode_pack_directory(&bytes, 0).unwrap();
            directory.iter().map(|e| (e.offset as usize, (e.offset + e.length) as usize)).collect()
        } else {
            vec![(0, bytes.len())]
        };
        for (start, end) in ranges {
            chunks += 1;
            let chunk = skald_chunk::decode_chunk(bytes[start..end].to_vec()).unwrap();
            for b in &chunk.blocks {
                meta += u64::from(b.meta.meta_len);
                meta_raw += u64::from(b.meta.meta_raw_len);
                lines += u64::from(b.meta.lines_len);
                raw += b.meta.raw_bytes;
                entries += u64::from(b.meta.entries);
                filters += b.word_filter.len() as u64;
                blocks += 1;
            }
        }
    }
    let other = total - meta - lines - filters;
    println!("files {} chunks {chunks} blocks {blocks} entries {entries}", files.len());
    println!(
        "total {:.2} MB: meta {:.2} MB (raw {:.2} MB), lines {:.2} MB (raw {:.2} MB), word filters {:.2} MB, headers/indexes/directories {:.2} MB, avg block raw {:.1} KB",
        total as f64 / 1e6,
        meta as f64 / 1e6,
        meta_raw as f64 / 1e6,
        lines as f64 / 1e6,
        raw as f64 / 1e6,
        filters as f64 / 1e6,
        other as f64 / 1e6,
        raw as f64 / blocks as f64 / 1e3
    );
}
