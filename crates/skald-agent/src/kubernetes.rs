//! `kubernetes_sd_configs` (`role: pod`): the pods of this node, watched through the
//! Kubernetes API (the `kube` crate's watcher: list, then watch from the list's
//! resource version, re-list when the watch expires or fails, with backoff), turned
//! into file targets by `relabel_configs` as Promtail does.
//!
//! As Promtail, the watch asks only for the pods of this node (field selector
//! `spec.nodeName=<HOSTNAME>`, the environment variable the Helm chart sets from the
//! node name, else the host name), and a target whose `__host__` names another host or
//! that has no `__path__` is dropped. Each change recomputes the job's targets and the
//! file thread rediscovers at once: new containers' files are followed, the files of
//! deleted pods are drained and let go.

use crate::config_client::{Authorization, BasicAuth, TlsConfig};
use crate::files::{DynamicTargets, relabeled_targets};
use crate::kubernetes_pods::pod_targets;
use crate::relabel::Rule;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// One entry of `kubernetes_sd_configs`, with Prometheus' keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSdConfig {
    pub role: String,
    /// The API server; empty means in-cluster (the service account's token and CA).
    #[serde(default)]
    pub api_server: Option<String>,
    #[serde(default)]
    pub kubeconfig_file: Option<PathBuf>,
    #[serde(default)]
    pub namespaces: Option<Namespaces>,
    #[serde(default)]
    pub selectors: Vec<Selector>,
    #[serde(default)]
    pub attach_metadata: Option<AttachMetadata>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    #[serde(default = "yes")]
    pub enable_http2: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Namespaces {
    pub names: Vec<String>,
    pub own_namespace: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub role: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AttachMetadata {
    pub node: bool,
}

impl KubernetesSdConfig {
    /// What serde cannot check; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.role != "pod" {
            return Err(format!("role {:?}: only role pod gives file targets (as in Promtail)", self.role));
        }
        if self.api_server.is_some() && self.kubeconfig_file.is_some() {
            return Err("api_server and kubeconfig_file are mutually exclusive".into());
        }
        if self.attach_metadata.as_ref().is_some_and(|a| a.node) {
            return Err("attach_metadata.node is not supported (node labels are not attached)".into());
        }
        for selector in &self.selectors {
            if selector.role != "pod" {
                return Err(format!("selectors: role {:?} does not match the discovery role pod", selector.role));
            }
        }
        if self.tls_config.ca.is_some() || self.tls_config.cert.is_some() || self.tls_config.key.is_some() {
            return Err("tls_config: give the CA, certificate and key as files (ca_file, cert_file, key_file)".into());
        }
        if self.tls_config.min_version.is_some() || self.tls_config.max_version.is_some() {
            return Err("tls_config: min_version/max_version are not supported for the Kubernetes API".into());
        }
        Ok(())
    }
}

/// This node's name for the field selector and `__host__`: `HOSTNAME`, else the host name.
pub fn hostname() -> String {
    if let Ok(name) = std::env::var("HOSTNAME")
        && !name.is_empty()
    {
        return name;
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The client configuration: `api_server` with the HTTP keys, a kubeconfig file, or
/// in-cluster.
async fn client_config(config: &KubernetesSdConfig) -> Result<kube::Config, String> {
    if let Some(path) = &config.kubeconfig_file {
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| format!("kubeconfig_file {}: {e}", path.display()))?;
        return kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("kubeconfig_file {}: {e}", path.display()));
    }
    let Some(server) = &config.api_server else {
        return kube::Config::incluster().map_err(|e| format!("no api_server and not running in a cluster: {e}"));
    };
    let url = server.parse().map_err(|e| format!("api_server {server:?}: {e}"))?;
    let mut kube_config = kube::Config::new(url);
    let tls = &config.tls_config;
    if let Some(path) = &tls.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("tls_config.ca_file {}: {e}", path.display()))?;
        let certs = pem_certificates(&pem).map_err(|e| format!("tls_config.ca_file {}: {e}", path.display()))?;
        kube_config.root_cert = Some(certs);
    }
    kube_config.accept_invalid_certs = tls.insecure_skip_verify;
    kube_config.tls_server_name = tls.server_name.clone();
    // AuthInfo holds secrets in its own string type: build it the way a kubeconfig does.
    let mut auth = serde_json::Map::new();
    let path_text = |p: &PathBuf| serde_json::Value::String(p.display().to_string());
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        auth.insert("client-certificate".into(), path_text(cert));
        auth.insert("client-key".into(), path_text(key));
    }
    if let Some(path) = &config.bearer_token_file {
        auth.insert("tokenFile".into(), path_text(path));
    } else if let Some(token) = &config.bearer_token {
        auth.insert("token".into(), token.clone().into());
    } else if let Some(authorization) = &config.authorization {
        if !authorization.kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("authorization.type {:?}: only Bearer is supported for the Kubernetes API", authorization.kind));
        }
        match (&authorization.credentials, &authorization.credentials_file) {
            (_, Some(path)) => auth.insert("tokenFile".into(), path_text(path)),
            (Some(token), None) => auth.insert("token".into(), token.clone().into()),
            (None, None) => return Err("authorization: needs credentials or credentials_file".into()),
        };
    } else if let Some(basic) = &config.basic_auth {
        let password = match (&basic.password, &basic.password_file) {
            (_, Some(path)) => {
                std::fs::read_to_string(path).map_err(|e| format!("basic_auth.password_file {}: {e}", path.display()))?.trim().to_string()
            }
            (Some(password), None) => password.clone(),
            (None, None) => String::new(),
        };
        auth.insert("username".into(), basic.username.clone().into());
        auth.insert("password".into(), password.into());
    }
    kube_config.auth_info = serde_json::from_value(serde_json::Value::Object(auth)).map_err(|e| format!("credentials: {e}"))?;
    Ok(kube_config)
}

fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<Vec<u8>> =
        CertificateDer::pem_slice_iter(pem).map(|c| c.map(|c| c.to_vec())).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// What one job's discovery needs.
pub struct PodDiscovery {
    pub job_name: String,
    pub configs: Vec<KubernetesSdConfig>,
    pub relabel: Vec<Rule>,
    pub hostname: String,
    pub targets: Arc<DynamicTargets>,
}

/// One watch: an API client, an optional namespace, the selectors.
pub struct WatchSpec {
    client: kube::Client,
    namespace: Option<String>,
    fields: String,
    labels: Option<String>,
}

impl PodDiscovery {
    /// Builds the API clients (reading kubeconfig, CA and token files): a mistake
    /// there stops the agent at start.
    pub async fn prepare(&self) -> Result<Vec<WatchSpec>, String> {
        let mut specs = Vec::new();
        for config in &self.configs {
            let kube_config = client_config(config).await?;
            let own_namespace = kube_config.default_namespace.clone();
            let client = kube::Client::try_from(kube_config).map_err(|e| format!("Kubernetes client: {e}"))?;
            let mut fields = vec![format!("spec.nodeName={}", self.hostname)];
            fields.extend(config.selectors.iter().filter_map(|s| s.field.clone()));
            let labels = config.selectors.iter().filter_map(|s| s.label.clone()).collect::<Vec<_>>();
            let labels = (!labels.is_empty()).then(|| labels.join(","));
            let mut namespaces: Vec<Option<String>> = Vec::new();
            if let Some(wanted) = &config.namespaces {
                namespaces.extend(wanted.names.iter().cloned().map(Some));
                if wanted.own_namespace {
                    namespaces.push(Some(own_namespace));
                }
            }
            if namespaces.is_empty() {
                namespaces.push(None);
            }
            for namespace in namespaces {
                specs.push(WatchSpec { client: client.clone(), namespace, fields: fields.join(","), labels: labels.clone() });
            }
        }
        Ok(specs)
    }

    /// Watches until the task is dropped (API failures are logged and retried with
    /// backoff).
    pub async fn watch(self, specs: Vec<WatchSpec>) {
        let streams = specs.into_iter().enumerate().map(|(index, spec)| {
            let api: kube::Api<Pod> = match &spec.namespace {
                Some(ns) => kube::Api::namespaced(spec.client, ns),
                None => kube::Api::all(spec.client),
            };
            let mut config = watcher::Config::default().fields(&spec.fields);
            if let Some(labels) = &spec.labels {
                config = config.labels(labels);
            }
            watcher::watcher(api, config).default_backoff().map(move |event| (index, event)).boxed()
        });
        let mut events = futures::stream::select_all(streams);
        let mut store = PodStore::default();
        while let Some((index, event)) = events.next().await {
            match event {
                Ok(event) => {
                    if store.apply(index, event) {
                        self.publish(&store);
                    }
                }
                Err(e) => tracing::warn!(job = %self.job_name, error = %e, "Kubernetes pod watch failed; retrying"),
            }
        }
    }

    fn publish(&self, store: &PodStore) {
        let sets = store.pods().flat_map(pod_targets).collect();
        let targets = relabeled_targets(sets, &self.relabel, &self.hostname);
        let count = targets.len();
        if self.targets.replace(targets) {
            tracing::info!(job = %self.job_name, pods = store.len(), targets = count, "Kubernetes targets changed");
        }
    }
}

/// The pods each watch knows, with the list being received during a (re)list.
#[derive(Default)]
pub struct PodStore {
    /// Per watch: `namespace/name` -> pod.
    pods: BTreeMap<usize, BTreeMap<String, Pod>>,
    listing: BTreeMap<usize, BTreeMap<String, Pod>>,
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default())
}

impl PodStore {
    /// Applies one event; true when the pods changed.
    pub fn apply(&mut self, watch: usize, event: Event<Pod>) -> bool {
        match event {
            Event::Init => {
                self.listing.insert(watch, BTreeMap::new());
                false
            }
            Event::InitApply(pod) => {
                self.listing.entry(watch).or_default().insert(key(&pod), pod);
                false
            }
            Event::InitDone => {
                let listed = self.listing.remove(&watch).unwrap_or_default();
                self.pods.insert(watch, listed);
                true
            }
            Event::Apply(pod) => {
                self.pods.entry(watch).or_default().insert(key(&pod), pod);
                true
            }
            Event::Delete(pod) => self.pods.entry(watch).or_default().remove(&key(&pod)).is_some(),
        }
    }

    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values().flat_map(|pods| pods.values())
    }

    pub fn len(&self) -> usize {
        self.pods.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = include_str!("../../skald/tests/k8s-api/pods-list.json");
    const WATCH: &str = include_str!("../../skald/tests/k8s-api/pods-watch.jsonl");

    fn names(store: &PodStore) -> Vec<String> {
        store.pods().map(key).collect()
    }

    /// A re-list (after an expired watch) replaces what the watch knew: pods gone in
    /// between are dropped; events of one watch never touch another's pods.
    #[test]
    fn pod_store_follows_list_watch_and_relist() {
        let list: k8s_openapi::List<Pod> = serde_json::from_str(LIST).unwrap();
        let mut store = PodStore::default();
        assert!(!store.apply(0, Event::Init));
        for pod in list.items.iter().cloned() {
            assert!(!store.apply(0, Event::InitApply(pod)), "nothing changes before the list is complete");
        }
        assert!(store.apply(0, Event::InitDone));
        assert_eq!(names(&store), ["kube-system/kube-proxy-7wq4z", "shop/checkout-7d9f8-abcde", "shop/db-0"]);
        for line in WATCH.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            let pod: Pod = serde_json::from_value(event["object"].clone()).unwrap();
            match event["type"].as_str().unwrap() {
                "ADDED" | "MODIFIED" => assert!(store.apply(0, Event::Apply(pod))),
                "DELETED" => assert!(store.apply(0, Event::Delete(pod))),
                _ => {}
            }
        }
        assert_eq!(names(&store), ["kube-system/kube-proxy-7wq4z", "shop/checkout-7d9f8-abcde", "shop/worker-5c6d-xyz12"]);
        // Another watch (another namespace) is separate.
        store.apply(1, Event::Init);
        store.apply(1, Event::InitDone);
        assert_eq!(store.len(), 3);
        // A re-list that no longer has the worker.
        store.apply(0, Event::Init);
        for pod in list.items.iter().take(2).cloned() {
            store.apply(0, Event::InitApply(pod));
        }
        store.apply(0, Event::InitDone);
        assert_eq!(names(&store), ["kube-system/kube-proxy-7wq4z", "shop/checkout-7d9f8-abcde"]);
    }

    #[test]
    fn only_role_pod_and_known_options() {
        let parse = |yaml: &str| serde_yaml_ng::from_str::<KubernetesSdConfig>(yaml).map_err(|e| e.to_string()).and_then(|c| c.validate());
        assert!(parse("{role: pod}").is_ok());
        assert!(parse("{role: node}").unwrap_err().contains("only role pod"));
        assert!(parse("{role: pod, attach_metadata: {node: true}}").unwrap_err().contains("attach_metadata.node"));
        assert!(parse("{role: pod, api_server: 'https://k', kubeconfig_file: /k}").unwrap_err().contains("mutually exclusive"));
        assert!(parse("{role: pod, oauth2: {}}").unwrap_err().contains("oauth2"));
    }
}
