//! `skald query --tail` (`-t`, `-f`): follows a log query over the websocket
//! `/loki/api/v1/tail`, printing every entry as its frame arrives, with the stream's
//! full labels (no common-label factoring: streams come one frame at a time), filtered
//! by `--include-label`/`--exclude-label`. History since `--since`/`--from` comes
//! first, up to `--limit` entries, as with logcli.

use crate::Error;
use crate::args::QueryArgs;
use crate::client::{Client, log};
use crate::labels::{self, Labels};
use crate::print::parse_streams;
use crate::query::{log_output, note, write_stdout};
use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub async fn tail(args: &QueryArgs) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let output = log_output(&args.display, &args.logs);
    let (start, _) = args.range.resolve();
    let mut params = vec![("query", args.query.clone()), ("limit", args.limit.to_string()), ("start", start.to_string())];
    if args.delay_for != 0 {
        params.push(("delay_for", args.delay_for.to_string()));
    }
    let mut url = client.url("/loki/api/v1/tail", &params);
    // The scheme was checked to be http when the client was built.
    let _ = url.set_scheme("ws");
    note(client.quiet(), url.as_str());
    let mut request = url.as_str().into_client_request().map_err(|e| Error::Tail(e.to_string()))?;
    for (name, value) in client.headers() {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            Error::Tail(format!("Error response from server: {} ({})", body.trim_end(), response.status()))
        }
        other => Error::Tail(other.to_string()),
    })?;
    if !args.logs.exclude_label.is_empty() {
        note(client.quiet(), &format!("Ignoring labels key: {}", output.red(&args.logs.exclude_label.join(","))));
    }
    if !args.logs.include_label.is_empty() {
        note(client.quiet(), &format!("Print only labels key: {}", output.red(&args.logs.include_label.join(","))));
    }
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Close(frame)) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                log(&format!("Error reading stream: websocket closed: {reason}"));
                return Ok(());
            }
            Ok(_) => continue,
            Err(e) => {
                log(&format!("Error reading stream: {e}"));
                return Ok(());
            }
        };
        let frame: Value = serde_json::from_str(&text)
            .map_err(|e| Error::BadResponse { url: "tail".into(), reason: format!("frame is not JSON: {e}") })?;
        let mut out = String::new();
        for (stream_labels, entries) in parse_streams(&frame["streams"])? {
            let shown = shown_labels(args, &stream_labels);
            for (ts, line) in entries {
                out.push_str(&output.format(ts, &shown, 0, &line));
                out.push('\n');
            }
        }
        write_stdout(&out)?;
        if let Some(dropped) = frame["dropped_entries"].as_array().filter(|d| !d.is_empty()) {
            log("Server dropped following entries due to slow client");
            for entry in dropped {
                log(&format!("{} {}", entry["timestamp"], entry["labels"]));
            }
        }
    }
    Ok(())
}

fn shown_labels(args: &QueryArgs, stream_labels: &Labels) -> Labels {
    if args.logs.no_labels {
        return Labels::new();
    }
    let mut set = stream_labels.clone();
    if !args.logs.include_label.is_empty() {
        set = labels::matching(&set, &args.logs.include_label, true);
    }
    if !args.logs.exclude_label.is_empty() {
        set = labels::matching(&set, &args.logs.exclude_label, false);
    }
    set
}
