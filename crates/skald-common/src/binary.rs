//! Little binary encoding helpers shared by Skald's file formats (WAL records, index
//! files): LEB128 varints, zigzag signed varints, length-prefixed strings, and a reader
//! that fails cleanly on truncated or oversized input.

/// Why bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub &'static str);

pub fn put_uvarint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

pub fn put_varint(buf: &mut Vec<u8>, value: i64) {
    put_uvarint(buf, zigzag(value));
}

/// A string as its byte length (uvarint) followed by its bytes.
pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over bytes; every length read is bounded by the bytes left.
pub struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.bytes.get(self.pos).ok_or(DecodeError("truncated"))?;
        self.pos += 1;
        Ok(byte)
    }

    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint overflow"))
    }

    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        self.uvarint().map(unzigzag)
    }

    /// A count or length, which can never exceed the bytes left.
    pub fn length(&mut self) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        if n > (self.bytes.len() - self.pos) as u64 {
            return Err(DecodeError("length exceeds the data"));
        }
        Ok(n as usize)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() - self.pos < n {
            return Err(DecodeError("truncated"));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| DecodeError("truncated"))?))
    }

    /// A length-prefixed string; invalid UTF-8 is replaced, never an error.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.length()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut buf = Vec::new();
        put_uvarint(&mut buf, 300);
        put_varint(&mut buf, -5);
        put_str(&mut buf, "héllo");
        buf.extend_from_slice(&7u64.to_le_bytes());
        let mut r = ByteReader::new(&buf);
        assert_eq!(r.uvarint(), Ok(300));
        assert_eq!(r.varint(), Ok(-5));
        assert_eq!(r.string().unwrap(), "héllo");
        assert_eq!(r.u64_le(), Ok(7));
        assert!(r.is_at_end());
        for len in 0..buf.len() {
            let mut r = ByteReader::new(&buf[..len]);
            let all = (|| -> Result<(), DecodeError> {
                r.uvarint()?;
                r.varint()?;
                r.string()?;
                r.u64_le()?;
                Ok(())
            })();
            assert!(all.is_err());
        }
    }
}
