//! Push bodies come from the network: every decoder path must reject bad bytes with an
//! error, never a panic or an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use skald_push::{Api, DecodeLimits, decode_push};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_decompressed_bytes: 1 << 20 };
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = match selector % 3 {
        0 => Some("application/json"),
        1 => Some("application/x-protobuf"),
        _ => None,
    };
    let encoding = match (selector / 3) % 4 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("deflate"),
        _ => Some("snappy"),
    };
    let api = if selector & 0x80 != 0 { Api::Legacy } else { Api::V1 };
    if let Ok(streams) = decode_push(api, content_type, encoding, body, &limits) {
        for stream in streams {
            let _ = stream.into_push_stream();
        }
    }
});
