//! The stored form of a rule group: Loki's `rulespb.RuleGroupDesc` (protobuf), so a
//! rules bucket written by Loki is read by Skald and the other way round. Skald adds
//! what Loki drops when it stores a group: `keep_firing_for` as field 13 of a rule
//! (Loki reserves 7 to 12) and the group's `query_offset` as field 100 (Loki ignores an
//! unknown field when reading).

use skald_rules::{PromDuration, Rule, RuleGroup};

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuleGroupDesc {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(message, optional, tag = "3")]
    pub interval: Option<prost_types::Duration>,
    #[prost(message, repeated, tag = "4")]
    pub rules: Vec<RuleDesc>,
    #[prost(string, tag = "6")]
    pub user: String,
    #[prost(int64, tag = "10")]
    pub limit: i64,
    #[prost(message, optional, tag = "100")]
    pub query_offset: Option<prost_types::Duration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuleDesc {
    #[prost(string, tag = "1")]
    pub expr: String,
    #[prost(string, tag = "2")]
    pub record: String,
    #[prost(string, tag = "3")]
    pub alert: String,
    #[prost(message, optional, tag = "4")]
    pub r#for: Option<prost_types::Duration>,
    #[prost(message, repeated, tag = "5")]
    pub labels: Vec<LabelPair>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<LabelPair>,
    #[prost(message, optional, tag = "13")]
    pub keep_firing_for: Option<prost_types::Duration>,
}

/// `logproto.LegacyLabelPair`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

fn duration(ms: Option<PromDuration>) -> Option<prost_types::Duration> {
    let ms = ms?.0;
    Some(prost_types::Duration { seconds: (ms / 1000) as i64, nanos: ((ms % 1000) * 1_000_000) as i32 })
}

fn millis(d: &Option<prost_types::Duration>) -> Option<PromDuration> {
    let d = d.as_ref()?;
    let ms = d.seconds.max(0) as u64 * 1000 + (d.nanos.max(0) as u64) / 1_000_000;
    (ms > 0).then_some(PromDuration(ms))
}

fn pairs(m: &std::collections::BTreeMap<String, String>) -> Vec<LabelPair> {
    m.iter().map(|(k, v)| LabelPair { name: k.as_bytes().to_vec(), value: v.as_bytes().to_vec() }).collect()
}

fn map(p: &[LabelPair]) -> std::collections::BTreeMap<String, String> {
    p.iter().map(|l| (String::from_utf8_lossy(&l.name).into_owned(), String::from_utf8_lossy(&l.value).into_owned())).collect()
}

pub fn to_proto(tenant: &str, namespace: &str, group: &RuleGroup) -> RuleGroupDesc {
    RuleGroupDesc {
        name: group.name.clone(),
        namespace: namespace.to_string(),
        interval: duration(group.interval),
        rules: group
            .rules
            .iter()
            .map(|r| RuleDesc {
                expr: r.expr.clone(),
                record: r.record.clone(),
                alert: r.alert.clone(),
                r#for: duration(r.for_),
                labels: pairs(&r.labels),
                annotations: pairs(&r.annotations),
                keep_firing_for: duration(r.keep_firing_for),
            })
            .collect(),
        user: tenant.to_string(),
        limit: group.limit as i64,
        query_offset: duration(group.query_offset),
    }
}

pub fn from_proto(desc: &RuleGroupDesc) -> RuleGroup {
    RuleGroup {
        name: desc.name.clone(),
        interval: millis(&desc.interval),
        query_offset: millis(&desc.query_offset),
        limit: desc.limit.max(0) as usize,
        rules: desc
            .rules
            .iter()
            .map(|r| Rule {
                // Loki's `FromProto`: a record when one is set, else an alert.
                record: r.record.clone(),
                alert: if r.record.is_empty() { r.alert.clone() } else { String::new() },
                expr: r.expr.clone(),
                for_: millis(&r.r#for),
                keep_firing_for: millis(&r.keep_firing_for),
                labels: map(&r.labels),
                annotations: map(&r.annotations),
            })
            .collect(),
    }
}
