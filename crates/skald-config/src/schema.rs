//! Every configuration key Loki has ever documented (`loki_keys.tsv`, extracted from the
//! configuration reference of each Loki release by `scripts/loki-config-keys`), plus
//! Skald's own keys, with their kind and command-line flag.
//!
//! A path pattern joins keys with `.`; `[]` stands for any element of a list and `*`
//! for any key of a map: `schema_config.configs[].object_store`,
//! `ruler.remote_write.clients.*.url`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

/// What a key holds, as the reference writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Float,
    Duration,
    String,
    /// A list of scalars (`<list of strings>`), or of blocks when `path[]` keys exist.
    List,
    /// A map whose keys are names the user picks (`path.*`).
    Map,
    /// A block of named keys.
    Block,
    /// Anything: a block the reference does not spell out (Prometheus' relabel configs,
    /// remote-write clients) or a key whose type changed between versions.
    Any,
}

impl Kind {
    fn parse(text: &str) -> Kind {
        match text {
            "bool" => Kind::Bool,
            "int" => Kind::Int,
            "float" => Kind::Float,
            "duration" => Kind::Duration,
            "string" => Kind::String,
            "list" => Kind::List,
            "map" => Kind::Map,
            "block" => Kind::Block,
            _ => Kind::Any,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean (true or false)",
            Kind::Int => "a number",
            Kind::Float => "a number",
            Kind::Duration => "a duration (like 30s, 5m or 1h)",
            Kind::String => "a single value",
            Kind::List => "a list",
            Kind::Map => "a map",
            Kind::Block => "a block of keys",
            Kind::Any => "a value",
        }
    }
}

/// Keys Skald has that Loki does not (Skald's own extensions), with their kinds.
const SKALD_KEYS: &[(&str, Kind)] = &[
    ("auth", Kind::Block),
    ("auth.basic", Kind::List),
    ("auth.basic[].username", Kind::String),
    ("auth.basic[].password", Kind::String),
    ("auth.basic[].password_file", Kind::String),
    ("auth.basic[].tenants", Kind::List),
    ("auth.bearer", Kind::List),
    ("auth.bearer[].token", Kind::String),
    ("auth.bearer[].token_file", Kind::String),
    ("auth.bearer[].tenants", Kind::List),
    ("ingester.head_memory_budget", Kind::Int),
    ("ingester.wal.checkpoint_duration", Kind::Duration),
    ("server.log_format", Kind::String),
];

/// Loki keys its references do not spell out in a form `scripts/loki-config-keys`
/// reads (a required key written without brackets, a map written as prose), with
/// their kinds. They override what the key list says.
const UNSPELLED_LOKI_KEYS: &[(&str, Kind)] = &[
    // The deprecated single remote-write client: Prometheus' `remote_write` block.
    ("ruler.remote_write.client.url", Kind::String),
    ("ruler.remote_write.client.headers", Kind::Map),
    ("ruler.remote_write.client.headers.*", Kind::String),
];

/// A known key: its kind and, when it has one, Loki's command-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kind: Kind,
    pub flag: Option<String>,
    /// Whether Loki documents it (false: a Skald extension).
    pub loki: bool,
}

/// The key tree.
#[derive(Debug)]
pub struct KeySchema {
    keys: HashMap<String, KeyInfo>,
    /// Parent pattern -> names of its children (`*` and `[]` included).
    children: HashMap<String, BTreeSet<String>>,
    /// `server.http-listen-port` (without the dash) -> `server.http_listen_port`.
    flags: BTreeMap<String, String>,
}

impl KeySchema {
    /// The schema built from the embedded key list (parsed once).
    pub fn get() -> &'static KeySchema {
        static SCHEMA: OnceLock<KeySchema> = OnceLock::new();
        SCHEMA.get_or_init(|| KeySchema::parse(include_str!("loki_keys.tsv")))
    }

    fn parse(text: &str) -> KeySchema {
        let mut schema = KeySchema { keys: HashMap::new(), children: HashMap::new(), flags: BTreeMap::new() };
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(path), Some(kind)) = (fields.next(), fields.next()) else { continue };
            let flag = fields.next().map(|f| f.trim_start_matches('-')).filter(|f| !f.is_empty());
            schema.insert(path, Kind::parse(kind), flag, true);
        }
        for (path, kind) in UNSPELLED_LOKI_KEYS {
            schema.insert(path, *kind, None, true);
        }
        for (path, kind) in SKALD_KEYS {
            if !schema.keys.contains_key(*path) {
                schema.insert(path, *kind, None, false);
            }
        }
        schema
    }

    fn insert(&mut self, path: &str, kind: Kind, flag: Option<&str>, loki: bool) {
        if let Some(flag) = flag {
            // Some old references show a flag on blocks embedded in several places (the
            // ring's `kvstore.memberlist`): the path that spells the flag wins, else the
            // shortest.
            let better = match self.flags.get(flag) {
                None => true,
                Some(old) => flag_fit(flag, path) < flag_fit(flag, old),
            };
            if better {
                self.flags.insert(flag.to_string(), path.to_string());
            }
        }
        self.keys.insert(path.to_string(), KeyInfo { kind, flag: flag.map(str::to_string), loki });
        // Every ancestor is a block (or list/map) that has this child.
        let mut child_end = path.len();
        loop {
            let (parent, child) = split_last(&path[..child_end]);
            self.children.entry(parent.to_string()).or_default().insert(child.to_string());
            if parent.is_empty() {
                break;
            }
            if !self.keys.contains_key(parent) {
                let parent_kind = if child == "*" {
                    Kind::Map
                } else if child == "[]" {
                    Kind::List
                } else {
                    Kind::Block
                };
                self.keys.insert(parent.to_string(), KeyInfo { kind: parent_kind, flag: None, loki });
            }
            child_end = parent.len();
        }
    }

    /// The key at this pattern, if known.
    pub fn key(&self, pattern: &str) -> Option<&KeyInfo> {
        self.keys.get(pattern)
    }

    /// Whether a child of this pattern is a list element (`[]`) or map entry (`*`).
    pub fn has_child(&self, pattern: &str, child: &str) -> bool {
        self.children.get(pattern).is_some_and(|c| c.contains(child))
    }

    /// The config path of a command-line flag (given without its leading dashes).
    pub fn flag_path(&self, flag: &str) -> Option<&str> {
        self.flags.get(flag).map(String::as_str)
    }

    /// The key names under a pattern (not `*` or `[]`).
    pub fn child_names(&self, pattern: &str) -> impl Iterator<Item = &str> {
        self.children.get(pattern).into_iter().flatten().map(String::as_str).filter(|c| *c != "*" && *c != "[]")
    }

    /// "did you mean" for an unknown key `name` under `parent`: the closest sibling
    /// within a small edit distance, else the places where a key of exactly that name
    /// exists elsewhere.
    pub fn suggest(&self, parent: &str, name: &str) -> Option<String> {
        let limit = (name.len() / 3).max(2);
        let best = self
            .child_names(parent)
            .map(|candidate| (strsim::damerau_levenshtein(name, candidate), candidate))
            .filter(|(distance, _)| *distance <= limit)
            .min();
        if let Some((_, candidate)) = best {
            return Some(join(parent, candidate));
        }
        let elsewhere: Vec<&str> = self
            .keys
            .keys()
            .filter(|path| split_last(path).1 == name && !path.contains('*'))
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(3)
            .collect();
        (!elsewhere.is_empty()).then(|| elsewhere.join(" or "))
    }

    /// Every flag and its path, for `-help`.
    pub fn flags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.flags.iter().map(|(flag, path)| (flag.as_str(), path.as_str()))
    }
}

/// How well a path fits a flag (lower is better): spelled the same (`memberlist.bind-port`
/// and `memberlist.bind_port`) first, then shorter paths.
fn flag_fit(flag: &str, path: &str) -> (bool, usize) {
    (flag.replace('-', "_") != path, path.len())
}

/// `a.b[].c` -> (`a.b[]`, `c`); `a.b[]` -> (`a.b`, `[]`); `a` -> (``, `a`).
pub fn split_last(path: &str) -> (&str, &str) {
    if let Some(parent) = path.strip_suffix("[]") {
        return (parent, "[]");
    }
    match path.rfind('.') {
        Some(dot) => (&path[..dot], &path[dot + 1..]),
        None => ("", path),
    }
}

/// Joins a parent pattern and a child name.
pub fn join(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child) {
        (_, "[]") => format!("{parent}[]"),
        (true, _) => child.to_string(),
        (false, _) => format!("{parent}.{child}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_keys_of_every_version_are_known() {
        let schema = KeySchema::get();
        for path in [
            "server.grpc_server_max_concurrent_streams",
            "common.instance_addr",
            "common.compactor_address",
            "common.ring.instance_addr",
            "storage_config.aws.s3",
            "storage_config.gcs.bucket_name",
            "storage_config.azure.account_key",
            "storage_config.cos.api_key",
            "storage_config.bos.bucket_name",
            "storage_config.alibabacloud.bucket",
            "schema_config.configs[].object_store",
            "frontend.encoding",
            "analytics.reporting_enabled",
            // Removed in Loki 3: still a key of a Loki version.
            "storage_config.boltdb_shipper.shared_store",
        ] {
            assert!(schema.key(path).is_some(), "{path}");
        }
        assert_eq!(schema.key("ingester.chunk_idle_period").unwrap().kind, Kind::Duration);
        assert_eq!(schema.key("schema_config.configs").unwrap().kind, Kind::List);
        assert!(schema.key("limits_config.ingestion_rate_mbb").is_none());
        assert!(!schema.key("auth.basic[].username").unwrap().loki);
    }

    #[test]
    fn flags_map_to_paths() {
        let schema = KeySchema::get();
        assert_eq!(schema.flag_path("server.http-listen-port"), Some("server.http_listen_port"));
        assert_eq!(schema.flag_path("log.level"), Some("server.log_level"));
        assert_eq!(schema.flag_path("target"), Some("target"));
        assert_eq!(schema.flag_path("distributor.ingestion-rate-limit-mb"), Some("limits_config.ingestion_rate_mb"));
        assert_eq!(schema.flag_path("memberlist.bind-port"), Some("memberlist.bind_port"));
    }

    #[test]
    fn suggestions() {
        let schema = KeySchema::get();
        assert_eq!(schema.suggest("limits_config", "ingestion_rate_mbb").as_deref(), Some("limits_config.ingestion_rate_mb"));
        assert_eq!(schema.suggest("", "servr").as_deref(), Some("server"));
        let elsewhere = schema.suggest("server", "ingestion_burst_size_mb").unwrap();
        assert!(elsewhere.contains("limits_config.ingestion_burst_size_mb"), "{elsewhere}");
        assert_eq!(schema.suggest("server", "zzzzzzzzzzzz"), None);
    }

    #[test]
    fn paths_split_and_join() {
        assert_eq!(split_last("a.b[].c"), ("a.b[]", "c"));
        assert_eq!(split_last("a.b[]"), ("a.b", "[]"));
        assert_eq!(split_last("a"), ("", "a"));
        assert_eq!(join("a.b", "[]"), "a.b[]");
        assert_eq!(join("", "a"), "a");
    }
}
