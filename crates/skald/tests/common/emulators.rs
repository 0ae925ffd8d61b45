//! The cloud object stores the storage tests run against, each a real emulator in a
//! child process on a free loopback port (installed by `scripts/test-deps`):
//! Google Cloud Storage (`gcp-storage-emulator`, PyPI) and Azure Blob Storage
//! (Azurite, Microsoft's emulator, npm). Killed on drop.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root (the tests run in the crate's directory).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn wait_listening(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on port {port}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `gcp-storage-emulator`, serving one bucket.
pub struct GcsEmulator {
    child: Child,
    pub port: u16,
    root: tempfile::TempDir,
}

impl GcsEmulator {
    pub async fn start(bucket: &str) -> GcsEmulator {
        let root = tempfile::Builder::new().prefix("skald-gcs-").tempdir().unwrap();
        let port = free_port();
        let log_path = root.path().join("emulator.log");
        let log = std::fs::File::create(&log_path).unwrap();
        // It keeps its objects under the working directory.
        let child = Command::new("gcp-storage-emulator")
            .args(["start", "--host", "127.0.0.1", "--port", &port.to_string(), "--default-bucket", bucket])
            .current_dir(root.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning gcp-storage-emulator (run scripts/test-deps to install it)");
        wait_listening(port, "gcp-storage-emulator", &log_path).await;
        GcsEmulator { child, port, root }
    }

    /// What Google's clients (and Loki's, and Skald's) read to use an emulator.
    pub fn env(&self) -> (String, String) {
        ("STORAGE_EMULATOR_HOST".to_string(), format!("http://127.0.0.1:{}", self.port))
    }

    /// Object names in the bucket under `prefix`, asked over the JSON API.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let url = format!("http://127.0.0.1:{}/storage/v1/b/{bucket}/o", self.port);
        let mut names = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix.to_string())];
            if let Some(token) = &page {
                query.push(("pageToken", token.clone()));
            }
            let answer: serde_json::Value = reqwest::Client::new().get(&url).query(&query).send().await.unwrap().json().await.unwrap();
            for item in answer["items"].as_array().into_iter().flatten() {
                names.push(item["name"].as_str().unwrap().to_string());
            }
            match answer["nextPageToken"].as_str() {
                Some(token) => page = Some(token.to_string()),
                None => break,
            }
        }
        names.sort();
        names
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("emulator.log")).unwrap_or_default()
    }
}

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Azurite's Blob service, with its well-known development account.
pub struct Azurite {
    child: Child,
    pub port: u16,
    root: tempfile::TempDir,
}

/// The development account's key (public, the same in every Azurite).
pub const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    /// Starts Azurite and creates `container` in it.
    pub async fn start(container: &str) -> Azurite {
        let root = tempfile::Builder::new().prefix("skald-azurite-").tempdir().unwrap();
        let port = free_port();
        let log_path = root.path().join("azurite.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let binary = repo_root().join("tests/storage-emulators/node_modules/.bin/azurite-blob");
        let child = Command::new(&binary)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--skipApiVersionCheck", "--location"])
            .arg(root.path().join("data"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {} (run scripts/test-deps to install it): {e}", binary.display()));
        wait_listening(port, "azurite", &log_path).await;
        let azurite = Azurite { child, port, root };
        let created = Command::new("node")
            .arg(repo_root().join("tests/storage-emulators/create-container.js"))
            .arg(azurite.connection_string())
            .arg(container)
            .output()
            .expect("running node");
        assert!(created.status.success(), "creating the container: {}", String::from_utf8_lossy(&created.stderr));
        azurite
    }

    /// The connection string an Azurite user gives Loki (`azure.connection_string`).
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
            self.port
        )
    }

    /// Blob names in `container` under `prefix`, through Azure's own client.
    pub fn keys(&self, container: &str, prefix: &str) -> Vec<String> {
        let script = "const { BlobServiceClient } = require('@azure/storage-blob');\
            (async () => { const c = BlobServiceClient.fromConnectionString(process.argv[1]).getContainerClient(process.argv[2]);\
            for await (const b of c.listBlobsFlat({ prefix: process.argv[3] })) console.log(b.name); })()\
            .catch((e) => { console.error(e.message); process.exit(1); });";
        let output = Command::new("node")
            .current_dir(repo_root().join("tests/storage-emulators"))
            .args(["-e", script, &self.connection_string(), container, prefix])
            .output()
            .expect("running node");
        assert!(output.status.success(), "listing blobs: {}", String::from_utf8_lossy(&output.stderr));
        let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect();
        names.sort();
        names
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("azurite.log")).unwrap_or_default()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
