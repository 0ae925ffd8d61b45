//! Push bodies come from the network: every decoder path (Loki's push API and OTLP's)
//! must reject bad bytes with an error, never a panic or an unbounded allocation.
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
    if selector & 0x40 != 0 {
        let encoding = match (selector / 3) % 6 {
            0 => None,
            1 => Some("gzip"),
            2 => Some("deflate"),
            3 => Some("zstd"),
            4 => Some("lz4"),
            _ => Some("br"),
        };
        if let Ok(request) = skald_push::otlp::decode_otlp(content_type, encoding, body, &limits) {
            let config = skald_common::otlp_config::OtlpConfig::default();
            let defaults = vec!["service.name".to_string(), "k8s.pod.name".to_string()];
            let discover = vec!["service".to_string()];
            let options = skald_push::otlp::MappingOptions { config: &config, default_index_labels: &defaults, discover_service_name: &discover, now: 0 };
            if let Ok(streams) = skald_push::otlp::to_streams(&request, &options) {
                for stream in streams {
                    let _ = stream.into_push_stream();
                }
            }
        }
        return;
    }
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
