//! Lines per second through typical pipelines (a rough figure, not a benchmark suite).
//!
//! Run: `cargo run -p skald-agent-stages --example throughput [--release]`

use skald_agent_stages::{LogEntry, Pipeline};
use std::collections::BTreeMap;
use std::time::Instant;

const PIPELINES: &[(&str, &str, &str)] = &[
    (
        "json+labels+timestamp+output",
        r#"{"level":"info","ts":"2024-06-01T00:00:01.123456789Z","msg":"request served","status":200,"user":{"id":42}}"#,
        "
- json: {expressions: {level: level, ts: ts, msg: msg, user: user.id}}
- labels: {level: ''}
- timestamp: {source: ts, format: RFC3339Nano}
- output: {source: msg}
",
    ),
    ("cri", "2024-06-01T00:00:01.123456789Z stdout F GET /api/users 200 12ms", "- cri: {}\n"),
    (
        "regex+template+replace",
        "10.0.0.1 - alice [01/Jun/2024:00:00:01 +0000] \"GET /api HTTP/1.1\" 200 512",
        r#"
- regex: {expression: '^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<ts>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d{3})'}
- template: {source: user, template: '{{ ToUpper .Value }}'}
- replace: {expression: '(\d+\.\d+\.\d+\.\d+)', replace: '{{ Sha2Hash "salt" .Value }}'}
- timestamp: {source: ts, format: '02/Jan/2006:15:04:05 -0700'}
"#,
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count = 200_000;
    for (name, line, yaml) in PIPELINES {
        let mut pipeline = Pipeline::from_yaml(&serde_yaml_ng::from_str(yaml)?)?;
        let labels = BTreeMap::from([("job".to_string(), "bench".to_string())]);
        let mut out = Vec::with_capacity(1);
        let start = Instant::now();
        for i in 0..count {
            let entry =
                LogEntry { labels: labels.clone(), line: line.to_string(), timestamp_ns: i, structured_metadata: Vec::new(), tenant: None };
            pipeline.process(entry, i, &mut out);
            out.clear();
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{name}: {:.0} lines/s", count as f64 / secs);
    }
    Ok(())
}
