//! `skald bench`: the end-to-end benchmark. It starts a server (this same binary) on a
//! fresh data directory, pushes a corpus of Loki push bodies over HTTP with concurrency,
//! flushes, then runs the reference queries, and reports ingest MB/s and lines/s, the
//! server's CPU seconds per phase (from /proc), peak RSS, bytes on disk after flush (WAL
//! excluded) and each query's latency and server CPU, checking every answer against the
//! corpus' meta file.
//!
//! ```text
//! python3 ../shared/bench/gen.py --size 200MB --seed 42 --out /tmp/d200.jsonl
//! cargo build --release && target/release/skald bench --corpus /tmp/d200.jsonl
//! ```

use anyhow::{Context, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// Push bodies, one JSON body per line (`gen.py` output).
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
}

/// The benchmarked system: a server this tool started, or a cluster's processes.
struct Server {
    child: Option<Child>,
    /// Where pushes go (the distributor of a cluster).
    base: String,
    /// Where queries go (the query frontend of a cluster).
    query_base: String,
    /// Every process whose CPU and memory count.
    pids: Vec<u32>,
}

impl Server {
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        self.pids.iter().map(|pid| cpu_seconds(*pid)).sum()
    }

    /// Peak and current RSS, summed over the processes.
    fn rss(&self) -> anyhow::Result<(u64, u64)> {
        let mut total = (0, 0);
        for pid in &self.pids {
            let (peak, current) = rss(*pid)?;
            total = (total.0 + peak, total.1 + current);
        }
        Ok(total)
    }
}

/// A cluster started by `examples/cluster/up.sh DIR` (it writes `DIR/push.url`,
/// `DIR/query.url` and `DIR/pids/*.pid`); s3s-fs does not count as Skald.
fn attach_cluster(dir: &std::path::Path) -> anyhow::Result<Server> {
    let read = |name: &str| -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display()))?.trim().to_string())
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir.join("pids"))? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n == "s3s-fs.pid") {
            continue;
        }
        pids.push(std::fs::read_to_string(&path)?.trim().parse::<u32>().with_context(|| format!("{}", path.display()))?);
    }
    Ok(Server { child: None, base: read("push.url")?, query_base: read("query.url")?, pids })
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else { return };
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("bad /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((utime + stime) / ticks)
}

/// Peak and current resident set size in bytes.
fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok((field("VmHWM:"), field("VmRSS:")))
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(bench(args))
}

async fn start_server(args: &BenchArgs, fresh: bool) -> anyhow::Result<Server> {
    if fresh {
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let config = format!(
        "limits_config:\n  reject_old_samples: false\n  ingestion_rate_mb: 100000\n  ingestion_burst_size_mb: 100000\n  max_entries_limit_per_query: 100000\n  max_query_length: 0\nserver:\n  log_level: warn\n{}",
        args.extra_config.clone().unwrap_or_default()
    );
    let config_path = args.data_dir.join("bench-config.yaml");
    std::fs::write(&config_path, config)?;
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .args(["server", "--http-addr", &format!("127.0.0.1:{}", args.port), "--data-dir"])
        .arg(args.data_dir.join("data"))
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::null())
        .spawn()
        .context("starting the server")?;
    let base = format!("http://127.0.0.1:{}", args.port);
    let server = Server { pids: vec![child.id()], child: Some(child), query_base: base.clone(), base };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{}/ready", server.base)).send().await
            && response.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(server)
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let meta_path = args.meta.clone().unwrap_or_else(|| PathBuf::from(format!("{}.meta.json", args.corpus.display())));
    let meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?)?;
    let corpus = std::fs::read(&args.corpus).with_context(|| format!("reading {}", args.corpus.display()))?;
    let bodies: Vec<bytes_slice::Body> = bytes_slice::split_lines(corpus);
    let raw_bytes = meta["raw_bytes"].as_f64().unwrap_or(0.0);
    let lines = meta["lines"].as_f64().unwrap_or(0.0);

    let startup = Instant::now();
    let mut server = match &args.cluster {
        Some(dir) => attach_cluster(dir)?,
        None => start_server(&args, true).await?,
    };
    let startup_seconds = startup.elapsed().as_secs_f64();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;

    if args.queries_only {
        println!("# skald bench: queries on the cluster {}", server.query_base);
        println!();
        run_queries(&args, &meta, &mut server, &client).await?;
        return Ok(());
    }

    // Ingest.
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let bodies = Arc::new(bodies);
    let peak = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, next, bodies, base) = (client.clone(), next.clone(), bodies.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(i) else { return Ok::<(), anyhow::Error>(()) };
                let response = client
                    .post(format!("{base}/loki/api/v1/push"))
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if response.status().as_u16() != 204 {
                    bail!("push {i} failed: {} {}", response.status(), response.text().await.unwrap_or_default());
                }
            }
        }));
    }
    let sampler = {
        let peak = peak.clone();
        let pids = server.pids.clone();
        tokio::spawn(async move {
            loop {
                let current: u64 = pids.iter().filter_map(|pid| rss(*pid).ok()).map(|(_, current)| current).sum();
                peak.fetch_max(current, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    for task in tasks {
        task.await??;
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    let ingest_cpu = server.cpu_seconds()? - cpu_before;
    let (hwm_after_ingest, _) = server.rss()?;
    sampler.abort();
    if args.cluster.is_some() {
        println!("# skald bench: {} on the cluster {}", args.corpus.display(), server.base);
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!("| processes counted | {} |", server.pids.len());
        println!(
            "| ingest wall time ({} pushers) | {ingest_seconds:.2} s ({:.1} MB/s, {:.0} lines/s) |",
            args.concurrency,
            raw_bytes / 1e6 / ingest_seconds,
            lines / ingest_seconds
        );
        println!("| ingest CPU, all processes | {ingest_cpu:.2} s = {:.1} MB of lines per CPU-second |", raw_bytes / 1e6 / ingest_cpu);
        println!("| peak RSS, all processes together | {:.1} MiB |", peak.load(Ordering::Relaxed) as f64 / 1048576.0);
        println!();
        run_queries(&args, &meta, &mut server, &client).await?;
        if args.latency {
            push_latency(&server, &client, &bodies, raw_bytes / ingest_seconds).await?;
        }
        return Ok(());
    }

    // Optionally: crash and measure the WAL replay of everything just ingested.
    let mut replay_seconds = None;
    if args.replay {
        if let Some(child) = server.child.as_mut() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
        let started = Instant::now();
        server = start_server(&args, false).await?;
        replay_seconds = Some(started.elapsed().as_secs_f64());
    }
    // Flush.
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let response = client.post(format!("{}/flush", server.base)).send().await?;
    if !response.status().is_success() {
        bail!("flush failed: {}", response.status());
    }
    let flush_seconds = started.elapsed().as_secs_f64();
    let flush_cpu = server.cpu_seconds()? - cpu_before;
    let data = args.data_dir.join("data");
    let disk_bytes = dir_bytes(&data.join("chunks")) + dir_bytes(&data.join("index"));
    let index_bytes = dir_bytes(&data.join("index"));

    println!("# skald bench: {}", args.corpus.display());
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| raw lines | {:.1} MB, {} lines |", raw_bytes / 1e6, lines);
    println!("| startup to ready (empty data dir) | {startup_seconds:.3} s |");
    println!(
        "| ingest wall time ({} pushers) | {ingest_seconds:.2} s ({:.1} MB/s, {:.0} lines/s) |",
        args.concurrency,
        raw_bytes / 1e6 / ingest_seconds,
        lines / ingest_seconds
    );
    println!("| ingest server CPU | {ingest_cpu:.2} s = **{:.1} MB of lines per CPU-second** |", raw_bytes / 1e6 / ingest_cpu);
    println!("| flush | {flush_seconds:.2} s wall, {flush_cpu:.2} s CPU |");
    println!(
        "| ingest + flush CPU | {:.2} s = {:.1} MB per CPU-second |",
        ingest_cpu + flush_cpu,
        raw_bytes / 1e6 / (ingest_cpu + flush_cpu)
    );
    println!(
        "| peak RSS while ingesting | {:.1} MiB (VmHWM {:.1} MiB) |",
        peak.load(Ordering::Relaxed) as f64 / 1048576.0,
        hwm_after_ingest as f64 / 1048576.0
    );
    if let Some(seconds) = replay_seconds {
        println!("| restart after kill -9 to ready (WAL replay of the whole corpus) | {seconds:.2} s |");
    }
    println!(
        "| bytes on disk after flush (chunks + index, WAL excluded) | {:.2} MB (index {:.3} MB), ratio {:.2}x |",
        disk_bytes as f64 / 1e6,
        index_bytes as f64 / 1e6,
        raw_bytes / disk_bytes as f64
    );
    println!();

    run_queries(&args, &meta, &mut server, &client).await?;
    if args.latency {
        push_latency(&server, &client, &bodies, raw_bytes / ingest_seconds).await?;
    }
    Ok(())
}

/// Counters of the push path read from `/metrics`.
struct PushMetrics {
    requests: f64,
    request_seconds: f64,
    fsyncs: f64,
    fsync_seconds: f64,
}

async fn push_metrics(client: &reqwest::Client, base: &str) -> anyhow::Result<PushMetrics> {
    let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
    let sum = |name: &str, route: Option<&str>| -> f64 {
        text.lines()
            .filter(|line| line.starts_with(name) && line[name.len()..].starts_with([' ', '{']))
            .filter(|line| route.is_none_or(|r| line.contains(&format!("route=\"{r}\""))))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok(PushMetrics {
        requests: sum("loki_request_duration_seconds_count", Some("loki_api_v1_push")),
        request_seconds: sum("loki_request_duration_seconds_sum", Some("loki_api_v1_push")),
        fsyncs: sum("skald_ingester_wal_fsyncs_total", None),
        fsync_seconds: sum("skald_ingester_wal_fsync_seconds_total", None),
    })
}

/// Push latency at 80% of the measured ingest rate: the corpus bodies again, relabelled
/// (`bench="latency-<format>"`) so they form new streams, sent one by one at a fixed
/// pace, first as JSON (what most client libraries send), then as snappy protobuf (what
/// Promtail and Alloy send); then how soon an acknowledged line is visible to a query.
async fn push_latency(
    server: &Server,
    client: &reqwest::Client,
    bodies: &[bytes::Bytes],
    ingest_bytes_per_second: f64,
) -> anyhow::Result<()> {
    let rate = ingest_bytes_per_second * 0.8;
    let count = bodies.len().min(120);
    println!();
    for format in ["json", "protobuf"] {
        // Bodies are prepared before the clock starts; `lines` is their raw line bytes.
        let mut prepared: Vec<(Vec<u8>, f64)> = Vec::with_capacity(count);
        for body in bodies.iter().take(count) {
            let label = format!(r#""stream":{{"bench":"latency-{format}","#);
            let text = String::from_utf8_lossy(body).replace(r#""stream":{"#, &label);
            let streams: Vec<skald_common::PushStream> = skald_push::decode_push(
                skald_push::Api::V1,
                Some("application/json"),
                None,
                text.as_bytes(),
                &skald_push::DecodeLimits::default(),
            )?
            .into_iter()
            .map(|s| s.into_push_stream())
            .collect::<Result<_, _>>()?;
            let lines: usize = streams.iter().flat_map(|s| &s.entries).map(|e| e.line.len()).sum();
            let payload = if format == "json" { text.into_bytes() } else { skald_push::encode_protobuf(&streams) };
            prepared.push((payload, lines as f64));
        }
        let content_type = if format == "json" { "application/json" } else { "application/x-protobuf" };
        let before = push_metrics(client, &server.base).await?;
        let started = Instant::now();
        let mut sent_bytes = 0.0;
        let mut latencies = Vec::with_capacity(count);
        for (payload, lines) in prepared {
            // Keep to the pace: body i leaves when i bodies' worth of time has passed.
            let due = Duration::from_secs_f64(sent_bytes / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            sent_bytes += lines;
            let body_len = payload.len();
            let sent = Instant::now();
            let response =
                client.post(format!("{}/loki/api/v1/push", server.base)).header("Content-Type", content_type).body(payload).send().await?;
            let status = response.status().as_u16();
            latencies.push(sent.elapsed().as_secs_f64());
            if status != 204 {
                bail!("latency push ({format}, {body_len} bytes) failed: {status}");
            }
        }
        let after = push_metrics(client, &server.base).await?;
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] * 1000.0;
        println!(
            "| push latency, {format} ({count} pushes of ~1 MiB of lines at {:.0} MB/s, 80% of ingest) | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
            rate / 1e6,
            at(0.5),
            at(0.99),
            at(1.0)
        );
        let mean_ms = |sum: f64, count: f64| if count > 0.0 { sum / count * 1000.0 } else { 0.0 };
        println!(
            "| of which in the server (mean request) / in WAL fdatasync (mean round) | {:.1} ms / {:.1} ms |",
            mean_ms(after.request_seconds - before.request_seconds, after.requests - before.requests),
            mean_ms(after.fsync_seconds - before.fsync_seconds, after.fsyncs - before.fsyncs),
        );
    }
    // Visibility: push one unique line, then query until it is seen.
    let marker = format!("visibility-{}", skald_common::unix_nanos_now());
    let now = skald_common::unix_nanos_now();
    let body = format!(r#"{{"streams":[{{"stream":{{"bench":"visible"}},"values":[["{now}","{marker}"]]}}]}}"#);
    let response =
        client.post(format!("{}/loki/api/v1/push", server.base)).header("Content-Type", "application/json").body(body).send().await?;
    let acked = Instant::now();
    if response.status().as_u16() != 204 {
        bail!("visibility push failed: {}", response.status());
    }
    let visible = loop {
        let params = [
            ("query", r#"{bench="visible"}"#.to_string()),
            ("start", (now - 1_000_000_000).to_string()),
            ("end", (now + 1_000_000_000).to_string()),
        ];
        let text = client.get(format!("{}/loki/api/v1/query_range", server.query_base)).query(&params).send().await?.text().await?;
        if text.contains(&marker) {
            break acked.elapsed().as_secs_f64();
        }
        if acked.elapsed() > Duration::from_secs(5) {
            bail!("pushed line not visible after 5 s");
        }
    };
    println!("| acknowledged line visible to a query after | {:.1} ms (one query round trip) |", visible * 1000.0);
    Ok(())
}

/// Checks a query's JSON answer against the corpus' meta file.
type AnswerCheck = Box<dyn Fn(&Value) -> Result<(), String>>;

struct QueryCase {
    id: &'static str,
    what: &'static str,
    path: &'static str,
    params: Vec<(String, String)>,
    check: AnswerCheck,
}

async fn run_queries(args: &BenchArgs, meta: &Value, server: &mut Server, client: &reqwest::Client) -> anyhow::Result<()> {
    let end_s = meta["now"].as_i64().context("meta.now")?;
    let start_ns = meta["start_ns"].as_i64().context("meta.start_ns")?;
    let end_ns = meta["end_ns"].as_i64().context("meta.end_ns")?;
    let needle = meta["needle_none"].as_str().unwrap_or("needle-that-matches-nothing").to_string();
    let phrase = meta["needle_1pct"]["phrase"].as_str().unwrap_or("upstream timed out").to_string();
    let phrase_lines = meta["needle_1pct"]["lines"].as_f64().unwrap_or(0.0);
    let join = |key: &str| -> String {
        meta[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join("|")).unwrap_or_default()
    };
    let (logfmt_apps, json_apps) = (join("logfmt_apps"), join("json_apps"));
    let tail = &meta["tail_stream"]["labels"];
    let tail_selector = format!(
        "{{{}}}",
        tail.as_object()
            .map(|o| o.iter().map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    );
    let newest = meta["tail_stream"]["newest_ts"].as_str().unwrap_or("").to_string();
    let instant = |q: String| vec![("query".to_string(), q), ("time".to_string(), end_s.to_string())];
    let per_namespace = meta["per_namespace_lines"].clone();
    let levels = meta["logfmt_level_counts"].clone();
    let p99 = meta["json_latency_p99"].clone();
    let vector_sum = |v: &Value| -> f64 {
        v["data"]["result"]
            .as_array()
            .map(|r| r.iter().map(|s| s["value"][1].as_str().unwrap_or("0").parse::<f64>().unwrap_or(0.0)).sum())
            .unwrap_or(-1.0)
    };
    let cases = vec![
        QueryCase {
            id: "a",
            what: "needle that matches nothing, all data",
            path: "/loki/api/v1/query",
            params: instant(format!("sum(count_over_time({{app=~\".+\"}} |= \"{needle}\" [2h]))")),
            check: Box::new(move |v| if vector_sum(v) == 0.0 { Ok(()) } else { Err(format!("expected no match, got {}", vector_sum(v))) }),
        },
        QueryCase {
            id: "a2",
            what: "needle of one token (no word to skip by): brute-force scan of all data",
            path: "/loki/api/v1/query",
            params: instant(format!("sum(count_over_time({{app=~\".+\"}} |= \"{}\" [2h]))", needle.replace('-', ""))),
            check: Box::new(move |v| if vector_sum(v) == 0.0 { Ok(()) } else { Err(format!("expected no match, got {}", vector_sum(v))) }),
        },
        QueryCase {
            id: "b",
            what: "phrase matching ~1% of lines, count",
            path: "/loki/api/v1/query",
            params: instant(format!("sum(count_over_time({{app=~\".+\"}} |= \"{phrase}\" [2h]))")),
            check: Box::new(move |v| {
                if vector_sum(v) == phrase_lines { Ok(()) } else { Err(format!("expected {phrase_lines}, got {}", vector_sum(v))) }
            }),
        },
        QueryCase {
            id: "c",
            what: "count by namespace, range 2h, step 5m",
            path: "/loki/api/v1/query_range",
            params: vec![
                ("query".into(), "sum by (namespace) (count_over_time({app=~\".+\"} [5m]))".into()),
                ("start".into(), start_ns.to_string()),
                ("end".into(), end_ns.to_string()),
                ("step".into(), "300".into()),
            ],
            check: Box::new(move |v| {
                for series in v["data"]["result"].as_array().ok_or("no result")? {
                    let ns = series["metric"]["namespace"].as_str().unwrap_or("");
                    let total: f64 = series["values"]
                        .as_array()
                        .ok_or("no values")?
                        .iter()
                        .map(|p| p[1].as_str().unwrap_or("0").parse::<f64>().unwrap_or(0.0))
                        .sum();
                    if Some(total) != per_namespace[ns].as_f64() {
                        return Err(format!("namespace {ns}: {total} != {}", per_namespace[ns]));
                    }
                }
                Ok(())
            }),
        },
        QueryCase {
            id: "d",
            what: "logfmt parse, count by level",
            path: "/loki/api/v1/query",
            params: instant(format!("sum by (level) (count_over_time({{app=~\"{logfmt_apps}\"}} | logfmt | __error__=\"\" [2h]))")),
            check: Box::new(move |v| {
                for sample in v["data"]["result"].as_array().ok_or("no result")? {
                    let level = sample["metric"]["level"].as_str().unwrap_or("");
                    let got: f64 = sample["value"][1].as_str().unwrap_or("0").parse().unwrap_or(-1.0);
                    if Some(got) != levels[level].as_f64() {
                        return Err(format!("level {level}: {got} != {}", levels[level]));
                    }
                }
                Ok(())
            }),
        },
        QueryCase {
            id: "e",
            what: "JSON parse, p99 of latency by app",
            path: "/loki/api/v1/query",
            params: instant(format!(
                "quantile_over_time(0.99, {{app=~\"{json_apps}\"}} | json | __error__=\"\" | unwrap latency | __error__=\"\" [2h]) by (app)"
            )),
            check: Box::new(move |v| {
                for sample in v["data"]["result"].as_array().ok_or("no result")? {
                    let app = sample["metric"]["app"].as_str().unwrap_or("");
                    let got: f64 = sample["value"][1].as_str().unwrap_or("0").parse().unwrap_or(-1.0);
                    let want = p99[app].as_f64().unwrap_or(f64::NAN);
                    if (got - want).abs() > 1e-6 * want.abs().max(1.0) {
                        return Err(format!("app {app}: {got} != {want}"));
                    }
                }
                Ok(())
            }),
        },
        QueryCase {
            id: "f",
            what: "newest 1000 lines of one stream",
            path: "/loki/api/v1/query_range",
            params: vec![
                ("query".into(), tail_selector),
                ("start".into(), start_ns.to_string()),
                ("end".into(), end_ns.to_string()),
                ("limit".into(), "1000".into()),
            ],
            check: Box::new(move |v| {
                let values: Vec<&Value> = v["data"]["result"]
                    .as_array()
                    .ok_or("no result")?
                    .iter()
                    .flat_map(|s| s["values"].as_array().into_iter().flatten())
                    .collect();
                let first = values.first().and_then(|p| p[0].as_str()).unwrap_or("");
                if values.len() != 1000 || first != newest {
                    return Err(format!("{} lines, newest {first} (want 1000, {newest})", values.len()));
                }
                Ok(())
            }),
        },
    ];
    println!("| query | what | median latency | server CPU per run (mean) | answer |");
    println!("|---|---|---|---|---|");
    for case in cases {
        let mut latencies = Vec::new();
        let mut verdict = String::from("ok");
        // CPU is read in 10 ms ticks: measure all runs together and divide.
        let cpu_before_all = server.cpu_seconds()?;
        for _ in 0..args.runs {
            let started = Instant::now();
            let response = client.get(format!("{}{}", server.query_base, case.path)).query(&case.params).send().await?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            latencies.push(started.elapsed().as_secs_f64());
            if !status.is_success() {
                verdict = format!("HTTP {status}");
            } else if let Err(e) = (case.check)(&body) {
                verdict = format!("WRONG: {e}");
            }
        }
        let cpu = (server.cpu_seconds()? - cpu_before_all) / args.runs as f64;
        latencies.sort_by(f64::total_cmp);
        let median = latencies[latencies.len() / 2];
        println!("| {} | {} | {:.4} s | {:.4} s | {} |", case.id, case.what, median, cpu, verdict);
    }
    Ok(())
}

/// Splitting the corpus into request bodies without copying each one twice.
mod bytes_slice {
    pub type Body = bytes::Bytes;

    pub fn split_lines(data: Vec<u8>) -> Vec<Body> {
        let data = bytes::Bytes::from(data);
        let mut out = Vec::new();
        let mut start = 0;
        for (i, b) in data.iter().enumerate() {
            if *b == b'\n' {
                if i > start {
                    out.push(data.slice(start..i));
                }
                start = i + 1;
            }
        }
        if start < data.len() {
            out.push(data.slice(start..));
        }
        out
    }
}
