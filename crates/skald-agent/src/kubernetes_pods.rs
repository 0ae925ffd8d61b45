//! Prometheus' `role: pod` targets from pod objects: the `__meta_kubernetes_*`
//! labels of each container (each port of a container with ports), as
//! `discovery/kubernetes/pod.go` builds them and Promtail relabels them.
//!
//! Pure: pods in, label sets out. The watcher (`kubernetes.rs`) keeps the pods.

use crate::relabel::Labels;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};

/// Every character outside `[a-zA-Z0-9_]` becomes `_` (Prometheus' `SanitizeLabelName`).
pub fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// The labels every target of the pod shares.
fn pod_labels(pod: &Pod) -> Labels {
    let mut labels = Labels::new();
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let mut put = |name: &str, value: &str| {
        labels.insert(format!("__meta_kubernetes_{name}"), value.to_string());
    };
    put("namespace", meta.namespace.as_deref().unwrap_or_default());
    put("pod_name", meta.name.as_deref().unwrap_or_default());
    put("pod_ip", status.and_then(|s| s.pod_ip.as_deref()).unwrap_or_default());
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".into());
    put("pod_ready", &ready);
    put("pod_phase", status.and_then(|s| s.phase.as_deref()).unwrap_or_default());
    put("pod_node_name", spec.and_then(|s| s.node_name.as_deref()).unwrap_or_default());
    put("pod_host_ip", status.and_then(|s| s.host_ip.as_deref()).unwrap_or_default());
    put("pod_uid", meta.uid.as_deref().unwrap_or_default());
    if let Some(owner) = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true)) {
        if !owner.kind.is_empty() {
            put("pod_controller_kind", &owner.kind);
        }
        if !owner.name.is_empty() {
            put("pod_controller_name", &owner.name);
        }
    }
    for (name, value) in meta.labels.iter().flatten() {
        let name = sanitize(name);
        put(&format!("pod_label_{name}"), value);
        put(&format!("pod_labelpresent_{name}"), "true");
    }
    for (name, value) in meta.annotations.iter().flatten() {
        let name = sanitize(name);
        put(&format!("pod_annotation_{name}"), value);
        put(&format!("pod_annotationpresent_{name}"), "true");
    }
    labels
}

fn container_id(statuses: Option<&Vec<ContainerStatus>>, name: &str) -> String {
    statuses.into_iter().flatten().find(|s| s.name == name).and_then(|s| s.container_id.clone()).unwrap_or_default()
}

/// The targets of one pod: none while it has no IP (Prometheus sends an empty group).
pub fn pod_targets(pod: &Pod) -> Vec<Labels> {
    let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()) else { return Vec::new() };
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let shared = pod_labels(pod);
    let status = pod.status.as_ref();
    let regular = spec.containers.iter().map(|c| (c, false));
    let init = spec.init_containers.iter().flatten().map(|c| (c, true));
    let mut targets = Vec::new();
    for (container, is_init) in regular.chain(init) {
        let statuses = status.and_then(|s| if is_init { s.init_container_statuses.as_ref() } else { s.container_statuses.as_ref() });
        let base = container_labels(&shared, container, is_init, &container_id(statuses, &container.name));
        let ports = container.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            let mut labels = base;
            labels.insert("__address__".into(), ip.clone());
            targets.push(labels);
            continue;
        }
        for port in ports {
            let mut labels = base.clone();
            let address =
                if ip.contains(':') { format!("[{ip}]:{}", port.container_port) } else { format!("{ip}:{}", port.container_port) };
            labels.insert("__address__".into(), address);
            labels.insert("__meta_kubernetes_pod_container_port_name".into(), port.name.clone().unwrap_or_default());
            labels.insert("__meta_kubernetes_pod_container_port_number".into(), port.container_port.to_string());
            labels.insert("__meta_kubernetes_pod_container_port_protocol".into(), port.protocol.clone().unwrap_or_default());
            targets.push(labels);
        }
    }
    targets
}

fn container_labels(shared: &Labels, container: &Container, is_init: bool, id: &str) -> Labels {
    let mut labels = shared.clone();
    labels.insert("__meta_kubernetes_pod_container_name".into(), container.name.clone());
    labels.insert("__meta_kubernetes_pod_container_image".into(), container.image.clone().unwrap_or_default());
    labels.insert("__meta_kubernetes_pod_container_init".into(), is_init.to_string());
    labels.insert("__meta_kubernetes_pod_container_id".into(), id.to_string());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn one_target_per_port_or_per_container() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "db-0", "namespace": "shop", "uid": "u1",
                "labels": {"app.kubernetes.io/name": "db"}, "annotations": {"kubernetes.io/config.hash": "abc"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "o", "controller": true}]},
            "spec": {"nodeName": "node-1",
                "containers": [{"name": "postgres", "image": "postgres:17", "ports": [{"name": "pg", "containerPort": 5432, "protocol": "TCP"}]},
                               {"name": "exporter", "image": "exp:1"}],
                "initContainers": [{"name": "init", "image": "busybox"}]},
            "status": {"podIP": "10.0.0.5", "hostIP": "10.1.0.1", "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "exporter", "containerID": "containerd://e", "image": "", "imageID": "", "ready": true, "restartCount": 0},
                                      {"name": "postgres", "containerID": "containerd://p", "image": "", "imageID": "", "ready": true, "restartCount": 0}]}
        }));
        let targets = pod_targets(&pod);
        assert_eq!(targets.len(), 3);
        let postgres = &targets[0];
        assert_eq!(postgres["__address__"], "10.0.0.5:5432");
        assert_eq!(postgres["__meta_kubernetes_pod_container_port_name"], "pg");
        assert_eq!(postgres["__meta_kubernetes_pod_container_id"], "containerd://p");
        assert_eq!(postgres["__meta_kubernetes_pod_ready"], "true");
        assert_eq!(postgres["__meta_kubernetes_pod_controller_kind"], "StatefulSet");
        assert_eq!(postgres["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "db");
        assert_eq!(postgres["__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name"], "true");
        assert_eq!(postgres["__meta_kubernetes_pod_annotation_kubernetes_io_config_hash"], "abc");
        let exporter = &targets[1];
        assert_eq!(exporter["__address__"], "10.0.0.5");
        assert_eq!(exporter["__meta_kubernetes_pod_container_id"], "containerd://e");
        assert!(!exporter.contains_key("__meta_kubernetes_pod_container_port_name"));
        assert_eq!(targets[2]["__meta_kubernetes_pod_container_init"], "true");
        assert_eq!(targets[2]["__meta_kubernetes_pod_container_id"], "");
    }

    #[test]
    fn a_pod_without_an_ip_has_no_targets() {
        let pod =
            pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}));
        assert!(pod_targets(&pod).is_empty());
    }
}
