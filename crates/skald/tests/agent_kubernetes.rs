//! `kubernetes_sd_configs` with the Promtail Helm chart's default config file
//! (`promtail-helm/promtail.yaml`, rendered by Helm) against a fake Kubernetes API
//! server answering with the pod list and watch events in `k8s-api/` (shaped on a real
//! API server's responses, see its README): the agent (a real `skald agent` process)
//! lists and watches this node's pods, follows their containers' log files under the
//! kubelet's layout with the labels Promtail gives, picks up a pod added by the watch
//! and lets go of a deleted one.

mod common;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use common::agent::*;
use common::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};

const SERVER_CONFIG: &str =
    "limits_config:\n  discover_service_name: []\n  discover_log_levels: false\n  max_entries_limit_per_query: 100000\n";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fake API server's state: what was asked, and the watch events the test releases.
struct Api {
    list: String,
    /// Events of the first watch, sent one by one when the test says so.
    events: Mutex<Option<mpsc::Receiver<String>>>,
    requests: std::sync::Mutex<Vec<HashMap<String, String>>>,
}

async fn pods(State(api): State<Arc<Api>>, Query(query): Query<HashMap<String, String>>) -> axum::response::Response {
    api.requests.lock().unwrap().push(query.clone());
    if query.get("fieldSelector").map(String::as_str) != Some("spec.nodeName=node-1") {
        let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"this fake serves only node-1's pods","reason":"BadRequest","code":400}"#;
        return (axum::http::StatusCode::BAD_REQUEST, [("content-type", "application/json")], status).into_response();
    }
    if query.get("watch").map(String::as_str) != Some("true") {
        return ([("content-type", "application/json")], api.list.clone()).into_response();
    }
    // The first watch streams the released events; later ones stay open and silent,
    // as a quiet API server's do until their timeout.
    let receiver = api.events.lock().await.take();
    let stream = futures::stream::unfold(receiver, |receiver| async move {
        match receiver {
            Some(mut rx) => {
                let line = rx.recv().await?;
                Some((Ok::<_, std::io::Error>(line.into_bytes()), Some(rx)))
            }
            None => {
                futures::future::pending::<()>().await;
                None
            }
        }
    });
    ([("content-type", "application/json")], axum::body::Body::from_stream(stream)).into_response()
}

/// RFC 3339 with nanoseconds, UTC, of a Unix time in nanoseconds (for CRI lines).
fn rfc3339(ns: i64) -> String {
    let (secs, nanos) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Appends CRI-formatted lines (`<time> stdout F <line>`) to a container's log file.
fn write_cri(file: &Path, lines: &[&str]) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let text: String = lines.iter().map(|line| format!("{} stdout F {line}\n", rfc3339(now_ns()))).collect();
    append(file, &text);
}

/// `<root>/<namespace>_<pod>_<uid>/<container>/0.log`, the kubelet's layout.
fn log_file(root: &Path, pod: &serde_json::Value, container: &str) -> std::path::PathBuf {
    let meta = &pod["metadata"];
    let dir = format!("{}_{}_{}", meta["namespace"].as_str().unwrap(), meta["name"].as_str().unwrap(), meta["uid"].as_str().unwrap());
    root.join(dir).join(container).join("0.log")
}

fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_helm_chart_config_is_accepted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("promtail.yaml");
    std::fs::write(&path, fixture("promtail-helm/promtail.yaml")).unwrap();
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_skald")).args(["agent", "--check-config", "--config"]).arg(&path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && text.contains("configuration OK: 1 client(s), 1 scrape config(s)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_this_node_are_followed_with_promtails_labels() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let pods_root = dir.path().join("var-log-pods");
    let list: serde_json::Value = serde_json::from_str(&fixture("k8s-api/pods-list.json")).unwrap();
    let watch_lines: Vec<String> = fixture("k8s-api/pods-watch.jsonl").lines().map(|l| format!("{l}\n")).collect();
    let pod = |name: &str| -> serde_json::Value {
        let from_list = list["items"].as_array().unwrap().iter().find(|p| p["metadata"]["name"] == name).cloned();
        from_list.unwrap_or_else(|| {
            let event = watch_lines
                .iter()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|e| e["object"]["metadata"]["name"] == name);
            event.unwrap()["object"].clone()
        })
    };
    let (checkout, db, proxy, worker) = (pod("checkout-7d9f8-abcde"), pod("db-0"), pod("kube-proxy-7wq4z"), pod("worker-5c6d-xyz12"));
    write_cri(&log_file(&pods_root, &checkout, "app"), &["checkout started", "GET /cart 200"]);
    write_cri(&log_file(&pods_root, &checkout, "migrate"), &["migrations done"]);
    write_cri(&log_file(&pods_root, &db, "postgres"), &["database system is ready"]);
    write_cri(&log_file(&pods_root, &db, "exporter"), &["exporter listening"]);
    write_cri(&log_file(&pods_root, &proxy, "kube-proxy"), &["proxier synced"]);
    write_cri(&log_file(&pods_root, &worker, "worker"), &["worker before its pod is known"]);

    let (events_tx, events_rx) = mpsc::channel(16);
    let api = Arc::new(Api { list: fixture("k8s-api/pods-list.json"), events: Mutex::new(Some(events_rx)), requests: Default::default() });
    let router = axum::Router::new().route("/api/v1/pods", axum::routing::get(pods)).with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The chart's file, with what ties it to a real cluster pointed at the test's:
    // the push URL, the positions file, the API server, the kubelet's log directory.
    let config = fixture("promtail-helm/promtail.yaml")
        .replace("http://loki-gateway/loki/api/v1/push", &push_url(&server))
        .replace("/run/promtail/positions.yaml", &dir.path().join("positions.yaml").display().to_string())
        .replace("http_listen_port: 3101", &format!("http_listen_port: {}", free_port()))
        .replace("      - role: pod\n", &format!("      - role: pod\n        api_server: http://127.0.0.1:{api_port}\n"))
        .replace("/var/log/pods", &pods_root.display().to_string());
    let agent = Agent::start_with_env(dir.path(), &config, &[("HOSTNAME", "node-1")]);

    let uid = checkout["metadata"]["uid"].as_str().unwrap();
    let app_file = log_file(&pods_root, &checkout, "app");
    let expected = labels_of(&[
        ("app", "checkout"),
        ("component", "api"),
        ("container", "app"),
        ("filename", app_file.to_str().unwrap()),
        ("instance", "checkout-prod"),
        ("job", "shop/checkout"),
        ("namespace", "shop"),
        ("node_name", "node-1"),
        ("pod", "checkout-7d9f8-abcde"),
        ("stream", "stdout"),
    ]);
    assert!(app_file.to_str().unwrap().contains(uid));
    let listed =
        ["checkout started", "GET /cart 200", "migrations done", "database system is ready", "exporter listening", "proxier synced"];
    let listed: Vec<String> = listed.map(String::from).to_vec();
    let streams = wait_for(&server, &agent, "{node_name=\"node-1\"}", |s| has_all(s, &listed)).await;
    let lines: Vec<&str> = streams[&expected].iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(lines, vec!["checkout started", "GET /cart 200"], "{:?}", summary(&streams));
    let proxy_labels = streams.keys().find(|l| l["pod"] == "kube-proxy-7wq4z").unwrap();
    assert_eq!((proxy_labels["app"].as_str(), proxy_labels["job"].as_str()), ("kube-proxy", "kube-system/kube-proxy"));
    let db_labels = streams.keys().find(|l| l["container"] == "postgres").unwrap();
    assert_eq!((db_labels["app"].as_str(), db_labels["namespace"].as_str()), ("db", "shop"));
    assert!(!all_lines(&streams).contains(&"worker before its pod is known".to_string()), "no pod, no target");
    assert_eq!(line_counts(&streams).values().max(), Some(&1), "a container with ports is still one target: {streams:?}");
    let first = api.requests.lock().unwrap()[0].clone();
    assert_eq!(first.get("limit").map(String::as_str), Some("500"), "a list first: {first:?}");

    // The watch: the worker pod is scheduled here and gets an IP -> its file is followed.
    for line in &watch_lines[..3] {
        events_tx.send(line.clone()).await.unwrap();
    }
    write_cri(&log_file(&pods_root, &worker, "worker"), &["worker consuming"]);
    let streams = wait_for(&server, &agent, "{app=\"worker\"}", |s| line_counts(s).contains_key("worker consuming")).await;
    let worker_labels = streams.keys().next().unwrap();
    assert_eq!((worker_labels["job"].as_str(), worker_labels["container"].as_str()), ("shop/worker", "worker"));
    assert!(all_lines(&streams).contains(&"worker before its pod is known".to_string()), "a new target's file is read from its start");

    // db-0 is stopped and deleted: its files are drained and let go.
    for line in &watch_lines[3..] {
        events_tx.send(line.clone()).await.unwrap();
    }
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    let db_files = [log_file(&pods_root, &db, "postgres"), log_file(&pods_root, &db, "exporter")];
    while !db_files.iter().all(|f| agent.logs().lines().any(|l| l.contains("stopped tailing file") && l.contains(f.to_str().unwrap()))) {
        assert!(Instant::now() < deadline, "db-0's files were not let go:\n{}", agent.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    write_cri(&db_files[0], &["after the pod was deleted"]);
    write_cri(&app_file, &["checkout still followed"]);
    let streams = wait_for(&server, &agent, "{namespace=\"shop\"}", |s| line_counts(s).contains_key("checkout still followed")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let streams_after = server.query_streams("{namespace=\"shop\"}", now_ns() - 3600 * SECOND, now_ns() + 60 * SECOND, 1000, None).await;
    assert!(!all_lines(&streams_after).contains(&"after the pod was deleted".to_string()), "{:?}", summary(&streams));
    let watches: Vec<_> = api.requests.lock().unwrap().iter().filter(|q| q.get("watch").is_some()).cloned().collect();
    assert_eq!(watches[0].get("resourceVersion").map(String::as_str), Some("1000"), "the watch starts at the list's version");
}
