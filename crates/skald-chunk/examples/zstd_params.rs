//! zstd compression parameters against size and decompression speed on the reference
//! corpus, in 1 MiB blocks per stream (as the chunk format cuts them); decompression is
//! the best of ten passes on one core. Chose `min_match` 7 for lines sections (codec.rs).
//! `cargo run --release -p skald-chunk --example zstd_params -- /work/corpus/d200.jsonl`
use std::collections::HashMap;
use std::time::Instant;
use zstd::zstd_safe::CParameter;

fn main() {
    let path = std::env::args().nth(1).expect("corpus path");
    let text = std::fs::read_to_string(path).unwrap();
    let mut streams: HashMap<String, Vec<u8>> = HashMap::new();
    for body in text.lines() {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        for s in v["streams"].as_array().unwrap() {
            let buf = streams.entry(s["stream"].to_string()).or_default();
            for e in s["values"].as_array().unwrap() {
                buf.extend_from_slice(e[1].as_str().unwrap().as_bytes());
            }
        }
    }
    let raw: Vec<&[u8]> = streams.values().flat_map(|b| b.chunks(1 << 20)).collect();
    let total: usize = raw.iter().map(|b| b.len()).sum();
    for (level, min_match) in [(6, 0), (6, 6), (6, 7), (3, 0), (3, 7), (9, 0), (9, 7), (6, 0), (6, 7)] {
        let mut c = zstd::bulk::Compressor::new(level).unwrap();
        if min_match > 0 {
            c.set_parameter(CParameter::MinMatch(min_match)).unwrap();
        }
        let t0 = Instant::now();
        let blocks: Vec<(Vec<u8>, usize)> = raw.iter().map(|b| (c.compress(b).unwrap(), b.len())).collect();
        let ct = t0.elapsed().as_secs_f64();
        let size: usize = blocks.iter().map(|b| b.0.len()).sum();
        let mut dec = zstd::bulk::Decompressor::new().unwrap();
        let mut out = vec![0u8; 1 << 20];
        let mut best = f64::MAX;
        for _ in 0..10 {
            let t1 = Instant::now();
            for (c, n) in &blocks {
                dec.decompress_to_buffer(c, &mut out[..*n]).unwrap();
            }
            best = best.min(t1.elapsed().as_secs_f64());
        }
        println!(
            "level {level} min_match {min_match}: {:.2} MB, compress {:.0} MB/s, decompress {:.0} MB/s",
            size as f64 / 1e6,
            total as f64 / 1e6 / ct,
            total as f64 / 1e6 / best
        );
    }
}
