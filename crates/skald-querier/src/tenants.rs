//! Queries over several tenants at once (`X-Scope-OrgID: a|b`, allowed by
//! `querier.multi_tenant_queries_enabled`), as Loki's `MultiTenantQuerier` runs them:
//! each tenant's streams are read on their own and carry the label `__tenant_id__`;
//! a selector's `__tenant_id__` matchers choose the tenants read (a tenant they refuse
//! is never touched) and are not applied to the streams; a stream that had a label
//! `__tenant_id__` of its own keeps it as `original___tenant_id__`, which selectors
//! name to match it.

use crate::querier::{IndexStats, Querier, QueryError};
use skald_common::{LabelSet, Limits};
use skald_index::LabelMatcher;

/// The label naming each stream's tenant in a multi-tenant answer.
pub const TENANT_LABEL: &str = "__tenant_id__";
/// Where a stream's own `__tenant_id__` label goes.
const RETAINED_LABEL: &str = "original___tenant_id__";

/// The tenants the selector's `__tenant_id__` matchers keep, and the matchers left for
/// the streams (`original___tenant_id__` matching the streams' own `__tenant_id__`).
pub fn split_matchers(tenants: &[String], matchers: &[LabelMatcher]) -> (Vec<String>, Vec<LabelMatcher>) {
    let mut kept: Vec<String> = tenants.to_vec();
    let mut rest = Vec::new();
    for matcher in matchers {
        match matcher.name() {
            TENANT_LABEL => kept.retain(|tenant| matcher.matches_value(tenant)),
            RETAINED_LABEL => rest.push(matcher.renamed(TENANT_LABEL)),
            _ => rest.push(matcher.clone()),
        }
    }
    (kept, rest)
}

/// `labels` as returned for `tenant`'s stream.
pub fn tenant_labels(labels: &LabelSet, tenant: &str) -> LabelSet {
    let mut out = labels.clone();
    if let Some(own) = out.remove(TENANT_LABEL) {
        out.insert(RETAINED_LABEL.to_string(), own);
    }
    out.insert(TENANT_LABEL.to_string(), tenant.to_string());
    out
}

/// The limits of a query over `each` tenant's limits (the first is the base): as in
/// Loki, the smallest positive value of each per-query limit.
pub fn combined_limits(mut each: impl Iterator<Item = Limits>) -> Limits {
    let Some(mut limits) = each.next() else { return Limits::default() };
    fn smallest<T: PartialOrd + Default + Copy>(a: T, b: T) -> T {
        let zero = T::default();
        if a <= zero {
            b
        } else if b <= zero || a <= b {
            a
        } else {
            b
        }
    }
    for other in each {
        limits.max_entries_limit_per_query = smallest(limits.max_entries_limit_per_query, other.max_entries_limit_per_query);
        limits.max_query_series = smallest(limits.max_query_series, other.max_query_series);
        limits.max_query_length = smallest(limits.max_query_length, other.max_query_length);
        limits.query_timeout = smallest(limits.query_timeout, other.query_timeout);
        limits.max_query_bytes_read = smallest(limits.max_query_bytes_read, other.max_query_bytes_read);
        limits.enable_multi_variant_queries &= other.enable_multi_variant_queries;
        limits.shard_aggregations.retain(|name| other.shard_aggregations.contains(name));
    }
    limits
}

/// The metadata endpoints over several tenants (one tenant: the plain endpoint).
impl Querier {
    /// Label names of every tenant read, and `__tenant_id__`.
    pub async fn label_names_tenants(
        &self,
        tenants: &[String],
        from: i64,
        through: i64,
        query: Option<&str>,
    ) -> Result<Vec<String>, QueryError> {
        if let [tenant] = tenants {
            return self.label_names(tenant, from, through, query).await;
        }
        let (kept, matchers) = split_matchers(tenants, &Querier::parse_selector(query)?);
        let mut names = vec![TENANT_LABEL.to_string()];
        for tenant in &kept {
            names.extend(self.recent.label_names(tenant, &matchers).await?);
            names.extend(self.store.label_names(tenant, &matchers, from, through));
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// A label's values over every tenant read; `__tenant_id__`'s are the tenants.
    pub async fn label_values_tenants(
        &self,
        tenants: &[String],
        name: &str,
        from: i64,
        through: i64,
        query: Option<&str>,
    ) -> Result<Vec<String>, QueryError> {
        if let [tenant] = tenants {
            return self.label_values(tenant, name, from, through, query).await;
        }
        let (kept, matchers) = split_matchers(tenants, &Querier::parse_selector(query)?);
        if name == TENANT_LABEL {
            return Ok(kept);
        }
        let mut values = Vec::new();
        for tenant in &kept {
            values.extend(self.recent.label_values(tenant, name, &matchers).await?);
            values.extend(self.store.label_values(tenant, name, &matchers, from, through));
        }
        values.sort();
        values.dedup();
        Ok(values)
    }

    /// The series of every tenant read, each labelled with its tenant.
    pub async fn series_tenants(
        &self,
        tenants: &[String],
        selectors: &[String],
        from: i64,
        through: i64,
    ) -> Result<Vec<LabelSet>, QueryError> {
        if let [tenant] = tenants {
            return self.series(tenant, selectors, from, through).await;
        }
        let mut out = Vec::new();
        for selector in selectors {
            let matchers = Querier::parse_selector(Some(selector))?;
            if matchers.is_empty() {
                return Err(QueryError::BadRequest("match[] selector must not be empty".into()));
            }
            let (kept, rest) = split_matchers(tenants, &matchers);
            for tenant in &kept {
                let mut sets = self.recent.series(tenant, &rest).await?;
                sets.extend(self.store.select(tenant, &rest, from, through).into_iter().map(|s| s.labels));
                out.extend(sets.iter().map(|labels| tenant_labels(labels, tenant)));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Index statistics summed over every tenant read.
    pub async fn index_stats_tenants(&self, tenants: &[String], query: &str, from: i64, through: i64) -> Result<IndexStats, QueryError> {
        if let [tenant] = tenants {
            return self.index_stats(tenant, query, from, through).await;
        }
        let (kept, rest) = split_matchers(tenants, &Querier::parse_selector(Some(query))?);
        let mut total = IndexStats::default();
        for tenant in &kept {
            let stats = self.stats_of(tenant, &rest, from, through).await?;
            total.streams += stats.streams;
            total.chunks += stats.chunks;
            total.bytes += stats.bytes;
            total.entries += stats.entries;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tenant_matchers_choose_tenants_and_the_rest_choose_streams() {
        let matchers = vec![
            LabelMatcher::Eq("app".into(), "a".into()),
            LabelMatcher::regex(TENANT_LABEL, "team-.*", false).unwrap(),
            LabelMatcher::Neq(TENANT_LABEL.into(), "team-2".into()),
            LabelMatcher::Eq(RETAINED_LABEL.into(), "x".into()),
        ];
        let (kept, rest) = split_matchers(&tenants(&["other", "team-1", "team-2"]), &matchers);
        assert_eq!(kept, tenants(&["team-1"]));
        let names: Vec<&str> = rest.iter().map(LabelMatcher::name).collect();
        assert_eq!(names, ["app", TENANT_LABEL]);
        assert!(rest[1].matches_value("x"));
    }

    #[test]
    fn streams_carry_their_tenant_and_keep_their_own_label() {
        let plain = LabelSet::from_pairs([("app", "a")]);
        assert_eq!(tenant_labels(&plain, "t1"), LabelSet::from_pairs([("__tenant_id__", "t1"), ("app", "a")]));
        let own = LabelSet::from_pairs([("__tenant_id__", "mine"), ("app", "a")]);
        assert_eq!(
            tenant_labels(&own, "t1"),
            LabelSet::from_pairs([("__tenant_id__", "t1"), ("app", "a"), ("original___tenant_id__", "mine")])
        );
    }

    #[test]
    fn the_smallest_positive_limit_wins() {
        let a = Limits { max_entries_limit_per_query: 0, max_query_length: 3_600, query_timeout: 60, ..Limits::default() };
        let b = Limits { max_entries_limit_per_query: 100, max_query_length: 7_200, query_timeout: 30, ..Limits::default() };
        let combined = combined_limits([a, b].into_iter());
        assert_eq!((combined.max_entries_limit_per_query, combined.max_query_length, combined.query_timeout), (100, 3_600, 30));
    }
}
