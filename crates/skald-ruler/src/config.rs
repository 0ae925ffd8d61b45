//! `ruler`: the keys of Loki's block that Skald reads (every other Loki key is accepted
//! and named as ignored at start, as for every section).

use serde::{Deserialize, Serialize};
use skald_common::limits::{de_duration, ser_duration};
use std::collections::BTreeMap;

const SECOND: i64 = 1_000_000_000;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RulerConfig {
    /// The base of each alert's link back (`generatorURL`), Grafana's URL in Loki's docs.
    pub external_url: String,
    /// The Grafana data source of the Explore links (`datasource_uid`).
    pub datasource_uid: String,
    /// Labels added to every alert sent (where the alert has no label of that name).
    pub external_labels: BTreeMap<String, String>,
    /// The interval of a group that sets none.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub evaluation_interval: i64,
    /// How often the stored rules are read again (changes through the API apply at once).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub poll_interval: i64,
    /// Alertmanager URLs, comma-separated; each receives every alert.
    pub alertmanager_url: String,
    pub enable_alertmanager_v2: bool,
    pub alertmanager_client: AlertmanagerClient,
    /// Alerts waiting to be sent; past it the oldest are dropped (and counted).
    pub notification_queue_capacity: usize,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub notification_timeout: i64,
    /// How far back an alert's `for` state is looked for after a restart.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub for_outage_tolerance: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub for_grace_period: i64,
    /// A firing alert is sent again this often.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub resend_delay: i64,
    pub enable_api: bool,
    pub storage: RuleStorageConfig,
}

impl Default for RulerConfig {
    fn default() -> Self {
        RulerConfig {
            external_url: String::new(),
            datasource_uid: String::new(),
            external_labels: BTreeMap::new(),
            evaluation_interval: 60 * SECOND,
            poll_interval: 60 * SECOND,
            alertmanager_url: String::new(),
            enable_alertmanager_v2: true,
            alertmanager_client: AlertmanagerClient::default(),
            notification_queue_capacity: 10_000,
            notification_timeout: 10 * SECOND,
            for_outage_tolerance: 3600 * SECOND,
            for_grace_period: 600 * SECOND,
            resend_delay: 60 * SECOND,
            enable_api: true,
            storage: RuleStorageConfig::default(),
        }
    }
}

/// `ruler.alertmanager_client`: basic auth or an `Authorization` header.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AlertmanagerClient {
    pub basic_auth_username: String,
    pub basic_auth_password: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials: String,
    pub credentials_file: String,
}

impl Default for AlertmanagerClient {
    fn default() -> Self {
        AlertmanagerClient {
            basic_auth_username: String::new(),
            basic_auth_password: String::new(),
            kind: "Bearer".to_string(),
            credentials: String::new(),
            credentials_file: String::new(),
        }
    }
}

/// `ruler.storage`: `local` (a directory of rule files, read-only), else the chunks'
/// object storage under `rules/`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RuleStorageConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub local: LocalRuleStorage,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LocalRuleStorage {
    pub directory: String,
}
