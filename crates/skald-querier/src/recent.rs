//! Where a querier finds recent data, not yet (or only just) flushed to the store: the
//! ingester of this process (`-target=all`), or every ingester of a cluster over gRPC.
//!
//! The querier only needs four questions answered; everything else (merging with the
//! store, deduplication of the copies that replication makes, LogQL) happens above,
//! so a remote implementation ships blocks as they are and the querier treats them
//! exactly like local ones.

use crate::querier::QueryError;
use skald_common::LabelSet;
use skald_index::LabelMatcher;
use skald_ingester::{Ingester, StreamSnapshot};

#[async_trait::async_trait]
pub trait RecentData: Send + Sync {
    /// Streams matching `matchers` with their blocks overlapping `[from, through)`,
    /// narrowed by `hints` (see [`apply_hints`]: one shard of the streams, no block
    /// that cannot hold the query's words), so that an ingester ships no more than the
    /// query reads. Several
    /// snapshots of one stream (one per replica) may come back; the querier merges them
    /// and drops duplicate entries.
    async fn select(
        &self,
        tenant: &str,
        matchers: &[LabelMatcher],
        from: i64,
        through: i64,
        hints: &SelectHints,
    ) -> Result<Vec<StreamSnapshot>, QueryError>;
    async fn label_names(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError>;
    async fn label_values(&self, tenant: &str, name: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError>;
    async fn series(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<LabelSet>, QueryError>;
}

/// The ingester of this process.
#[async_trait::async_trait]
impl RecentData for Ingester {
    async fn select(
        &self,
        tenant: &str,
        matchers: &[LabelMatcher],
        from: i64,
        through: i64,
        hints: &SelectHints,
    ) -> Result<Vec<StreamSnapshot>, QueryError> {
        let mut snapshots = Ingester::select_shard(self, tenant, matchers, from, through, hints.shard);
        apply_hints(&mut snapshots, hints);
        Ok(snapshots)
    }

    async fn label_names(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError> {
        Ok(Ingester::label_names(self, tenant, matchers))
    }

    async fn label_values(&self, tenant: &str, name: &str, matchers: &[LabelMatcher]) -> Result<Vec<String>, QueryError> {
        Ok(Ingester::label_values(self, tenant, name, matchers))
    }

    async fn series(&self, tenant: &str, matchers: &[LabelMatcher]) -> Result<Vec<LabelSet>, QueryError> {
        Ok(Ingester::series(self, tenant, matchers))
    }
}

/// What a select may leave out: streams of other shards, blocks without the words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Whole words every wanted line holds.
    pub words: Vec<Vec<u8>>,
    /// Only streams whose fingerprint is `index` modulo `count`.
    pub shard: Option<(u64, u64)>,
}

/// Narrows `snapshots` by `hints`: other shards' streams and the blocks that cannot
/// hold the words are left out.
pub fn apply_hints(snapshots: &mut Vec<StreamSnapshot>, hints: &SelectHints) {
    if let Some((index, count)) = hints.shard.filter(|(_, count)| *count > 0) {
        snapshots.retain(|snapshot| snapshot.fingerprint % count == index);
    }
    retain_blocks_with_words(snapshots, &hints.words);
}

/// Leaves out of `snapshots` the blocks whose word filter rules out one of `words` (a
/// query's required whole words): no line of theirs can match, so the querier need not
/// get them (an ingester does this before shipping blocks to a querier). Streams left
/// without blocks are dropped. The open head's blocks have no filter; they are
/// uncompressed, so their lines are searched for the words instead.
pub fn retain_blocks_with_words(snapshots: &mut Vec<StreamSnapshot>, words: &[Vec<u8>]) {
    if words.is_empty() {
        return;
    }
    for snapshot in snapshots.iter_mut() {
        snapshot.blocks.retain(|block| words.iter().all(|word| block.may_contain_word(word)));
    }
    snapshots.retain(|snapshot| !snapshot.blocks.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn block(lines: &[&str], filtered: bool) -> Arc<skald_chunk::EncodedBlock> {
        let mut head = skald_chunk::HeadBlock::new();
        for (i, line) in lines.iter().enumerate() {
            head.append(i as i64, line, &[]);
        }
        let block = if filtered { head.encode(skald_chunk::Codec::None) } else { head.snapshot(0, i64::MAX).pop() };
        Arc::new(block.unwrap())
    }

    #[test]
    fn blocks_that_cannot_hold_the_words_are_left_out() {
        let snapshot = |fingerprint, blocks| StreamSnapshot { fingerprint, labels: LabelSet::from_pairs([("app", "a")]), blocks };
        let mut snapshots = vec![
            snapshot(
                1,
                vec![block(&["GET /a ok id=7f3a"], true), block(&["POST /b failed id=99"], true), block(&["open head failed"], false)],
            ),
            snapshot(2, vec![block(&["nothing here"], true), block(&["open head"], false)]),
        ];
        retain_blocks_with_words(&mut snapshots, &[b"failed".to_vec()]);
        assert_eq!(snapshots.len(), 1, "the stream without a candidate block is gone, its head searched");
        assert_eq!(snapshots[0].blocks.len(), 2, "the block holding the word, and the head whose lines hold it");
        let mut untouched = vec![snapshot(3, vec![block(&["x"], true)])];
        retain_blocks_with_words(&mut untouched, &[]);
        assert_eq!(untouched[0].blocks.len(), 1);
        // One shard of four: the streams whose fingerprint is 2 modulo 4.
        let mut sharded: Vec<StreamSnapshot> = (0..8).map(|fp| snapshot(fp, vec![block(&["x"], true)])).collect();
        apply_hints(&mut sharded, &SelectHints { words: Vec::new(), shard: Some((2, 4)) });
        assert_eq!(sharded.iter().map(|s| s.fingerprint).collect::<Vec<_>>(), [2, 6]);
    }
}
