//! The recorded Loki answers of `tests/conformance/` and their comparison, as the
//! shared `compare.py` compares them; used by the single-binary conformance test and by
//! the cluster test (the same cases through a query frontend).

use super::Server;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

pub fn read(name: &str) -> String {
    let path = conformance_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn cases() -> Vec<Value> {
    let cases: Value = serde_json::from_str(&read("cases.json")).unwrap();
    cases["cases"].as_array().unwrap().clone()
}

pub async fn push_dataset(server: &Server, name: &str) {
    for (i, line) in read(name).lines().enumerate() {
        let (status, body) = server.push_json(None, line.as_bytes().to_vec()).await;
        assert_eq!(status, 204, "{name} line {}: {body}", i + 1);
    }
}

/// Query parameters of a case, numbers written as integers.
pub fn case_params(case: &Value) -> Vec<(&str, String)> {
    case["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect()
}

/// Asks a case; status and the body (JSON when it parses, else a string).
pub async fn ask(server: &Server, case: &Value) -> (u16, Value) {
    let (status, body) = server.get(case["path"].as_str().unwrap(), &case_params(case), None).await;
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, value)
}

// ---- comparison, as compare.py ----------------------------------------------------

pub type Key = Vec<(String, String)>;

pub fn key(labels: &Value) -> Key {
    let map: BTreeMap<String, String> =
        labels.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    map.into_iter().collect()
}

pub fn float(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        other => panic!("not a number: {other}"),
    }
}

pub fn close(a: &Value, b: &Value) -> bool {
    let (fa, fb) = (float(a), float(b));
    if fa.is_nan() || fb.is_nan() {
        return fa.is_nan() && fb.is_nan();
    }
    // Stricter than compare.py, where `inf <= 1e-6 * inf` makes +Inf "close" to -Inf
    // and to every finite value.
    if fa.is_infinite() || fb.is_infinite() {
        return fa == fb;
    }
    fa == fb || (fa - fb).abs() <= 1e-6 * fa.abs().max(fb.abs())
}

pub fn same_points(xs: &[Value], ys: &[Value]) -> bool {
    xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| float(&x[0]) == float(&y[0]) && close(&x[1], &y[1]))
}

pub fn first_keys(keys: impl Iterator<Item = Key>) -> Vec<Key> {
    keys.take(2).collect()
}

/// `None` when equal, else a short reason.
pub fn diff(result_type: &str, want: &Value, got: &Value) -> Option<String> {
    if result_type == "scalar" {
        let same = float(&want[0]) == float(&got[0]) && close(&want[1], &got[1]);
        return (!same).then(|| format!("scalar {want} != {got}"));
    }
    let (Some(want), Some(got)) = (want.as_array(), got.as_array()) else {
        return Some(format!("result is not an array: {got}"));
    };
    if result_type == "streams" {
        let entries = |list: &[Value]| -> BTreeMap<Key, Vec<(Value, Value)>> {
            list.iter()
                .map(|s| (key(&s["stream"]), s["values"].as_array().unwrap().iter().map(|v| (v[0].clone(), v[1].clone())).collect()))
                .collect()
        };
        let (w, g) = (entries(want), entries(got));
        let (wk, gk): (BTreeSet<&Key>, BTreeSet<&Key>) = (w.keys().collect(), g.keys().collect());
        if wk != gk {
            return Some(format!(
                "stream label sets differ: missing {:?} extra {:?}",
                first_keys(wk.difference(&gk).map(|k| (*k).clone())),
                first_keys(gk.difference(&wk).map(|k| (*k).clone()))
            ));
        }
        for (k, entries) in &w {
            if *entries != g[k] {
                return Some(format!("entries differ in stream {k:?}: want {} got {}", entries.len(), g[k].len()));
            }
        }
        return None;
    }
    let field = if result_type == "matrix" { "values" } else { "value" };
    let series = |list: &[Value]| -> BTreeMap<Key, Value> { list.iter().map(|s| (key(&s["metric"]), s[field].clone())).collect() };
    let (w, g) = (series(want), series(got));
    let (wk, gk): (BTreeSet<&Key>, BTreeSet<&Key>) = (w.keys().collect(), g.keys().collect());
    if wk != gk {
        return Some(format!(
            "series differ: missing {:?} extra {:?}",
            first_keys(wk.difference(&gk).map(|k| (*k).clone())),
            first_keys(gk.difference(&wk).map(|k| (*k).clone()))
        ));
    }
    for (k, points) in &w {
        let ok = if result_type == "matrix" {
            same_points(points.as_array().unwrap(), g[k].as_array().unwrap())
        } else {
            same_points(std::slice::from_ref(points), std::slice::from_ref(&g[k]))
        };
        if !ok {
            return Some(format!("values differ for {k:?}"));
        }
    }
    None
}

/// Asks a case at a base URL (a cluster's query frontend); status and body.
pub async fn ask_at(client: &reqwest::Client, base_url: &str, case: &Value) -> (u16, Value) {
    let response = client
        .get(format!("{base_url}{}", case["path"].as_str().unwrap()))
        .query(&case_params(case))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {}: {e}", case["path"]));
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// Why an answer differs from the recorded one, if it does.
pub fn mismatch(case: &Value, status: u16, body: &Value) -> Option<String> {
    let want_status = case["status"].as_u64().unwrap() as u16;
    let want_type = case["resultType"].as_str().unwrap_or_default();
    if want_status != 200 {
        (status != want_status).then(|| format!("want status {want_status} got {status}"))
    } else if status != 200 {
        Some(format!("status {status}: {}", body.to_string().chars().take(160).collect::<String>()))
    } else if body["data"]["resultType"] != want_type {
        Some(format!("resultType {} != {want_type}", body["data"]["resultType"]))
    } else {
        diff(want_type, &case["result"], &body["data"]["result"])
    }
}
