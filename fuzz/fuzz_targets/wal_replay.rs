//! The write-ahead log is read back after a crash, whatever the crash left: a segment of
//! any bytes must replay to an error or a truncated tail, never a panic, and a record of
//! any bytes must decode to an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skald_ingester::check_wal_record(data);
    let Ok(dir) = tempfile::tempdir() else { return };
    // Half the inputs start with a valid segment header, so the fuzzer reaches records.
    let mut segment = Vec::with_capacity(data.len() + skald_wal::SEGMENT_HEADER.len());
    if data.first().is_some_and(|b| b % 2 == 0) {
        segment.extend_from_slice(&skald_wal::SEGMENT_HEADER);
    }
    segment.extend_from_slice(data);
    if std::fs::write(dir.path().join(skald_wal::segment_file_name(1)), &segment).is_err() {
        return;
    }
    let Ok((_wal, replay)) = skald_wal::Wal::open(dir.path(), skald_wal::WalOptions { sync: false, ..Default::default() }) else {
        return;
    };
    let _ = replay.for_each_record(|_, record| -> Result<(), skald_wal::WalError> {
        let _ = skald_ingester::check_wal_record(record);
        Ok(())
    });
});
