//! zstd compression parameters against size and speed on the reference corpus, in
//! 1 MiB blocks per stream (as the chunk format cuts them). The machine is noisy, so the
//! configurations are measured round-robin, ten rounds, best round of each kept, one core.
//! Chose `min_match` 7 for lines sections (codec.rs).
//! `cargo run --release -p skald-chunk --example zstd_params -- /work/corpus/d200.jsonl`
use std::collections::HashMap;
use std::time::Instant;
use zstd::zstd_safe::CParameter;

/// Level, then parameters set on top (0 = the level's own).
#[derive(Clone, Copy)]
struct Config {
    level: i32,
    min_match: u32,
    search_log: u32,
}

fn compressor(config: Config) -> zstd::bulk::Compressor<'static> {
    let mut c = zstd::bulk::Compressor::new(config.level).unwrap();
    if config.min_match > 0 {
        c.set_parameter(CParameter::MinMatch(config.min_match)).unwrap();
    }
    if config.search_log > 0 {
        c.set_parameter(CParameter::SearchLog(config.search_log)).unwrap();
    }
    c
}

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
    let configs = [
        Config { level: 6, min_match: 0, search_log: 0 },
        Config { level: 6, min_match: 7, search_log: 0 },
        Config { level: 6, min_match: 7, search_log: 6 },
        Config { level: 6, min_match: 7, search_log: 7 },
        Config { level: 7, min_match: 7, search_log: 0 },
        Config { level: 9, min_match: 7, search_log: 0 },
    ];
    let compressed: Vec<Vec<(Vec<u8>, usize)>> =
        configs.iter().map(|&config| raw.iter().map(|b| (compressor(config).compress(b).unwrap(), b.len())).collect()).collect();
    let mut compress_best = vec![f64::MAX; configs.len()];
    let mut decompress_best = vec![f64::MAX; configs.len()];
    let mut dec = zstd::bulk::Decompressor::new().unwrap();
    let mut out = vec![0u8; 1 << 20];
    for round in 0..10 {
        for (i, &config) in configs.iter().enumerate() {
            if round < 3 {
                let mut c = compressor(config);
                let t0 = Instant::now();
                for b in &raw {
                    c.compress(b).unwrap();
                }
                compress_best[i] = compress_best[i].min(t0.elapsed().as_secs_f64());
            }
            let t1 = Instant::now();
            for (c, n) in &compressed[i] {
                dec.decompress_to_buffer(c, &mut out[..*n]).unwrap();
            }
            decompress_best[i] = decompress_best[i].min(t1.elapsed().as_secs_f64());
        }
    }
    for (i, config) in configs.iter().enumerate() {
        let size: usize = compressed[i].iter().map(|b| b.0.len()).sum();
        println!(
            "level {} min_match {} search_log {}: {:.2} MB, compress {:.0} MB/s (best of 3), decompress {:.0} MB/s (best of 10)",
            config.level,
            config.min_match,
            config.search_log,
            size as f64 / 1e6,
            total as f64 / 1e6 / compress_best[i],
            total as f64 / 1e6 / decompress_best[i]
        );
    }
}
