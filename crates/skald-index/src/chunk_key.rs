//! How the index names a chunk: by its object key (a chunk object of the layout before
//! packs) or, for a chunk in a pack, the pack's key and the chunk's byte range:
//! `packs/<tenant>/<day>/<name>.pack#<offset:x>+<length:x>`. Keys stay the chunk's
//! identity everywhere (reference counts, cache, compaction), whichever layout.

/// Where a chunk's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLocation<'a> {
    /// The object holding them.
    pub object: &'a str,
    /// `(offset, length)` in it; `None`: the whole object.
    pub range: Option<(u64, u64)>,
}

/// The key of the chunk at `offset..offset + length` of `pack`.
pub fn pack_chunk_key(pack: &str, offset: u64, length: u64) -> String {
    format!("{pack}#{offset:x}+{length:x}")
}

/// Where the chunk named `key` is. A key whose range does not parse names a whole
/// object (object keys never hold `#`).
pub fn locate(key: &str) -> ChunkLocation<'_> {
    let Some((object, range)) = key.rsplit_once('#') else { return ChunkLocation { object: key, range: None } };
    let parsed = range
        .split_once('+')
        .and_then(|(offset, length)| Some((u64::from_str_radix(offset, 16).ok()?, u64::from_str_radix(length, 16).ok()?)));
    match parsed {
        Some(range) => ChunkLocation { object, range: Some(range) },
        None => ChunkLocation { object: key, range: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let key = pack_chunk_key("packs/t/20000/w-0000000000000001.pack", 4, 0x1f0);
        assert_eq!(key, "packs/t/20000/w-0000000000000001.pack#4+1f0");
        assert_eq!(locate(&key), ChunkLocation { object: "packs/t/20000/w-0000000000000001.pack", range: Some((4, 0x1f0)) });
        let object = "chunks/fake/00000000000000aa/1-2-3";
        assert_eq!(locate(object), ChunkLocation { object, range: None });
        assert_eq!(locate("odd#name").range, None);
    }
}
