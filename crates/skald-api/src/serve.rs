//! The HTTP server loop: accepts connections (plain or TLS) and serves the router with
//! the timeouts a server on an open network needs.
//!
//! `axum::serve` has no timeouts, so one slow or malicious client could hold a
//! connection (and its buffers) forever. Here, as in Loki's server (dskit):
//! - the request headers must arrive within `read_timeout` (slowloris on headers), and the
//!   body too (a request body that trickles in gets 408);
//! - a write that makes no progress for `write_timeout` closes the connection (a client
//!   that never reads its response, or a tail websocket that never reads);
//! - a connection with nothing to read for `idle_timeout` is closed (the tail websocket
//!   pings every second, so a live tail client always answers within it);
//! - at most `max_connections` at once (0 = no limit); more are closed at accept;
//! - on shutdown, connections finish their current request and close.

use crate::stall::StallTimeout;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::Service;

/// Timeouts and limits of the HTTP server (Loki's `server` block names in comments).
#[derive(Clone)]
pub struct ServeOptions {
    /// `http_server_read_timeout` (30s): headers and body must arrive within it.
    pub read_timeout: Duration,
    /// `http_server_write_timeout` (30s): longest a write may make no progress.
    pub write_timeout: Duration,
    /// `http_server_idle_timeout` (120s): longest a connection may stay silent.
    pub idle_timeout: Duration,
    /// `http_listen_conn_limit` (0 = unlimited): connections served at once.
    pub max_connections: usize,
    /// TLS, when `http_tls_config` names a certificate.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 0,
            tls: None,
        }
    }
}

/// Connections refused because `max_connections` were open (for `/metrics`).
pub static REFUSED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Serves `app` on `listener` until `shutdown` completes, then lets the open
/// connections finish their current request (at most `grace`).
pub async fn serve(listener: TcpListener, app: Router, options: ServeOptions, shutdown: impl Future<Output = ()>, grace: Duration) {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(options.read_timeout));
    let limit = (options.max_connections > 0).then(|| Arc::new(Semaphore::new(options.max_connections)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let options = Arc::new(options);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match &limit {
            None => None,
            Some(semaphore) => match semaphore.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "connection limit reached; closing");
                    drop(stream);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let options = options.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            serve_connection(stream, app, &options, stop).await;
            drop(permit);
        });
        // Reap finished connection tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
}

async fn serve_connection(stream: TcpStream, app: Router, options: &ServeOptions, stop: watch::Receiver<bool>) {
    let stream = StallTimeout::new(stream, options.idle_timeout, options.write_timeout);
    match &options.tls {
        None => serve_io(stream, app, options, stop).await,
        Some(acceptor) => match tokio::time::timeout(options.read_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => serve_io(tls, app, options, stop).await,
            Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
    }
}

async fn serve_io<IO>(io: IO, app: Router, options: &ServeOptions, mut stop: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| app.clone().call(request));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(options.read_timeout).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
