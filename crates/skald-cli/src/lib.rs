//! `skald query`, `skald labels`, ...: a logcli-compatible client of the Loki HTTP API,
//! plus `skald import` to load existing log files.
//!
//! The aim is that a script written for logcli works after replacing `logcli` with
//! `skald`: the same subcommands (`query`, `instant-query`, `labels`, `series`,
//! `stats`, `volume`, `volume_range`), flag names, defaults, environment variables
//! (`LOKI_ADDR`, `LOKI_ORG_ID`, ...) and output bytes. The formats are logcli's
//! (`pkg/logcli/output`, `pkg/logcli/print`), reproduced in [`output`], [`print`] and
//! [`gojson`]; paging follows `pkg/logcli/query/query.go` ([`query`]).
//!
//! Conventions: results go to stdout, written page by page as they arrive; everything
//! else (the request URL, "Common labels: ...", errors, progress bars) goes to stderr,
//! the informational lines behind Go's log prefix and suppressed by `--quiet`. An error
//! answer from the server is printed with the server's message and the command exits
//! with status 1; a flag that does not parse exits with status 2 (clap's message names
//! the flag).
//!
//! Modules: [`args`] (flags), [`client`] (HTTP), [`query`] (range and instant
//! queries), [`tail`] (websocket), [`meta`] (labels, series, stats, volume),
//! [`import`], and the formatting helpers [`labels`], [`output`], [`print`],
//! [`gojson`], [`timefmt`].

pub mod args;
pub mod client;
pub mod gojson;
pub mod import;
pub mod labels;
pub mod meta;
pub mod output;
pub mod print;
pub mod query;
pub mod tail;
pub mod timefmt;

use args::{ImportArgs, InstantArgs, LabelsArgs, QueryArgs, SeriesArgs, StatsArgs, VolumeArgs, VolumeRangeArgs};

/// The client subcommands, flattened into the `skald` binary's command list.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum Command {
    /// Run a LogQL query (logcli query); --tail follows it.
    Query(QueryArgs),
    /// Run an instant LogQL query (logcli instant-query).
    InstantQuery(InstantArgs),
    /// List label names, or the values of one label (logcli labels).
    Labels(LabelsArgs),
    /// List the streams matching a selector (logcli series).
    Series(SeriesArgs),
    /// Index statistics of a selector: streams, chunks, entries, bytes (logcli stats).
    Stats(StatsArgs),
    /// Bytes per series of a selector (logcli volume).
    Volume(VolumeArgs),
    /// Bytes per series of a selector over time (logcli volume_range).
    #[command(name = "volume_range")]
    VolumeRange(VolumeRangeArgs),
    /// Load log files into a stream through the push API.
    Import(ImportArgs),
}

/// Errors that end a client command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("invalid server address {addr:?}: {reason}")]
    Address { addr: String, reason: String },
    #[error("invalid value for header {name}")]
    Header { name: String },
    #[error("{0}")]
    Credentials(String),
    #[error("request to {url} failed: {reason}")]
    Http { url: String, reason: String },
    #[error("query failed: run out of attempts while querying the server")]
    OutOfAttempts,
    #[error("error response from server ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("push failed after {attempts} attempts, last: {last}")]
    PushGaveUp { attempts: u32, last: String },
    #[error("unexpected response from {url}: {reason}")]
    BadResponse { url: String, reason: String },
    #[error(
        "invalid batch size {batch}, the next query will have {overlap} overlapping entries (there will always be 1 \
         overlapping entry but Loki allows multiple entries to have the same timestamp, so when a batch ends in this \
         scenario the next query will include all the overlapping entries again); please increase your batch size to \
         at least {}",
        overlap + 1
    )]
    BatchTooSmall { batch: usize, overlap: usize },
    #[error("tailing logs failed: {0}")]
    Tail(String),
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: line {line} is longer than {max} bytes")]
    LineTooLong { path: String, line: u64, max: usize },
    #[error("writing to stdout: {0}")]
    Output(std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs one client command.
pub fn run(command: Command) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
    let result = runtime.block_on(dispatch(command));
    match result {
        // `skald query ... | head`: a closed stdout ends the command quietly.
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

async fn dispatch(command: Command) -> Result<(), Error> {
    match command {
        Command::Query(args) if args.tail || args.follow => tail::tail(&args).await,
        Command::Query(args) => query::range(&args).await,
        Command::InstantQuery(args) => query::instant(&args).await,
        Command::Labels(args) => meta::labels(&args).await,
        Command::Series(args) => meta::series(&args).await,
        Command::Stats(args) => meta::stats(&args).await,
        Command::Volume(args) => meta::volume(&args, None).await,
        Command::VolumeRange(args) => meta::volume(&args.volume, Some(args.step)).await,
        Command::Import(args) => import::import(&args).await,
    }
}
