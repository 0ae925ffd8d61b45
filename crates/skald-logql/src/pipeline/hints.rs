//! Loki's parser hints: the labels a range aggregation's samples can depend on, and
//! the label filters a parser applies as soon as it sets their label.

use crate::ast::{LabelFilter, ParserStage, RangeAggregation, Stage};

/// The pipeline's single-label filters (Loki's `NewParserHint` collects every
/// `LabelFilterer` but binary ones, in stage order): `(label, stage index)`.
pub(super) fn early_filters(stages: &[Stage]) -> Box<[(String, usize)]> {
    fn single_name(f: &LabelFilter) -> Option<&str> {
        match f {
            LabelFilter::Paren(inner) => single_name(inner),
            LabelFilter::String(m) => Some(&m.name),
            LabelFilter::Number { name, .. }
            | LabelFilter::Duration { name, .. }
            | LabelFilter::Bytes { name, .. }
            | LabelFilter::Ip { name, .. } => Some(name),
            LabelFilter::And(..) | LabelFilter::Or(..) => None,
        }
    }
    stages
        .iter()
        .enumerate()
        .filter_map(|(i, stage)| match stage {
            Stage::LabelFilter(f) => single_name(f).map(|name| (name.to_string(), i)),
            _ => None,
        })
        .collect()
}

/// Loki's parser hints for a range aggregation: the only labels its samples can depend
/// on, when that set is known. It is known when the aggregation groups `by` some labels
/// and every stage reads labels by name (line and label filters, parsers, decolorize):
/// then the labels are the grouping, the unwrapped label and the filtered ones. Any
/// stage that may read every label (templates, `keep`, `drop`, `unpack`) or a grouping
/// that keeps every label (`without`, none) disables the hints.
pub(super) fn parser_hints(agg: &RangeAggregation) -> Option<Box<[String]>> {
    let grouping = agg.grouping.as_ref().filter(|g| !g.without)?;
    let mut names: Vec<String> = grouping.labels.clone();
    for stage in &agg.log.pipeline {
        match stage {
            Stage::LineFilter(_) | Stage::Decolorize => {}
            Stage::Parser(ParserStage::Json(_) | ParserStage::Logfmt { .. } | ParserStage::Regexp(_) | ParserStage::Pattern(_)) => {}
            Stage::LabelFilter(f) => filter_names(f, &mut names),
            Stage::Parser(ParserStage::Unpack) | Stage::LineFormat(_) | Stage::LabelFormat(_) | Stage::Drop(_) | Stage::Keep(_) => {
                return None;
            }
        }
    }
    if let Some(u) = &agg.unwrap {
        names.push(u.label.clone());
        for f in &u.post_filters {
            filter_names(f, &mut names);
        }
    }
    names.sort_unstable();
    names.dedup();
    Some(names.into_boxed_slice())
}

fn filter_names(f: &crate::ast::LabelFilter, out: &mut Vec<String>) {
    use crate::ast::LabelFilter as F;
    match f {
        F::And(a, b) | F::Or(a, b) => {
            filter_names(a, out);
            filter_names(b, out);
        }
        F::Paren(inner) => filter_names(inner, out),
        F::String(m) => out.push(m.name.clone()),
        F::Number { name, .. } | F::Duration { name, .. } | F::Bytes { name, .. } | F::Ip { name, .. } => out.push(name.clone()),
    }
}
