//! Block compression codecs.

use crate::ChunkError;

/// The shortest match zstd looks for in lines sections (see [`Codec::compress_lines`]).
pub const LINES_MIN_MATCH: u32 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    /// zstd at the given level.
    Zstd(i32),
    Lz4,
}

impl Codec {
    pub fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd(_) => 1,
            Codec::Lz4 => 2,
        }
    }

    pub fn from_id(id: u8) -> Result<Codec, ChunkError> {
        match id {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Zstd(0)),
            2 => Ok(Codec::Lz4),
            other => Err(ChunkError::Codec(other)),
        }
    }

    /// Parses a config name: `none`, `lz4`, `zstd`, `zstd:N`.
    pub fn parse(name: &str) -> Option<Codec> {
        match name {
            "none" => Some(Codec::None),
            "lz4" => Some(Codec::Lz4),
            "zstd" => Some(Codec::Zstd(6)),
            other => other.strip_prefix("zstd:").and_then(|l| l.parse().ok()).map(Codec::Zstd),
        }
    }

    /// Compresses `raw` (a meta section). The result holds exactly its length in memory
    /// (the encoders allocate their worst-case bound, about the raw size, which would
    /// otherwise stay reserved for as long as the block lives in the ingester).
    pub fn compress(self, raw: &[u8]) -> Vec<u8> {
        let mut out = self.compress_unshrunk(raw, 0);
        out.shrink_to_fit();
        out
    }

    /// Compresses a lines section. With zstd at levels up to 9, matches shorter than
    /// [`LINES_MIN_MATCH`] bytes are not looked for: in log lines full of random IDs and
    /// numbers such matches save little and cost a sequence each to decode. On the
    /// reference corpus at level 6 the lines come out 2.6% smaller and decompress 9%
    /// faster, at the same compression speed (`examples/zstd_params.rs`). Higher levels
    /// (the optimal parsers) keep their own choice. Decoding needs nothing different.
    pub fn compress_lines(self, raw: &[u8]) -> Vec<u8> {
        let min_match = match self {
            Codec::Zstd(level) if level <= 9 => LINES_MIN_MATCH,
            _ => 0,
        };
        let mut out = self.compress_unshrunk(raw, min_match);
        out.shrink_to_fit();
        out
    }

    /// `min_match` 0 keeps the level's own minimum match length.
    fn compress_unshrunk(self, raw: &[u8], min_match: u32) -> Vec<u8> {
        match self {
            Codec::None => raw.to_vec(),
            Codec::Lz4 => lz4_flex::compress(raw),
            Codec::Zstd(level) => {
                thread_local! {
                    static COMPRESSORS: std::cell::RefCell<Vec<(i32, u32, zstd::bulk::Compressor<'static>)>> =
                        const { std::cell::RefCell::new(Vec::new()) };
                }
                COMPRESSORS.with(|cell| {
                    let mut list = cell.borrow_mut();
                    let position = match list.iter().position(|(l, m, _)| *l == level && *m == min_match) {
                        Some(position) => position,
                        None => {
                            let mut compressor = zstd::bulk::Compressor::new(level).expect("zstd level");
                            if min_match > 0 {
                                compressor.set_parameter(zstd::zstd_safe::CParameter::MinMatch(min_match)).expect("zstd min match");
                            }
                            list.push((level, min_match, compressor));
                            list.len() - 1
                        }
                    };
                    list[position].2.compress(raw).expect("zstd compression of an in-memory buffer")
                })
            }
        }
    }

    /// Decompresses into `out` (cleared first); `raw_len` is the known decoded size.
    pub fn decompress_into(self, compressed: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<(), ChunkError> {
        out.clear();
        match self {
            Codec::None => {
                if compressed.len() != raw_len {
                    return Err(ChunkError::Corrupt("uncompressed section length mismatch".into()));
                }
                out.extend_from_slice(compressed);
            }
            Codec::Lz4 => {
                out.resize(raw_len, 0);
                let n = lz4_flex::decompress_into(compressed, out).map_err(|e| ChunkError::Decompress(e.to_string()))?;
                if n != raw_len {
                    return Err(ChunkError::Corrupt("lz4 section length mismatch".into()));
                }
            }
            Codec::Zstd(_) => {
                thread_local! {
                    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                        const { std::cell::RefCell::new(None) };
                }
                out.reserve(raw_len);
                let n = DECOMPRESSOR.with(|cell| {
                    let mut slot = cell.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| ChunkError::Decompress(e.to_string()))?);
                    }
                    let decompressor = slot.as_mut().expect("set above");
                    decompressor.decompress_to_buffer(compressed, out).map_err(|e| ChunkError::Decompress(e.to_string()))
                })?;
                if n != raw_len {
                    return Err(ChunkError::Corrupt("zstd section length mismatch".into()));
                }
            }
        }
        Ok(())
    }
}
