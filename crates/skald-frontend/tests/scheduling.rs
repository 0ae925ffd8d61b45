//! The scheduler over real gRPC: fairness across tenants, a querier lost mid-part, the
//! per-tenant queue limit, and withdrawn parts.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use skald_frontend::proto::{Pair, QueryPart};
use skald_frontend::{SchedulerConfig, TenantLimits};
use std::time::Duration;

fn labels_part(tenant: &str) -> QueryPart {
    QueryPart {
        tenant: tenant.to_string(),
        method: "GET".to_string(),
        path: "/loki/api/v1/labels".to_string(),
        params: Vec::new(),
        headers: vec![Pair { name: "x-scope-orgid".to_string(), value: tenant.to_string() }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_tenant_is_served_before_a_large_queue_drains() {
    let scheduler = start_scheduler(SchedulerConfig::default()).await;
    let mut calls = Vec::new();
    for _ in 0..100 {
        let mut client = client(&scheduler);
        calls.push(tokio::spawn(async move { client.enqueue(labels_part("a")).await }));
    }
    let handle = scheduler.handle.clone();
    wait_for("tenant a's 100 parts queued", || handle.queue_lengths() == vec![("a".to_string(), 100)]).await;
    let mut small = client(&scheduler);
    let b = tokio::spawn(async move { small.enqueue(labels_part("b")).await });
    wait_for("tenant b queued", || handle.queue_lengths().len() == 2).await;

    let data = Dataset::default();
    let _worker = start_worker(&scheduler, "q1", 1, data.router());
    let answer = b.await.unwrap().expect("b's part succeeds");
    assert_eq!(answer.get_ref().status, 200);
    for call in calls {
        assert_eq!(call.await.unwrap().expect("a's part succeeds").get_ref().status, 200);
    }
    let order: Vec<String> = data.served().into_iter().map(|s| s.tenant).collect();
    assert_eq!(order.len(), 101);
    let b_at = order.iter().position(|t| t == "b").unwrap();
    assert!(b_at <= 2, "tenant b served at position {b_at} of {order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_whose_querier_dies_runs_on_another() {
    let scheduler = start_scheduler(SchedulerConfig::default()).await;
    let (started, mut started_rx) = tokio::sync::mpsc::channel::<()>(4);
    let hanging = Router::new().route(
        "/loki/api/v1/labels",
        get(move || {
            let started = started.clone();
            async move {
                let _ = started.send(()).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }
        }),
    );
    let q1 = start_worker(&scheduler, "q1", 1, hanging);
    let handle = scheduler.handle.clone();
    wait_for("q1 connected", || handle.connected_queriers() == 1).await;
    let mut client = client(&scheduler);
    let call = tokio::spawn(async move { client.enqueue(labels_part("t")).await });
    tokio::time::timeout(Duration::from_secs(10), started_rx.recv()).await.expect("q1 got the part");
    let answering = Router::new().route("/loki/api/v1/labels", get(|| async { "answered by q2" }));
    let _q2 = start_worker(&scheduler, "q2", 1, answering);
    wait_for("q2 connected", || handle.connected_queriers() == 2).await;
    assert_eq!(handle.in_flight(), 1);
    drop(q1);
    let answer = tokio::time::timeout(Duration::from_secs(10), call).await.expect("answered in time").unwrap().expect("the part succeeds");
    assert_eq!(answer.get_ref().status, 200);
    assert_eq!(answer.get_ref().body, b"answered by q2");
    wait_for("q1 gone", || handle.connected_queriers() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_of_queriers_that_keep_dying_fail_clearly() {
    let config = SchedulerConfig { max_attempts: 2, ..SchedulerConfig::default() };
    let scheduler = start_scheduler(config).await;
    let (started, mut started_rx) = tokio::sync::mpsc::channel::<()>(4);
    let hanging = Router::new().route(
        "/loki/api/v1/labels",
        get(move || {
            let started = started.clone();
            async move {
                let _ = started.send(()).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }
        }),
    );
    let mut client = client(&scheduler);
    let call = tokio::spawn(async move { client.enqueue(labels_part("t")).await });
    for attempt in 0..2 {
        let worker = start_worker(&scheduler, &format!("q{attempt}"), 1, hanging.clone());
        tokio::time::timeout(Duration::from_secs(10), started_rx.recv()).await.expect("a querier got the part");
        drop(worker);
    }
    let status = tokio::time::timeout(Duration::from_secs(10), call).await.expect("answered in time").unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::Aborted);
    assert!(status.message().contains("disconnected while running the query part (tried 2 times)"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tenant_queue_answers_429_and_dropped_calls_leave_it() {
    let config = SchedulerConfig { max_outstanding_requests_per_tenant: 3, ..SchedulerConfig::default() };
    let scheduler = start_scheduler(config).await;
    let handle = scheduler.handle.clone();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut client = client(&scheduler);
        waiting.push(tokio::spawn(async move { client.enqueue(labels_part("busy")).await }));
    }
    wait_for("3 parts queued", || handle.queue_lengths() == vec![("busy".to_string(), 3)]).await;

    let frontend = frontend(&scheduler, TenantLimits::default());
    let (status, body) = get_from(&frontend, "/loki/api/v1/labels", &[], "busy").await;
    assert_eq!((status, body.as_str()), (429, "too many outstanding requests\n"));
    assert!(handle.render_metrics().contains("loki_query_scheduler_discarded_requests_total{user=\"busy\"} 1"));
    assert!(handle.render_metrics().contains("loki_query_scheduler_queue_length{user=\"busy\"} 3"));

    // Another tenant still gets in.
    let mut other = client(&scheduler);
    let other_call = tokio::spawn(async move { other.enqueue(labels_part("quiet")).await });
    wait_for("the other tenant queued", || handle.queue_lengths().len() == 2).await;

    // A frontend that gives up withdraws its parts.
    for call in waiting {
        call.abort();
    }
    wait_for("withdrawn parts leave the queue", || handle.queue_lengths() == vec![("quiet".to_string(), 1)]).await;
    let data = Dataset::default();
    let _worker = start_worker(&scheduler, "q1", 2, data.router());
    assert_eq!(other_call.await.unwrap().unwrap().get_ref().status, 200);
    assert_eq!(data.served().len(), 1, "withdrawn parts never ran");
    assert!(handle.render_metrics().contains("loki_query_scheduler_connected_querier_clients 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_reconnect_when_the_scheduler_comes_back() {
    // Workers start before the scheduler exists; the frontend answers 503 meanwhile.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let data = Dataset::default();
    let worker = Worker(tokio::spawn(skald_frontend::run_querier_worker(address.clone(), "q1", 1, data.router(), None)));
    let client = skald_frontend::connect_scheduler(&address, None).unwrap();
    let frontend = skald_frontend::frontend_router(client, skald_frontend::FrontendConfig::new(TenantLimits::default()));
    let (status, body) = get_from(&frontend, "/loki/api/v1/labels", &[], "t").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("query scheduler unavailable"), "{body}");

    let (service, handle) = skald_frontend::scheduler_service(SchedulerConfig::default());
    let listener = tokio::net::TcpListener::bind(&address).await.unwrap();
    let server = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
    });
    wait_for("the worker reconnected", || handle.connected_queriers() == 1).await;
    let (status, body) = get_from(&frontend, "/loki/api/v1/labels", &[], "t").await;
    assert_eq!(status, 200, "{body}");
    server.abort();
    drop(worker);
}
