//! LEB128 varints, bounds-checked.

use crate::ChunkError;

pub fn put_uvarint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

pub fn put_varint(buf: &mut Vec<u8>, value: i64) {
    put_uvarint(buf, ((value << 1) ^ (value >> 63)) as u64);
}

/// A cursor over bytes that fails cleanly on truncation.
pub struct Reader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Inlined with a one-byte fast path: block decoding reads two per entry.
    #[inline]
    pub fn uvarint(&mut self) -> Result<u64, ChunkError> {
        if let Some(&byte) = self.bytes.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.uvarint_long()
    }

    fn uvarint_long(&mut self) -> Result<u64, ChunkError> {
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(ChunkError::Corrupt("truncated varint".into()));
            };
            self.pos += 1;
            if shift >= 64 {
                return Err(ChunkError::Corrupt("varint overflow".into()));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    pub fn varint(&mut self) -> Result<i64, ChunkError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A uvarint used as a count or length, bounded by `max`.
    pub fn len(&mut self, max: usize) -> Result<usize, ChunkError> {
        let value = self.uvarint()?;
        if value > max as u64 {
            return Err(ChunkError::Corrupt(format!("length {value} exceeds {max}")));
        }
        Ok(value as usize)
    }

    pub fn u8(&mut self) -> Result<u8, ChunkError> {
        let byte = *self.bytes.get(self.pos).ok_or_else(|| ChunkError::Corrupt("truncated".into()))?;
        self.pos += 1;
        Ok(byte)
    }

    pub fn u32(&mut self) -> Result<u32, ChunkError> {
        let slice = self.take(4)?;
        Ok(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(ChunkError::Corrupt("truncated section".into()));
        };
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}
