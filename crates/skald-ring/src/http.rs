//! The /ring status page (as dskit's ring HTTP handler) and /memberlist.
//!
//! - `GET /ring`: an HTML table of the ingester ring, a "Forget" button per row.
//! - `GET /ring?format=json` or `Accept: application/json`: Loki's JSON,
//!   `{"shards":[{"id","state","address","timestamp",...,"tokens"}],"now"}`; as in dskit,
//!   an unhealthy instance's state reads `UNHEALTHY`.
//! - `POST /ring` with the form `forget=<id>`: forgets the member, 303 back to /ring.
//! - `GET /memberlist`: every gossip member as JSON.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

use crate::cluster::Cluster;
use crate::member::Role;
use crate::ring::Ring;
use crate::view::{NodeRecord, now_ms};

/// Routes `/ring` and `/memberlist`.
pub fn router(cluster: Cluster) -> Router {
    Router::new().route("/ring", get(ring_page).post(ring_forget)).route("/memberlist", get(memberlist)).with_state(cluster)
}

/// One instance in Loki's /ring JSON.
#[derive(Serialize)]
struct ShardJson {
    id: String,
    state: String,
    address: String,
    timestamp: String,
    registered_timestamp: String,
    read_only: bool,
    read_only_updated_timestamp: String,
    zone: String,
    tokens: Vec<u32>,
    /// Not in Loki's JSON: the share of the token space owned, in percent.
    ownership: f64,
    /// Not in Loki's JSON: the HTTP address.
    http_address: String,
}

#[derive(Serialize)]
struct RingJson {
    shards: Vec<ShardJson>,
    now: String,
}

/// A row of the ring: the instance record and its token ownership.
struct RingRow {
    record: NodeRecord,
    ownership: f64,
}

fn ring_rows(cluster: &Cluster) -> Vec<RingRow> {
    let view = cluster.view();
    let mut records = Vec::new();
    for record in &view.records {
        if record.member.has_role(Role::Ingester) {
            records.push(record.clone());
        }
    }
    let ring = Ring::new(records.iter().map(|record| record.member.clone()).collect());
    let ownership = ring.ownership();
    let mut rows = Vec::new();
    // The ring sorts its instances by id, as the view does; pair by id to be sure.
    for (instance, share) in ring.instances().iter().zip(ownership) {
        if let Some(record) = records.iter().find(|record| record.member.id == instance.id) {
            rows.push(RingRow { record: record.clone(), ownership: share });
        }
    }
    rows
}

fn shown_state(record: &NodeRecord) -> String {
    if record.member.healthy { record.member.state.as_str().to_string() } else { "UNHEALTHY".to_string() }
}

fn rfc3339(unix_ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(unix_ms) {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => String::new(),
    }
}

fn wants_json(params: &HashMap<String, String>, headers: &HeaderMap) -> bool {
    if params.get("format").map(String::as_str) == Some("json") {
        return true;
    }
    match headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) {
        Some(accept) => accept.contains("application/json"),
        None => false,
    }
}

async fn ring_page(State(cluster): State<Cluster>, Query(params): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let rows = ring_rows(&cluster);
    if wants_json(&params, &headers) {
        let mut shards = Vec::new();
        for row in rows {
            let member = &row.record.member;
            shards.push(ShardJson {
                id: member.id.clone(),
                state: shown_state(&row.record),
                address: member.grpc_addr.clone(),
                timestamp: rfc3339(member.heartbeat),
                registered_timestamp: rfc3339(row.record.registered_ms),
                read_only: false,
                read_only_updated_timestamp: String::new(),
                zone: row.record.member.zone.clone(),
                tokens: member.tokens.clone(),
                ownership: row.ownership,
                http_address: member.http_addr.clone(),
            });
        }
        let body = RingJson { shards, now: rfc3339(now_ms()) };
        return Json(body).into_response();
    }
    Html(render_html(&rows, params.contains_key("tokens"))).into_response()
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn render_html(rows: &[RingRow], show_tokens: bool) -> String {
    let now = now_ms();
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Ingester Ring Status</title>\
         <style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}\
         .unhealthy{background:#fdd}</style></head><body>\n<h1>Ingester Ring Status</h1>\n",
    );
    let _ = writeln!(page, "<p>Current time: {}</p>", escape(&rfc3339(now)));
    page.push_str(
        "<form action=\"\" method=\"POST\">\n<table>\n<thead><tr><th>Instance ID</th>\
         <th>Availability Zone</th><th>State</th><th>Address</th><th>Registered At</th>\
         <th>Last Heartbeat</th><th>Tokens</th><th>Ownership</th><th>Actions</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        let member = &row.record.member;
        let age_seconds = now.saturating_sub(member.heartbeat) as f64 / 1000.0;
        let class = if member.healthy { "" } else { " class=\"unhealthy\"" };
        let _ = writeln!(
            page,
            "<tr{class}><td>{id}</td><td>{zone}</td><td>{state}</td><td>{address}</td><td>{registered}</td>\
             <td>{age:.1}s ago ({heartbeat})</td><td>{tokens}</td><td>{ownership:.1}%</td>\
             <td><button name=\"forget\" value=\"{id}\" type=\"submit\">Forget</button></td></tr>",
            id = escape(&member.id),
            zone = escape(&member.zone),
            state = escape(&shown_state(&row.record)),
            address = escape(&member.grpc_addr),
            registered = escape(&rfc3339(row.record.registered_ms)),
            age = age_seconds,
            heartbeat = escape(&rfc3339(member.heartbeat)),
            tokens = member.tokens.len(),
            ownership = row.ownership,
        );
    }
    page.push_str("</tbody>\n</table>\n</form>\n");
    if show_tokens {
        for row in rows {
            let member = &row.record.member;
            let _ = writeln!(page, "<h2>Instance: {}</h2>\n<p>Tokens: {:?}</p>", escape(&member.id), member.tokens);
        }
    } else {
        page.push_str("<p><a href=\"?tokens=true\">Show tokens</a></p>\n");
    }
    page.push_str("</body></html>\n");
    page
}

async fn ring_forget(State(cluster): State<Cluster>, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some(id) = form.get("forget") else {
        return (StatusCode::BAD_REQUEST, "missing form field forget=<instance id>\n").into_response();
    };
    if id.is_empty() {
        return (StatusCode::BAD_REQUEST, "form field forget is empty\n").into_response();
    }
    cluster.forget(id);
    Redirect::to("/ring").into_response()
}

#[derive(Serialize)]
struct GossipMemberJson {
    name: String,
    address: String,
    generation: u64,
    live: bool,
    healthy: bool,
    roles: Vec<Role>,
    state: String,
    http_address: String,
    grpc_address: String,
    heartbeat: String,
    tokens: usize,
    this_node: bool,
}

async fn memberlist(State(cluster): State<Cluster>) -> Json<serde_json::Value> {
    let view = cluster.view();
    let mut members = Vec::new();
    for record in &view.records {
        let member = &record.member;
        members.push(GossipMemberJson {
            name: member.id.clone(),
            address: record.gossip_addr.to_string(),
            generation: record.generation,
            live: record.live,
            healthy: member.healthy,
            roles: member.roles.clone(),
            state: member.state.as_str().to_string(),
            http_address: member.http_addr.clone(),
            grpc_address: member.grpc_addr.clone(),
            heartbeat: rfc3339(member.heartbeat),
            tokens: member.tokens.len(),
            this_node: record.is_self,
        });
    }
    Json(serde_json::json!({
        "cluster_id": cluster.config().cluster_id,
        "members": members,
    }))
}
