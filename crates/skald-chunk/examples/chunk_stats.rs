//! Sums the sections of every chunk under a directory, to see where bytes go.
//! `cargo run --release -p skald-chunk --example chunk_stats -- DATA_DIR/chunks`
#[path = "support/chunk_files.rs"]
mod support;

fn main() {
    let dir = std::env::args().nth(1).expect("chunks directory");
    let files = support::chunk_files(&dir);
    let (mut total, mut meta, mut meta_raw, mut lines, mut raw, mut blocks, mut entries) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        total += bytes.len() as u64;
        let chunk = skald_chunk::decode_chunk(bytes).unwrap();
        for b in &chunk.blocks {
            meta += u64::from(b.meta.meta_len);
            meta_raw += u64::from(b.meta.meta_raw_len);
            lines += u64::from(b.meta.lines_len);
            raw += b.meta.raw_bytes;
            entries += u64::from(b.meta.entries);
            blocks += 1;
        }
    }
    println!("chunks {} blocks {blocks} entries {entries}", files.len());
    println!(
        "total {:.2} MB: meta {:.2} MB (raw {:.2} MB), lines {:.2} MB (raw {:.2} MB), avg block raw {:.0} KB",
        total as f64 / 1e6,
        meta as f64 / 1e6,
        meta_raw as f64 / 1e6,
        lines as f64 / 1e6,
        raw as f64 / 1e6,
        raw as f64 / blocks as f64 / 1e3
    );
}
