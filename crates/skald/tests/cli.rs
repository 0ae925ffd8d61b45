//! The logcli-compatible client (`skald query`, `labels`, `series`, `stats`, `volume`,
//! `import`, `query --tail`), run as a child process against the real server, with the
//! exact output logcli would print.

mod common;

use common::*;
use serde_json::Value;
use skald_common::Entry;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `skald ARGS... --addr <server>` and waits for it (30 s at most).
fn cli(server: &Server, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_skald"));
    command.args(args).arg("--addr").arg(server.base_url());
    for name in ["LOKI_ADDR", "LOKI_ORG_ID", "LOKI_USERNAME", "LOKI_PASSWORD", "LOKI_BEARER_TOKEN", "LOKI_CLIENT_RETRIES"] {
        command.env_remove(name);
    }
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning skald");
    let started = Instant::now();
    let output = child.wait_with_output().expect("waiting for skald");
    assert!(started.elapsed() < Duration::from_secs(30), "the command took {:?}", started.elapsed());
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and asserts success; stdout.
fn cli_ok(server: &Server, args: &[&str]) -> String {
    let output = cli(server, args);
    assert!(output.status.success(), "skald {args:?} failed ({:?}):\n{}", output.status, stderr(&output));
    stdout(&output)
}

/// RFC3339 with whole seconds, as logcli's default output prints (UTC).
fn rfc3339_seconds(ts: i64) -> String {
    skald_common::format_rfc3339_nanos(ts - ts.rem_euclid(SECOND))
}

/// Two streams sharing `job="cli"`: pod a has lines at +1 s and +3 s, pod b at +2 s
/// and +4 s (the +3 s one with surrounding blanks).
struct Fixture {
    server: Server,
    base: i64,
}

async fn fixture() -> Fixture {
    let server = Server::start_default().await;
    let base = (now_ns() - 120 * SECOND) / SECOND * SECOND + 250_000_000;
    server
        .push_streams(
            None,
            &[
                stream(
                    &[("job", "cli"), ("pod", "a")],
                    vec![Entry::new(base + SECOND, "first"), Entry::new(base + 3 * SECOND, "  third ")],
                ),
                stream(
                    &[("job", "cli"), ("pod", "b")],
                    vec![Entry::new(base + 2 * SECOND, "second"), Entry::new(base + 4 * SECOND, "fourth")],
                ),
            ],
        )
        .await;
    Fixture { server, base }
}

#[tokio::test]
async fn query_prints_every_output_mode_like_logcli() {
    let Fixture { server, base } = fixture().await;
    let t = |s: i64| rfc3339_seconds(base + s * SECOND);
    let query = r#"{job="cli"}"#;

    // default: newest first, common labels factored out and reported on stderr.
    let output = cli(&server, &["query", query, "-z", "UTC"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = format!(
        "{} {{pod=\"b\"}} fourth\n{} {{pod=\"a\"}} third\n{} {{pod=\"b\"}} second\n{} {{pod=\"a\"}} first\n",
        t(4),
        t(3),
        t(2),
        t(1)
    );
    assert_eq!(stdout(&output), expected);
    let err = stderr(&output);
    assert!(err.contains("Common labels: {job=\"cli\"}"), "{err}");
    assert!(err.contains("/loki/api/v1/query_range?direction=BACKWARD&end="), "the URL is logged: {err}");

    // --quiet: nothing on stderr; --forward: oldest first.
    let output = cli(&server, &["query", query, "-z", "UTC", "--quiet", "--forward"]);
    assert_eq!(stderr(&output), "");
    let forward: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(forward, expected.lines().rev().map(str::to_string).collect::<Vec<_>>());

    // raw: lines only, untrimmed.
    assert_eq!(cli_ok(&server, &["query", query, "-q", "-o", "raw"]), "fourth\n  third \nsecond\nfirst\n");

    // jsonl: Go's json.Marshal of {timestamp, line, labels} (labels without the common ones).
    let jsonl = cli_ok(&server, &["query", query, "-q", "--output=jsonl", "-z", "UTC", "--limit", "2"]);
    let ns = |s: i64| skald_common::format_rfc3339_nanos(base + s * SECOND);
    assert_eq!(
        jsonl,
        format!(
            "{{\"labels\":{{\"pod\":\"b\"}},\"line\":\"fourth\",\"timestamp\":\"{}\"}}\n{{\"labels\":{{\"pod\":\"a\"}},\"line\":\"  third \",\"timestamp\":\"{}\"}}\n",
            ns(4),
            ns(3)
        )
    );

    // --no-labels, --exclude-label and --include-label.
    assert_eq!(cli_ok(&server, &["query", query, "-q", "-z", "UTC", "--no-labels", "--limit", "1"]), format!("{} fourth\n", t(4)));
    assert_eq!(
        cli_ok(&server, &["query", query, "-q", "-z", "UTC", "--exclude-label", "pod", "--limit", "1"]),
        format!("{} {{}} fourth\n", t(4))
    );
    assert_eq!(
        cli_ok(&server, &["query", query, "-q", "-z", "UTC", "--include-label", "job", "--limit", "1"]),
        format!("{} {{job=\"cli\"}} fourth\n", t(4))
    );

    // A single stream: every label is common, so the labels column is `{}`.
    assert_eq!(cli_ok(&server, &["query", r#"{pod="a"}"#, "-q", "-z", "UTC"]), format!("{} {{}} third\n{} {{}} first\n", t(3), t(1)));
}

/// 2,500 entries in two streams, timestamps in groups of 7 entries sharing one, so that
/// page boundaries fall inside groups.
async fn paging_fixture() -> (Server, Vec<(i64, String)>) {
    let server = Server::start_default().await;
    let base = now_ns() - 600 * SECOND;
    let all: Vec<(i64, String)> = (0..2500).map(|i| (base + (i / 7) * 1000, format!("line {i:05}"))).collect();
    let mut a = Vec::new();
    let mut b = Vec::new();
    for (i, (ts, line)) in all.iter().enumerate() {
        let entry = Entry::new(*ts, line.clone());
        if i % 2 == 0 { a.push(entry) } else { b.push(entry) }
    }
    server.push_streams(None, &[stream(&[("job", "page"), ("half", "a")], a), stream(&[("job", "page"), ("half", "b")], b)]).await;
    (server, all)
}

/// The printed lines' indexes, checking there are no duplicates.
fn indexes(text: &str) -> Vec<usize> {
    let list: Vec<usize> = text
        .lines()
        .map(|l| l.strip_prefix("line ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("unexpected line {l:?}")))
        .collect();
    let unique: BTreeSet<usize> = list.iter().copied().collect();
    assert_eq!(unique.len(), list.len(), "duplicates were printed");
    list
}

#[tokio::test]
async fn paging_gives_exactly_the_limit_in_order_without_duplicates() {
    let (server, all) = paging_fixture().await;
    let query = r#"{job="page"}"#;

    // Backward: the 2,200 newest (indexes 300..2500), newest first, in 3 requests.
    let output = cli(&server, &["query", query, "-o", "raw", "--batch", "1000", "--limit", "2200", "--since", "1h"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let got = indexes(&stdout(&output));
    assert_eq!(got.len(), 2200);
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), (300..2500).collect::<BTreeSet<_>>());
    for pair in got.windows(2) {
        assert!(all[pair[0]].0 >= all[pair[1]].0, "out of order: {} then {}", pair[0], pair[1]);
    }
    let requests = stderr(&output).matches("/loki/api/v1/query_range?").count();
    assert_eq!(requests, 3, "{}", stderr(&output));

    // Forward: the 2,205 oldest, oldest first.
    let got = indexes(&cli_ok(&server, &["query", query, "-q", "-o", "raw", "--batch", "1000", "--limit", "2205", "--forward"]));
    assert_eq!(got.len(), 2205);
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), (0..2205).collect::<BTreeSet<_>>());
    for pair in got.windows(2) {
        assert!(all[pair[0]].0 <= all[pair[1]].0, "out of order: {} then {}", pair[0], pair[1]);
    }

    // A limit below the batch: one request of that size.
    let got = indexes(&cli_ok(&server, &["query", query, "-q", "-o", "raw", "--limit", "14"]));
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), (2486..2500).collect::<BTreeSet<_>>());

    // --limit 0 fetches everything, batch by batch.
    let got = indexes(&cli_ok(&server, &["query", query, "-q", "-o", "raw", "--limit", "0", "--batch", "700"]));
    assert_eq!(got.len(), 2500);

    // A batch smaller than a group of equal timestamps cannot make progress: a clear error.
    let output = cli(&server, &["query", query, "-q", "-o", "raw", "--limit", "100", "--batch", "5"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("invalid batch size 5"), "{}", stderr(&output));
}

/// Three entries in the minute before `t0 + 60 s` for the metric queries.
async fn metric_fixture() -> (Server, i64) {
    let server = Server::start_default().await;
    let t0 = (now_ns() - 600 * SECOND) / (60 * SECOND) * (60 * SECOND);
    let entries = (1..=3).map(|i| Entry::new(t0 + i * SECOND, format!("m{i}"))).collect();
    server.push_streams(None, &[stream(&[("job", "m")], entries)]).await;
    (server, t0)
}

#[tokio::test]
async fn metric_queries_print_indented_json() {
    let (server, t0) = metric_fixture().await;
    let seconds = (t0 + 60 * SECOND) / SECOND;
    let query = r#"sum(count_over_time({job="m"}[1m]))"#;
    let from = skald_common::format_rfc3339_nanos(t0 + 60 * SECOND);
    let to = skald_common::format_rfc3339_nanos(t0 + 90 * SECOND);
    let matrix = cli_ok(&server, &["query", query, "-q", "--from", &from, "--to", &to, "--step", "60s"]);
    assert_eq!(
        matrix,
        format!("[\n  {{\n    \"metric\": {{}},\n    \"values\": [\n      [\n        {seconds},\n        \"3\"\n      ]\n    ]\n  }}\n]")
    );
    let vector = cli_ok(&server, &["instant-query", query, "-q", "--now", &from]);
    assert_eq!(vector, format!("[\n  {{\n    \"metric\": {{}},\n    \"value\": [\n      {seconds},\n      \"3\"\n    ]\n  }}\n]"));
    let by_job = cli_ok(&server, &["instant-query", r#"sum by (job) (count_over_time({job="m"}[1m]))"#, "-q", "--now", &from]);
    assert!(by_job.starts_with("[\n  {\n    \"metric\": {\n      \"job\": \"m\"\n    },\n    \"value\": [\n"), "{by_job}");
}

#[tokio::test]
async fn labels_series_stats_and_volume() {
    let Fixture { server, .. } = fixture().await;
    assert_eq!(cli_ok(&server, &["labels", "-q"]), "job\npod\n");
    assert_eq!(cli_ok(&server, &["labels", "pod", "-q"]), "a\nb\n");
    let output = cli(&server, &["labels", "job"]);
    assert!(stderr(&output).contains("/loki/api/v1/label/job/values?end="), "{}", stderr(&output));

    let mut series: Vec<String> = cli_ok(&server, &["series", r#"{job="cli"}"#, "-q"]).lines().map(str::to_string).collect();
    series.sort();
    assert_eq!(series, vec![r#"{job="cli", pod="a"}"#, r#"{job="cli", pod="b"}"#]);
    assert_eq!(
        cli_ok(&server, &["series", r#"{job="cli"}"#, "-q", "--analyze-labels"]),
        "Total Streams:  2\nUnique Labels:  2\n\nLabel Name  Unique Values  Found In Streams\npod         2              2\njob         1              2\n"
    );

    let stats = cli_ok(&server, &["stats", r#"{job="cli"}"#, "-q"]);
    let lines: Vec<&str> = stats.lines().collect();
    assert_eq!(lines.len(), 6, "{stats}");
    assert_eq!((lines[0], lines[5]), ("{", "}"));
    assert!(lines[1].starts_with("  bytes: ") && lines[1].ends_with('B'), "{stats}");
    assert_eq!(&lines[3..5], &["  streams: 2", "  entries: 4"]);

    let volume = cli_ok(&server, &["volume", r#"{job="cli"}"#, "-q"]);
    let parsed: Value = serde_json::from_str(&volume).unwrap_or_else(|e| panic!("{e}: {volume}"));
    let items = parsed.as_array().expect("a vector");
    assert_eq!(items.len(), 1, "{volume}");
    assert_eq!(items[0]["metric"], serde_json::json!({"job": "cli"}));
    assert!(volume.starts_with("[\n  {\n    \"metric\": {\n      \"job\": \"cli\"\n    },\n    \"value\": [\n"), "{volume}");
    let by_pod = cli_ok(&server, &["volume", r#"{job="cli"}"#, "-q", "--targetLabels", "pod"]);
    assert_eq!(serde_json::from_str::<Value>(&by_pod).unwrap().as_array().map(Vec::len), Some(2), "{by_pod}");
    let range = cli_ok(&server, &["volume_range", r#"{job="cli"}"#, "-q", "--step", "1s"]);
    let parsed: Value = serde_json::from_str(&range).unwrap_or_else(|e| panic!("{e}: {range}"));
    assert!(parsed[0]["values"].as_array().is_some_and(|v| !v.is_empty()), "{range}");
}

#[tokio::test]
async fn org_id_selects_the_tenant_and_errors_show_the_server_message() {
    let server = Server::start(&format!("auth_enabled: true\n{BASE_CONFIG}")).await;
    let ts = now_ns() - 10 * SECOND;
    server.push_streams(Some("team-a"), &[stream(&[("job", "t")], vec![Entry::new(ts, "for a only")])]).await;
    assert_eq!(cli_ok(&server, &["query", r#"{job="t"}"#, "-q", "-o", "raw", "--org-id", "team-a"]), "for a only\n");
    assert_eq!(cli_ok(&server, &["query", r#"{job="t"}"#, "-q", "-o", "raw", "--org-id", "team-b"]), "");
    let mut command = Command::new(env!("CARGO_BIN_EXE_skald"));
    let output = command.args(["labels", "-q", "--addr", &server.base_url()]).env("LOKI_ORG_ID", "team-a").output().expect("running skald");
    assert_eq!(stdout(&output), "job\n", "LOKI_ORG_ID is read: {}", stderr(&output));

    // No tenant: the server's 401 message, exit status 1.
    let output = cli(&server, &["query", r#"{job="t"}"#, "-q"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no org id"), "{}", stderr(&output));

    // Bad LogQL: the parse error from the server, exit status 1, nothing on stdout.
    let output = cli(&server, &["query", r#"{job="t"} |= "#, "--org-id", "team-a"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("Error response from server: parse error"), "{err}");
    assert_eq!(stdout(&output), "");

    // A flag that does not parse: clap's message naming it, exit status 2.
    let output = cli(&server, &["query", r#"{job="t"}"#, "--from", "yesterday"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--from"), "{}", stderr(&output));
    let output = cli(&server, &["query", r#"{job="t"}"#, "-o", "xml"]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn tail_prints_a_line_pushed_after_it_started() {
    let server = Server::start_default().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_skald"))
        .args(["query", "--tail", r#"{job="follow"}"#, "-q", "-o", "raw", "--addr", &server.base_url()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning skald query --tail");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.push_streams(None, &[stream(&[("job", "follow")], vec![Entry::new(now_ns(), "live line")])]).await;
    let line = receiver.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(line.as_deref(), Ok("live line"));
}

#[tokio::test]
async fn import_loads_a_file_that_queries_read_back() {
    let server = Server::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let lines: Vec<String> = (0..3000).map(|i| format!("request {i} took {}ms", i % 97)).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let file = path.to_str().unwrap();

    let report = cli_ok(&server, &["import", file, "--labels", r#"{job="imported"}"#, "--batch-size", "20000", "-q"]);
    let bytes: usize = lines.iter().map(String::len).sum();
    assert!(report.starts_with(&format!("imported 3000 lines ({bytes} bytes) from 1 files")), "{report}");
    let back = cli_ok(&server, &["query", r#"{job="imported"}"#, "-q", "-o", "raw", "--forward", "--limit", "5000", "--batch", "1000"]);
    assert_eq!(back, lines.join("\n") + "\n");

    // --timestamp-prefix: times from the lines; continuation lines keep the previous one.
    let t1 = now_ns() - 60 * SECOND;
    let stamped = format!(
        "{} started\n  continued\n{} stopped\n",
        skald_common::format_rfc3339_nanos(t1),
        skald_common::format_rfc3339_nanos(t1 + SECOND)
    );
    let stamped_path = dir.path().join("stamped.log");
    std::fs::write(&stamped_path, &stamped).unwrap();
    cli_ok(&server, &["import", stamped_path.to_str().unwrap(), "--labels", r#"{job="stamped"}"#, "--timestamp-prefix", "--json", "-q"]);
    let response = server.query_range(r#"{job="stamped"}"#, t1 - SECOND, t1 + 2 * SECOND, 10, None).await;
    let streams = streams_of(&response);
    let entries = streams.values().next().expect("one stream");
    let times: Vec<i64> = entries.iter().map(|(ts, _)| ts.parse().unwrap()).collect();
    assert_eq!(times.iter().filter(|t| **t == t1).count(), 2, "{entries:?}");
    assert!(times.contains(&(t1 + SECOND)), "{entries:?}");

    // A 4xx answer (entries far too old) is reported with the server's message, status 1.
    let old_path = dir.path().join("old.log");
    std::fs::write(&old_path, "2001-01-01T00:00:00Z ancient\n").unwrap();
    let output = cli(&server, &["import", old_path.to_str().unwrap(), "--labels", r#"{job="old"}"#, "--timestamp-prefix", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("400"), "{}", stderr(&output));
    assert!(stderr(&output).contains("too old"), "{}", stderr(&output));

    // A missing file is named.
    let output = cli(&server, &["import", "/nonexistent/file.log", "--labels", r#"{job="x"}"#]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/nonexistent/file.log"), "{}", stderr(&output));
}
