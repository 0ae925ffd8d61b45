//! Arbitrary and mutated bodies never panic any decoder path.

use proptest::prelude::*;
use skald_common::{Entry, Label, LabelSet, PushStream};
use skald_push::{Api, DecodeLimits, decode_push, encode_json, encode_protobuf};

const CONTENT_TYPES: &[Option<&str>] = &[None, Some("application/json"), Some("application/x-protobuf"), Some("text/plain")];
const ENCODINGS: &[Option<&str>] = &[None, Some("gzip"), Some("deflate"), Some("snappy")];

const OTLP_ENCODINGS: &[Option<&str>] = &[None, Some("gzip"), Some("deflate"), Some("zstd"), Some("lz4")];

fn all_paths(body: &[u8]) {
    let limits = DecodeLimits { max_decompressed_bytes: 1 << 20 };
    for api in [Api::V1, Api::Legacy] {
        for ct in CONTENT_TYPES {
            for ce in ENCODINGS {
                let _ = decode_push(api, *ct, *ce, body, &limits);
            }
        }
    }
    let config = skald_common::otlp_config::OtlpConfig::default();
    let defaults = vec!["service.name".to_string()];
    let discover = vec!["service".to_string()];
    let options =
        skald_push::otlp::MappingOptions { config: &config, default_index_labels: &defaults, discover_service_name: &discover, now: 0 };
    for ct in CONTENT_TYPES {
        for ce in OTLP_ENCODINGS {
            if let Ok(request) = skald_push::otlp::decode_otlp(*ct, *ce, body, &limits)
                && let Ok(streams) = skald_push::otlp::to_streams(&request, &options)
            {
                for stream in streams {
                    let _ = stream.into_push_stream();
                }
            }
        }
    }
}

/// An OTLP/JSON request with nested values, IDs and several resources.
const OTLP_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}},{"key":"m","value":{"kvlistValue":{"values":[{"key":"x.y","value":{"arrayValue":{"values":[{"intValue":"1"},{"doubleValue":1e21},{"bytesValue":"AQID"}]}}}]}}}]},"scopeLogs":[{"scope":{"name":"s","version":"1"},"logRecords":[{"timeUnixNano":"5","severityNumber":9,"severityText":"INFO","body":{"stringValue":"hi"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","attributes":[{"key":"k","value":{"boolValue":true}}]}]}]},{"resource":{},"scopeLogs":[{"logRecords":[{"observedTimeUnixNano":"7","body":{"kvlistValue":{"values":[{"key":"b","value":{"stringValue":"c"}}]}}}]}]}]}"#;

fn sample() -> Vec<PushStream> {
    vec![PushStream {
        labels: LabelSet::from_pairs([("job", "a"), ("env", "b")]),
        entries: vec![
            Entry::new(1_700_000_000_000_000_000, "line one"),
            Entry { ts: 5, line: "two \"q\"".into(), metadata: vec![Label::new("k", "v")] },
        ],
    }]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_paths(&body);
    }

    #[test]
    fn mutated_valid_bodies_never_panic(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let streams = sample();
        let json = encode_json(&streams);
        let proto = encode_protobuf(&streams);
        let raw_proto = snap::raw::Decoder::new().decompress_vec(&proto).unwrap();
        let mut body = match which {
            0 => json,
            1 => proto,
            2 => raw_proto,
            4 => OTLP_JSON.as_bytes().to_vec(),
            5 => {
                let request: skald_push::otlp::ExportLogsServiceRequest = serde_json::from_str(OTLP_JSON).unwrap();
                prost::Message::encode_to_vec(&request)
            }
            _ => {
                let mut r = raw_proto;
                // re-snappy after mutation below
                r.push(0);
                r
            }
        };
        for (at, byte) in edits {
            let len = body.len();
            body[at % len] = byte;
        }
        body.truncate(cut % (body.len() + 1));
        if which == 3 {
            body = snap::raw::Encoder::new().compress_vec(&body).unwrap();
        }
        all_paths(&body);
    }

    #[test]
    fn json_round_trips(
        lines in proptest::collection::vec((any::<i64>(), ".*", proptest::option::of(("[a-z_]{0,5}", ".*"))), 0..8),
    ) {
        let entries: Vec<Entry> = lines
            .into_iter()
            .map(|(ts, line, meta)| Entry {
                ts,
                line,
                metadata: meta.map(|(k, v)| vec![Label::new(k, v)]).unwrap_or_default(),
            })
            .collect();
        let streams = vec![PushStream { labels: LabelSet::from_pairs([("job", "p")]), entries }];
        let limits = DecodeLimits::default();
        for (ct, body) in [("application/json", encode_json(&streams)), ("application/x-protobuf", encode_protobuf(&streams))] {
            let got: Vec<PushStream> = decode_push(Api::V1, Some(ct), None, &body, &limits)
                .unwrap()
                .into_iter()
                .map(|s| s.into_push_stream().unwrap())
                .collect();
            prop_assert_eq!(&got, &streams);
        }
    }
}
