//! `Content-Encoding` handling with a hard cap on the decompressed size.

use std::borrow::Cow;
use std::io::{self, Read};

use crate::PushDecodeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Deflate,
    /// Passed through: the protobuf path snappy-decodes anyway (as Loki does).
    Snappy,
}

pub(crate) fn parse_encoding(header: Option<&str>) -> Result<Encoding, PushDecodeError> {
    let raw = header.unwrap_or("");
    let value = raw.trim();
    let encoding = if value.is_empty() || value.eq_ignore_ascii_case("identity") {
        Encoding::Identity
    } else if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
        Encoding::Gzip
    } else if value.eq_ignore_ascii_case("deflate") {
        Encoding::Deflate
    } else if value.eq_ignore_ascii_case("snappy") {
        Encoding::Snappy
    } else {
        return Err(PushDecodeError::UnsupportedEncoding(raw.to_string()));
    };
    Ok(encoding)
}

/// Undoes gzip/deflate; identity and snappy bodies are returned as they are.
pub(crate) fn decode_content_encoding(encoding: Encoding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, PushDecodeError> {
    match encoding {
        Encoding::Identity | Encoding::Snappy => Ok(Cow::Borrowed(body)),
        Encoding::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(body);
            read_capped(decoder, limit, body.len()).map(Cow::Owned).map_err(|e| stream_error("gzip", e, limit))
        }
        Encoding::Deflate => inflate(body, limit).map(Cow::Owned),
    }
}

/// Inflates a `deflate` body: zlib-wrapped when it starts with a zlib header (what
/// HTTP means by `deflate`), raw deflate otherwise or if zlib fails (what Loki reads).
pub(crate) fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, PushDecodeError> {
    if has_zlib_header(body) {
        match read_capped(flate2::read::ZlibDecoder::new(body), limit, body.len()) {
            Ok(out) => return Ok(out),
            Err(CappedError::TooLarge) => return Err(PushDecodeError::TooLarge { limit }),
            Err(CappedError::Io(_)) => {} // maybe raw deflate that happens to look like zlib
        }
    }
    read_capped(flate2::read::DeflateDecoder::new(body), limit, body.len()).map_err(|e| stream_error("deflate", e, limit))
}

fn has_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && cmf >> 4 <= 7 && ((u16::from(*cmf) << 8) | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// A JSON body starts (after blanks) with `{`; a snappy block or frame never does in
/// practice (its first byte is a varint length or the frame marker 0xff).
pub(crate) fn looks_like_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Snappy, block or framing format (JSON bodies with `Content-Encoding: snappy`).
pub(crate) fn snappy_any(body: &[u8], limit: usize) -> Result<Vec<u8>, PushDecodeError> {
    const FRAME_MAGIC: &[u8] = b"\xff\x06\x00\x00sNaPpY";
    if body.starts_with(FRAME_MAGIC) {
        read_capped(snap::read::FrameDecoder::new(body), limit, body.len()).map_err(|e| stream_error("snappy framed", e, limit))
    } else {
        snappy_block(body, limit).map(|c| c.into_owned())
    }
}

/// Decompresses a snappy block, refusing before allocating when its header declares
/// more than `limit` bytes.
pub(crate) fn snappy_block(body: &[u8], limit: usize) -> Result<Cow<'static, [u8]>, PushDecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| PushDecodeError::Malformed(format!("invalid snappy block: {e}")))?;
    if len > limit {
        return Err(PushDecodeError::TooLarge { limit });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map(Cow::Owned)
        .map_err(|e| PushDecodeError::Malformed(format!("invalid snappy block: {e}")))
}

enum CappedError {
    TooLarge,
    Io(io::Error),
}

fn stream_error(what: &str, e: CappedError, limit: usize) -> PushDecodeError {
    match e {
        CappedError::TooLarge => PushDecodeError::TooLarge { limit },
        CappedError::Io(e) => PushDecodeError::Malformed(format!("invalid {what} body: {e}")),
    }
}

/// Reads `reader` to its end, failing as soon as more than `limit` bytes come out.
/// The buffer grows geometrically from a guess based on the compressed size but
/// never past `limit + 1` bytes, so a bomb costs at most that much memory.
fn read_capped(mut reader: impl Read, limit: usize, compressed_len: usize) -> Result<Vec<u8>, CappedError> {
    let hard = limit.saturating_add(1);
    let first = compressed_len.saturating_mul(4).clamp(8 * 1024, 4 * 1024 * 1024).min(hard);
    let mut buf = vec![0u8; first];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= hard {
                return Err(CappedError::TooLarge);
            }
            let grown = buf.len().saturating_mul(2).min(hard);
            buf.resize(grown, 0);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CappedError::Io(e)),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_exact_limit() {
        let data = vec![7u8; 10_000];
        assert_eq!(read_capped(&data[..], 10_000, 10).ok().unwrap().len(), 10_000);
        assert!(matches!(read_capped(&data[..], 9_999, 10), Err(CappedError::TooLarge)));
        assert!(read_capped(&[][..], 0, 0).ok().unwrap().is_empty());
        assert!(matches!(read_capped(&[1u8][..], 0, 0), Err(CappedError::TooLarge)));
    }

    #[test]
    fn encodings() {
        assert_eq!(parse_encoding(None).unwrap(), Encoding::Identity);
        assert_eq!(parse_encoding(Some(" GZIP ")).unwrap(), Encoding::Gzip);
        assert_eq!(parse_encoding(Some("deflate")).unwrap(), Encoding::Deflate);
        assert_eq!(parse_encoding(Some("snappy")).unwrap(), Encoding::Snappy);
        assert!(matches!(parse_encoding(Some("br")), Err(PushDecodeError::UnsupportedEncoding(s)) if s == "br"));
    }
}
