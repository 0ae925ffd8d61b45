//! The web UI in a real browser: starts the real server, pushes the data the browser
//! script expects, and runs `tests/ui/e2e.mjs` (playwright-core driving Debian's
//! headless Chromium). Screenshots go to `target/ui-screenshots` (or
//! `$SKALD_UI_SCREENSHOTS`).
//!
//! Needs `/usr/bin/chromium` and `tests/ui/node_modules`: `scripts/test-deps` installs
//! both. Without them this test fails and says so (a silent skip would hide a UI that
//! no longer works).

mod common;

use common::*;
use skald_common::Entry;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The base config of the harness, with room for the 10,000-line page the script renders
/// (Loki's default `max_entries_limit_per_query` is 5,000) and Skald's push-time
/// discovery on, as in a default deployment (`detected_level`, `service_name`).
const UI_CONFIG: &str = "\
limits_config:
  max_entries_limit_per_query: 10000
";

const CHROMIUM: &str = "/usr/bin/chromium";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The data the script's contract (its header comment) describes.
fn test_streams(now: i64) -> Vec<skald_common::PushStream> {
    let base = now - 30 * 60 * SECOND;
    let info: Vec<Entry> = (0..150).map(|i| Entry::new(base + i * 10 * SECOND, format!("order {i} placed"))).collect();
    // Warn lines share timestamps with info lines: page boundaries then fall on ties.
    let warn: Vec<Entry> = (0..30).map(|i| Entry::new(base + i * 5 * 10 * SECOND, format!("slow response {} ms", 500 + i))).collect();
    let error: Vec<Entry> = (0..40)
        .map(|i| {
            let trace = format!("trace-{i}");
            entry_with_metadata(
                base + i * 10 * SECOND + 3 * SECOND,
                &format!("payment failed for order {i}"),
                &[("trace_id", trace.as_str())],
            )
        })
        .collect();
    let big_base = now - 20 * 60 * SECOND;
    let big: Vec<Entry> = (0..10_000)
        .map(|i| {
            Entry::new(
                big_base + i * 100_000_000,
                format!("bulk line {i} method=GET path=/api/items/{} status=200 took={}ms", i % 97, i % 13),
            )
        })
        .collect();
    vec![
        stream(&[("app", "checkout"), ("level", "info")], info),
        stream(&[("app", "checkout"), ("level", "warn")], warn),
        stream(&[("app", "checkout"), ("level", "error")], error),
        stream(&[("app", "big")], big),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_headless_chromium() {
    let root = workspace_root();
    let script = root.join("tests/ui/e2e.mjs");
    let playwright = root.join("tests/ui/node_modules/playwright-core");
    assert!(
        Path::new(CHROMIUM).exists() && playwright.exists(),
        "the browser tests need {CHROMIUM} and {}: run scripts/test-deps",
        playwright.display()
    );
    let screenshots = std::env::var_os("SKALD_UI_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|| root.join("target/ui-screenshots"));

    let server = Server::start(UI_CONFIG).await;
    server.push_streams(None, &test_streams(now_ns())).await;

    let node = tokio::process::Command::new("node")
        .arg(&script)
        .arg(server.base_url())
        .arg(&screenshots)
        .current_dir(&root)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), node)
        .await
        .expect("the browser test ran for more than 5 minutes")
        .expect("running node (is it installed? scripts/test-deps)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}\nscreenshots in {}\nserver log:\n{}",
        output.status,
        screenshots.display(),
        server.logs()
    );
    assert!(stdout.contains("render 10,000 lines"), "no render figure in:\n{stdout}");
}

/// The UI's pure JavaScript (tokenizer, completion contexts, ranges, ordering) under
/// node's own test runner; needs node, not the browser.
#[test]
fn javascript_unit_tests() {
    let root = workspace_root();
    let output = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(root.join("tests/ui/unit.test.mjs"))
        .current_dir(&root)
        .output()
        .expect("running node (is it installed? scripts/test-deps)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node --test failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("fail 0") && !stdout.contains("pass 0"), "no JavaScript test ran, or one failed:\n{stdout}");
}

/// `scripts/test-deps` is what CI runs before the tests; it must stay runnable.
#[test]
fn test_deps_script_is_executable() {
    let script = workspace_root().join("scripts/test-deps");
    let status = Command::new("bash").arg("-n").arg(&script).status().expect("running bash -n");
    assert!(status.success(), "{} has a syntax error", script.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&script).expect("scripts/test-deps exists").permissions().mode();
        assert!(mode & 0o111 != 0, "scripts/test-deps is not executable");
    }
}
