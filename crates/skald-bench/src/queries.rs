//! Running query cases against the server: each `--runs` times, the median latency seen
//! by the client, the mean server CPU per run, and whether the answer was right.

use crate::process::Server;
use serde_json::Value;
use std::time::Instant;

/// Checks a query's JSON answer.
pub type AnswerCheck = Box<dyn Fn(&Value) -> Result<(), String>>;

pub struct QueryCase {
    pub id: &'static str,
    pub what: &'static str,
    pub path: &'static str,
    pub params: Vec<(String, String)>,
    pub check: AnswerCheck,
}

/// The sum of an instant vector's sample values (-1 when there is no result array).
pub fn vector_sum(v: &Value) -> f64 {
    v["data"]["result"]
        .as_array()
        .map(|r| r.iter().map(|s| s["value"][1].as_str().unwrap_or("0").parse::<f64>().unwrap_or(0.0)).sum())
        .unwrap_or(-1.0)
}

/// Runs each case `runs` times and prints a table row per case.
pub async fn run_cases(cases: Vec<QueryCase>, runs: usize, server: &Server, client: &reqwest::Client) -> anyhow::Result<()> {
    for case in cases {
        let mut latencies = Vec::new();
        let mut verdict = String::from("ok");
        // CPU is read in 10 ms ticks: measure all runs together and divide.
        let cpu_before_all = server.cpu_seconds()?;
        for _ in 0..runs {
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
        let cpu = (server.cpu_seconds()? - cpu_before_all) / runs as f64;
        latencies.sort_by(f64::total_cmp);
        let median = latencies[latencies.len() / 2];
        println!("| {} | {} | {:.4} s | {:.4} s | {} |", case.id, case.what, median, cpu, verdict);
    }
    Ok(())
}
