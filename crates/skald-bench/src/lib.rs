//! `skald bench`: the end-to-end benchmark. It starts a server (the same `skald`
//! binary) on a fresh data directory, pushes a corpus of Loki push bodies over HTTP with
//! concurrency, flushes, then runs the corpus' queries, and reports ingest MB/s and
//! lines/s, the server's CPU seconds per phase (from /proc), peak RSS, bytes on disk
//! after flush (WAL excluded) and each query's latency and server CPU, checking every
//! answer.
//!
//! Two corpora (`../shared/bench`), told apart by their meta file:
//! - the reference corpus (`gen.py`): queries `a`..`f`, answers from the meta file
//!   (`reference.rs`);
//! - the high-cardinality corpus (`gen_hc.py`, 100,000 streams): after the flush the
//!   server is restarted and `hc1` is counted cold (first query after the restart) and
//!   warm, then `hc2`..`hc4`; answers computed from the corpus (`hc.rs`).
//!
//! ```text
//! python3 ../shared/bench/gen.py --size 200MB --seed 42 --out /tmp/d200.jsonl
//! python3 ../shared/bench/gen_hc.py --streams 100000 --lines 10 --seed 7 --out /tmp/hc100k.jsonl
//! cargo build --release && target/release/skald bench --corpus /tmp/d200.jsonl
//! ```
//!
//! Phases: `process.rs` (the server and its /proc figures), `ingest.rs` (push and
//! flush), `queries.rs` (running cases), `latency.rs` (push latency and visibility).

mod formats;
mod hc;
mod ingest;
mod latency;
mod process;
mod queries;
mod reference;

use anyhow::Context;
use process::Server;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// Push bodies, one JSON body per line (`gen.py` or `gen_hc.py` output).
    #[arg(long)]
    corpus: PathBuf,
    /// The corpus' meta file (default: CORPUS.meta.json).
    #[arg(long)]
    meta: Option<PathBuf>,
    /// Where the server keeps its data (emptied first).
    #[arg(long, default_value = "/tmp/skald-bench")]
    data_dir: PathBuf,
    /// Concurrent pushers.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Runs of each query (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Port of the benchmarked server.
    #[arg(long, default_value_t = 3190)]
    port: u16,
    /// After the queries, measure push latency at 80% of the ingest rate and how soon a
    /// pushed line is visible.
    #[arg(long)]
    latency: bool,
    /// After ingesting, kill the server with SIGKILL and time the restart (WAL replay).
    #[arg(long)]
    replay: bool,
    /// Extra YAML appended to the server's config (for example another chunk_encoding).
    #[arg(long)]
    extra_config: Option<String>,
    /// Benchmark a running cluster started by `examples/cluster/up.sh DIR` instead of
    /// starting a server: push to its distributor, query its frontend, and count the
    /// CPU and memory of every process in `DIR/pids`.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// With --cluster: only run the queries (the corpus was pushed before).
    #[arg(long, requires = "cluster")]
    queries_only: bool,
    /// The server binary to start (default: this one), to compare builds side by side
    /// with the same benchmark.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// How the corpus is pushed: Loki JSON (as generated), Loki protobuf (snappy, as
    /// Promtail sends) or OTLP/HTTP protobuf (one resource per stream).
    #[arg(long, value_enum, default_value = "json")]
    push_format: formats::PushFormat,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(bench(args))
}

/// Which corpus: the high-cardinality one records a stream count and no needles.
fn is_high_cardinality(meta: &Value) -> bool {
    meta.get("streams").is_some() && meta.get("needle_none").is_none()
}

async fn bench(mut args: BenchArgs) -> anyhow::Result<()> {
    let meta_path = args.meta.clone().unwrap_or_else(|| PathBuf::from(format!("{}.meta.json", args.corpus.display())));
    let meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?)?;
    let corpus = std::fs::read(&args.corpus).with_context(|| format!("reading {}", args.corpus.display()))?;
    let bodies = Arc::new(ingest::split_lines(corpus));
    let raw_bytes = meta["raw_bytes"].as_f64().unwrap_or(0.0);
    let lines = meta["lines"].as_f64().unwrap_or(0.0);
    let high_cardinality = is_high_cardinality(&meta);
    let push = Arc::new(formats::convert(&bodies, args.push_format)?);
    if !push.server_config.is_empty() {
        args.extra_config = Some(format!("{}{}", args.extra_config.take().map(|c| c + "\n").unwrap_or_default(), push.server_config));
    }

    if args.cluster.is_none() {
        // Emptied before the clock starts (a big old data directory takes a while).
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    let startup = Instant::now();
    let mut server = match &args.cluster {
        Some(dir) => process::attach_cluster(dir)?,
        None => process::start_server(&args, true).await?,
    };
    let startup_seconds = startup.elapsed().as_secs_f64();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;

    if args.queries_only {
        println!("# skald bench: queries on the cluster {}", server.query_base);
        println!();
        return run_queries(&args, &meta, &bodies, &mut server, &client, high_cardinality).await;
    }

    let pushed = ingest::push_all(&server, &client, &push, args.concurrency).await?;
    let mb = raw_bytes / 1e6;
    if args.cluster.is_some() {
        println!("# skald bench: {} on the cluster {}", args.corpus.display(), server.base);
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!("| processes counted | {} |", server.pids.len());
        println!(
            "| ingest wall time ({} pushers) | {:.2} s ({:.1} MB/s, {:.0} lines/s) |",
            args.concurrency,
            pushed.seconds,
            mb / pushed.seconds,
            lines / pushed.seconds
        );
        println!("| ingest CPU, all processes | {:.2} s = {:.1} MB of lines per CPU-second |", pushed.cpu, mb / pushed.cpu);
        println!("| peak RSS, all processes together | {:.1} MiB |", pushed.peak_rss as f64 / 1048576.0);
        println!();
        run_queries(&args, &meta, &bodies, &mut server, &client, high_cardinality).await?;
        if args.latency {
            latency::push_latency(&server, &client, &bodies, raw_bytes / pushed.seconds).await?;
        }
        return Ok(());
    }

    // Optionally: crash and measure the WAL replay of everything just ingested.
    let mut replay_seconds = None;
    if args.replay {
        server.stop(false);
        let started = Instant::now();
        server = process::start_server(&args, false).await?;
        replay_seconds = Some(started.elapsed().as_secs_f64());
    }
    let (flush_seconds, flush_cpu) = ingest::flush(&server, &client).await?;
    let data = args.data_dir.join("data");
    let index_bytes = process::dir_bytes(&data.join("index"));
    // Packs, and chunk objects of the layout before packs.
    let disk_bytes = process::dir_bytes(&data.join("packs")) + process::dir_bytes(&data.join("chunks")) + index_bytes;
    let allocated = ["packs", "chunks", "index"].iter().map(|d| process::allocated_bytes(&data.join(d))).sum::<u64>();

    println!("# skald bench: {}", args.corpus.display());
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| raw lines | {mb:.1} MB, {lines} lines, pushed as {:?} |", args.push_format);
    println!("| startup to ready (empty data dir) | {startup_seconds:.3} s |");
    println!(
        "| ingest wall time ({} pushers) | {:.2} s ({:.1} MB/s, {:.0} lines/s) |",
        args.concurrency,
        pushed.seconds,
        mb / pushed.seconds,
        lines / pushed.seconds
    );
    println!("| ingest server CPU | {:.2} s = **{:.1} MB of lines per CPU-second** |", pushed.cpu, mb / pushed.cpu);
    println!("| flush | {flush_seconds:.2} s wall, {flush_cpu:.2} s CPU |");
    println!("| ingest + flush CPU | {:.2} s = {:.1} MB per CPU-second |", pushed.cpu + flush_cpu, mb / (pushed.cpu + flush_cpu));
    println!(
        "| peak RSS while ingesting | {:.1} MiB (VmHWM {:.1} MiB) |",
        pushed.peak_rss as f64 / 1048576.0,
        pushed.hwm as f64 / 1048576.0
    );
    if let Some(seconds) = replay_seconds {
        println!("| restart after kill -9 to ready (WAL replay of the whole corpus) | {seconds:.2} s |");
    }
    println!(
        "| bytes on disk after flush (packs/chunks + index, WAL excluded) | {:.2} MB (index {:.3} MB), ratio {:.2}x |",
        disk_bytes as f64 / 1e6,
        index_bytes as f64 / 1e6,
        raw_bytes / disk_bytes as f64
    );
    println!("| disk space those files take (allocated blocks, as `du` counts) | {:.2} MB |", allocated as f64 / 1e6);
    if high_cardinality {
        // Cold: the first query after a restart finds nothing in memory.
        server.stop(true);
        let started = Instant::now();
        server = process::start_server(&args, false).await?;
        println!("| restart to ready (flushed data, graceful stop) | {:.3} s |", started.elapsed().as_secs_f64());
    }
    println!();

    run_queries(&args, &meta, &bodies, &mut server, &client, high_cardinality).await?;
    if args.latency {
        latency::push_latency(&server, &client, &bodies, raw_bytes / pushed.seconds).await?;
    }
    Ok(())
}

async fn run_queries(
    args: &BenchArgs,
    meta: &Value,
    bodies: &[bytes::Bytes],
    server: &mut Server,
    client: &reqwest::Client,
    high_cardinality: bool,
) -> anyhow::Result<()> {
    println!("| query | what | median latency | server CPU per run (mean) | answer |");
    println!("|---|---|---|---|---|");
    if !high_cardinality {
        return queries::run_cases(reference::cases(meta)?, args.runs, server, client).await;
    }
    let expected = hc::expected(bodies)?;
    let mut cold = hc::count_everything(meta, &expected)?;
    cold.what = "count everything, cold (first query after the restart)";
    queries::run_cases(vec![cold], 1, server, client).await?;
    let mut warm = hc::count_everything(meta, &expected)?;
    warm.what = "count everything, warm";
    queries::run_cases(vec![warm], args.runs, server, client).await?;
    queries::run_cases(hc::cases(meta, &expected)?, args.runs, server, client).await
}
