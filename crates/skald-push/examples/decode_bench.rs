//! Throughput of the push decoders on a corpus of JSON push bodies, one per line.
//!
//! ```text
//! cargo run --release -p skald-push --example decode_bench [-- /work/corpus/d200.jsonl]
//! ```
//!
//! Prints MB/s of log-line bytes decoded (and of body bytes) for JSON, snappy
//! protobuf (encoded from the same streams first) and gzip-compressed JSON.

use std::time::Instant;

use skald_common::PushStream;
use skald_push::{Api, DecodeLimits, decode_push, encode_protobuf};

fn line_bytes(streams: &[skald_push::RawStream]) -> (usize, usize) {
    let lines: usize = streams.iter().flat_map(|s| &s.entries).map(|e| e.line.len()).sum();
    let entries: usize = streams.iter().map(|s| s.entries.len()).sum();
    (lines, entries)
}

fn run(name: &str, bodies: &[Vec<u8>], ct: &str, ce: Option<&str>, rounds: usize) {
    let limits = DecodeLimits::default();
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();
    let mut best = f64::INFINITY;
    let (mut lines, mut entries) = (0, 0);
    for _ in 0..rounds {
        let start = Instant::now();
        let (mut l, mut e) = (0, 0);
        for body in bodies {
            let streams = decode_push(Api::V1, Some(ct), ce, body, &limits).expect("decode");
            let (bl, be) = line_bytes(&streams);
            l += bl;
            e += be;
        }
        best = best.min(start.elapsed().as_secs_f64());
        (lines, entries) = (l, e);
    }
    println!(
        "{name:<14} {:>8.1} MB/s of lines  {:>8.1} MB/s of body  {:>6.2} M entries/s  ({} bodies, {:.1} MB body, {:.1} MB lines, best of {rounds}: {:.3} s)",
        lines as f64 / best / 1e6,
        body_bytes as f64 / best / 1e6,
        entries as f64 / best / 1e6,
        bodies.len(),
        body_bytes as f64 / 1e6,
        lines as f64 / 1e6,
        best,
    );
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "/work/corpus/d200.jsonl".to_string());
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let json: Vec<Vec<u8>> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    drop(data);
    let limits = DecodeLimits::default();
    let proto: Vec<Vec<u8>> = json
        .iter()
        .map(|body| {
            let streams: Vec<PushStream> = decode_push(Api::V1, Some("application/json"), None, body, &limits)
                .expect("corpus decodes")
                .into_iter()
                .map(|s| s.into_push_stream().expect("labels"))
                .collect();
            encode_protobuf(&streams)
        })
        .collect();
    let gzipped: Vec<Vec<u8>> = json
        .iter()
        .map(|body| {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(body).unwrap();
            enc.finish().unwrap()
        })
        .collect();
    run("json", &json, "application/json", None, 3);
    run("protobuf", &proto, "application/x-protobuf", None, 3);
    run("json+gzip", &gzipped, "application/json", Some("gzip"), 3);
}
