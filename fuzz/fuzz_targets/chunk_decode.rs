//! Chunks, packs and index files are read back from storage: corrupt bytes must give
//! errors, never panics or unbounded allocations.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn read_chunk(bytes: &[u8]) {
    if let Ok(chunk) = skald_chunk::decode_chunk(bytes.to_vec()) {
        for i in 0..chunk.blocks.len() {
            if let Ok(block) = chunk.decode_block(i, true) {
                for j in 0..block.len() {
                    let _ = block.metadata(j);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    read_chunk(data);
    if let Ok(directory) = skald_chunk::decode_pack_directory(data, 0) {
        for entry in directory {
            // The directory promises ranges inside the pack; a query reads them.
            let (start, end) = (entry.offset as usize, (entry.offset + entry.length) as usize);
            assert!(start <= end && end <= data.len(), "a directory entry outside the pack");
            read_chunk(&data[start..end]);
        }
    }
    let _ = skald_index::IndexFile::decode(data);
});
