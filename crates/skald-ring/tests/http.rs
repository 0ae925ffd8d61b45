//! The /ring page and /memberlist, served from a real cluster of two gossiping nodes.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{find, sees_healthy, start, start_ingester, wait_until};
use skald_ring::{Role, router};
use tower::ServiceExt;

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response.headers().get(header::LOCATION).map(|value| value.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, location, String::from_utf8(bytes.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_page_renders_json_and_html_and_forgets() {
    let a = start_ingester("page-a", &[]).await;
    let b = start_ingester("page-<b>", &[&a]).await;
    let querier = start("page-q", &[Role::Querier], &[&a]).await;
    wait_until("all three healthy", || sees_healthy(&a, &["page-<b>", "page-a", "page-q"])).await;
    let app = router(a.clone());

    // JSON, by parameter and by Accept header: only ingesters, Loki's field names.
    let (status, _, body) = send(&app, get("/ring?format=json")).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shards = json["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{body}");
    assert_eq!(shards[0]["id"], "page-<b>");
    assert_eq!(shards[1]["id"], "page-a");
    for shard in shards {
        assert_eq!(shard["state"], "ACTIVE");
        assert_eq!(shard["tokens"].as_array().unwrap().len(), 128);
        assert!(shard["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(shard["address"].as_str().unwrap().ends_with(".test:9095"));
        assert_eq!(shard["zone"], "");
    }
    assert!(json["now"].is_string());
    let request = Request::get("/ring").header(header::ACCEPT, "application/json").body(Body::empty()).unwrap();
    let (_, _, by_header) = send(&app, request).await;
    let by_header: serde_json::Value = serde_json::from_str(&by_header).unwrap();
    assert_eq!(by_header["shards"].as_array().unwrap().len(), 2);

    // HTML: a row per ingester with a Forget button, ids escaped.
    let (status, _, html) = send(&app, get("/ring")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Ingester Ring Status</h1>"), "{html}");
    assert!(html.contains("page-&lt;b&gt;"), "{html}");
    assert!(!html.contains("page-<b>"), "{html}");
    assert!(html.contains("name=\"forget\" value=\"page-a\""), "{html}");
    assert!(html.contains("<td>128</td>"), "{html}");
    assert!(!html.contains("page-q"), "queriers are not in the ring: {html}");

    // /memberlist lists every gossip member.
    let (status, _, body) = send(&app, get("/memberlist")).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let members = json["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let querier_json = members.iter().find(|m| m["name"] == "page-q").unwrap();
    assert_eq!(querier_json["roles"], serde_json::json!(["querier"]));
    assert_eq!(querier_json["live"], true);
    drop(querier);

    // A stopped ingester shows UNHEALTHY, then the Forget button removes it.
    drop(b);
    wait_until("page-<b> unhealthy", || find(&a, "page-<b>").is_some_and(|member| !member.healthy)).await;
    let (_, _, body) = send(&app, get("/ring?format=json")).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["shards"][0]["state"], "UNHEALTHY", "{body}");

    let forget = Request::post("/ring")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("forget=page-%3Cb%3E"))
        .unwrap();
    let (status, location, _) = send(&app, forget).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ring"));
    let (_, _, body) = send(&app, get("/ring?format=json")).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shards = json["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1, "{body}");
    assert_eq!(shards[0]["id"], "page-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_without_an_id_is_a_bad_request() {
    let a = start_ingester("lonely", &[]).await;
    let app = router(a.clone());
    for body in ["", "forget=", "other=1"] {
        let request =
            Request::post("/ring").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(body)).unwrap();
        let (status, _, text) = send(&app, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "body {body:?}");
        assert!(text.contains("forget"), "{text}");
    }
    assert_eq!(a.members().len(), 1);
}
