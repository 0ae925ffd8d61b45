//! Loki's shutdown endpoints on the single binary: `/ingester/prepare_shutdown` (set,
//! unset, status), `/ingester/shutdown` flushing everything to storage (and ending the
//! process unless `terminate=false`), bad flags refused. The cluster case (an ingester
//! leaving during pushes) is in `cluster.rs`.

mod common;

use common::*;
use skald_common::Entry;
use std::time::{Duration, Instant};

#[tokio::test]
async fn prepare_shutdown_is_set_shown_and_unset() {
    let server = Server::start_default().await;
    let status = async || server.get("/ingester/prepare_shutdown", &[], None).await;
    assert_eq!(status().await, (200, "unset\n".to_string()));
    assert_eq!(server.post("/ingester/prepare_shutdown", &[], Vec::new()).await.0, 204);
    assert_eq!(status().await, (200, "set\n".to_string()));
    let response = server.client.delete(server.url("/ingester/prepare_shutdown")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(status().await, (200, "unset\n".to_string()));
}

#[tokio::test]
async fn shutdown_flushes_everything_and_ends_the_process() {
    let mut server = Server::start_default().await;
    let lines: Vec<Entry> = (0..20).map(|i| Entry::new(now_ns() - (20 - i) * SECOND, format!("line {i}"))).collect();
    server.push_streams(None, &[stream(&[("job", "shutdown")], lines.clone())]).await;
    let (status, body) = server.post("/ingester/shutdown?flush=maybe", &[], Vec::new()).await;
    assert_eq!((status, body.trim()), (400, "invalid value for flush: \"maybe\" is not a boolean"));
    assert!(files_under(&server.data_dir()).iter().all(|f| !f.contains("packs/")), "nothing flushed yet");

    // terminate=false: flushed, the process stays.
    assert_eq!(server.post("/ingester/shutdown?terminate=false", &[], Vec::new()).await.0, 204);
    let packs: Vec<String> = files_under(&server.data_dir()).into_iter().filter(|f| f.contains("packs/")).collect();
    assert!(!packs.is_empty(), "the data is in storage");
    assert_eq!(server.get("/ready", &[], None).await.0, 200, "still serving");

    // The default ends the process, cleanly.
    assert_eq!(server.post("/ingester/shutdown", &[], Vec::new()).await.0, 204);
    let pid = server.pid();
    let deadline = Instant::now() + Duration::from_secs(20);
    // SAFETY: waitpid on our own child, without blocking; it is reaped here.
    while unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0 {
        assert!(Instant::now() < deadline, "still running after /ingester/shutdown\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Everything is read back from storage by the next start.
    server.restart().await;
    let got = server.query_streams(r#"{job="shutdown"}"#, now_ns() - 60 * SECOND, now_ns(), 100, None).await;
    assert_eq!(got[&labels(&[("job", "shutdown")])], expected(&lines));
}
