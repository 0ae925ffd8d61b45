//! The flags, with logcli's names, defaults and environment variables. In logcli the
//! connection and display flags are global (`logcli --addr=X query ...`); here they
//! belong to each subcommand (`skald query --addr=X ...`), which is also how most logcli
//! invocations are written since kingpin accepts global flags after the command.

use crate::output::Mode;
use crate::timefmt::{Zone, parse_duration_flag, parse_rfc3339_flag};
use std::path::PathBuf;

/// Where the server is and how to authenticate (logcli's client flags).
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectionArgs {
    /// Server address.
    #[arg(long, env = "LOKI_ADDR", default_value = "http://localhost:3100")]
    pub addr: String,
    /// Username for HTTP basic auth.
    #[arg(long, env = "LOKI_USERNAME", default_value = "")]
    pub username: String,
    /// Password for HTTP basic auth.
    #[arg(long, env = "LOKI_PASSWORD", default_value = "")]
    pub password: String,
    /// Adds X-Scope-OrgID (the tenant) to API requests.
    #[arg(long = "org-id", env = "LOKI_ORG_ID", default_value = "")]
    pub org_id: String,
    /// Adds `Authorization: Bearer <token>` to API requests.
    #[arg(long = "bearer-token", env = "LOKI_BEARER_TOKEN", default_value = "")]
    pub bearer_token: String,
    /// Reads the bearer token from this file.
    #[arg(long = "bearer-token-file", env = "LOKI_BEARER_TOKEN_FILE", default_value = "")]
    pub bearer_token_file: String,
    /// The header carrying basic or bearer credentials.
    #[arg(long = "auth-header", env = "LOKI_AUTH_HEADER", default_value = "Authorization")]
    pub auth_header: String,
    /// Adds X-Query-Tags to API requests.
    #[arg(long = "query-tags", env = "LOKI_QUERY_TAGS", default_value = "")]
    pub query_tags: String,
    /// Adds `Cache-Control: no-cache` to API requests.
    #[arg(long, env = "LOKI_NO_CACHE")]
    pub nocache: bool,
    /// How many times to retry each query after an error response.
    #[arg(long, env = "LOKI_CLIENT_RETRIES", default_value_t = 0)]
    pub retries: u32,
    /// Minimum backoff between retries, in seconds.
    #[arg(long = "min-backoff", env = "LOKI_CLIENT_MIN_BACKOFF", default_value_t = 0)]
    pub min_backoff: u64,
    /// Maximum backoff between retries, in seconds.
    #[arg(long = "max-backoff", env = "LOKI_CLIENT_MAX_BACKOFF", default_value_t = 0)]
    pub max_backoff: u64,
    /// HTTP proxy for requests.
    #[arg(long = "proxy-url", env = "LOKI_HTTP_PROXY_URL", default_value = "")]
    pub proxy_url: String,
    /// Suppress query metadata (URLs, common labels) and progress bars.
    #[arg(short, long)]
    pub quiet: bool,
}

/// How results are printed (logcli's global display flags).
#[derive(clap::Args, Clone, Debug)]
pub struct DisplayArgs {
    /// Show query statistics (on stderr).
    #[arg(long)]
    pub stats: bool,
    /// Output mode: raw suppresses log labels and timestamp.
    #[arg(short, long, value_enum, default_value = "default")]
    pub output: Mode,
    /// The timezone of printed timestamps.
    #[arg(short = 'z', long, value_enum, default_value = "Local")]
    pub timezone: Zone,
}

/// `--since`/`--from`/`--to`, resolved as logcli does: end = `--to` or now, start =
/// `--from` or now - `--since`.
#[derive(clap::Args, Clone, Debug)]
pub struct RangeArgs {
    /// Lookback window.
    #[arg(long, value_parser = parse_duration_flag, default_value = "1h")]
    pub since: i64,
    /// Start looking at this absolute time (inclusive), RFC3339.
    #[arg(long, value_parser = parse_rfc3339_flag)]
    pub from: Option<i64>,
    /// Stop looking at this absolute time (exclusive), RFC3339.
    #[arg(long, value_parser = parse_rfc3339_flag)]
    pub to: Option<i64>,
}

impl RangeArgs {
    /// `(start, end)` in Unix nanoseconds.
    pub fn resolve(&self) -> (i64, i64) {
        let now = skald_common::unix_nanos_now();
        let start = self.from.unwrap_or(now - self.since);
        let end = self.to.unwrap_or(now);
        (start, end)
    }
}

/// How log lines are shown (shared by `query` and `instant-query`).
#[derive(clap::Args, Clone, Debug)]
pub struct LogDisplayArgs {
    /// Scan forwards through logs.
    #[arg(long)]
    pub forward: bool,
    /// Do not print any labels.
    #[arg(long = "no-labels")]
    pub no_labels: bool,
    /// Exclude labels given the provided key during output (repeatable).
    #[arg(long = "exclude-label")]
    pub exclude_label: Vec<String>,
    /// Include labels given the provided key during output (repeatable).
    #[arg(long = "include-label")]
    pub include_label: Vec<String>,
    /// Do not factor out the labels all streams share.
    #[arg(long = "include-common-labels")]
    pub include_common_labels: bool,
    /// Set a fixed padding to labels.
    #[arg(long = "labels-length", default_value_t = 0)]
    pub labels_length: usize,
    /// Show output with colored labels.
    #[arg(long = "colored-output")]
    pub colored_output: bool,
}

/// `skald query`.
#[derive(clap::Args, Clone, Debug)]
pub struct QueryArgs {
    /// The LogQL query, e.g. '{job="x"} |= "error"'.
    pub query: String,
    /// Limit on number of entries to print; 0 fetches all entries.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Query resolution step width, for metric queries (e.g. 30s).
    #[arg(long, value_parser = parse_duration_flag)]
    pub step: Option<i64>,
    /// Query interval, for log queries (experimental in Loki).
    #[arg(long, value_parser = parse_duration_flag)]
    pub interval: Option<i64>,
    /// Query batch size to use until 'limit' is reached.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Tail the logs (websocket).
    #[arg(short = 't', long)]
    pub tail: bool,
    /// Alias for --tail.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Delay in tailing by number of seconds to accumulate logs for re-ordering.
    #[arg(long = "delay-for", default_value_t = 0)]
    pub delay_for: u64,
    #[command(flatten)]
    pub logs: LogDisplayArgs,
    #[command(flatten)]
    pub display: DisplayArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `skald instant-query`.
#[derive(clap::Args, Clone, Debug)]
pub struct InstantArgs {
    /// The LogQL query, e.g. 'rate({job="x"}[5m])'.
    pub query: String,
    /// Limit on number of entries to print.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Time at which to execute the instant query (RFC3339; default now).
    #[arg(long, value_parser = parse_rfc3339_flag)]
    pub now: Option<i64>,
    #[command(flatten)]
    pub logs: LogDisplayArgs,
    #[command(flatten)]
    pub display: DisplayArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `skald labels [NAME]`.
#[derive(clap::Args, Clone, Debug)]
pub struct LabelsArgs {
    /// The name of the label; without it the label names are listed.
    pub label: Option<String>,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `skald series MATCHER`.
#[derive(clap::Args, Clone, Debug)]
pub struct SeriesArgs {
    /// A selector, e.g. '{job="x"}'; '{}' lists every stream.
    pub matcher: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Print a summary of labels with their number of values, to find high cardinality.
    #[arg(long = "analyze-labels")]
    pub analyze_labels: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `skald stats QUERY`.
#[derive(clap::Args, Clone, Debug)]
pub struct StatsArgs {
    /// A selector, e.g. '{job="x"}'.
    pub query: String,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `skald volume QUERY` and `skald volume_range QUERY`.
#[derive(clap::Args, Clone, Debug)]
pub struct VolumeArgs {
    /// A selector, e.g. '{job="x"}'.
    pub query: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Limit on number of series to return volumes for.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Labels to aggregate results into (repeatable).
    #[arg(long = "targetLabels")]
    pub target_labels: Vec<String>,
    /// Aggregate results by label name only.
    #[arg(long = "aggregateByLabels")]
    pub aggregate_by_labels: bool,
    #[command(flatten)]
    pub display: DisplayArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `skald volume_range QUERY`: [`VolumeArgs`] plus the bucket width.
#[derive(clap::Args, Clone, Debug)]
pub struct VolumeRangeArgs {
    #[command(flatten)]
    pub volume: VolumeArgs,
    /// Roll volumes up into buckets of this width.
    #[arg(long, value_parser = parse_duration_flag, default_value = "1h")]
    pub step: i64,
}

/// `skald import FILE... --labels '{job="x"}'`.
#[derive(clap::Args, Clone, Debug)]
pub struct ImportArgs {
    /// Log files to load, one entry per line.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The stream's labels, e.g. '{job="x", host="a"}'.
    #[arg(long)]
    pub labels: String,
    /// Bytes of log lines per push request.
    #[arg(long = "batch-size", default_value_t = 1 << 20)]
    pub batch_size: usize,
    /// Take each entry's time from an RFC3339 timestamp at the start of its line (lines
    /// without one get the previous line's time); without it, entries are stamped now,
    /// one nanosecond apart, in file order.
    #[arg(long = "timestamp-prefix")]
    pub timestamp_prefix: bool,
    /// Send JSON instead of snappy-compressed protobuf.
    #[arg(long)]
    pub json: bool,
    /// How many times to retry a push answered 429 or 5xx (or not answered).
    #[arg(long = "max-retries", default_value_t = 10)]
    pub max_retries: u32,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}
