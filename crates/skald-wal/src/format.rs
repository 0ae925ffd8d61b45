//! Byte-level constants and helpers of the segment format (see crate docs).

/// The 8-byte segment header: magic `SKWAL`, two reserved zero bytes, version 1.
pub const SEGMENT_HEADER: [u8; 8] = *b"SKWAL\0\0\x01";
/// Length of [`SEGMENT_HEADER`].
pub const SEGMENT_HEADER_LEN: u64 = SEGMENT_HEADER.len() as u64;
/// Length of a record header: `u32` length + `u32` crc32c, both little endian.
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest payload accepted by `append` (256 MiB).
pub const MAX_RECORD_SIZE: usize = 256 << 20;

const SUFFIX: &str = ".wal";
const DIGITS: usize = 20;

/// File name of segment `id`: `NNNNNNNNNNNNNNNNNNNN.wal`.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}{SUFFIX}")
}

/// Parses a segment file name produced by [`segment_file_name`]; anything else
/// (including non-canonical padding) yields `None`.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn record_header(payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for id in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_segment_name(&segment_file_name(id)), Some(id));
        }
        assert_eq!(segment_file_name(7), "00000000000000000007.wal");
        assert_eq!(parse_segment_name("7.wal"), None);
        assert_eq!(parse_segment_name("0000000000000000000a.wal"), None);
        assert_eq!(parse_segment_name("00000000000000000007.wal.tmp"), None);
        assert_eq!(parse_segment_name("99999999999999999999.wal"), None);
    }

    #[test]
    fn empty_crc_is_zero() {
        // Why zero-length records are forbidden: they would match zero fill.
        assert_eq!(record_header(b""), [0u8; 8]);
    }
}
