//! A Loki user's own config files and command line, against the real binary: every
//! configuration example of Loki's documentation and the sample configs that ship with
//! Loki (`tests/loki-configs/`, unchanged but for local paths and placeholders) pass
//! `skald -config.file=F -verify-config`; those on the filesystem and S3 start from
//! Loki's command line and answer a push and a query. `-config.expand-env`, flags over
//! the file, and a misspelt key.

mod common;

use common::*;
use skald_common::Entry;
use std::path::Path;
use std::process::Command;

/// Loki's file, its local paths moved under the test's `ROOT` (see `Server::start_loki`).
fn loki_config(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/loki-configs").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace("/tmp/loki", "ROOT/loki").replace(" /loki", " ROOT/loki")
}

/// `skald ARGS`: exit status, stdout and stderr.
fn skald(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_skald")).args(args).envs(env.iter().copied()).output().expect("running skald");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn every_loki_example_and_sample_config_verifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/loki-configs");
    let root = tempfile::tempdir().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 25, "20 documentation examples and 5 sample configs: {names:?}");
    for name in &names {
        let file = root.path().join(name);
        std::fs::write(&file, loki_config(name).replace("ROOT", &root.path().display().to_string())).unwrap();
        let (ok, stdout, stderr) = skald(&[&format!("-config.file={}", file.display()), "-verify-config"], &[]);
        assert!(ok && stdout.contains("config is valid"), "{name}:\n{stdout}{stderr}");
    }
    // What Skald does not use is named, once.
    let file = root.path().join("sample-loki-local-config.yaml");
    let (_, stdout, _) = skald(&["-verify-config", "-config.file", file.to_str().unwrap()], &[]);
    let ignored = stdout.lines().find(|l| l.starts_with("ignored")).unwrap_or_default();
    for key in ["server.grpc_server_max_concurrent_streams", "frontend.encoding", "pattern_ingester"] {
        assert!(ignored.contains(key), "{key} not named: {stdout}");
    }
    assert!(!ignored.contains("limits_config,") && !ignored.contains("schema_config"), "{stdout}");
}

#[test]
fn a_misspelt_key_is_refused_with_the_nearest_known_one() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("typo.yaml");
    std::fs::write(&file, "limits_config:\n  ingestion_rate_mbb: 4\n").unwrap();
    let (ok, _, stderr) = skald(&[&format!("-config.file={}", file.display()), "-verify-config"], &[]);
    assert!(!ok);
    assert!(stderr.contains("unknown key limits_config.ingestion_rate_mbb (did you mean limits_config.ingestion_rate_mb?)"), "{stderr}");
    let (ok, _, stderr) = skald(&["-config.fil=x.yaml"], &[]);
    assert!(!ok && stderr.contains("flag provided but not defined: -config.fil (did you mean -config.file?)"), "{stderr}");
    let (ok, _, stderr) = skald(&["server", "-config.file=/does/not/exist.yaml,/nor/this.yaml"], &[]);
    assert!(!ok && stderr.contains("/does/not/exist.yaml,/nor/this.yaml does not exist"), "{stderr}");
}

#[test]
fn environment_variables_expand_as_loki_expands_them() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("env.yaml");
    std::fs::write(
        &file,
        "server:\n  http_listen_port: ${PORT}\n  log_level: ${LEVEL:-warn}\n  grpc_listen_port: ${UNSET_PORT}\nlimits_config:\n  max_entries_limit_per_query: ${LIMIT:-100}\n  ingestion_rate_mb: ${RATE}\n",
    )
    .unwrap();
    let config = format!("-config.file={}", file.display());
    let env = [("PORT", "3333"), ("RATE", "12"), ("LIMIT", "")];
    let (ok, _, stderr) = skald(&[&config, "-config.expand-env=true", "-verify-config", "-print-config-stderr"], &env);
    assert!(ok, "{stderr}");
    // `${VAR}` is the value, `${VAR:-d}` the default when unset or empty, and an unset
    // variable without one is empty: the key keeps its default.
    for line in [
        "http_listen_port: 3333",
        "log_level: warn",
        "grpc_listen_port: null",
        "max_entries_limit_per_query: 100",
        "ingestion_rate_mb: 12.0",
    ] {
        assert!(stderr.contains(line), "{line} missing:\n{stderr}");
    }
    let (ok, _, stderr) = skald(&[&config, "-verify-config"], &env);
    assert!(!ok && stderr.contains("-config.expand-env=true"), "without expansion the file is refused with Loki's hint: {stderr}");
}

#[test]
fn lokis_one_shot_flags() {
    let (ok, stdout, _) = skald(&["-version"], &[]);
    assert!(ok && stdout.starts_with("skald, version "), "{stdout}");
    let (ok, stdout, _) = skald(&["-list-targets"], &[]);
    assert!(ok && stdout.lines().any(|l| l == "query-frontend"), "{stdout}");
    let (ok, stdout, _) = skald(&["server", "-help"], &[]);
    assert!(ok && stdout.contains("-config.expand-env"), "{stdout}");
    let (ok, _, stderr) = skald(&["-health", &format!("-health.url=http://127.0.0.1:{}/ready", free_port())], &[]);
    assert!(!ok, "nothing listens there: {stderr}");
}

/// Pushes a few lines (as the tenant) and reads them back with a query.
async fn push_and_query(server: &Server, tenant: Option<&str>, job: &str) {
    let start = now_ns() - 10 * SECOND;
    let entries: Vec<Entry> = (0..5).map(|i| Entry::new(start + i * SECOND, format!("line {i}"))).collect();
    server.push_streams(tenant, &[stream(&[("job", job)], entries.clone())]).await;
    let got = server.query_streams(&format!(r#"{{job="{job}"}}"#), start - SECOND, now_ns(), 100, tenant).await;
    let values: Vec<&(String, String)> = got.values().flatten().collect();
    assert_eq!(values.len(), 5, "{got:?}\n{}", server.logs());
}

#[tokio::test]
async fn filesystem_samples_start_from_lokis_command_line() {
    for name in [
        "docs-1-Local-Configuration-Example.yaml",
        "docs-6-Compactor-Snippet.yaml",
        "docs-15-Memberlist-Ring-Snippet.yaml",
        "sample-loki-local-config.yaml",
        "sample-loki-docker-config.yaml",
        "sample-loki-local-multi-tenant-config.yaml",
        "sample-loki-local-with-memcached.yaml",
    ] {
        // Several samples fix the gRPC port; Loki's flag moves it.
        let mut args = vec![format!("-server.grpc-listen-port={}", free_port()), "-target=all".into()];
        if name.starts_with("docs-6") {
            // A snippet without a path: the flag gives it one (else ./data).
            args.push("-common.path-prefix=ROOT/loki".into());
        }
        if name.starts_with("docs-15") {
            // Gossip with a Kubernetes service that is not there: the node runs alone.
            args.extend([format!("-memberlist.bind-port={}", free_port()), "-memberlist.advertise-addr=127.0.0.1".into()]);
        }
        let launch = LokiLaunch { args, env: Vec::new() };
        let server = Server::start_loki(&loki_config(name), launch).await;
        let tenant = name.contains("multi-tenant").then_some("team-a");
        push_and_query(&server, tenant, name).await;
        if tenant.is_some() {
            let (status, _) =
                server.push_json(None, skald_push::encode_json(&[stream(&[("a", "b")], vec![Entry::new(now_ns(), "x")])])).await;
            assert_eq!(status, 401, "{name}: auth_enabled needs X-Scope-OrgID");
        }
        assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
        // The data is where the file says, not in ./data.
        let under_root = files_under(server.root());
        assert!(under_root.iter().any(|p| p.starts_with("loki/") && p.contains("packs/")), "{name}: {under_root:?}");
    }
}

#[tokio::test]
async fn s3_examples_start_on_s3() {
    let s3 = S3Server::start().await;
    let endpoint = format!("127.0.0.1:{}", s3.port);
    let fill = |text: String| {
        text.replace(
            "access_key:secret_access_key@custom_endpoint/bucket_name",
            &format!("{S3_ACCESS_KEY}:{S3_SECRET_KEY}@{endpoint}/{S3_BUCKET}"),
        )
        .replace("<BUCKET_NAME>", S3_BUCKET)
        .replace("s3.<REGION>.amazonaws.com", &format!("http://{endpoint}"))
        .replace("<REGION>", "us-east-1")
        .replace("<FQDN>:<PORT>", &endpoint)
        .replace("<ACCESS_KEY_ID>", S3_ACCESS_KEY)
        .replace("<SECRET_ACCESS_KEY>", S3_SECRET_KEY)
    };
    for name in ["docs-2-S3-Cluster-Example.yaml", "docs-19-Thanos-S3-Example.yaml", "docs-21-Thanos-MinIO-Example.yaml"] {
        let before = s3.keys("packs/").len();
        let server = Server::start_loki(&fill(loki_config(name)), LokiLaunch::default()).await;
        push_and_query(&server, None, name).await;
        assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
        assert!(s3.keys("packs/").len() > before, "{name}: no pack in the bucket\n{}", server.logs());
    }
}

#[tokio::test]
async fn a_list_of_buckets_spreads_objects_over_all_of_them() {
    let s3 = S3Server::start().await;
    let buckets = ["bucket-one", "bucket-two"];
    for bucket in buckets {
        s3.add_bucket(bucket);
    }
    let yaml = loki_config("docs-10-Expanded-S3-Snippet.yaml")
        .replace("bucket_name1, bucket_name2", &buckets.join(", "))
        .replace("s3.endpoint.com", &format!("http://127.0.0.1:{}", s3.port))
        .replace("s3_region", "us-east-1")
        .replace("s3_access_key_id", S3_ACCESS_KEY)
        .replace("s3_secret_access_key", S3_SECRET_KEY);
    let server = Server::start_loki(&format!("{yaml}\ncommon:\n  path_prefix: ROOT/loki\n"), LokiLaunch::default()).await;
    // Each flush writes a pack and an index file: 20 flushes, 40 objects to spread.
    let start = now_ns() - 60 * SECOND;
    for i in 0..20 {
        server.push_streams(None, &[stream(&[("n", &i.to_string())], vec![Entry::new(start + i, format!("line {i}"))])]).await;
        assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
    }
    let per_bucket: Vec<usize> = buckets.iter().map(|b| s3.keys_in(b, "").len()).collect();
    assert_eq!(per_bucket.iter().sum::<usize>(), 40, "{per_bucket:?}");
    assert!(per_bucket.iter().all(|&n| n > 0), "both buckets hold objects: {per_bucket:?}");
    let got = server.query_streams(r#"{n=~".+"}"#, start - SECOND, now_ns(), 1000, None).await;
    assert_eq!(got.len(), 20);
}

#[tokio::test]
async fn lokis_production_example_runs_as_a_three_node_cluster() {
    // production/docker: three `-target=all` replicas gossiping, RF 3, chunks on S3.
    let s3 = S3Server::start().await;
    s3.add_bucket("loki-data");
    let gossip: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let yaml = loki_config("sample-production-docker-loki.yaml")
        .replace("endpoint: minio:9000", &format!("endpoint: 127.0.0.1:{}", s3.port))
        .replace("access_key_id: loki", &format!("access_key_id: {S3_ACCESS_KEY}"))
        .replace("secret_access_key: supersecret", &format!("secret_access_key: {S3_SECRET_KEY}"))
        .replace("\"loki-monolithic\"", &format!("\"127.0.0.1:{}\"", gossip[0]))
        .replace("\"loki-monolithic-compactor\"", &format!("\"127.0.0.1:{}\"", gossip[1]));
    let mut nodes = Vec::new();
    for port in &gossip {
        // The compose file's command line, plus the flags that tell the replicas apart.
        let args = vec![
            "-target=all".to_string(),
            String::new(),
            format!("-server.grpc-listen-port={}", free_port()),
            format!("-memberlist.bind-port={port}"),
            "-memberlist.advertise-addr=127.0.0.1".to_string(),
            "-common.path-prefix=ROOT/loki".to_string(),
            "-ingester.wal-dir=ROOT/loki/wal".to_string(),
        ];
        nodes.push(Server::start_loki(&yaml, LokiLaunch { args, env: Vec::new() }).await);
    }
    // Writes need two of three replicas: retry while the ring forms.
    let start = now_ns() - 10 * SECOND;
    let entries: Vec<Entry> = (0..5).map(|i| Entry::new(start + i * SECOND, format!("line {i}"))).collect();
    let body = skald_push::encode_json(&[stream(&[("job", "production")], entries.clone())]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, text) = nodes[0].push_json(Some("team-a"), body.clone()).await;
        if status == 204 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "push never accepted: {status} {text}\n{}", nodes[0].logs());
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let got = nodes[2].query_streams(r#"{job="production"}"#, start - SECOND, now_ns(), 100, Some("team-a")).await;
    let values: Vec<&(String, String)> = got.values().flatten().collect();
    assert_eq!(values.len(), 5, "{got:?}");
    for node in &nodes {
        assert_eq!(node.post("/flush", &[], Vec::new()).await.0, 204);
    }
    assert!(!s3.keys_in("loki-data", "packs/").is_empty(), "chunks on S3");
    let (status, body) = nodes[1].get("/ring", &[], None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn s3_url_examples_with_keys_from_the_environment_and_kms() {
    // The region form of the `s3` URL names AWS; Loki's flags and the AWS SDK's
    // environment variables point it at the test's S3 instead, as they would for Loki.
    let s3 = S3Server::start().await;
    // S3 refuses `_` in bucket names: the placeholder becomes `bucket-name`.
    s3.add_bucket("bucket-name");
    let flags = || -> Vec<String> {
        let endpoint = format!("-s3.endpoint=127.0.0.1:{}", s3.port);
        vec![endpoint, "-s3.insecure=true".into(), "-s3.force-path-style=true".into(), "-common.path-prefix=ROOT/loki".into()]
    };
    let env = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), S3_ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), S3_SECRET_KEY.to_string()),
    ];
    let without = loki_config("docs-3-S3-Without-Credentials-Snippet.yaml").replace("bucket_name", "bucket-name");
    let without_keys = Server::start_loki(&without, LokiLaunch { args: flags(), env }).await;
    push_and_query(&without_keys, None, "without-keys").await;
    assert_eq!(without_keys.post("/flush", &[], Vec::new()).await.0, 204);
    assert!(!s3.keys_in("bucket-name", "packs/").is_empty(), "{}", without_keys.logs());
    drop(without_keys);

    // SSE-KMS: every object is written with the key named.
    let kms = loki_config("docs-9-S3-With-SSE-KMS-Snippet.yaml")
        .replace("access_key:secret_access_key", &format!("{S3_ACCESS_KEY}:{S3_SECRET_KEY}"))
        .replace("bucket_name", "bucket-name");
    let server = Server::start_loki(&kms, LokiLaunch { args: flags(), env: Vec::new() }).await;
    push_and_query(&server, None, "kms").await;
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
}
