//! Times building word filters over every block of a chunks directory.
//! `cargo run --release -p skald-chunk --example filter_speed -- DATA_DIR/chunks`
use std::time::Instant;

#[path = "support/chunk_files.rs"]
mod support;

fn main() {
    let dir = std::env::args().nth(1).expect("chunks directory");
    let files = support::chunk_files(&dir);
    let mut blocks = Vec::new();
    for file in &files {
        let chunk = skald_chunk::decode_chunk(std::fs::read(file).unwrap()).unwrap();
        for i in 0..chunk.blocks.len() {
            blocks.push(chunk.decode_block(i, true).unwrap());
        }
    }
    let raw: usize = blocks.iter().map(|b| b.lines.len()).sum();
    let started = Instant::now();
    let mut bytes = 0;
    for block in &blocks {
        let mut builder = skald_chunk::tokens::WordFilterBuilder::default();
        for i in 0..block.len() {
            builder.add_line(block.line(i));
        }
        bytes += builder.finish().len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} blocks, {:.1} MB: {:.3} s = {:.0} MB/s, filters {} bytes",
        blocks.len(),
        raw as f64 / 1e6,
        seconds,
        raw as f64 / 1e6 / seconds,
        bytes
    );
}
