//! Postings: label name -> value -> stream ids, to answer selectors without scanning.

use crate::matcher::{LabelMatcher, matches_all};
use rustc_hash::FxHashMap;
use skald_common::LabelSet;
use std::collections::BTreeMap;

/// An inverted index over streams identified by `u64` fingerprints.
#[derive(Debug, Default, Clone)]
pub struct Postings {
    labels: FxHashMap<u64, LabelSet>,
    by_label: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
}

impl Postings {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.labels.contains_key(&id)
    }

    pub fn labels(&self, id: u64) -> Option<&LabelSet> {
        self.labels.get(&id)
    }

    pub fn insert(&mut self, id: u64, labels: &LabelSet) {
        if self.labels.contains_key(&id) {
            return;
        }
        for label in labels {
            let ids = self.by_label.entry(label.name.clone()).or_default().entry(label.value.clone()).or_default();
            if let Err(pos) = ids.binary_search(&id) {
                ids.insert(pos, id);
            }
        }
        self.labels.insert(id, labels.clone());
    }

    pub fn remove(&mut self, id: u64) {
        let Some(labels) = self.labels.remove(&id) else { return };
        for label in &labels {
            if let Some(values) = self.by_label.get_mut(&label.name) {
                if let Some(ids) = values.get_mut(&label.value) {
                    ids.retain(|x| *x != id);
                    if ids.is_empty() {
                        values.remove(&label.value);
                    }
                }
                if values.is_empty() {
                    self.by_label.remove(&label.name);
                }
            }
        }
    }

    /// Stream ids whose labels satisfy every matcher. Uses the postings of the most
    /// selective matcher that cannot match an empty value, then checks the rest.
    pub fn select(&self, matchers: &[LabelMatcher]) -> Vec<u64> {
        let mut best: Option<Vec<u64>> = None;
        // The matcher whose postings are the candidates: they satisfy it already, so
        // only the others are checked (with one matcher over 100,000 streams, checking
        // it again per stream was a tenth of a query's time).
        let mut best_matcher = usize::MAX;
        for (position, matcher) in matchers.iter().enumerate().filter(|(_, m)| !m.matches_empty()) {
            let Some(values) = self.by_label.get(matcher.name()) else { return Vec::new() };
            let mut ids: Vec<u64> = match matcher {
                LabelMatcher::Eq(_, v) => values.get(v).cloned().unwrap_or_default(),
                _ => values.iter().filter(|(v, _)| matcher.matches_value(v)).flat_map(|(_, ids)| ids.iter().copied()).collect(),
            };
            ids.sort_unstable();
            ids.dedup();
            if best.as_ref().is_none_or(|b| ids.len() < b.len()) {
                best = Some(ids);
                best_matcher = position;
            }
        }
        let rest: Vec<LabelMatcher> =
            matchers.iter().enumerate().filter(|(position, _)| *position != best_matcher).map(|(_, m)| m.clone()).collect();
        let mut out: Vec<u64> = match best {
            // Sorted and deduplicated above.
            Some(ids) if rest.is_empty() => return ids.into_iter().filter(|id| self.labels.contains_key(id)).collect(),
            Some(ids) => ids,
            None => self.labels.keys().copied().collect(),
        };
        out.retain(|id| self.labels.get(id).is_some_and(|l| matches_all(&rest, l)));
        out.sort_unstable();
        out
    }

    /// Every label name of the selected streams (all streams when no matchers).
    pub fn label_names(&self, matchers: &[LabelMatcher]) -> Vec<String> {
        if matchers.is_empty() {
            return self.by_label.keys().cloned().collect();
        }
        let mut names: Vec<String> =
            self.select(matchers).iter().filter_map(|id| self.labels.get(id)).flat_map(|l| l.iter().map(|l| l.name.clone())).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every value of `name` among the selected streams.
    pub fn label_values(&self, name: &str, matchers: &[LabelMatcher]) -> Vec<String> {
        if matchers.is_empty() {
            return self.by_label.get(name).map(|v| v.keys().cloned().collect()).unwrap_or_default();
        }
        let mut values: Vec<String> =
            self.select(matchers).iter().filter_map(|id| self.labels.get(id)?.get(name).map(str::to_string)).collect();
        values.sort();
        values.dedup();
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_uses_all_matchers() {
        let mut p = Postings::new();
        p.insert(1, &LabelSet::from_pairs([("job", "nginx"), ("env", "prod")]));
        p.insert(2, &LabelSet::from_pairs([("job", "nginx"), ("env", "dev")]));
        p.insert(3, &LabelSet::from_pairs([("app", "auth")]));
        let m = |n: &str, v: &str| LabelMatcher::Eq(n.into(), v.into());
        assert_eq!(p.select(&[m("job", "nginx")]), vec![1, 2]);
        assert_eq!(p.select(&[m("job", "nginx"), LabelMatcher::Neq("env".into(), "dev".into())]), vec![1]);
        assert_eq!(p.select(&[LabelMatcher::regex("app", ".+", false).unwrap()]), vec![3]);
        assert_eq!(p.label_values("env", &[]), vec!["dev", "prod"]);
        assert_eq!(p.label_names(&[m("app", "auth")]), vec!["app"]);
        p.remove(1);
        assert_eq!(p.select(&[m("env", "prod")]), Vec::<u64>::new());
        assert_eq!(p.label_values("env", &[]), vec!["dev"]);
    }

    /// Every combination of matchers answers as checking each stream against all of
    /// them (the matcher whose postings give the candidates is not checked twice).
    #[test]
    fn select_agrees_with_checking_every_stream() {
        let mut p = Postings::new();
        let mut all = Vec::new();
        for id in 0..60u64 {
            let mut pairs = vec![
                ("app".to_string(), format!("svc-{}", id % 7)),
                ("env".to_string(), ["prod", "dev", "qa"][(id % 3) as usize].to_string()),
            ];
            if id % 4 == 0 {
                pairs.push(("team".to_string(), format!("t{}", id % 5)));
            }
            let labels = LabelSet::from_pairs(pairs);
            p.insert(id, &labels);
            all.push((id, labels));
        }
        p.remove(12);
        all.retain(|(id, _)| *id != 12);
        let candidates = [
            LabelMatcher::Eq("app".into(), "svc-3".into()),
            LabelMatcher::Neq("env".into(), "dev".into()),
            LabelMatcher::regex("app", "svc-[12]", false).unwrap(),
            LabelMatcher::regex("team", ".+", false).unwrap(),
            LabelMatcher::regex("team", "", false).unwrap(),
            LabelMatcher::regex("env", "prod|qa", true).unwrap(),
            LabelMatcher::Eq("team".into(), "".into()),
        ];
        for a in 0..candidates.len() {
            for b in a..candidates.len() {
                let matchers = if a == b { vec![candidates[a].clone()] } else { vec![candidates[a].clone(), candidates[b].clone()] };
                let expected: Vec<u64> = all.iter().filter(|(_, l)| matches_all(&matchers, l)).map(|(id, _)| *id).collect();
                assert_eq!(p.select(&matchers), expected, "{matchers:?}");
            }
        }
    }
}
