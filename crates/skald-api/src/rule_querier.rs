//! The ruler's queries through this process's querier (`ruler.evaluation.mode: local`).

use skald_logql::engine::{Direction, QueryResult};
use skald_querier::{Querier, QueryRequest};
use skald_rules::Labels;
use std::sync::Arc;

pub struct LocalRuleQuerier(pub Arc<Querier>);

fn labels(set: &skald_common::LabelSet) -> Labels {
    set.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

#[async_trait::async_trait]
impl skald_ruler::RuleQuerier for LocalRuleQuerier {
    async fn instant(&self, tenant: &str, expr: &str, ts: i64) -> Result<Vec<(Labels, f64)>, String> {
        let ns = ts.saturating_mul(1_000_000);
        let request = QueryRequest {
            query: expr.to_string(),
            start: ns,
            end: ns,
            step: 0,
            limit: 100,
            direction: Direction::Backward,
            instant: true,
            categorize_labels: false,
        };
        match self.0.query(tenant, request).await.map_err(|e| e.to_string())?.result {
            QueryResult::Vector(samples) => Ok(samples.into_iter().map(|s| (labels(&s.labels), s.value)).collect()),
            QueryResult::Scalar(_, v) => Ok(vec![(Labels::new(), v)]),
            _ => Err("rule result is not a vector or scalar".to_string()),
        }
    }

    async fn range(&self, tenant: &str, expr: &str, start: i64, end: i64, step: i64) -> Result<Vec<(Labels, Vec<i64>)>, String> {
        let request = QueryRequest {
            query: expr.to_string(),
            start: start.saturating_mul(1_000_000),
            end: end.saturating_mul(1_000_000),
            step: step.max(1).saturating_mul(1_000_000),
            limit: 100,
            direction: Direction::Forward,
            instant: false,
            categorize_labels: false,
        };
        match self.0.query(tenant, request).await.map_err(|e| e.to_string())?.result {
            QueryResult::Matrix(series) => {
                Ok(series.into_iter().map(|s| (labels(&s.labels), s.points.iter().map(|p| p.0 / 1_000_000).collect())).collect())
            }
            QueryResult::Scalar(..) | QueryResult::Vector(_) => Ok(Vec::new()),
            QueryResult::Streams(_) => Err("rule result is not a vector or scalar".to_string()),
        }
    }
}
