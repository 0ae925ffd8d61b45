//! Wiring of the ruler: where its rules are read from, how its queries run (this node's
//! querier, or a query frontend over dskit's httpgrpc), and on a cluster which groups
//! it evaluates (the ruler ring over gossip).

use crate::server::nanos;
use skald_config::Config;
use skald_frontend::HttpGrpcClient;
use skald_frontend::httpgrpc::pb::{Header, HttpRequest};
use skald_ring::Cluster;
use skald_ruler::{FrontendTransport, RemoteRuleQuerier, RuleQuerier, Ruler};
use skald_storage::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A ruler, not started yet: rules from `ruler.storage.local.directory` when
/// `ruler.storage.type` is `local`, else from the chunks' object storage (`rules/`);
/// queries through `local` (this node's querier) unless `ruler.evaluation.mode` is
/// `remote`.
pub fn build_ruler(
    config: &Config,
    data_dir: &Path,
    store: &Arc<Store>,
    local: Option<Arc<skald_querier::Querier>>,
) -> anyhow::Result<Arc<Ruler>> {
    let ruler_config = config.ruler.clone();
    let rules = if ruler_config.storage.kind == "local" {
        let dir = &ruler_config.storage.local.directory;
        anyhow::ensure!(!dir.is_empty(), "directory required for local rules config");
        skald_ruler::RuleStore::Local(dir.into())
    } else {
        skald_ruler::RuleStore::Bucket(store.objects().clone())
    };
    let querier: Arc<dyn RuleQuerier> = if ruler_config.evaluation.is_remote().map_err(anyhow::Error::msg)? {
        let frontend = &ruler_config.evaluation.query_frontend;
        let tls = crate::grpc_security::client_tls(&frontend.tls, "ruler.evaluation.query_frontend")?;
        let client = HttpGrpcClient::connect(&frontend.address, tls.as_ref())
            .map_err(|e| anyhow::anyhow!("ruler.evaluation.query_frontend.address: {e}"))?;
        let timeout = nanos(config.limits_config.query_timeout).max(Duration::from_secs(1));
        tracing::info!(frontend = %frontend.address, "rules are evaluated by the query frontend");
        Arc::new(RemoteRuleQuerier::new(Arc::new(HttpGrpcFrontend { client, timeout })))
    } else {
        let local = local.ok_or_else(|| anyhow::anyhow!("the ruler has no querier on this node"))?;
        Arc::new(skald_api::rule_querier::LocalRuleQuerier(local))
    };
    // A relative `ruler.wal.dir` is under the data directory.
    let wal_dir = data_dir.join(&ruler_config.wal.dir);
    Ruler::new(ruler_config, rules, querier, &wal_dir).map_err(anyhow::Error::msg)
}

/// On a cluster: this ruler evaluates the groups the ruler ring gives it at each slot.
/// A ruler counts on the ring from `settle` after it joined (see `skald-ring`'s
/// `ruler_ring`), long enough for gossip to tell every ruler about it.
pub fn shard_by_ring(ruler: &Ruler, cluster: &Cluster) {
    let gossip = cluster.config();
    let settle = gossip.heartbeat_period + gossip.gossip_interval * 10;
    let settle_ms = i64::try_from(settle.as_millis()).unwrap_or(i64::MAX);
    let cluster = cluster.clone();
    ruler.set_ownership(Arc::new(move |tenant: &str, namespace: &str, group: &str, at_ms: i64| {
        let ring = skald_ring::ruler_ring(&cluster.members(), at_ms, settle_ms);
        let token = skald_ring::group_token(tenant, namespace, group);
        skald_ring::group_owner(&ring, token).as_deref() == Some(cluster.id())
    }));
}

/// Loki's remote evaluation request, over httpgrpc to the frontend's gRPC port.
struct HttpGrpcFrontend {
    client: HttpGrpcClient,
    timeout: Duration,
}

#[async_trait::async_trait]
impl FrontendTransport for HttpGrpcFrontend {
    async fn post_form(&self, tenant: &str, path: &str, form: String) -> Result<(u16, Vec<u8>), String> {
        let header = |key: &str, value: &str| Header { key: key.to_string(), values: vec![value.to_string()] };
        let request = HttpRequest {
            method: "POST".to_string(),
            url: path.to_string(),
            headers: vec![
                header("User-Agent", skald_ruler::remote_eval::USER_AGENT),
                header("Content-Type", "application/x-www-form-urlencoded"),
                header("Content-Length", &form.len().to_string()),
                header("X-Query-Tags", "source=ruler"),
                header("X-Scope-Orgid", tenant),
            ],
            body: form.into_bytes(),
        };
        let response = self.client.handle(request, self.timeout).await.map_err(|status| status.message().to_string())?;
        let code = u16::try_from(response.code).map_err(|_| format!("invalid status code {}", response.code))?;
        Ok((code, response.body))
    }
}

/// The other rulers of the cluster, over HTTP (their Prometheus rules and alerts).
pub struct ClusterRulerPeers {
    pub cluster: Cluster,
    pub client: reqwest::Client,
}

impl ClusterRulerPeers {
    pub fn new(cluster: Cluster) -> ClusterRulerPeers {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build().unwrap_or_default();
        ClusterRulerPeers { cluster, client }
    }
}

#[async_trait::async_trait]
impl skald_api::rules::RulerPeers for ClusterRulerPeers {
    async fn ask_all(&self, tenant: &str, authorization: Option<&str>, path_and_query: &str) -> Vec<Result<serde_json::Value, String>> {
        let mut asks = tokio::task::JoinSet::new();
        for peer in self.cluster.members_with_role(skald_ring::Role::Ruler) {
            if peer.id == self.cluster.id() || !peer.healthy {
                continue;
            }
            let mut request = self
                .client
                .get(format!("http://{}{path_and_query}", peer.http_addr))
                .header("X-Scope-OrgID", tenant)
                .header(skald_api::rules::LOCAL_ONLY_HEADER, "true");
            if let Some(authorization) = authorization {
                request = request.header("Authorization", authorization);
            }
            asks.spawn(async move {
                let response = request.send().await.map_err(|e| format!("ruler {}: {e}", peer.id))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(format!("ruler {}: status {status}", peer.id));
                }
                response.json::<serde_json::Value>().await.map_err(|e| format!("ruler {}: {e}", peer.id))
            });
        }
        let mut answers = Vec::new();
        while let Some(answer) = asks.join_next().await {
            answers.push(answer.unwrap_or_else(|e| Err(format!("asking a ruler failed: {e}"))));
        }
        answers
    }
}
