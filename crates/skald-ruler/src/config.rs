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
    /// Where recording rules' series (and `ALERTS`) go.
    pub remote_write: RemoteWriteConfig,
    /// The write-ahead log of what remote write has not delivered yet.
    pub wal: RulerWalConfig,
    /// The ruler ring (on a cluster: which ruler evaluates which group).
    pub ring: RulerRingConfig,
    /// Where rules are evaluated: here, or through a query frontend.
    pub evaluation: EvaluationConfig,
}

/// `ruler.ring`: the keys Skald reads. Heartbeats and membership are the cluster's
/// (`memberlist`, `common.ring`), shared by every ring.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RulerRingConfig {
    /// Tokens a ruler owns on the ring (Loki's default, 128).
    pub num_tokens: usize,
}

impl Default for RulerRingConfig {
    fn default() -> Self {
        RulerRingConfig { num_tokens: 128 }
    }
}

/// `ruler.evaluation`: `mode: local` runs rules on this node's query engine; `remote`
/// sends each query to a query frontend (`query_frontend.address`, gRPC), as Loki does.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EvaluationConfig {
    pub mode: String,
    pub query_frontend: QueryFrontendConfig,
}

impl EvaluationConfig {
    /// Whether queries go to a query frontend; an unknown mode is an error naming it.
    pub fn is_remote(&self) -> Result<bool, String> {
        match self.mode.as_str() {
            "" | "local" => Ok(false),
            "remote" => {
                if self.query_frontend.address.is_empty() {
                    return Err("ruler.evaluation.query_frontend.address: required when ruler.evaluation.mode is remote".into());
                }
                Ok(true)
            }
            other => Err(format!("ruler.evaluation.mode: unknown mode '{other}' (local or remote)")),
        }
    }
}

/// `ruler.evaluation.query_frontend`: the frontend's gRPC address and Loki's TLS keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct QueryFrontendConfig {
    /// `host:port`, optionally `dns:///host:port` as Loki writes it.
    pub address: String,
    #[serde(flatten)]
    pub tls: skald_common::GrpcClientConfig,
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
            remote_write: RemoteWriteConfig::default(),
            wal: RulerWalConfig::default(),
            ring: RulerRingConfig::default(),
            evaluation: EvaluationConfig::default(),
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

/// `ruler.remote_write`: Prometheus remote-write clients (`clients`, or the deprecated
/// single `client`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RemoteWriteConfig {
    pub enabled: bool,
    pub client: Option<RemoteWriteClient>,
    pub clients: BTreeMap<String, RemoteWriteClient>,
    /// Sends `X-Scope-OrgID: <tenant>` (replacing any configured header of that name).
    pub add_org_id_header: bool,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig { enabled: false, client: None, clients: BTreeMap::new(), add_org_id_header: true }
    }
}

impl RemoteWriteConfig {
    /// The clients by name, with Loki's checks.
    pub fn resolved(&self) -> Result<BTreeMap<String, RemoteWriteClient>, String> {
        if !self.enabled {
            return Ok(BTreeMap::new());
        }
        let clients = match (&self.client, self.clients.is_empty()) {
            (Some(_), false) => {
                return Err("ruler remote write config: both 'client' and 'clients' options are defined; 'client' is deprecated, please only use 'clients'".into());
            }
            (Some(c), true) => BTreeMap::from([("default".to_string(), c.clone())]),
            (None, _) => self.clients.clone(),
        };
        if clients.is_empty() {
            return Err("remote-write enabled but no clients URL are configured".into());
        }
        for (name, c) in &clients {
            if c.url.is_empty() {
                return Err(format!("remote-write enabled but client '{name}' URL is not configured"));
            }
            if !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
                return Err(format!("ruler.remote_write.clients: client name {name:?}: letters, digits, '-' and '_' only"));
            }
        }
        Ok(clients)
    }
}

/// One Prometheus `remote_write` client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RemoteWriteClient {
    pub url: String,
    pub name: String,
    pub headers: BTreeMap<String, String>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    #[serde(deserialize_with = "de_prom_duration", serialize_with = "ser_prom_duration")]
    pub remote_timeout: u64,
    pub queue_config: QueueConfig,
}

impl Default for RemoteWriteClient {
    fn default() -> Self {
        RemoteWriteClient {
            url: String::new(),
            name: String::new(),
            headers: BTreeMap::new(),
            basic_auth: None,
            authorization: None,
            remote_timeout: 30_000,
            queue_config: QueueConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
    pub password_file: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials: String,
    pub credentials_file: String,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization { kind: "Bearer".into(), credentials: String::new(), credentials_file: String::new() }
    }
}

/// Prometheus' `queue_config` (durations in milliseconds).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct QueueConfig {
    pub max_samples_per_send: usize,
    #[serde(deserialize_with = "de_prom_duration", serialize_with = "ser_prom_duration")]
    pub min_backoff: u64,
    #[serde(deserialize_with = "de_prom_duration", serialize_with = "ser_prom_duration")]
    pub max_backoff: u64,
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { max_samples_per_send: 2000, min_backoff: 30, max_backoff: 5_000, retry_on_http_429: true }
    }
}

/// `ruler.wal`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RulerWalConfig {
    /// Relative to the data directory (`common.path_prefix`) when relative.
    pub dir: String,
    /// Records older than this that no client could deliver are dropped (and counted).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub max_age: i64,
}

impl Default for RulerWalConfig {
    fn default() -> Self {
        RulerWalConfig { dir: "ruler-wal".into(), max_age: 4 * 3600 * SECOND }
    }
}

fn de_prom_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    skald_rules::duration::parse_prom_duration(&text).map_err(serde::de::Error::custom)
}

fn ser_prom_duration<S: serde::Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&skald_rules::duration::format_prom_duration(*ms))
}
