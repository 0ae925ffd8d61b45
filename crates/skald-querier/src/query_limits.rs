//! Limits checked before a query runs: `max_query_bytes_read` estimates the bytes the
//! query would read from the index (as Loki does with index stats) and refuses it early,
//! instead of scanning and failing late.

use crate::querier::{Querier, QueryError};
use crate::source::compile_matchers;
use skald_logql::{Expr, LogExpr, SampleExpr};

/// Every log selection of a query with the time it reaches back before a step
/// (`range + offset`) and its `offset`.
fn selections(expr: &Expr) -> Vec<(&LogExpr, i64, i64)> {
    let mut out = Vec::new();
    match expr {
        Expr::Log(log) => out.push((log, 0, 0)),
        Expr::Sample(sample) => collect(sample, &mut out),
        Expr::Variants(variants) => out.push((&variants.log, variants.range, variants.offset)),
    }
    out
}

fn collect<'a>(expr: &'a SampleExpr, out: &mut Vec<(&'a LogExpr, i64, i64)>) {
    match expr {
        SampleExpr::RangeAggregation(range) => out.push((&range.log, range.range, range.offset)),
        SampleExpr::VectorAggregation(vector) => collect(&vector.expr, out),
        SampleExpr::Binary(binary) => {
            collect(&binary.lhs, out);
            collect(&binary.rhs, out);
        }
        SampleExpr::LabelReplace(replace) => collect(&replace.expr, out),
        SampleExpr::Paren(inner) => collect(inner, out),
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => {}
    }
}

impl Querier {
    /// Refuses the query when the index says it would read more than the tenant's
    /// `max_query_bytes_read` (0 = no limit).
    pub(crate) async fn check_bytes_read(&self, tenant: &str, expr: &Expr, start: i64, end: i64, limit: u64) -> Result<(), QueryError> {
        if limit == 0 {
            return Ok(());
        }
        let mut bytes = 0u64;
        for (log, range, offset) in selections(expr) {
            let matchers = compile_matchers(&log.matchers)?;
            bytes += self.selected_bytes(tenant, &matchers, start - range - offset, end - offset).await?;
        }
        if bytes > limit {
            return Err(QueryError::Limit(format!(
                "the query would read too many bytes (query: {}, limit: {}); consider adding more specific stream selectors or reduce the time range of the query",
                humanize_bytes(bytes),
                humanize_bytes(limit)
            )));
        }
        Ok(())
    }
}

/// Bytes as go-humanize's `Bytes` prints them (SI units: `83 MB`, `1.5 kB`), which is
/// what Loki's limit messages use.
pub fn humanize_bytes(bytes: u64) -> String {
    if bytes < 10 {
        return format!("{bytes} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let value = bytes as f64;
    let exponent = (value.ln() / 1000f64.ln()).floor() as usize;
    let exponent = exponent.min(UNITS.len() - 1);
    let scaled = (value / 1000f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if scaled < 10.0 { format!("{scaled:.1} {}", UNITS[exponent]) } else { format!("{scaled:.0} {}", UNITS[exponent]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_like_go_humanize() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(82_854_982), "83 MB");
        assert_eq!(humanize_bytes(1_500), "1.5 kB");
        assert_eq!(humanize_bytes(1_000_000), "1.0 MB");
    }

    #[test]
    fn selections_cover_every_range_of_a_binary_query() {
        let expr = skald_logql::parse_expr(r#"sum(rate({a="1"}[5m])) / sum(count_over_time({b="2"}[1h] offset 10m))"#).unwrap();
        let found: Vec<(String, i64, i64)> = selections(&expr).iter().map(|(log, r, o)| (log.matchers[0].name.clone(), *r, *o)).collect();
        let minute = 60_000_000_000;
        assert_eq!(found, vec![("a".to_string(), 5 * minute, 0), ("b".to_string(), 60 * minute, 10 * minute)]);
    }
}
