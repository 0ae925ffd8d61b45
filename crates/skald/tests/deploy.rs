//! The Kubernetes manifests under `deploy/` parse, name valid targets, mount their
//! configuration, and that configuration is accepted by the binary itself.

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every document of a multi-document YAML file.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current.get(*key)?;
    }
    current.as_str()
}

fn check_with(args: &[&str], config: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_skald")).args(args).arg(config).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?} {} refused: {}{}",
        config.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_manifest_parses_and_every_config_is_valid() {
    let mut targets_seen = Vec::new();
    for mode in ["microservices", "simple-scalable", "agent"] {
        let dir = deploy_dir().join(mode);
        let kustomization = &documents(&dir.join("kustomization.yaml"))[0];
        let resources: Vec<&str> = kustomization["resources"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(!resources.is_empty(), "{mode}: no resources");
        // The config files the ConfigMap generator reads exist and are valid.
        for generator in kustomization["configMapGenerator"].as_sequence().unwrap() {
            for file in generator["files"].as_sequence().unwrap() {
                let path = dir.join(file.as_str().unwrap());
                if mode == "agent" {
                    check_with(&["agent", "--check-config", "--config"], &path);
                } else {
                    check_with(&["server", "--verify-config", "--config"], &path);
                }
            }
        }
        for resource in resources {
            for document in documents(&dir.join(resource)) {
                let kind = str_at(&document, &["kind"]).unwrap_or_else(|| panic!("{mode}/{resource}: a document without kind"));
                assert!(str_at(&document, &["apiVersion"]).is_some(), "{mode}/{resource}: {kind} without apiVersion");
                assert!(str_at(&document, &["metadata", "name"]).is_some(), "{mode}/{resource}: {kind} without a name");
                if !matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet") {
                    continue;
                }
                let pod = &document["spec"]["template"]["spec"];
                let container = &pod["containers"][0];
                let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                let mounts: Vec<&str> =
                    container["volumeMounts"].as_sequence().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
                let selector = &document["spec"]["selector"]["matchLabels"];
                let labels = &document["spec"]["template"]["metadata"]["labels"];
                for (key, value) in selector.as_mapping().unwrap() {
                    assert_eq!(&labels[key], value, "{mode}/{kind}: the selector does not match the pod labels");
                }
                if args[0] == "server" {
                    let target = args.iter().find_map(|a| a.strip_prefix("--target=")).expect("a server without --target");
                    let config = args.iter().find_map(|a| a.strip_prefix("--config.file=")).expect("a server without --config.file");
                    assert!(mounts.iter().any(|m| config.starts_with(m)), "{mode}: {config} is not mounted");
                    // The binary accepts the target with this mode's config.
                    let output = Command::new(env!("CARGO_BIN_EXE_skald"))
                        .args(["server", "--verify-config", "--target", target, "--config"])
                        .arg(dir.join("config.yaml"))
                        .output()
                        .unwrap();
                    assert!(output.status.success(), "{mode}: target {target}: {}", String::from_utf8_lossy(&output.stderr));
                    targets_seen.push(target.to_string());
                } else {
                    assert_eq!(args[0], "agent", "{mode}: unknown command {args:?}");
                    assert!(mounts.contains(&"/var/log/pods"), "the agent must see /var/log/pods");
                }
            }
        }
    }
    targets_seen.sort();
    targets_seen.dedup();
    for role in ["distributor", "ingester", "querier", "query-frontend", "query-scheduler", "compactor", "write", "read", "backend"] {
        assert!(targets_seen.iter().any(|t| t == role), "no workload runs target {role}");
    }
}

#[test]
fn verify_config_refuses_a_bad_target_and_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "target: ingestor\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_skald")).args(["server", "--verify-config", "--config"]).arg(&config).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ingestor"));
    std::fs::write(&config, "memberlist:\n  join_memberz: []\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_skald")).args(["server", "--verify-config", "--config"]).arg(&config).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("join_memberz"));
}
