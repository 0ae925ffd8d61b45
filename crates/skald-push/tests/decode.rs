use std::io::{Read, Write};
use std::time::{Duration, Instant};

use flate2::Compression;
use skald_common::{Entry, Label, LabelSet, PushStream};
use skald_push::{Api, DecodeLimits, PushDecodeError, RawStream, StreamLabels, decode_push, encode_json, encode_protobuf};

const JSON: Option<&str> = Some("application/json");
const PROTO: Option<&str> = Some("application/x-protobuf");

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

fn json(api: Api, body: &str) -> Result<Vec<RawStream>, PushDecodeError> {
    decode_push(api, JSON, None, body.as_bytes(), &limits())
}

fn malformed(result: Result<Vec<RawStream>, PushDecodeError>) -> String {
    match result {
        Err(PushDecodeError::Malformed(msg)) => msg,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn sample_streams() -> Vec<PushStream> {
    vec![
        PushStream {
            labels: LabelSet::from_pairs([("job", "api"), ("env", "prod")]),
            entries: vec![
                Entry::new(1_717_200_000_000_000_000, "GET /health 200"),
                Entry {
                    ts: 1_717_200_000_000_000_001,
                    line: "with \"quotes\" and \\ and \n and ünïcödé 🚀".into(),
                    metadata: vec![Label::new("trace_id", "abc"), Label::new("user", "u1")],
                },
                Entry::new(-1_500_000_000, ""),
            ],
        },
        PushStream { labels: LabelSet::from_pairs([("job", "empty")]), entries: vec![] },
        PushStream { labels: LabelSet::from_pairs([("job", "x\"y")]), entries: vec![Entry::new(0, "zero")] },
    ]
}

fn to_push(streams: Vec<RawStream>) -> Vec<PushStream> {
    streams.into_iter().map(|s| s.into_push_stream().unwrap()).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn json_v1_without_metadata() {
    let body =
        r#"{"streams":[{"stream":{"job":"api","env":"prod"},"values":[["1717200000000000000","hello"],["1717200000000000001","world"]]}]}"#;
    let streams = json(Api::V1, body).unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].labels, StreamLabels::Map(vec![Label::new("job", "api"), Label::new("env", "prod")]));
    assert_eq!(streams[0].entries, vec![Entry::new(1_717_200_000_000_000_000, "hello"), Entry::new(1_717_200_000_000_000_001, "world")]);
}

#[test]
fn json_v1_with_metadata_and_unknown_fields() {
    let body = r#"{"extra":[1,{"a":2}],"streams":[{"stream":{"job":"api"},"ignored":true,
        "values":[["5","a\tb",{"trace_id":"t1","k":"v","trace_id":"t2"}],["6","c",{}]]}]}"#;
    let streams = json(Api::V1, body).unwrap();
    let e = &streams[0].entries;
    assert_eq!(e[0].ts, 5);
    assert_eq!(e[0].line, "a\tb");
    assert_eq!(e[0].metadata, vec![Label::new("trace_id", "t2"), Label::new("k", "v")]);
    assert!(e[1].metadata.is_empty());
}

#[test]
fn json_empty_streams_is_ok() {
    assert!(json(Api::V1, r#"{"streams":[]}"#).unwrap().is_empty());
}

#[test]
fn json_with_charset_and_case() {
    let body = r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"]]}]}"#;
    let s = decode_push(Api::V1, Some("Application/JSON; charset=utf-8"), None, body.as_bytes(), &limits()).unwrap();
    assert_eq!(s[0].entries[0].line, "x");
}

#[test]
fn json_legacy_shape() {
    let body = r#"{"streams":[{"labels":"{job=\"x\"}","entries":[
        {"ts":"2024-06-01T00:00:00Z","line":"first"},
        {"ts":"2024-06-01T00:00:00.5+00:00","line":"second","structuredMetadata":[{"name":"a","value":"1"}]}]}]}"#;
    let streams = json(Api::Legacy, body).unwrap();
    assert_eq!(streams[0].labels, StreamLabels::Text("{job=\"x\"}".into()));
    assert_eq!(streams[0].entries[0], Entry::new(1_717_200_000_000_000_000, "first"));
    assert_eq!(streams[0].entries[1].ts, 1_717_200_000_500_000_000);
    assert_eq!(streams[0].entries[1].metadata, vec![Label::new("a", "1")]);
    let ps = to_push(streams);
    assert_eq!(ps[0].labels, LabelSet::from_pairs([("job", "x")]));

    // The legacy endpoint accepts the v1 shape too, stream by stream.
    let mixed = r#"{"streams":[{"stream":{"job":"v1"},"values":[["1","a"]]},
        {"labels":"{job=\"old\"}","entries":[{"ts":"1970-01-01T00:00:01Z","line":"b"}]}]}"#;
    let streams = json(Api::Legacy, mixed).unwrap();
    assert_eq!(streams[0].labels, StreamLabels::Map(vec![Label::new("job", "v1")]));
    assert_eq!(streams[1].entries[0], Entry::new(1_000_000_000, "b"));

    // ...but the v1 endpoint does not accept the legacy shape.
    let msg = malformed(json(Api::V1, body));
    assert!(msg.contains("streams[0]") && msg.contains("/api/prom/push"), "{msg}");
}

#[test]
fn json_errors_name_the_problem() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[[1717200000000000000,"x"]]}]}"#,
            &["streams[0].values[0][0]", "invalid type: integer"],
        ),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["abc","x"]]}]}"#, &["streams[0].values[0][0]", "invalid timestamp \"abc\""]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["99999999999999999999","x"]]}]}"#, &["streams[0].values[0][0]", "64-bit"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["2",5]]}]}"#, &["streams[0].values[1][1]", "expected a string"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#, &["streams[0].values[0]", "at least 2 elements"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},4]]}]}"#, &["streams[0].values[0]", "at most 3"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":1}]]}]}"#, &["streams[0].values[0][2].k", "expected a string"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",[]]]}]}"#, &["streams[0].values[0][2]", "structured metadata"]),
        (r#"{"streams":[{},{"stream":{"a":1},"values":[]}]}"#, &["streams[0]", "missing field `stream`"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[]},{"stream":{"a":1},"values":[]}]}"#, &["streams[1].stream.a", "expected a string"]),
        (r#"{"streams":[{"stream":{"a":"b"}}]}"#, &["streams[0]", "missing field `values`"]),
        (r#"{"streams":{}}"#, &["streams", "expected an array"]),
        (r#"{}"#, &["missing field `streams`"]),
        (r#"[]"#, &["push request object"]),
        (r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"]"#, &["streams[0].values", "EOF"]),
        (r#"{"streams":[]} trailing"#, &["trailing characters", "line 1"]),
        (r#"{"streams":[{"stream":{"a":"b"},"stream":{},"values":[]}]}"#, &["streams[0]", "duplicate field `stream`"]),
        ("", &["EOF"]),
    ];
    for (body, wanted) in cases {
        let msg = malformed(json(Api::V1, body));
        for w in *wanted {
            assert!(msg.contains(w), "body {body}: message {msg:?} lacks {w:?}");
        }
        assert!(msg.contains("line") && msg.contains("column"), "no position in {msg:?}");
    }
    let legacy = malformed(json(Api::Legacy, r#"{"streams":[{"labels":"{}","entries":[{"ts":"yesterday","line":"x"}]}]}"#));
    assert!(legacy.contains("streams[0].entries[0].ts") && legacy.contains("yesterday"), "{legacy}");
    let legacy = malformed(json(Api::Legacy, r#"{"streams":[{"labels":"{}","entries":[{"line":"x"}]}]}"#));
    assert!(legacy.contains("streams[0].entries[0]") && legacy.contains("missing field `ts`"), "{legacy}");
}

#[test]
fn json_round_trip() {
    let streams = sample_streams();
    let body = encode_json(&streams);
    let decoded = to_push(decode_push(Api::V1, JSON, None, &body, &limits()).unwrap());
    assert_eq!(decoded, streams);
}

#[test]
fn protobuf_round_trip() {
    let streams = sample_streams();
    let body = encode_protobuf(&streams);
    for ct in [PROTO, None, Some(""), Some("application/x-protobuf; foo=bar")] {
        let decoded = decode_push(Api::V1, ct, None, &body, &limits()).unwrap();
        assert!(matches!(&decoded[0].labels, StreamLabels::Text(t) if t == "{env=\"prod\", job=\"api\"}"));
        assert_eq!(to_push(decoded), streams);
    }
    // Content-Encoding: snappy on protobuf means nothing more (the body is decoded once).
    let decoded = decode_push(Api::V1, PROTO, Some("snappy"), &body, &limits()).unwrap();
    assert_eq!(to_push(decoded), streams);
    // Loki parses any non-JSON media type as protobuf.
    let decoded = decode_push(Api::Legacy, Some("text/plain"), None, &body, &limits()).unwrap();
    assert_eq!(to_push(decoded), streams);
}

/// Protobuf helpers for crafting requests by hand.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(tag: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(tag << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

#[test]
fn protobuf_invalid_utf8_is_lossy() {
    let mut ts = Vec::new();
    ts.extend_from_slice(&[0x08]);
    varint(1_700_000_000, &mut ts);
    let mut pair = Vec::new();
    field(1, b"k\xff", &mut pair);
    field(2, b"v", &mut pair);
    let mut entry = Vec::new();
    field(1, &ts, &mut entry);
    field(2, b"bad \xff\xfe bytes \xc3", &mut entry);
    field(3, &pair, &mut entry);
    let mut stream = Vec::new();
    field(1, b"{job=\"a\"}", &mut stream);
    field(2, &entry, &mut stream);
    stream.extend_from_slice(&[0x18, 0x2a]); // hash = 42, ignored
    stream.extend_from_slice(&[0x48, 0x01]); // unknown field 9, ignored
    let mut req = Vec::new();
    field(1, &stream, &mut req);
    let decoded = decode_push(Api::V1, PROTO, None, &snappy(&req), &limits()).unwrap();
    let e = &decoded[0].entries[0];
    assert_eq!(e.ts, 1_700_000_000_000_000_000);
    assert_eq!(e.line, "bad \u{fffd}\u{fffd} bytes \u{fffd}");
    assert_eq!(e.metadata, vec![Label::new("k\u{fffd}", "v")]);
}

#[test]
fn protobuf_errors() {
    let body = encode_protobuf(&sample_streams());
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    // Truncated protobuf (valid snappy around it).
    for cut in [1, raw.len() / 2, raw.len() - 1] {
        let msg = malformed(decode_push(Api::V1, PROTO, None, &snappy(&raw[..cut]), &limits()));
        assert!(msg.contains("decode") || msg.contains("buffer"), "{msg}");
    }
    // Truncated snappy.
    let msg = malformed(decode_push(Api::V1, PROTO, None, &body[..body.len() / 2], &limits()));
    assert!(msg.contains("snappy"), "{msg}");
    // Uncompressed protobuf is not accepted (Loki requires snappy).
    assert!(matches!(decode_push(Api::V1, PROTO, None, &raw, &limits()), Err(PushDecodeError::Malformed(_))));
    // JSON sent as text/plain is tried as protobuf and fails.
    let json_body = encode_json(&sample_streams());
    assert!(matches!(decode_push(Api::V1, Some("text/plain"), None, &json_body, &limits()), Err(PushDecodeError::Malformed(_))));
    // Missing timestamp / out-of-range timestamps.
    let mut entry = Vec::new();
    field(2, b"line", &mut entry);
    let mut stream = Vec::new();
    field(2, &entry, &mut stream);
    let mut req = Vec::new();
    field(1, &stream, &mut req);
    let msg = malformed(decode_push(Api::V1, PROTO, None, &snappy(&req), &limits()));
    assert!(msg.contains("streams[0].entries[0]") && msg.contains("missing timestamp"), "{msg}");
    let mut ts = vec![0x08];
    varint(i64::MAX as u64, &mut ts);
    let mut entry = Vec::new();
    field(1, &ts, &mut entry);
    let mut stream = Vec::new();
    field(2, &entry, &mut stream);
    let mut req = Vec::new();
    field(1, &stream, &mut req);
    let msg = malformed(decode_push(Api::V1, PROTO, None, &snappy(&req), &limits()));
    assert!(msg.contains("timestamp") && msg.contains("out of range"), "{msg}");
}

#[test]
fn gzip_and_deflate_bodies() {
    let streams = sample_streams();
    for (format, body) in [(JSON, encode_json(&streams)), (PROTO, encode_protobuf(&streams))] {
        let gz = gzip(&body);
        assert_eq!(to_push(decode_push(Api::V1, format, Some("gzip"), &gz, &limits()).unwrap()), streams);

        // Raw deflate (what Go's flate.NewReader reads, so what Loki clients send).
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&body).unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(to_push(decode_push(Api::V1, format, Some("deflate"), &raw, &limits()).unwrap()), streams);

        // zlib-wrapped deflate (what HTTP means by `deflate`).
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&body).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(to_push(decode_push(Api::V1, format, Some("Deflate"), &z, &limits()).unwrap()), streams);
    }
    // Concatenated gzip members are one body, as with Go's gzip.Reader.
    let body = encode_json(&streams);
    let (a, b) = body.split_at(body.len() / 2);
    let mut two = gzip(a);
    two.extend_from_slice(&gzip(b));
    assert_eq!(to_push(decode_push(Api::V1, JSON, Some("gzip"), &two, &limits()).unwrap()), streams);
    // Garbage.
    let msg = malformed(decode_push(Api::V1, JSON, Some("gzip"), b"not gzip at all", &limits()));
    assert!(msg.contains("gzip"), "{msg}");
    let gz = gzip(&body);
    let msg = malformed(decode_push(Api::V1, JSON, Some("gzip"), &gz[..gz.len() - 10], &limits()));
    assert!(msg.contains("gzip"), "{msg}");
    assert!(matches!(decode_push(Api::V1, JSON, Some("deflate"), b"\xff\xff\xff\xff", &limits()), Err(PushDecodeError::Malformed(_))));
}

#[test]
fn snappy_content_encoding_on_json() {
    let streams = sample_streams();
    let body = encode_json(&streams);
    // Snappy block.
    let block = snappy(&body);
    assert_eq!(to_push(decode_push(Api::V1, JSON, Some("snappy"), &block, &limits()).unwrap()), streams);
    // Snappy framing format.
    let mut framed = snap::write::FrameEncoder::new(Vec::new());
    framed.write_all(&body).unwrap();
    let framed = framed.into_inner().unwrap();
    assert_eq!(to_push(decode_push(Api::V1, JSON, Some("snappy"), &framed, &limits()).unwrap()), streams);
    // A spurious header on a plain JSON body is tolerated.
    assert_eq!(to_push(decode_push(Api::V1, JSON, Some("snappy"), &body, &limits()).unwrap()), streams);
}

#[test]
fn unsupported_encoding_and_content_type() {
    let body = encode_json(&sample_streams());
    let err = decode_push(Api::V1, JSON, Some("br"), &body, &limits()).unwrap_err();
    assert_eq!(err, PushDecodeError::UnsupportedEncoding("br".into()));
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("unsupported Content-Encoding"), "{err}");
    for ct in ["json", "application/", "a b/c", "/json"] {
        let err = decode_push(Api::V1, Some(ct), None, &body, &limits()).unwrap_err();
        assert_eq!(err, PushDecodeError::UnsupportedContentType(ct.into()), "{ct}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn limits_are_enforced_for_every_encoding() {
    let body = encode_json(&sample_streams());
    let small = DecodeLimits { max_decompressed_bytes: body.len() - 1 };
    let exact = DecodeLimits { max_decompressed_bytes: body.len() };
    let too_large = |r: Result<Vec<RawStream>, PushDecodeError>| {
        let err = r.unwrap_err();
        assert_eq!(err, PushDecodeError::TooLarge { limit: body.len() - 1 });
        assert_eq!(err.status(), 413);
    };
    too_large(decode_push(Api::V1, JSON, None, &body, &small));
    too_large(decode_push(Api::V1, JSON, Some("gzip"), &gzip(&body), &small));
    too_large(decode_push(Api::V1, JSON, Some("snappy"), &snappy(&body), &small));
    assert!(decode_push(Api::V1, JSON, None, &body, &exact).is_ok());
    assert!(decode_push(Api::V1, JSON, Some("gzip"), &gzip(&body), &exact).is_ok());

    let proto = encode_protobuf(&sample_streams());
    let raw_len = snap::raw::decompress_len(&proto).unwrap();
    let err = decode_push(Api::V1, PROTO, None, &proto, &DecodeLimits { max_decompressed_bytes: raw_len - 1 });
    assert_eq!(err.unwrap_err(), PushDecodeError::TooLarge { limit: raw_len - 1 });
    assert!(decode_push(Api::V1, PROTO, None, &proto, &DecodeLimits { max_decompressed_bytes: raw_len }).is_ok());
}

#[test]
fn snappy_header_claiming_4gib_is_refused_before_allocating() {
    // A varint length of 0xFFFF_FFFF followed by nothing: would be a 4 GiB allocation.
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    let err = decode_push(Api::V1, PROTO, None, &body, &limits()).unwrap_err();
    assert_eq!(err, PushDecodeError::TooLarge { limit: limits().max_decompressed_bytes });
}

#[test]
fn gzip_bomb_is_rejected_quickly() {
    // 1 GiB of zeros, compressed in memory (about 1 MB).
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
    std::io::copy(&mut std::io::repeat(0).take(1 << 30), &mut enc).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());
    for format in [JSON, PROTO] {
        let start = Instant::now();
        let err = decode_push(Api::V1, format, Some("gzip"), &bomb, &limits()).unwrap_err();
        assert_eq!(err, PushDecodeError::TooLarge { limit: 100 * 1024 * 1024 });
        assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    }
    // With a small limit it stops even sooner.
    let start = Instant::now();
    let err = decode_push(Api::V1, JSON, Some("gzip"), &bomb, &DecodeLimits { max_decompressed_bytes: 1 << 20 });
    assert_eq!(err.unwrap_err(), PushDecodeError::TooLarge { limit: 1 << 20 });
    assert!(start.elapsed() < Duration::from_secs(1));
}
