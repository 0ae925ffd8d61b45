//! Chunks and index files are read back from storage: corrupt bytes must give errors.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(chunk) = skald_chunk::decode_chunk(data.to_vec()) {
        for i in 0..chunk.blocks.len() {
            if let Ok(block) = chunk.decode_block(i, true) {
                for j in 0..block.len() {
                    let _ = block.metadata(j);
                }
            }
        }
    }
    let _ = skald_index::IndexFile::decode(data);
});
