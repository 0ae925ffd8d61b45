//! Measures codecs and block sizes on the reference corpus, to choose the chunk format.
//! `cargo run --release -p skald-chunk --example codec_probe -- /work/corpus/d200.jsonl`
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("corpus path");
    let text = std::fs::read_to_string(path).unwrap();
    let mut streams: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for body in text.lines() {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        for s in v["streams"].as_array().unwrap() {
            let key = s["stream"].to_string();
            let list = streams.entry(key).or_default();
            for e in s["values"].as_array().unwrap() {
                list.push((e[0].as_str().unwrap().parse().unwrap(), e[1].as_str().unwrap().to_string()));
            }
        }
    }
    let raw: usize = streams.values().flatten().map(|(_, l)| l.len()).sum();
    println!("streams {} raw {} MB", streams.len(), raw / 1_000_000);
    // whole-stream zstd -3 reference
    let mut whole = 0;
    for list in streams.values() {
        let mut buf = Vec::new();
        for (_, l) in list {
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        whole += zstd::bulk::compress(&buf, 3).unwrap().len();
    }
    println!("reference whole-stream zstd-3: {:.2} MB", whole as f64 / 1e6);
    // timestamps: zigzag delta varint, then compressed
    let mut ts_raw = 0;
    let mut ts_z = 0;
    for list in streams.values() {
        let mut buf = Vec::new();
        let mut prev = 0i64;
        for (t, _) in list {
            let d = t - prev;
            prev = *t;
            let mut z = ((d << 1) ^ (d >> 63)) as u64;
            while z >= 0x80 {
                buf.push((z as u8) | 0x80);
                z >>= 7;
            }
            buf.push(z as u8);
        }
        ts_raw += buf.len();
        ts_z += zstd::bulk::compress(&buf, 3).unwrap().len();
    }
    println!("timestamps varint {:.2} MB, zstd {:.2} MB", ts_raw as f64 / 1e6, ts_z as f64 / 1e6);
    // Levels to try (0 = lz4): the second argument, comma-separated; default 2,5,7,9.
    let levels: Vec<i32> =
        std::env::args().nth(2).unwrap_or_else(|| "2,5,7,9".into()).split(',').map(|l| l.parse().expect("level")).collect();
    for block in [1 << 20, 4 << 20] {
        for &level in &levels {
            let name = if level == 0 { "lz4".to_string() } else { format!("zstd{level}") };
            let mut blocks: Vec<(Vec<u8>, usize)> = Vec::new();
            let t0 = Instant::now();
            for list in streams.values() {
                let mut buf = Vec::new();
                for (_, l) in list {
                    buf.extend_from_slice(l.as_bytes());
                    if buf.len() >= block {
                        let c = if level == 0 { lz4_flex::compress(&buf) } else { zstd::bulk::compress(&buf, level).unwrap() };
                        blocks.push((c, buf.len()));
                        buf.clear();
                    }
                }
                if !buf.is_empty() {
                    let c = if level == 0 { lz4_flex::compress(&buf) } else { zstd::bulk::compress(&buf, level).unwrap() };
                    blocks.push((c, buf.len()));
                }
            }
            let ct = t0.elapsed().as_secs_f64();
            let size: usize = blocks.iter().map(|b| b.0.len()).sum();
            // Best of three decompression passes (single core).
            let mut dt = f64::MAX;
            let mut found = 0;
            for _ in 0..3 {
                let t1 = Instant::now();
                let mut dec = zstd::bulk::Decompressor::new().unwrap();
                let mut out = Vec::with_capacity(8 << 20);
                found = 0;
                let finder = memchr_like(b"needle-that-matches-nothing");
                for (c, n) in &blocks {
                    out.clear();
                    if level == 0 {
                        out = lz4_flex::decompress(c, *n).unwrap();
                    } else {
                        out.resize(*n, 0);
                        dec.decompress_to_buffer(c, &mut out).unwrap();
                    }
                    if finder(&out) {
                        found += 1;
                    }
                }
                dt = dt.min(t1.elapsed().as_secs_f64());
            }
            println!(
                "block {:>5}K {name}: {:.2} MB, compress {:.0} MB/s, decompress+find {:.0} MB/s {}",
                block >> 10,
                size as f64 / 1e6,
                raw as f64 / 1e6 / ct,
                raw as f64 / 1e6 / dt,
                found
            );
        }
    }
}

fn memchr_like(needle: &'static [u8]) -> impl Fn(&[u8]) -> bool {
    let f = memchr::memmem::Finder::new(needle).into_owned();
    move |h: &[u8]| f.find(h).is_some()
}
