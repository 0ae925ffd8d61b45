//! Push latency at 80% of the measured ingest rate, and how soon an acknowledged line is
//! visible to a query (`skald bench --latency`).

use crate::process::Server;
use anyhow::bail;
use std::time::{Duration, Instant};

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
pub async fn push_latency(
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
