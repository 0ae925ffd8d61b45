//! Google Cloud Storage and Azure Blob Storage against real emulators
//! (`gcp-storage-emulator`, Azurite), configured with Loki's own examples: chunks are
//! written to the bucket, read back by a node that has nothing but the bucket, dropped
//! by retention, and removed by the delete API.

mod common;

use common::emulators::{AZURITE_KEY, Azurite, GcsEmulator};
use common::*;
use skald_common::Entry;
use std::path::Path;
use std::time::{Duration, Instant};

const HOUR: i64 = 3600 * SECOND;

fn loki_config(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/loki-configs").join(name);
    std::fs::read_to_string(&path).unwrap().replace("/tmp/loki", "ROOT/loki").replace(" /loki", " ROOT/loki")
}

/// What the tests add to a Loki example: retention by stream, a quick compactor, the
/// delete API with a short cancel period.
const RETENTION: &str = "
limits_config:
  discover_service_name: []
  discover_log_levels: false
  retention_period: 2h
  retention_stream:
    - selector: '{app=\"keep\"}'
      priority: 1
      period: 24h
ingester:
  flush_check_period: 500ms
compactor:
  compaction_interval: 1s
  retention_enabled: true
  retention_delete_delay: 0s
  delete_request_cancel_period: 2s
";

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, timeout: Duration, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn entries(prefix: &str, start: i64, count: usize) -> Vec<Entry> {
    (0..count)
        .map(|i| Entry::new(start + i as i64 * SECOND, format!("{prefix} {} line {i}", if i % 2 == 0 { "secret" } else { "public" })))
        .collect()
}

/// Written, read back, retained, deleted: `config` is a Loki example pointed at the
/// emulator, `launch` its environment, `packs` lists the pack objects in the bucket.
async fn lifecycle<F, Fut>(config: &str, launch: LokiLaunch, packs: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let yaml = format!("{config}\n{RETENTION}");
    let writer = Server::start_loki(&yaml, launch.clone()).await;
    let old = now_ns() - 3 * HOUR;
    let recent = now_ns() - 120 * SECOND;
    let expiring = entries("old", old, 4);
    let kept = entries("kept", old, 4);
    let fresh = entries("fresh", recent, 6);
    let streams = [stream(&[("app", "old")], expiring), stream(&[("app", "keep")], kept.clone()), stream(&[("app", "new")], fresh.clone())];
    writer.push_streams(None, &streams).await;
    assert_eq!(writer.post("/flush", &[], Vec::new()).await.0, 204);
    // Packs are per UTC day: the old entries are in a second one shortly after midnight.
    let days = if old.div_euclid(24 * HOUR) == recent.div_euclid(24 * HOUR) { 1 } else { 2 };
    let written = packs().await;
    assert_eq!(written.len(), days, "the three streams in one pack per day\n{}", writer.logs());

    // Retention: the expired stream's chunk goes (its pack is rewritten without it and
    // deleted), the one kept by its rule stays.
    wait_for("the pack with the expired chunk to be replaced", Duration::from_secs(20), || async {
        let now = packs().await;
        now.len() == days && now != written
    })
    .await;

    // The delete API: the `secret` lines of app=new.
    let response = writer
        .client
        .post(writer.url("/loki/api/v1/delete"))
        .query(&[
            ("query", r#"{app="new"} |= "secret""#.to_string()),
            ("start", (recent / SECOND - 1).to_string()),
            ("end", (now_ns() / SECOND).to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    wait_for("the delete request to be processed", Duration::from_secs(30), || async {
        let (_, body) = writer.get("/loki/api/v1/delete", &[], None).await;
        body.contains("\"processed\"")
    })
    .await;

    // Read back by a node with nothing of its own: a fresh directory, the same bucket.
    let reader = Server::start_loki(&yaml, launch).await;
    let got = reader.query_streams(r#"{app=~".+"}"#, old - HOUR, now_ns(), 1000, None).await;
    let public: Vec<Entry> = fresh.iter().filter(|e| e.line.contains("public")).cloned().collect();
    assert_eq!(got.len(), 2, "{got:?}\n{}", reader.logs());
    assert_eq!(got[&labels(&[("app", "keep")])], expected(&kept));
    assert_eq!(got[&labels(&[("app", "new")])], expected(&public));
}

#[tokio::test]
async fn gcs_example_on_the_gcs_emulator() {
    let gcs = GcsEmulator::start("skald").await;
    let config = loki_config("docs-4-GCS-Example.yaml").replace("replace_by_your_bucked_name", "skald");
    let launch = LokiLaunch { args: Vec::new(), env: vec![gcs.env()] };
    lifecycle(&config, launch, || gcs.keys("skald", "packs/")).await;
    assert!(gcs.log().contains("POST /upload/storage/v1/b/skald/o"), "uploads go over the JSON API");
}

#[tokio::test]
async fn thanos_gcs_example_on_the_gcs_emulator() {
    let gcs = GcsEmulator::start("thanos").await;
    let config = loki_config("docs-18-Thanos-GCS-Example.yaml").replace("<BUCKET_NAME>", "thanos");
    let server = Server::start_loki(&config, LokiLaunch { args: Vec::new(), env: vec![gcs.env()] }).await;
    let start = now_ns() - 10 * SECOND;
    let lines = entries("thanos", start, 3);
    server.push_streams(None, &[stream(&[("job", "thanos")], lines.clone())]).await;
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
    assert_eq!(gcs.keys("thanos", "packs/").await.len(), 1);
    let got = server.query_streams(r#"{job="thanos"}"#, start - SECOND, now_ns(), 100, None).await;
    assert_eq!(got.values().flatten().count(), 3);
}

#[tokio::test]
async fn azure_example_on_azurite() {
    let azurite = Azurite::start("skald").await;
    // Loki's example, with the connection string its comment suggests for Azurite.
    let config = loki_config("docs-16-Azure-Account-Name-Example.yaml")
        .replace("<azure_blob_access_key>", AZURITE_KEY)
        .replace("<azure_account_name>", "devstoreaccount1")
        .replace("<azure_storage_bucket_name>", "skald")
        .replace("#connection_string: <connection-string>", &format!("connection_string: \"{}\"", azurite.connection_string()));
    let config = format!("{config}\ncommon:\n  path_prefix: ROOT/loki\n");
    lifecycle(&config, LokiLaunch::default(), || async { azurite.keys("skald", "packs/") }).await;
}

#[tokio::test]
async fn thanos_azure_example_on_azurite() {
    let azurite = Azurite::start("thanos").await;
    let config = loki_config("docs-20-Thanos-Azure-Example.yaml")
        .replace("<ACCOUNT_NAME>", "devstoreaccount1")
        .replace("<ACCOUNT_KEY>", AZURITE_KEY)
        .replace("<CONTAINER_NAME>", "thanos")
        .replace("account_key:", &format!("connection_string: \"{}\"\n      account_key:", azurite.connection_string()));
    let server = Server::start_loki(&config, LokiLaunch::default()).await;
    let start = now_ns() - 10 * SECOND;
    server.push_streams(None, &[stream(&[("job", "thanos")], entries("thanos", start, 3))]).await;
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
    assert_eq!(azurite.keys("thanos", "packs/").len(), 1);
    let got = server.query_streams(r#"{job="thanos"}"#, start - SECOND, now_ns(), 100, None).await;
    assert_eq!(got.values().flatten().count(), 3);
}
