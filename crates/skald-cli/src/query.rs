//! `skald query` and `skald instant-query`, following logcli's `Query.DoQuery`.
//!
//! A log query larger than `--batch` is fetched page by page: each request asks for at
//! most `--batch` entries; the next request ends at the last timestamp received (+1 ns,
//! `end` being exclusive) going backward, or starts at it going forward, so entries
//! sharing that timestamp are fetched again and skipped ([`Boundary`]). The last request
//! asks only for what is still missing (plus the boundary), and never more than
//! `--limit` entries are printed (`--limit 0`: everything). Each page is written to
//! stdout as soon as it arrives.

use crate::Error;
use crate::args::{InstantArgs, LogDisplayArgs, QueryArgs};
use crate::client::{Client, Progress, log};
use crate::output::{LogOutput, stdout_wants_color};
use crate::print::{Boundary, Printer, metric_text, stats_text};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::io::{IsTerminal, Write};

/// Builds the entry printer from the display flags.
pub fn log_output(display: &crate::args::DisplayArgs, logs: &LogDisplayArgs) -> LogOutput {
    LogOutput {
        mode: display.output,
        zone: display.timezone,
        no_labels: logs.no_labels,
        colored_labels: logs.colored_output,
        color: stdout_wants_color(),
    }
}

/// Writes text to stdout and flushes it, so results stream out page by page.
pub fn write_stdout(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).map_err(Error::Output)?;
    stdout.flush().map_err(Error::Output)
}

/// Go's `strconv.FormatFloat(seconds, 'f', -1, 64)` of a duration, as logcli sends
/// `step` and `interval`.
fn seconds_param(nanos: i64) -> String {
    format!("{}", nanos as f64 / 1e9)
}

fn direction(forward: bool) -> &'static str {
    if forward { "FORWARD" } else { "BACKWARD" }
}

/// The `data` object of a query response and its `resultType`.
fn data_of(response: &Value) -> Result<(&Value, &str), Error> {
    let data = &response["data"];
    let result_type = data["resultType"]
        .as_str()
        .ok_or_else(|| Error::BadResponse { url: "query".into(), reason: format!("no data.resultType in {response}") })?;
    Ok((data, result_type))
}

fn print_stats(data: &Value) {
    if let Some(stats) = data.get("stats") {
        eprint!("{}", stats_text(stats));
    }
}

/// A progress bar of entries on stderr, only when stderr is a terminal and not quiet.
fn progress_bar(limit: usize, quiet: bool) -> Option<Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = if limit == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(limit as u64) };
    let template = if limit == 0 { "{spinner} {pos} entries {elapsed}" } else { "{bar:40} {pos}/{len} entries {elapsed}" };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    Some(Progress::show(bar))
}

/// `skald query` without `--tail`.
pub async fn range(args: &QueryArgs) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let output = log_output(&args.display, &args.logs);
    let printer = Printer { output: &output, logs: &args.logs, quiet: args.connection.quiet };
    let forward = args.logs.forward;
    let limit = args.limit;
    let unlimited = limit == 0;
    let mut batch = args.batch;
    if !unlimited && limit < batch {
        batch = limit;
    }
    if batch == 0 {
        return Err(Error::Usage("--batch must be greater than 0".into()));
    }
    let (mut start, mut end) = args.range.resolve();
    if start == end && args.step.unwrap_or(0) == 0 {
        // logcli's `isInstant`: an empty range without a step is an instant query.
        let instant = InstantArgs {
            query: args.query.clone(),
            limit,
            now: Some(start),
            logs: args.logs.clone(),
            display: args.display.clone(),
            connection: args.connection.clone(),
        };
        return self::instant(&instant).await;
    }
    let bar = progress_bar(limit, args.connection.quiet || (!unlimited && limit <= batch));
    let mut total = 0usize;
    let mut previous = Boundary::default();
    while unlimited || total < limit {
        let mut size = batch;
        if !unlimited && limit - total < batch {
            size = limit - total + previous.len();
        }
        let mut params = vec![
            ("query", args.query.clone()),
            ("limit", size.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("direction", direction(forward).to_string()),
        ];
        if let Some(step) = args.step.filter(|s| *s != 0) {
            params.push(("step", seconds_param(step)));
        }
        if let Some(interval) = args.interval.filter(|i| *i != 0) {
            params.push(("interval", seconds_param(interval)));
        }
        let response = client.get_json("/loki/api/v1/query_range", &params).await?;
        let (data, result_type) = data_of(&response)?;
        if args.display.stats {
            print_stats(data);
        }
        if result_type != "streams" {
            write_stdout(&metric_text(result_type, &data["result"])?)?;
            break;
        }
        let remaining = if unlimited { None } else { Some(limit - total) };
        let page = printer.streams_page(&data["result"], &previous, forward, remaining)?;
        match &bar {
            Some(progress) => {
                progress.bar().suspend(|| write_stdout(&page.text))?;
                progress.bar().inc(page.printed as u64);
            }
            None => write_stdout(&page.text)?,
        }
        // No new entries, or everything came in one request, or the range is exhausted.
        if page.printed == 0 || page.boundary.is_empty() || page.printed == limit || page.received < size {
            break;
        }
        if page.boundary.len() >= batch {
            return Err(Error::BatchTooSmall { batch, overlap: page.boundary.len() });
        }
        total += page.printed;
        if forward {
            start = page.boundary.ts;
        } else {
            end = page.boundary.ts + 1;
        }
        previous = page.boundary;
    }
    drop(bar);
    Ok(())
}

/// `skald instant-query`.
pub async fn instant(args: &InstantArgs) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let output = log_output(&args.display, &args.logs);
    let printer = Printer { output: &output, logs: &args.logs, quiet: args.connection.quiet };
    let time = args.now.unwrap_or_else(skald_common::unix_nanos_now);
    let params = [
        ("query", args.query.clone()),
        ("limit", args.limit.to_string()),
        ("time", time.to_string()),
        ("direction", direction(args.logs.forward).to_string()),
    ];
    let response = client.get_json("/loki/api/v1/query", &params).await?;
    let (data, result_type) = data_of(&response)?;
    if args.display.stats {
        print_stats(data);
    }
    if result_type == "streams" {
        let page = printer.streams_page(&data["result"], &Boundary::default(), args.logs.forward, None)?;
        write_stdout(&page.text)
    } else {
        write_stdout(&metric_text(result_type, &data["result"])?)
    }
}

/// Logs a message unless quiet.
pub fn note(quiet: bool, message: &str) {
    if !quiet {
        log(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_sent_as_go_float_seconds() {
        assert_eq!(seconds_param(30_000_000_000), "30");
        assert_eq!(seconds_param(500_000_000), "0.5");
        assert_eq!(direction(true), "FORWARD");
    }
}
