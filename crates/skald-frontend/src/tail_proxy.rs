//! Live tail through the query frontend: `GET /loki/api/v1/tail` is a websocket, which
//! the frontend cannot split or queue, so (as Loki's `frontend.tail_proxy_url` does) it
//! opens the same websocket on a querier and relays every frame both ways. The querier
//! tails every ingester. The upstream is opened before the client's upgrade is
//! accepted, so a querier that cannot be reached is a 502 the client sees, not a
//! websocket that closes at once.

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The HTTP base URL (`http://host:port`) of a querier to tail through, or why none.
pub type TailTarget = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Headers passed on to the querier: the tenant and the caller's credentials.
const FORWARDED: [&str; 2] = ["x-scope-orgid", "authorization"];

/// The tail route, relayed to `target`.
pub fn tail_proxy_router(target: TailTarget) -> Router {
    Router::new().route("/loki/api/v1/tail", get(proxy)).with_state(target)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, format!("{message}\n")).into_response()
}

async fn proxy(State(target): State<TailTarget>, ws: WebSocketUpgrade, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let base = match target() {
        Ok(base) => base,
        Err(message) => return error(StatusCode::SERVICE_UNAVAILABLE, message),
    };
    let ws_base = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    let url = match &query {
        Some(query) => format!("{ws_base}/loki/api/v1/tail?{query}"),
        None => format!("{ws_base}/loki/api/v1/tail"),
    };
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("invalid tail proxy URL {url}: {e}")),
    };
    for name in FORWARDED {
        if let Some(value) = headers.get(name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    let upstream = match tokio_tungstenite::connect_async(request).await {
        Ok((upstream, _)) => upstream,
        // The querier refused the tail (a bad query, no tenant): its status and message.
        Err(tungstenite::Error::Http(response)) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).trim().to_string()).unwrap_or_default();
            return error(status, body);
        }
        Err(e) => return error(StatusCode::BAD_GATEWAY, format!("cannot reach the querier at {base} to tail: {e}")),
    };
    ws.on_upgrade(move |client| relay(client, upstream))
}

type Upstream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Relays frames until either side closes.
async fn relay(client: WebSocket, upstream: Upstream) {
    let (mut to_client, mut from_client) = client.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    let down = async {
        while let Some(Ok(message)) = from_upstream.next().await {
            let message = match message {
                tungstenite::Message::Text(text) => Message::Text(text.as_str().into()),
                tungstenite::Message::Binary(data) => Message::Binary(data),
                tungstenite::Message::Ping(data) => Message::Ping(data),
                tungstenite::Message::Pong(data) => Message::Pong(data),
                tungstenite::Message::Close(frame) => {
                    let frame = frame.map(|f| CloseFrame { code: f.code.into(), reason: f.reason.as_str().into() });
                    let _ = to_client.send(Message::Close(frame)).await;
                    return;
                }
                tungstenite::Message::Frame(_) => continue,
            };
            if to_client.send(message).await.is_err() {
                return;
            }
        }
        let _ = to_client.send(Message::Close(None)).await;
    };
    let up = async {
        while let Some(Ok(message)) = from_client.next().await {
            let message = match message {
                Message::Text(text) => tungstenite::Message::Text(text.as_str().into()),
                Message::Binary(data) => tungstenite::Message::Binary(data),
                Message::Ping(data) => tungstenite::Message::Ping(data),
                Message::Pong(data) => tungstenite::Message::Pong(data),
                Message::Close(_) => break,
            };
            if to_upstream.send(message).await.is_err() {
                return;
            }
        }
        let _ = to_upstream.send(tungstenite::Message::Close(None)).await;
    };
    // Whichever side ends first ends the tail.
    tokio::select! {
        _ = down => {}
        _ = up => {}
    }
}
