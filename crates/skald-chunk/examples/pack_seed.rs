//! Writes a small pack (three streams' chunks) as a seed for the `chunk_decode` fuzz
//! target: `cargo run -p skald-chunk --example pack_seed -- fuzz/seeds/chunk_decode/pack`
use skald_chunk::{Codec, HeadBlock, PackInput, encode_chunk, encode_pack};

fn main() {
    let out = std::env::args().nth(1).expect("output path");
    let mut chunks = Vec::new();
    for (fingerprint, lines) in [(1u64, 2usize), (2, 1), (3, 3)] {
        let mut head = HeadBlock::new();
        for i in 0..lines {
            head.append(1_000 + i as i64, &format!("level=info msg=\"request {i}\" user={fingerprint}"), &[]);
        }
        let bytes = encode_chunk(&[head.cut(Codec::Zstd(3)).expect("a block")]);
        chunks.push(PackInput { fingerprint, from: 1_000, through: 1_000 + lines as i64 - 1, entries: lines as u64, raw_bytes: 30, bytes });
    }
    let (parts, _) = encode_pack(chunks);
    std::fs::write(&out, parts.concat()).expect("writing the seed");
}
