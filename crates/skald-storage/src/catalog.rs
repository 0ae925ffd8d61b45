//! The in-memory index of everything in object storage, and which index file brought
//! each chunk.
//!
//! Index files come and go: ingesters add them, the compactor replaces many small files
//! with one merged file (writing the merged file before deleting its inputs) and drops
//! expired or rewritten chunks. A chunk stays visible while at least one loaded index
//! file names it (a reference count per chunk key), so a reader that sees both a merged
//! file and its inputs lists each chunk once, and a chunk disappears only when the last
//! file naming it is gone.

use skald_common::LabelSet;
use skald_index::{ChunkRef, TenantIndex};
use std::collections::{HashMap, HashSet};

/// One tenant: its index and the reference count of every chunk key.
#[derive(Default)]
pub(crate) struct TenantCatalog {
    pub index: TenantIndex,
    refs: HashMap<String, u32>,
}

/// What a loaded index file contributed.
struct LoadedFile {
    tenant: String,
    chunk_keys: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Catalog {
    pub tenants: HashMap<String, TenantCatalog>,
    files: HashMap<String, LoadedFile>,
}

/// The tenant of an index file key `index/<tenant>/<day>/<name>`.
pub(crate) fn tenant_of_index_key(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    if parts.next() != Some("index") {
        return None;
    }
    let tenant = parts.next()?;
    let _day = parts.next()?;
    let _name = parts.next()?;
    Some(tenant)
}

impl Catalog {
    pub fn file_keys(&self) -> HashSet<String> {
        self.files.keys().cloned().collect()
    }

    pub fn has_file(&self, key: &str) -> bool {
        self.files.contains_key(key)
    }

    /// Adds the entries of index file `file_key`; a file already loaded is ignored.
    pub fn add_file(&mut self, tenant: &str, file_key: &str, entries: Vec<(u64, LabelSet, ChunkRef)>) {
        if self.files.contains_key(file_key) {
            return;
        }
        let catalog = self.tenants.entry(tenant.to_string()).or_default();
        let mut chunk_keys: Vec<String> = Vec::with_capacity(entries.len());
        let mut seen: HashSet<String> = HashSet::with_capacity(entries.len());
        for (fingerprint, labels, chunk) in entries {
            if !seen.insert(chunk.key.clone()) {
                continue;
            }
            *catalog.refs.entry(chunk.key.clone()).or_default() += 1;
            chunk_keys.push(chunk.key.clone());
            catalog.index.add_chunk(fingerprint, &labels, chunk);
        }
        self.files.insert(file_key.to_string(), LoadedFile { tenant: tenant.to_string(), chunk_keys });
    }

    /// Forgets index file `file_key`; chunks no other loaded file names leave the index.
    /// Returns the chunk keys that left.
    pub fn remove_file(&mut self, file_key: &str) -> Vec<String> {
        let Some(file) = self.files.remove(file_key) else { return Vec::new() };
        let Some(catalog) = self.tenants.get_mut(&file.tenant) else { return Vec::new() };
        let mut gone = Vec::new();
        for key in file.chunk_keys {
            let Some(count) = catalog.refs.get_mut(&key) else { continue };
            *count -= 1;
            if *count == 0 {
                catalog.refs.remove(&key);
                gone.push(key);
            }
        }
        if !gone.is_empty() {
            catalog.index.remove_chunks(&gone);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_index::LabelMatcher;

    fn entry(key: &str) -> (u64, LabelSet, ChunkRef) {
        let chunk = ChunkRef { key: key.into(), from: 10, through: 20, entries: 1, raw_bytes: 1, size: 1 };
        (1, LabelSet::from_pairs([("job", "a")]), chunk)
    }

    #[test]
    fn merged_file_and_inputs_count_each_chunk_once() {
        let mut catalog = Catalog::default();
        catalog.add_file("t", "index/t/0/a.idx", vec![entry("c1")]);
        catalog.add_file("t", "index/t/0/b.idx", vec![entry("c2")]);
        catalog.add_file("t", "index/t/0/merged.idx", vec![entry("c1"), entry("c2"), entry("c2")]);
        let matchers = [LabelMatcher::Eq("job".into(), "a".into())];
        let chunks = |c: &Catalog| c.tenants["t"].index.select(&matchers, 0, 100).first().map_or(0, |s| s.chunks.len());
        assert_eq!(chunks(&catalog), 2);
        assert!(catalog.remove_file("index/t/0/a.idx").is_empty());
        assert!(catalog.remove_file("index/t/0/b.idx").is_empty());
        assert_eq!(chunks(&catalog), 2);
        assert_eq!(catalog.remove_file("index/t/0/merged.idx").len(), 2);
        assert_eq!(chunks(&catalog), 0);
        assert_eq!(tenant_of_index_key("index/t/0/x.idx"), Some("t"));
        assert_eq!(tenant_of_index_key("chunks/t/0"), None);
    }
}
