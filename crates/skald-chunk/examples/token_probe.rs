//! Counts distinct word tokens per block, to size a per-block token filter.
//! `cargo run --release -p skald-chunk --example token_probe -- DATA_DIR/chunks`
use std::collections::HashSet;

#[path = "support/chunk_files.rs"]
mod support;

fn main() {
    let dir = std::env::args().nth(1).expect("chunks directory");
    let files = support::chunk_files(&dir);
    let (mut blocks, mut words_total, mut all_total, mut raw) = (0u64, 0u64, 0u64, 0u64);
    for file in &files {
        let chunk = skald_chunk::decode_chunk(std::fs::read(file).unwrap()).unwrap();
        for i in 0..chunk.blocks.len() {
            let block = chunk.decode_block(i, true).unwrap();
            raw += block.lines.len() as u64;
            let mut words: HashSet<&[u8]> = HashSet::new();
            let mut all: HashSet<&[u8]> = HashSet::new();
            for token in block.lines.split(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)) {
                if token.is_empty() {
                    continue;
                }
                all.insert(token);
                if token.len() >= 3 && token.iter().all(|b| b.is_ascii_alphabetic()) {
                    words.insert(token);
                }
            }
            blocks += 1;
            words_total += words.len() as u64;
            all_total += all.len() as u64;
        }
    }
    println!(
        "blocks {blocks} raw {:.1} MB: distinct tokens per block {:.0} (all), {:.0} (alphabetic, len>=3); totals {all_total} / {words_total}",
        raw as f64 / 1e6,
        all_total as f64 / blocks as f64,
        words_total as f64 / blocks as f64
    );
}
