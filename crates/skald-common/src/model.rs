//! Entries and streams as they travel from the push API to the ingester.

use crate::LabelSet;

/// One log line with its timestamp and structured metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub ts: i64,
    pub line: String,
    /// Structured metadata, in the order it was pushed.
    pub metadata: Vec<crate::Label>,
}

impl Entry {
    pub fn new(ts: i64, line: impl Into<String>) -> Self {
        Entry { ts, line: line.into(), metadata: Vec::new() }
    }

    /// Bytes of metadata as Loki counts them (names plus values).
    pub fn metadata_bytes(&self) -> usize {
        self.metadata.iter().map(|l| l.name.len() + l.value.len()).sum()
    }
}

/// A stream of a push request: its labels and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushStream {
    pub labels: LabelSet,
    pub entries: Vec<Entry>,
}

/// A stable 64-bit identity of a stream within a tenant: FNV-1a over the tenant, a
/// separator and the canonical label string. Stable across versions because it names
/// streams in the WAL and in chunk keys.
pub fn fingerprint(tenant: &str, labels: &LabelSet) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    };
    feed(tenant.as_bytes());
    feed(&[0xff]);
    for label in labels.iter() {
        feed(label.name.as_bytes());
        feed(&[0xfe]);
        feed(label.value.as_bytes());
        feed(&[0xff]);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_tenant_and_labels() {
        let a = LabelSet::from_pairs([("job", "a")]);
        let b = LabelSet::from_pairs([("job", "b")]);
        assert_ne!(fingerprint("t", &a), fingerprint("t", &b));
        assert_ne!(fingerprint("t1", &a), fingerprint("t2", &a));
        assert_eq!(fingerprint("t", &a), fingerprint("t", &a.clone()));
    }
}
