//! The agent (`skald agent`) against a real `skald server`: both binaries run as child
//! processes; the agent's config is written into a temp dir; what arrived is checked
//! through the server's query API, polling with a deadline (never a fixed sleep).

mod common;

use common::agent::*;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVER_CONFIG: &str = "\
limits_config:
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  ingestion_rate_mb: 1000
  ingestion_burst_size_mb: 1000
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_lines_arrive_with_labels_and_timestamps() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("sub")).unwrap();
    let app = logs.join("app.log");
    append(&app, "before start 1\nbefore start 2\n");
    append(&logs.join("skip-me.log"), "excluded\n");
    append(&logs.join("notes.txt"), "not matched\n");
    append(&logs.join("sub/deep.log"), "deep\n");
    let admin_port = free_port();
    let config = format!(
        "server: {{http_listen_address: 127.0.0.1, http_listen_port: {admin_port}}}\n\
         positions: {{filename: {dir}/positions.yaml, sync_period: 200ms}}\n\
         target_config: {{sync_period: 200ms}}\n{client}\
         scrape_configs:\n\
         - job_name: files\n  static_configs:\n  - targets: [localhost]\n    labels:\n      job: files\n      env: test\n      __path__: {logs}/{{*.log,sub/*.log}}\n      __path_exclude__: {logs}/skip-*.log\n      __internal: gone\n",
        dir = dir.path().display(),
        client = client_yaml(&server),
        logs = logs.display(),
    );
    let t0 = now_ns();
    let mut agent = Agent::start(dir.path(), &config);
    append(&app, "after start 1\npartial");
    // A file created later is picked up by the rescan.
    append(&logs.join("late.log"), "late line\n");
    let expected: Vec<String> = ["before start 1", "before start 2", "after start 1", "deep", "late line"].map(String::from).to_vec();
    let streams = wait_for(&server, &agent, "{job=\"files\"}", |s| has_all(s, &expected)).await;
    let app_labels = labels(&[("env", "test"), ("filename", app.to_str().unwrap()), ("job", "files")]);
    let app_lines: Vec<&str> = streams[&app_labels].iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(app_lines, vec!["before start 1", "before start 2", "after start 1"], "the partial line must wait");
    for (labels, values) in &streams {
        assert!(!labels.contains_key("__internal") && !labels.contains_key("__path__"), "{labels:?}");
        for (ts, line) in values {
            let ts: i64 = ts.parse().unwrap();
            assert!(ts >= t0 && ts <= now_ns(), "timestamp {ts} of {line:?} is not the read time");
            assert!(line != "excluded" && line != "not matched");
        }
    }
    assert_eq!(line_counts(&streams).values().max(), Some(&1), "no duplicates: {streams:?}");

    // The partial line completes.
    append(&app, " now complete\n");
    wait_for(&server, &agent, "{job=\"files\"}", |s| line_counts(s).contains_key("partial now complete")).await;

    // Own endpoints.
    let http = reqwest::Client::new();
    let ready = http.get(format!("http://127.0.0.1:{admin_port}/ready")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = http.get(format!("http://127.0.0.1:{admin_port}/metrics")).send().await.unwrap().text().await.unwrap();
    let read_line = format!("promtail_read_lines_total{{path=\"{}\"}} 4", app.display());
    assert!(metrics.contains(&read_line), "{metrics}");
    assert!(metrics.contains("promtail_sent_entries_total{host=\"127.0.0.1:"), "{metrics}");
    assert!(metrics.contains("promtail_files_active_total 3"), "{metrics}");

    // SIGTERM: clean exit, positions at the end of each file.
    assert!(agent.terminate(Duration::from_secs(15)), "agent did not stop cleanly:\n{}", agent.logs());
    let positions = std::fs::read_to_string(dir.path().join("positions.yaml")).unwrap();
    let app_size = std::fs::metadata(&app).unwrap().len();
    assert!(positions.contains(&format!("{}: '{app_size}'", app.display())), "{positions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_and_by_copy_truncate_loses_nothing() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rot.log");
    append(&path, "");
    let config = format!(
        "{}scrape_configs:\n- job_name: rot\n  static_configs:\n  - labels: {{job: rot, __path__: {}}}\n",
        base_yaml(&server, dir.path()),
        path.display()
    );
    let agent = Agent::start(dir.path(), &config);
    let mut expected = Vec::new();
    let write = |from: usize, to: usize, expected: &mut Vec<String>| {
        let mut text = String::new();
        for i in from..to {
            text.push_str(&format!("line {i}\n"));
            expected.push(format!("line {i}"));
        }
        append(&path, &text);
    };
    // The agent must be tailing the file before it is rotated.
    write(0, 1, &mut expected);
    wait_for(&server, &agent, "{job=\"rot\"}", |s| has_all(s, &["line 0".to_string()])).await;
    write(1, 100, &mut expected);
    // Rename + create at once, with lines the agent has not read yet in the old file.
    std::fs::rename(&path, dir.path().join("rot.log.1")).unwrap();
    append(&dir.path().join("rot.log.1"), "line 100\n");
    expected.push("line 100".into());
    write(101, 200, &mut expected);
    let snapshot = expected.clone();
    wait_for(&server, &agent, "{job=\"rot\"}", |s| has_all(s, &snapshot)).await;
    // Copy + truncate (once the agent has read the file: copytruncate's own window).
    std::fs::copy(&path, dir.path().join("rot.log.2")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    write(200, 250, &mut expected);
    let snapshot = expected.clone();
    let streams = wait_for(&server, &agent, "{job=\"rot\"}", |s| has_all(s, &snapshot)).await;
    let counts = line_counts(&streams);
    assert_eq!(counts.len(), 250);
    assert!(counts.values().all(|&c| c == 1), "duplicates: {:?}", counts.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>());
}

/// Offset of the end of line `i` when every line is `LINE_WIDTH` bytes.
const LINE_WIDTH: usize = 12; // "line-000000\n"

fn numbered(i: usize) -> String {
    format!("line-{i:06}")
}

fn saved_offset(dir: &Path, file: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("positions.yaml")).unwrap_or_default();
    let key = format!("{}: '", file.display());
    text.lines().find_map(|l| l.trim().strip_prefix(&key).and_then(|rest| rest.trim_end_matches('\'').parse().ok())).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_and_restart_loses_nothing_and_duplicates_only_after_the_saved_position() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.log");
    append(&path, "");
    let config = format!(
        "{}scrape_configs:\n- job_name: crash\n  static_configs:\n  - labels: {{job: crash, __path__: {}}}\n",
        base_yaml(&server, dir.path()),
        path.display()
    );
    let mut agent = Agent::start(dir.path(), &config);
    const TOTAL: usize = 3000;
    // A writer appends 20 lines every 10 ms (2000 lines/s) while the agent is killed.
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        for chunk in 0..TOTAL / 20 {
            let mut text = String::new();
            for i in chunk * 20..(chunk + 1) * 20 {
                text.push_str(&numbered(i));
                text.push('\n');
            }
            append(&writer_path, &text);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    // Kill once some lines are acknowledged and saved.
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    while saved_offset(dir.path(), &path) < (200 * LINE_WIDTH) as u64 {
        assert!(Instant::now() < deadline, "no positions saved:\n{}", agent.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    agent.kill9();
    let saved = saved_offset(dir.path(), &path);
    assert_eq!(saved % LINE_WIDTH as u64, 0, "positions fall on line ends");
    let saved_lines = saved as usize / LINE_WIDTH;
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.spawn();
    writer.join().unwrap();
    let expected: Vec<String> = (0..TOTAL).map(numbered).collect();
    let streams = wait_for(&server, &agent, "{job=\"crash\"}", |s| has_all(s, &expected)).await;
    let counts = line_counts(&streams);
    assert_eq!(counts.len(), TOTAL);
    let duplicated: Vec<usize> = (0..TOTAL).filter(|&i| counts[&numbered(i)] > 1).collect();
    // docs/agent.md: duplicates are entries acknowledged after the last positions
    // write, i.e. lines after the saved position, and at most twice.
    assert!(duplicated.iter().all(|&i| i >= saved_lines), "line before the saved position {saved_lines} duplicated: {duplicated:?}");
    assert!(counts.values().all(|&c| c <= 2));
    // At most what was acknowledged in one sync_period (200 ms) plus one batch in
    // flight, at 2000 lines/s: bounded well under 2000 lines.
    assert!(duplicated.len() < 2000, "{} duplicates", duplicated.len());
    eprintln!("saved position: line {saved_lines}; duplicates after restart: {}", duplicated.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_outage_loses_nothing() {
    let mut server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outage.log");
    append(&path, "");
    let config = format!(
        "{}scrape_configs:\n- job_name: outage\n  static_configs:\n  - labels: {{job: outage, __path__: {}}}\n",
        base_yaml(&server, dir.path()),
        path.display()
    );
    let agent = Agent::start(dir.path(), &config);
    let mut expected = Vec::new();
    for i in 0..100 {
        append(&path, &format!("{}\n", numbered(i)));
        expected.push(numbered(i));
    }
    let snapshot = expected.clone();
    wait_for(&server, &agent, "{job=\"outage\"}", |s| has_all(s, &snapshot)).await;
    server.kill9();
    // Lines written while the server is down (the agent retries, then blocks reading).
    for i in 100..600 {
        append(&path, &format!("{}\n", numbered(i)));
        expected.push(numbered(i));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart_same_port().await;
    let streams = wait_for(&server, &agent, "{job=\"outage\"}", |s| has_all(s, &expected)).await;
    let counts = line_counts(&streams);
    assert_eq!(counts.len(), 600);
    assert!(agent.logs().contains("retrying"), "the agent should have retried:\n{}", agent.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_pod_logs_and_relabel_rules() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let files = [
        ("prod_web-1_uid-1", "nginx", "web line"),
        ("prod_db-1_uid-2", "postgres", "db line"),
        ("kube-system_dns-1_uid-3", "coredns", "system line"),
        ("prod_tmp-skip_uid-4", "tmp", "skipped line"),
    ];
    for (pod_dir, container, line) in files {
        let container_dir = pods.join(pod_dir).join(container);
        std::fs::create_dir_all(&container_dir).unwrap();
        append(&container_dir.join("0.log"), &format!("{line}\n"));
        append(&container_dir.join("0.log.20260101-000000"), "rotated, not *.log\n");
    }
    let config = format!(
        "{}scrape_configs:\n\
         - job_name: pods\n  kubernetes_pod_logs: {{path: {}, labels: {{job: pods}}}}\n  relabel_configs:\n\
         \x20 - {{source_labels: [__meta_kubernetes_namespace], regex: 'prod|staging', action: keep}}\n\
         \x20 - {{source_labels: [__meta_kubernetes_pod_name], regex: '.*-skip', action: drop}}\n\
         \x20 - {{source_labels: [__meta_kubernetes_pod_container_name, namespace], separator: '@', regex: '(.+)@(.+)', target_label: app, replacement: '$2-${{1}}'}}\n\
         \x20 - {{regex: '__meta_kubernetes_(pod_uid)', action: labelmap, replacement: 'k8s_$1'}}\n",
        base_yaml(&server, dir.path()),
        pods.display()
    );
    let agent = Agent::start(dir.path(), &config);
    let expected = vec!["web line".to_string(), "db line".to_string()];
    let streams = wait_for(&server, &agent, "{job=\"pods\"}", |s| has_all(s, &expected)).await;
    let web = pods.join("prod_web-1_uid-1/nginx/0.log");
    let web_labels = labels(&[
        ("app", "prod-nginx"),
        ("container", "nginx"),
        ("filename", web.to_str().unwrap()),
        ("job", "pods"),
        ("k8s_pod_uid", "uid-1"),
        ("namespace", "prod"),
        ("pod", "web-1"),
    ]);
    assert_eq!(streams[&web_labels].len(), 1, "{:?}", summary(&streams));
    assert_eq!(streams.len(), 2, "kube-system kept or -skip not dropped: {:?}", summary(&streams));
    assert_eq!(all_lines(&streams).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tcp_both_framings_and_udp() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let tcp_port = free_port();
    let udp_port = free_port();
    let relabel = "  relabel_configs:\n\
         \x20 - {source_labels: [__syslog_message_hostname], target_label: host}\n\
         \x20 - {source_labels: [__syslog_message_app_name], target_label: app}\n\
         \x20 - {source_labels: [__syslog_message_severity], target_label: level}\n";
    let config = format!(
        "{}scrape_configs:\n\
         - job_name: syslog-tcp\n  syslog: {{listen_address: '127.0.0.1:{tcp_port}', labels: {{job: syslog, proto: tcp}}}}\n{relabel}\
         - job_name: syslog-udp\n  syslog: {{listen_address: '127.0.0.1:{udp_port}', listen_protocol: udp, labels: {{job: syslog, proto: udp}}, use_incoming_timestamp: true}}\n{relabel}",
        base_yaml(&server, dir.path()),
    );
    let agent = Agent::start(dir.path(), &config);
    // Wait for the listener.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", tcp_port)) {
            break stream;
        }
        assert!(Instant::now() < deadline, "syslog listener not up:\n{}", agent.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    let octet = "<165>1 - web1 nginx 42 - - octet counted message";
    stream.write_all(format!("{} {octet}", octet.len()).as_bytes()).unwrap();
    stream.write_all(b"<13>1 - web2 cron - - - newline framed message\n").unwrap();
    stream.write_all(b"<34>Oct 11 22:14:15 oldhost su[42]: bsd message\n").unwrap();
    stream.flush().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Ten minutes ago, whole seconds (RFC 5424 timestamps as senders write them).
    let incoming = (now_ns() / SECOND - 600) * SECOND;
    let udp_message = format!("<14>1 {} web3 app - - - udp message", skald_common::format_rfc3339_nanos(incoming));
    let send_udp = || udp.send_to(udp_message.as_bytes(), ("127.0.0.1", udp_port)).unwrap();
    send_udp();
    // UDP may be dropped before the socket is bound: resend until it arrives.
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    let streams = loop {
        let streams = server.query_streams("{job=\"syslog\"}", incoming - 3600 * SECOND, now_ns() + 60 * SECOND, 1000, None).await;
        if all_lines(&streams).len() >= 4 {
            break streams;
        }
        assert!(Instant::now() < deadline, "syslog lines missing: {:?}\n{}", summary(&streams), agent.logs());
        send_udp();
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let find = |line: &str| streams.iter().find(|(_, v)| v.iter().any(|(_, l)| l == line)).map(|(k, v)| (k.clone(), v.clone()));
    let (octet_labels, _) = find("octet counted message").expect("octet-counted message");
    assert_eq!(octet_labels, labels(&[("app", "nginx"), ("host", "web1"), ("job", "syslog"), ("level", "notice"), ("proto", "tcp")]));
    let (newline_labels, _) = find("newline framed message").expect("newline-framed message");
    assert_eq!(newline_labels["host"], "web2");
    assert_eq!(newline_labels["level"], "notice");
    let (bsd_labels, _) = find("bsd message").expect("RFC 3164 message");
    assert_eq!((bsd_labels["host"].as_str(), bsd_labels["app"].as_str(), bsd_labels["level"].as_str()), ("oldhost", "su", "critical"));
    let (udp_labels, udp_values) = find("udp message").expect("udp message");
    assert_eq!(udp_labels["proto"], "udp");
    assert_eq!(udp_values[0].0, incoming.to_string(), "use_incoming_timestamp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_through_loki_push_api() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let push_port = free_port();
    let config = format!(
        "{}scrape_configs:\n- job_name: relay\n  loki_push_api:\n    server: {{http_listen_address: 127.0.0.1, http_listen_port: {push_port}}}\n    labels: {{relay: agent-a}}\n    use_incoming_timestamp: true\n",
        base_yaml(&server, dir.path()),
    );
    let agent = Agent::start(dir.path(), &config);
    let base = now_ns() - 10 * SECOND;
    let entries: Vec<skald_common::Entry> = (0..3).map(|i| skald_common::Entry::new(base + i, format!("relayed {i}"))).collect();
    let http = reqwest::Client::new();
    let push_to_agent = format!("http://127.0.0.1:{push_port}/loki/api/v1/push");
    // Protobuf + snappy, as Promtail would send to it; wait for the listener.
    let body = skald_push::encode_protobuf(&[stream(&[("job", "pushed")], entries.clone())]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = http.post(&push_to_agent).header("Content-Type", "application/x-protobuf").body(body.clone()).send().await;
        if let Ok(response) = sent {
            assert_eq!(response.status().as_u16(), 204, "{}", response.text().await.unwrap_or_default());
            break;
        }
        assert!(Instant::now() < deadline, "push listener not up:\n{}", agent.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And JSON.
    let json = skald_push::encode_json(&[stream(&[("job", "pushed-json")], vec![skald_common::Entry::new(base + 5, "json line")])]);
    let response = http.post(&push_to_agent).header("Content-Type", "application/json").body(json).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let streams = wait_for(&server, &agent, "{relay=\"agent-a\"}", |s| all_lines(s).len() >= 4).await;
    assert_eq!(streams[&labels(&[("job", "pushed"), ("relay", "agent-a")])], expected(&entries));
    assert_eq!(streams[&labels(&[("job", "pushed-json"), ("relay", "agent-a")])], vec![((base + 5).to_string(), "json line".to_string())]);
    // A malformed push is refused with the decoder's message.
    let response = http.post(&push_to_agent).header("Content-Type", "application/json").body("{").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn unknown_config_key_exits_non_zero_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = "clients: [{url: 'http://127.0.0.1:1/loki/api/v1/push'}]\nscrape_configs:\n- job_name: x\n  static_configs: [{labels: {__path__: /tmp/*.log}}]\n  bogus_option: 1\n";
    std::fs::write(dir.path().join("agent.yaml"), config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_skald"))
        .arg("agent")
        .arg("--config")
        .arg(dir.path().join("agent.yaml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bogus_option"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_stage_parses_container_lines_and_joins_partials() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cri.log");
    let base = (now_ns() / SECOND - 60) * SECOND;
    let ts = |i: i64| skald_common::format_rfc3339_nanos(base + i * 1_000_000);
    append(&path, &format!("{} stdout P part-one-\n{} stdout F and-two\n{} stderr F error line\n", ts(1), ts(2), ts(3)));
    let config = format!(
        "{}scrape_configs:\n- job_name: cri\n  pipeline_stages:\n  - cri: {{}}\n  static_configs:\n  - labels: {{job: cri, __path__: {}}}\n",
        base_yaml(&server, dir.path()),
        path.display()
    );
    let agent = Agent::start(dir.path(), &config);
    let expected = vec!["part-one-and-two".to_string(), "error line".to_string()];
    let streams = wait_for(&server, &agent, "{job=\"cri\"}", |s| has_all(s, &expected)).await;
    let filename = path.to_str().unwrap();
    let stderr = &streams[&labels(&[("filename", filename), ("job", "cri"), ("stream", "stderr")])];
    assert_eq!(stderr, &vec![((base + 3_000_000).to_string(), "error line".to_string())], "CRI timestamp");
    let stdout = &streams[&labels(&[("filename", filename), ("job", "cri"), ("stream", "stdout")])];
    assert_eq!(stdout.len(), 1, "{stdout:?}");
}
