//! What a compaction pass moves into the day's new pack.
//!
//! Whole objects: chunk objects of the layout before packs, packs that lost chunks (to
//! retention or deletes: rewriting them frees the space), the day's small packs when
//! there are two or more of them or a new pack is written anyway (one small pack alone
//! stays as it is), and small packs holding a chunk that overlaps another chunk of its
//! stream (replicas' copies, `replicas.rs`).
//!
//! Single chunks: an overlapping chunk in a large pack moves alone, so that the copies
//! three replicas flush after each pass do not rewrite the day's large packs every
//! time; its bytes stay in the old pack, unnamed, until so little of that pack is named
//! that the whole pack is rewritten (less than half its size).

use crate::CompactorError;
use crate::compact::Entry;
use crate::replicas;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use skald_index::locate;
use skald_storage::PACK_TARGET_BYTES;
use std::collections::{HashMap, HashSet};

/// The objects and chunks a pass moves.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergePlan {
    /// Objects whose every kept chunk moves (sorted).
    pub objects: Vec<String>,
    /// Chunks (keys) that move without the rest of their object.
    pub chunks: HashSet<String>,
}

impl MergePlan {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.chunks.is_empty()
    }
}

pub async fn plan_merge(
    objects: &dyn ObjectStore,
    kept: &[Entry],
    dropped: &[String],
    writing_anyway: bool,
) -> Result<MergePlan, CompactorError> {
    let overlapping = replicas::overlapping_chunks(kept);
    let mut plan = objects_to_merge(kept, dropped, writing_anyway, &overlapping);
    // Large objects holding overlapping chunks: move those chunks alone, unless that
    // leaves less than half of the object named.
    let mut lone: HashMap<&str, (u64, Vec<&str>)> = HashMap::new();
    let mut live: HashMap<&str, u64> = HashMap::new();
    for (_, _, chunk) in kept {
        let object = locate(&chunk.key).object;
        *live.entry(object).or_default() += chunk.size;
        if overlapping.contains(chunk.key.as_str()) && !plan.objects.iter().any(|o| o == object) {
            let (bytes, keys) = lone.entry(object).or_default();
            *bytes += chunk.size;
            keys.push(chunk.key.as_str());
        }
    }
    let mut whole = Vec::new();
    for (object, (moving, keys)) in lone {
        let size = match objects.head(&ObjectPath::from(object)).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => 0,
            Err(error) => return Err(error.into()),
        };
        let staying = live.get(object).copied().unwrap_or(0).saturating_sub(moving);
        if staying * 2 < size {
            whole.push(object.to_string());
        } else {
            plan.chunks.extend(keys.into_iter().map(str::to_string));
        }
    }
    plan.objects.extend(whole);
    plan.objects.sort();
    plan.objects.dedup();
    Ok(plan)
}

/// The whole objects a pass moves (see the module doc); the plan's chunks are left to
/// the caller.
fn objects_to_merge(kept: &[Entry], dropped: &[String], writing_anyway: bool, overlapping: &HashSet<&str>) -> MergePlan {
    let mut live_bytes: HashMap<&str, u64> = HashMap::new();
    let mut legacy: HashSet<&str> = HashSet::new();
    let mut with_overlaps: HashSet<&str> = HashSet::new();
    for (_, _, chunk) in kept {
        let location = locate(&chunk.key);
        *live_bytes.entry(location.object).or_default() += chunk.size;
        if location.range.is_none() {
            legacy.insert(location.object);
        }
        if overlapping.contains(chunk.key.as_str()) {
            with_overlaps.insert(location.object);
        }
    }
    let damaged: HashSet<&str> = dropped
        .iter()
        .map(|key| locate(key))
        .filter(|l| l.range.is_some())
        .map(|l| l.object)
        .filter(|o| live_bytes.contains_key(o))
        .collect();
    let small: Vec<&str> = live_bytes
        .iter()
        .filter(|(object, bytes)| !legacy.contains(*object) && (**bytes as usize) < PACK_TARGET_BYTES)
        .map(|(object, _)| *object)
        .collect();
    let small_overlapping = small.iter().copied().filter(|o| with_overlaps.contains(o));
    let mut merging: HashSet<&str> = legacy.iter().copied().chain(damaged).chain(small_overlapping).collect();
    if small.len() >= 2 || !merging.is_empty() || writing_anyway {
        merging.extend(small);
    }
    let mut objects: Vec<String> = merging.into_iter().map(str::to_string).collect();
    objects.sort();
    MergePlan { objects, chunks: HashSet::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::LabelSet;
    use skald_index::ChunkRef;

    const MIB: u64 = 1 << 20;

    fn entry(fingerprint: u64, key: &str, from: i64, through: i64, size: u64) -> Entry {
        let chunk = ChunkRef { key: key.into(), from, through, entries: 1, raw_bytes: size, size };
        (fingerprint, LabelSet::from_pairs([("app", "x")]), chunk)
    }

    /// A bucket on the local filesystem whose objects have the given sizes (sparse files).
    fn bucket(objects: &[(&str, u64)]) -> (tempfile::TempDir, object_store::local::LocalFileSystem) {
        let dir = tempfile::tempdir().unwrap();
        for (key, size) in objects {
            let path = dir.path().join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::File::create(&path).unwrap().set_len(*size).unwrap();
        }
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        (dir, store)
    }

    /// A large pack (70 MiB named) and a small one, each holding a copy of stream 1's
    /// entries between 100 and 200.
    fn kept() -> Vec<Entry> {
        vec![
            entry(1, "packs/t/1/a-1.pack#0+a00000", 100, 200, 10 * MIB),
            entry(2, "packs/t/1/a-1.pack#a00000+3c00000", 0, 50, 60 * MIB),
            entry(1, "packs/t/1/b-1.pack#0+100", 150, 250, 256),
        ]
    }

    #[tokio::test]
    async fn an_overlapping_chunk_of_a_large_pack_moves_alone() {
        let (_dir, store) = bucket(&[("packs/t/1/a-1.pack", 70 * MIB + 100), ("packs/t/1/b-1.pack", 300)]);
        let plan = plan_merge(&store, &kept(), &[], false).await.unwrap();
        assert_eq!(plan.objects, vec!["packs/t/1/b-1.pack".to_string()]);
        assert_eq!(plan.chunks, HashSet::from(["packs/t/1/a-1.pack#0+a00000".to_string()]));
    }

    #[tokio::test]
    async fn a_large_pack_mostly_unnamed_after_the_move_is_rewritten_whole() {
        // 200 MiB on storage, 60 MiB of it still named once the chunk moves.
        let (_dir, store) = bucket(&[("packs/t/1/a-1.pack", 200 * MIB), ("packs/t/1/b-1.pack", 300)]);
        let plan = plan_merge(&store, &kept(), &[], false).await.unwrap();
        assert_eq!(plan.objects, vec!["packs/t/1/a-1.pack".to_string(), "packs/t/1/b-1.pack".to_string()]);
        assert!(plan.chunks.is_empty());
    }

    #[tokio::test]
    async fn without_overlaps_one_small_pack_stays() {
        let kept = vec![entry(1, "packs/t/1/b-1.pack#0+100", 150, 250, 256), entry(1, "packs/t/1/b-1.pack#100+100", 251, 300, 256)];
        let (_dir, store) = bucket(&[("packs/t/1/b-1.pack", 512)]);
        assert!(plan_merge(&store, &kept, &[], false).await.unwrap().is_empty());
    }
}
