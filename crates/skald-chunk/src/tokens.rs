//! The per-block word filter: a small Bloom filter of the *words* of a block's lines, so
//! that a `|=` search can skip a block without decompressing it.
//!
//! Tokens are maximal runs of `[A-Za-z0-9_]` and non-ASCII bytes. Only *words* are
//! indexed: tokens of at least [`MIN_WORD`] ASCII letters. Logs are full of
//! high-entropy tokens (IDs, addresses, numbers, hashes: ~6,600 distinct per block on
//! the reference corpus) but have few distinct words (~75 per block), so indexing words
//! only keeps the filter at a few hundred bytes per block while still ruling out blocks
//! for searches that contain a word.
//!
//! A search literal rules a block out only through its *inner* words: words with a
//! non-token byte (or nothing) on both sides *inside the literal*. Such a word is a whole
//! token of every line containing the literal, so if the filter lacks it, no line of the
//! block can match. A false positive only costs a scan.
//!
//! Encoding: `u8 hash count k` followed by the bit array (its length in bits is the byte
//! length times 8). Bit positions are `(h1 + i * h2) mod bits` for `i in 0..k`, with
//! `h1`/`h2` the two halves of a 64-bit FNV-1a hash of the word, made odd for `h2`.

use rustc_hash::FxHashSet;

/// Shortest token indexed as a word.
pub const MIN_WORD: usize = 3;
/// Bits per distinct word (about 0.05% false positives with 6 hashes at 16 bits).
const BITS_PER_WORD: usize = 16;
const HASHES: u8 = 6;

/// Byte classes: 0 separates tokens, 1 is an ASCII letter, 2 another token byte.
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() {
            1
        } else if c.is_ascii_digit() || c == b'_' || c >= 0x80 {
            2
        } else {
            0
        };
        b += 1;
    }
    table
};

fn is_token_byte(b: u8) -> bool {
    CLASS[b as usize] != 0
}

fn word_hash(word: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in word {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// Calls `visit` with every indexable word of `text`.
fn for_each_word(text: &[u8], mut visit: impl FnMut(&[u8])) {
    let mut start = 0;
    // Bitwise OR of the classes in the current token: 1 means letters only.
    let mut classes = 0u8;
    for (i, &b) in text.iter().enumerate() {
        let class = CLASS[b as usize];
        if class != 0 {
            classes |= class;
            continue;
        }
        if classes == 1 && i - start >= MIN_WORD {
            visit(&text[start..i]);
        }
        start = i + 1;
        classes = 0;
    }
    if classes == 1 && text.len() - start >= MIN_WORD {
        visit(&text[start..]);
    }
}

/// Words of up to 8 bytes packed into an integer (never 0 for a word), to recognise
/// repeats without hashing them.
fn pack(word: &[u8]) -> Option<u64> {
    if word.len() > 8 {
        return None;
    }
    let mut packed = 0u64;
    for &b in word {
        packed = (packed << 8) | u64::from(b);
    }
    Some(packed)
}

/// Collects the words of a block's lines, line by line, then encodes the filter.
pub struct WordFilterBuilder {
    hashes: FxHashSet<u64>,
    /// Recently seen short words (a block has few distinct words, seen many times).
    seen: Box<[u64; 1024]>,
}

impl Default for WordFilterBuilder {
    fn default() -> Self {
        WordFilterBuilder { hashes: FxHashSet::default(), seen: Box::new([0; 1024]) }
    }
}

impl WordFilterBuilder {
    pub fn add_line(&mut self, line: &[u8]) {
        let (hashes, seen) = (&mut self.hashes, &mut self.seen);
        for_each_word(line, |word| {
            if let Some(packed) = pack(word) {
                let slot = (packed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
                if seen[slot] == packed {
                    return;
                }
                seen[slot] = packed;
            }
            hashes.insert(word_hash(word));
        });
    }

    pub fn finish(self) -> Vec<u8> {
        let bits = (self.hashes.len() * BITS_PER_WORD).max(64).next_multiple_of(8);
        let mut out = vec![0u8; 1 + bits / 8];
        out[0] = HASHES;
        for hash in self.hashes {
            for position in positions(hash, bits, HASHES) {
                out[1 + position / 8] |= 1 << (position % 8);
            }
        }
        out
    }
}

/// The filter of a set of lines.
pub fn build_word_filter(lines: &[&[u8]]) -> Vec<u8> {
    let mut builder = WordFilterBuilder::default();
    for line in lines {
        builder.add_line(line);
    }
    builder.finish()
}

fn positions(hash: u64, bits: usize, k: u8) -> impl Iterator<Item = usize> {
    let h1 = hash & 0xffff_ffff;
    let h2 = (hash >> 32) | 1;
    (0..u64::from(k)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits as u64) as usize)
}

/// Whether a block's filter may contain `word` (false: it certainly does not).
pub fn may_contain(filter: &[u8], word: &[u8]) -> bool {
    let Some((&k, bytes)) = filter.split_first() else { return true };
    if bytes.is_empty() || k == 0 || k > 32 {
        return true;
    }
    let bits = bytes.len() * 8;
    positions(word_hash(word), bits, k).all(|p| bytes[p / 8] & (1 << (p % 8)) != 0)
}

/// The inner words of a search literal: those certain to be whole tokens of any line
/// containing the literal.
pub fn inner_words(literal: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in literal.iter().enumerate() {
        if is_token_byte(b) {
            continue;
        }
        // A token starting at 0 or ending at the end may continue in the line.
        if start > 0 {
            push_word(&literal[start..i], &mut out);
        }
        start = i + 1;
    }
    out
}

fn push_word(token: &[u8], out: &mut Vec<Vec<u8>>) {
    if token.len() >= MIN_WORD && token.iter().all(u8::is_ascii_alphabetic) && !out.iter().any(|w| w == token) {
        out.push(token.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn inner_words_need_delimiters_on_both_sides() {
        let words = |s: &str| inner_words(s.as_bytes()).into_iter().map(|w| String::from_utf8(w).unwrap()).collect::<Vec<_>>();
        assert_eq!(words("upstream timed out"), vec!["timed"]);
        assert_eq!(words("needle-that-matches-nothing"), vec!["that", "matches"]);
        assert_eq!(words(" error "), vec!["error"]);
        assert!(words("error").is_empty());
        assert!(words(" ab ").is_empty());
        assert!(words(" a1b ").is_empty());
    }

    #[test]
    fn filter_finds_its_words() {
        let filter = build_word_filter(&[b"GET /api/users 200 took=12ms", b"upstream timed out"]);
        assert!(may_contain(&filter, b"timed"));
        assert!(may_contain(&filter, b"users"));
        assert!(may_contain(&filter, b"took"));
        assert!(!may_contain(&filter, b"needle"));
        assert!(may_contain(&[], b"anything"));
    }

    proptest! {
        /// No false negatives: every line containing the literal passes the filter.
        #[test]
        fn never_rules_out_a_matching_block(
            lines in proptest::collection::vec("[a-c ._x1]{0,30}", 1..30),
            literal in "[a-c ._x1]{1,12}",
        ) {
            let bytes: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
            let filter = build_word_filter(&bytes);
            let matches = lines.iter().any(|l| l.contains(&literal));
            let ruled_out = inner_words(literal.as_bytes()).iter().any(|w| !may_contain(&filter, w));
            prop_assert!(!(matches && ruled_out), "a block with a match was ruled out");
        }
    }
}
