//! Block compression codecs.

use crate::ChunkError;

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

    /// Compresses `raw`. The result holds exactly its length in memory (the encoders
    /// allocate their worst-case bound, about the raw size, which would otherwise stay
    /// reserved for as long as the block lives in the ingester).
    pub fn compress(self, raw: &[u8]) -> Vec<u8> {
        let mut out = self.compress_unshrunk(raw);
        out.shrink_to_fit();
        out
    }

    fn compress_unshrunk(self, raw: &[u8]) -> Vec<u8> {
        match self {
            Codec::None => raw.to_vec(),
            Codec::Lz4 => lz4_flex::compress(raw),
            Codec::Zstd(level) => {
                thread_local! {
                    static COMPRESSORS: std::cell::RefCell<Vec<(i32, zstd::bulk::Compressor<'static>)>> =
                        const { std::cell::RefCell::new(Vec::new()) };
                }
                COMPRESSORS.with(|cell| {
                    let mut list = cell.borrow_mut();
                    if !list.iter().any(|(l, _)| *l == level) {
                        let compressor = zstd::bulk::Compressor::new(level).expect("zstd level");
                        list.push((level, compressor));
                    }
                    let (_, compressor) = list.iter_mut().find(|(l, _)| *l == level).expect("present");
                    compressor.compress(raw).expect("zstd compression of an in-memory buffer")
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
