//! Write-ahead log for the Skald ingester.
//!
//! The ingester acknowledges a push only after the push's entries are durable
//! in this WAL. A `kill -9` (or power loss, given an honest disk) at any moment
//! loses no acknowledged record, and after a crash [`Wal::open`] hands back a
//! [`Replay`] that yields every acknowledged record, in append order. Records
//! are opaque byte payloads; the ingester encodes them.
//!
//! # On-disk format
//!
//! The WAL is a directory of *segment* files named
//! `NNNNNNNNNNNNNNNNNNNN.wal`: the segment id as a zero-padded, 20-digit
//! decimal `u64` (ids start at 1 and only increase). Other file names in the
//! directory are ignored. Every segment is laid out as:
//!
//! ```text
//! offset  size  field
//! ------  ----  ----------------------------------------------------------
//!      0     5  magic   b"SKWAL"
//!      5     2  reserved, b"\0\0"
//!      7     1  format version, 0x01
//!      8     -  records, back to back, until end of file
//! ```
//!
//! i.e. the 8-byte header is exactly `b"SKWAL\0\0\x01"` ([`SEGMENT_HEADER`]).
//! Each record is:
//!
//! ```text
//! offset  size  field
//! ------  ----  ----------------------------------------------------------
//!      0     4  payload length N, u32 little endian, 1 <= N <= 256 MiB
//!      4     4  crc32c (Castagnoli) of the N payload bytes, u32 little endian
//!      8     N  payload
//! ```
//!
//! There is no footer, padding or index: a segment is valid up to the first
//! byte that does not parse as a record. A length of zero is never written
//! ([`WalError::EmptyRecord`]) and is treated as corruption on replay, so a
//! zero-filled tail (some filesystems expose one after a crash) is never
//! mistaken for records — note that `crc32c(b"") == 0`, so without this rule
//! eight zero bytes would be a valid empty record. A length above
//! [`MAX_RECORD_SIZE`] (256 MiB) is rejected by `append` and is corruption on
//! replay.
//!
//! # Writing
//!
//! Only the newest segment is ever written. Appends take a mutex, write
//! `length | crc | payload` with `writev` at the segment's current end, and then
//! wait until a `fdatasync` that started after their write has completed
//! (*group commit*): the first waiter that finds no sync in flight becomes the
//! leader, releases the mutex, syncs every file holding unsynced records, and
//! wakes everyone whose write it covered. While it syncs, other threads keep
//! writing, and the next leader syncs all of them with one call; before it
//! starts, a leader briefly hands the lock to appenders already queued on it so
//! they join its round instead of needing another one. Only then does `append`
//! return `Ok`. [`Wal::append_batch`] writes many records with one `writev`
//! and one sync.
//!
//! A new segment is created (header written, file `fdatasync`ed, directory
//! `fsync`ed) when the WAL is first written after [`Wal::open`], by
//! [`Wal::rotate`], when the current segment has reached
//! [`WalOptions::segment_size`], or after the current segment was marked
//! broken by an I/O error. Appends never go into a segment that existed before
//! `open`, so a possibly damaged tail is never appended to.
//!
//! If a write fails (e.g. `ENOSPC`), the segment is truncated back to the end
//! of the last complete record and the append returns [`WalError::Io`]
//! (`"wal write failed: No space left on device (os error 28)"`); later
//! appends work again once the cause is gone. If that truncation also fails,
//! the segment is marked broken and the next append starts a new segment. If a
//! `fdatasync` fails, every append not yet known durable fails (the kernel may
//! have dropped those pages; retrying the sync could falsely report success),
//! the affected segments are truncated back to their last synced length
//! (best effort) and the next append starts a new segment. An append that
//! returned an error may still be replayed later (at-least-once for
//! unacknowledged records); an append that returned `Ok` is always replayed.
//!
//! # Replay
//!
//! [`Replay`] streams the segments that existed at `open` in id order, one
//! record in memory at a time. In the **last** segment, a record that is short
//! (torn write), has a bad length, or fails its checksum is treated as the
//! torn tail of a crash: the file is truncated to the end of the last good
//! record (with a `tracing::warn!` naming the file and offset) and counted in
//! [`ReplayReport::truncated_bytes`]. In an **earlier** segment the same
//! condition is corruption: that segment stops there (warned, the rest counted
//! in [`ReplayReport::skipped_bytes`] and the segment in
//! [`ReplayReport::corrupt_segments`]), the file is left untouched, and replay
//! continues with the next segment. A segment whose header is wrong is skipped
//! entirely (warned, counted as corrupt); a newest segment shorter than the
//! header whose bytes are a prefix of it (a crash while creating it) is
//! deleted by `open`. No byte content can make replay panic, and lengths are
//! checked against the file size before anything is allocated.

mod error;
mod format;
mod replay;
mod wal;

pub use error::WalError;
pub use format::{MAX_RECORD_SIZE, RECORD_HEADER_LEN, SEGMENT_HEADER, SEGMENT_HEADER_LEN, parse_segment_name, segment_file_name};
pub use replay::{Replay, ReplayRecord, ReplayReport};
pub use wal::{Wal, WalOptions, WalStats};
