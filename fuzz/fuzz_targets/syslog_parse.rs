//! The agent's syslog listener reads bytes from anyone on the network: the TCP framer
//! (octet counting and newlines) and the RFC 5424 / RFC 3164 parser must give errors,
//! never a panic, and never a frame longer than `max_message_length`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    // The first byte picks how the stream is cut into reads and the message limit.
    let piece = usize::from(selector & 0x0f) * 7 + 1;
    let max_message_length = usize::from(selector >> 4) * 64 + 16;
    skald_agent::parse_syslog_stream_for_fuzzing(stream, piece, max_message_length);
});
