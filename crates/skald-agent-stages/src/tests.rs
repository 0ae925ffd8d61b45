//! Whole-pipeline tests: Promtail-style configs end to end, configuration errors with
//! their index and stage, drop accounting, held entries, and a property test that no
//! stage panics on any line.

use super::*;
use proptest::prelude::*;

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Pipeline>();
};

fn pipeline(yaml: &str) -> Pipeline {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test yaml");
    Pipeline::from_yaml(&value).unwrap_or_else(|e| panic!("{e}"))
}

fn config_error(yaml: &str) -> ConfigError {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test yaml");
    match Pipeline::from_yaml(&value) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => e,
    }
}

fn entry(line: &str) -> LogEntry {
    LogEntry {
        labels: BTreeMap::from([("filename".to_string(), "/var/log/app.log".to_string()), ("job".to_string(), "app".to_string())]),
        line: line.to_string(),
        timestamp_ns: 7,
        structured_metadata: Vec::new(),
        tenant: None,
    }
}

const NOW: i64 = 1_717_200_000_000_000_000;

#[test]
fn empty_pipelines_pass_entries_through() {
    for yaml in ["null", "[]"] {
        let mut p = pipeline(yaml);
        let mut out = Vec::new();
        p.process(entry("x"), NOW, &mut out);
        assert_eq!(out, vec![entry("x")]);
    }
}

#[test]
fn promtail_json_example() {
    // The "json" example of Promtail's pipeline docs, with labels, timestamp, output.
    let mut p = pipeline(
        r#"
- json:
    expressions:
      level: level
      ts: timestamp
      msg: message
      user: user.name
- labels:
    level:
- structured_metadata:
    user:
- timestamp:
    source: ts
    format: RFC3339Nano
- output:
    source: msg
- tenant:
    value: team-a
"#,
    );
    let mut out = Vec::new();
    p.process(
        entry(r#"{"level":"error","timestamp":"2024-06-01T00:00:01.5Z","message":"disk full","user":{"name":"ann"}}"#),
        NOW,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e.line, "disk full");
    assert_eq!(e.labels.get("level").map(String::as_str), Some("error"));
    assert_eq!(e.timestamp_ns, 1_717_200_001_500_000_000);
    assert_eq!(e.structured_metadata, vec![("user".to_string(), "ann".to_string())]);
    assert_eq!(e.tenant.as_deref(), Some("team-a"));
}

#[test]
fn the_extracted_map_starts_with_the_labels() {
    let mut p = pipeline("- regex:\n    source: filename\n    expression: '/(?P<base>[^/]+)\\.log$'\n- labels:\n    base:\n");
    let mut out = Vec::new();
    p.process(entry("x"), NOW, &mut out);
    assert_eq!(out[0].labels.get("base").map(String::as_str), Some("app"));
}

#[test]
fn match_with_nested_multiline_and_later_stages() {
    let mut p = pipeline(
        r#"
- match:
    selector: '{job="app"}'
    stages:
      - multiline:
          firstline: '^\d{4}-'
          max_wait_time: 1s
- regex:
    expression: '^(?P<date>\S+) (?P<level>\w+)'
- labels:
    level:
"#,
    );
    let mut out = Vec::new();
    p.process(entry("2024-06-01 ERROR boom"), NOW, &mut out);
    p.process(entry("  at main.rs:1"), NOW + 1, &mut out);
    assert!(out.is_empty());
    p.flush_due(NOW + 500_000_000, &mut out);
    assert!(out.is_empty(), "not due yet");
    p.flush_due(NOW + 2_000_000_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].line, "2024-06-01 ERROR boom\n  at main.rs:1");
    assert_eq!(out[0].labels.get("level").map(String::as_str), Some("ERROR"), "released entries run through the later stages");
    assert_eq!(out[0].timestamp_ns, 7);

    p.process(entry("2024-06-01 INFO held"), NOW, &mut out);
    p.flush_all(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].labels.get("level").map(String::as_str), Some("INFO"));
}

#[test]
fn drops_are_counted_by_reason() {
    let mut p = pipeline(
        r#"
- drop:
    expression: debug
- match:
    selector: '{job="app"} |= "healthz"'
    action: drop
    drop_counter_reason: healthcheck
- json:
    expressions: {a: a}
    drop_malformed: true
"#,
    );
    let mut out = Vec::new();
    for line in ["debug x", "debug y", "GET /healthz", "not json", r#"{"a":1}"#] {
        p.process(entry(line), NOW, &mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(p.take_dropped(), vec![("drop_stage".to_string(), 2), ("healthcheck".to_string(), 1), ("malformed_json".to_string(), 1)]);
    assert!(p.take_dropped().is_empty(), "counters are reset by take_dropped");
}

#[test]
fn config_errors_name_index_stage_and_key() {
    let e = config_error("- labels: {a: ''}\n- regex: {expresion: x}\n");
    assert_eq!((e.index, e.stage.as_str()), (1, "regex"));
    assert!(e.to_string().starts_with("pipeline_stages[1] (regex): unknown key \"expresion\""), "{e}");

    let e = config_error("- metrics: {}\n");
    assert_eq!(e.to_string(), "pipeline_stages[0] (metrics): stage metrics is not supported");
    for name in ["pack", "geoip", "sampling", "eventlogmessage"] {
        let e = config_error(&format!("- {name}: {{}}\n"));
        assert_eq!(e.message, format!("stage {name} is not supported"));
    }
    let e = config_error("- regx: {expression: x}\n");
    assert!(e.message.contains("unknown stage \"regx\""), "{e}");
    let e = config_error("- regex: {expression: x}\n  labels: {a: ''}\n");
    assert!(e.message.contains("exactly one key"), "{e}");
    let e = config_error("- just a string\n");
    assert!(e.message.contains("mapping with one key"), "{e}");
    let e = config_error("{regex: {}}");
    assert!(e.message.contains("expected a list of stages"), "{e}");
}

/// A pipeline using every stage, for the no-panic property.
const EVERY_STAGE: &str = r##"
- decolorize: {}
- cri: {max_partial_lines: 2, max_partial_line_size: 64, max_partial_line_size_truncate: true}
- docker: {}
- regex: {expression: '^(?P<a>\S+)\s*(?P<b>\d+)?'}
- json: {expressions: {j: 'x.y[0]', k: '"q.r"'}}
- logfmt: {mapping: {lvl: level, m: ''}}
- template: {source: t, template: '{{ .a | ToUpper }}{{ Hash "s" .Value }}{{ regexReplaceAll "[0-9]" .Entry "#" }}'}
- replace: {expression: '(\d+)', replace: '<{{ .Value }}>'}
- timestamp: {source: a, format: 'Jan _2 15:04:05', fallback_formats: [Unix, RFC3339Nano], location: Europe/Paris}
- labels: {lvl: '', a: ''}
- structured_metadata: {b: ''}
- static_labels: {env: test}
- tenant: {source: m}
- limit: {rate: 1000, burst: 1000}
- multiline: {firstline: '^\S', max_lines: 5}
- match: {selector: '{job="app"} |~ "a.c"', stages: [{output: {source: t}}]}
- drop: {longer_than: 100KB, older_than: 1000h}
- labeldrop: [b]
- labelallow: [job, a, lvl, env, stream]
"##;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_stage_panics_on_any_line(lines in proptest::collection::vec(any::<String>(), 1..8), times in proptest::collection::vec(any::<i64>(), 1..8)) {
        let mut p = pipeline(EVERY_STAGE);
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let now = times.get(i).copied().unwrap_or(NOW);
            p.process(entry(line), now, &mut out);
            p.flush_due(now, &mut out);
        }
        p.flush_all(&mut out);
        p.take_dropped();
        prop_assert!(out.len() <= lines.len() * 3);
    }

    #[test]
    fn structured_lines_do_not_panic(
        time in "[0-9T:.Z+-]{0,40}",
        stream in "(stdout|stderr|x)",
        flag in "(P|F|Q)",
        body in "\\PC{0,40}",
    ) {
        let mut p = pipeline(EVERY_STAGE);
        let mut out = Vec::new();
        p.process(entry(&format!("{time} {stream} {flag} {body}")), NOW, &mut out);
        p.process(entry(&format!(r#"{{"log":"{body}","stream":"{stream}","time":"{time}"}}"#)), NOW, &mut out);
        p.process(entry(&format!("level={flag} m=\"{body}\" {time}")), NOW, &mut out);
        p.flush_all(&mut out);
        prop_assert!(out.len() <= 3);
    }
}
