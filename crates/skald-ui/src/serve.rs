//! HTTP handlers: `/` answers the search page, `/rules` the rules page, `/ui/{path}` an
//! embedded asset, with content type, `ETag` and `If-None-Match` revalidation.

use crate::assets::{self, Asset};
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Routes of the UI (`/`, `/rules` and `/ui/{path}`), to merge with the API router.
pub fn router() -> Router {
    Router::new().route("/", get(index)).route("/rules", get(rules)).route("/ui/{*path}", get(asset))
}

async fn rules(headers: HeaderMap) -> Response {
    match assets::find(assets::RULES) {
        Some(asset) => respond(asset, &headers),
        None => not_found(assets::RULES),
    }
}

async fn index(headers: HeaderMap) -> Response {
    match assets::find(assets::INDEX) {
        Some(asset) => respond(asset, &headers),
        None => not_found(assets::INDEX),
    }
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match assets::find(&path) {
        Some(asset) => respond(asset, &headers),
        None => not_found(&path),
    }
}

fn respond(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = asset.etag();
    let revalidated = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == etag || candidate.trim() == "*"));
    let mut response = if revalidated { StatusCode::NOT_MODIFIED.into_response() } else { asset.bytes.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn not_found(path: &str) -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("no UI asset named '{path}'\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::builder().uri(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let response = router().oneshot(request.body(Body::empty()).expect("request")).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 16 << 20).await.expect("body");
        (status, headers, body.to_vec())
    }

    #[tokio::test]
    async fn index_is_served_at_root_as_html() {
        let (status, headers, body) = get("/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.contains("<script type=\"module\" src=\"/ui/js/main.js\">"), "{text}");
    }

    #[tokio::test]
    async fn assets_have_their_content_types() {
        for (path, expected) in [
            ("/ui/style.css", "text/css; charset=utf-8"),
            ("/ui/js/main.js", "text/javascript; charset=utf-8"),
            ("/ui/favicon.svg", "image/svg+xml"),
            ("/ui/index.html", "text/html; charset=utf-8"),
        ] {
            let (status, headers, body) = get(path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], expected, "{path}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert!(!body.is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn missing_assets_are_404_with_their_name() {
        for path in ["/ui/nope.js", "/ui/js/../../Cargo.toml", "/ui/js/", "/ui/js"] {
            let (status, headers, body) = get(path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8", "{path}");
            assert!(String::from_utf8_lossy(&body).starts_with("no UI asset named"), "{path}");
        }
    }

    #[tokio::test]
    async fn etag_revalidation_answers_304() {
        let (_, headers, _) = get("/ui/js/main.js", None).await;
        let etag = headers[header::ETAG].to_str().expect("ascii").to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18, "{etag}");
        let (status, headers, body) = get("/ui/js/main.js", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(headers[header::ETAG], etag.as_str());
        assert!(body.is_empty());
        let (status, _, _) = get("/ui/js/main.js", Some("\"0000000000000000\"")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = get("/", Some(&format!("\"x\", {etag}"))).await;
        assert_eq!(status, StatusCode::OK, "the page has its own tag, not main.js's");
    }
}
