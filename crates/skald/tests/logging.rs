//! The server's own log, redirected to a file as `kubectl logs`, journald and every log
//! shipper take it: no colour escapes, and with `server.log_format: json` one JSON object
//! per line.

mod common;

use common::*;

#[tokio::test]
async fn a_redirected_log_has_no_colour_escapes() {
    let mut server = Server::start(BASE_CONFIG).await;
    server.push_streams(None, &[stream(&[("job", "log")], vec![skald_common::Entry::new(now_ns(), "x")])]).await;
    assert!(server.terminate(std::time::Duration::from_secs(10)));
    let log = server.logs();
    assert!(log.contains("skald listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "an escape byte in the log:\n{log:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let mut server = Server::start(&format!("{BASE_CONFIG}server:\n  log_format: json\n")).await;
    assert!(server.terminate(std::time::Duration::from_secs(10)));
    let log = server.logs();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["level"].is_string() && object["fields"]["message"].is_string(), "{line}");
    }
    assert!(log.contains("skald listening"), "{log}");
}
