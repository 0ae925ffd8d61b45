//! Per-line cost of a pipeline: `cargo run --release -p skald-logql --example pipeline_bench`.
//! Best of 3 runs of 2,000,000 lines per query; compare builds in one sitting (BENCHMARKS.md).

use skald_common::LabelSet;
use skald_logql::pipeline::Pipeline;
use skald_logql::{Expr, parse_expr};
use std::time::Instant;

fn main() {
    let queries = [r#"{app="x"} | json"#, r#"{app="x"} | logfmt | level="error""#, r#"{app="x"} | logfmt | duration > 10ms"#];
    let json = r#"{"level":"info","msg":"refund issued","latency_ms":101,"size":"70MB","user":{"id":10,"name":"erin"},"region":"ap-south","status":200,"path":"/api/v1/refunds","method":"POST","trace":"abc123"}"#;
    let logfmt = r#"ts=2024-06-01T00:00:01Z level=error msg="cart updated" user=erin order_id=6508 amount=0.25 duration=7.2s status=503 error="bad input" path=/cart method=POST"#;
    let stream = LabelSet::from_pairs([("app", "x"), ("env", "prod")]);
    for q in queries {
        let Expr::Log(log) = parse_expr(q).unwrap() else { panic!() };
        let p = Pipeline::new(&log.pipeline).unwrap();
        let mut sp = p.for_stream(&stream);
        let line = if q.contains("json") { json } else { logfmt };
        let n = 2_000_000;
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut kept = 0usize;
            for i in 0..n {
                if sp.process(i as i64, line, &[]).is_some() {
                    kept += 1;
                }
            }
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(kept);
        }
        println!("{q}: {:.0} ns/line", best / n as f64 * 1e9);
    }
}
