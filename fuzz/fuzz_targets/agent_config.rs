//! The agent reads YAML written by people (its config, pipeline stages) and a positions
//! file it wrote itself but that may be damaged: any bytes must give an error, never a
//! panic; a pipeline that compiles must take any line.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = skald_agent::Config::parse(text);
    let _ = skald_agent::parse_positions(text);
    // The first line is a pipeline_stages list; the rest are log lines fed through it.
    let (stages, lines) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(value) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(stages) else { return };
    let Ok(mut pipeline) = skald_agent_stages::Pipeline::from_yaml(&value) else { return };
    let mut out = Vec::new();
    for (i, line) in lines.lines().take(64).enumerate() {
        let entry = skald_agent_stages::LogEntry {
            labels: [("job".to_string(), "fuzz".to_string())].into_iter().collect(),
            line: line.to_string(),
            timestamp_ns: 1_700_000_000_000_000_000 + i as i64,
            structured_metadata: Vec::new(),
            tenant: None,
        };
        pipeline.process(entry, 1_700_000_000_000_000_000 + i as i64 * 1_000_000_000, &mut out);
        pipeline.flush_due(1_700_000_000_000_000_000 + i as i64 * 1_000_000_000, &mut out);
    }
    pipeline.flush_all(&mut out);
});
