//! `compactor`: Loki's key names and defaults.

use serde::{Deserialize, Serialize};
use skald_common::limits::de_duration;
use std::path::PathBuf;
use std::time::Duration;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CompactorConfig {
    /// Accepted for Loki compatibility: Skald keeps deletion markers in object storage
    /// (`compactor/markers/`), so a compactor that loses its disk loses nothing.
    pub working_directory: Option<PathBuf>,
    /// How often index files are merged and retention and deletes applied.
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub compaction_interval: i64,
    pub retention_enabled: bool,
    /// Chunks dropped from the index are deleted this much later, so that queriers
    /// that still hold the old index can finish reading them.
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub retention_delete_delay: i64,
    pub retention_delete_worker_count: usize,
    /// The object store holding delete requests; Skald always uses the chunk store.
    pub delete_request_store: Option<String>,
    /// A delete request can be cancelled for this long; it is processed afterwards.
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub delete_request_cancel_period: i64,
    /// Longest time range one delete request may cover (0 = no limit).
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub delete_max_interval: i64,
    /// Older Loki name of `delete_request_store`; accepted and unused.
    pub shared_store: Option<String>,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            working_directory: None,
            compaction_interval: 10 * MINUTE,
            retention_enabled: false,
            retention_delete_delay: 2 * HOUR,
            retention_delete_worker_count: 150,
            delete_request_store: None,
            delete_request_cancel_period: 24 * HOUR,
            delete_max_interval: 0,
            shared_store: None,
        }
    }
}

impl CompactorConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.compaction_interval.max(SECOND / 10) as u64)
    }
}
