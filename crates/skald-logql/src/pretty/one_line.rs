//! Loki's one-line forms of expressions (its `String()` methods).

use super::go_format::{go_duration, go_float_f, go_float_v, humanize_bytes, model_duration};
use super::loki_ast::{FilterItem, LokiStage, Sample, loki_stages, sample};
use crate::ast::*;
use skald_common::go_quote;

fn matcher_s(m: &Matcher) -> String {
    format!("{}{}{}", m.name, m.op, go_quote(&m.value))
}

pub(super) fn selector_s(matchers: &[Matcher]) -> String {
    format!("{{{}}}", matchers.iter().map(matcher_s).collect::<Vec<_>>().join(", "))
}

pub(super) fn filter_item_s(item: &FilterItem<'_>) -> String {
    let values: Vec<String> = item.values.iter().map(|v| v.to_string()).collect();
    format!("{} {}", item.op, values.join(" or "))
}

fn chain_s(items: &[FilterItem<'_>]) -> String {
    items.iter().map(filter_item_s).collect::<Vec<_>>().join(" ")
}

fn cmp_s(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Neq => "!=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

pub(super) fn label_filter_s(f: &LabelFilter) -> String {
    match f {
        LabelFilter::And(l, r) => format!("( {} , {} )", label_filter_s(l), label_filter_s(r)),
        LabelFilter::Or(l, r) => format!("( {} or {} )", label_filter_s(l), label_filter_s(r)),
        LabelFilter::Paren(inner) => label_filter_s(inner),
        // LineFilterLabelFilter.String(): a regex Loki could not reduce to literal
        // filters is printed as written, in backticks.
        LabelFilter::String(m) if m.op == MatchOp::Re && !super::regex_filter::simplifiable_label_regex(&m.value) => {
            if m.value.contains('`') { format!("{}=~{}", m.name, go_quote(&m.value)) } else { format!("{}=~`{}`", m.name, m.value) }
        }
        LabelFilter::String(m) => matcher_s(m),
        LabelFilter::Number { name, op, value } => format!("{name}{}{}", cmp_s(*op), go_float_f(*value)),
        LabelFilter::Duration { name, op, value } => format!("{name}{}{}", cmp_s(*op), go_duration(*value)),
        LabelFilter::Bytes { name, op, value } => format!("{name}{}{}", cmp_s(*op), humanize_bytes(*value)),
        LabelFilter::Ip { name, negate, pattern } => {
            format!("{name}{}ip({})", if *negate { "!=" } else { "=" }, go_quote(pattern))
        }
    }
}

fn params_s(params: &[ExtractionParam]) -> String {
    params.iter().map(|p| format!("{}={}", p.name, go_quote(p.path.as_deref().unwrap_or(&p.name)))).collect::<Vec<_>>().join(",")
}

fn named_s(items: &[NamedMatcher]) -> String {
    items
        .iter()
        .map(|i| match i {
            NamedMatcher::Name(n) => n.clone(),
            NamedMatcher::Matcher(m) => matcher_s(m),
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn stage_s(stage: &Stage) -> String {
    match stage {
        Stage::LineFilter(lf) => {
            let items = loki_stages(std::slice::from_ref(stage));
            match items.first() {
                Some(LokiStage::Filters(chain)) => chain_s(chain),
                _ => lf.to_string(),
            }
        }
        Stage::Parser(ParserStage::Json(params)) if params.is_empty() => "| json".into(),
        Stage::Parser(ParserStage::Json(params)) => format!("| json {}", params_s(params)),
        Stage::Parser(ParserStage::Logfmt { strict, keep_empty, params }) => {
            let mut s = String::from("| logfmt");
            if params.is_empty() {
                if *strict {
                    s.push_str(" --strict");
                }
                if *keep_empty {
                    s.push_str(" --keep-empty");
                }
            } else {
                s.push(' ');
                if *strict {
                    s.push_str("--strict ");
                }
                if *keep_empty {
                    s.push_str("--keep-empty ");
                }
                s.push_str(&params_s(params));
            }
            s
        }
        Stage::Parser(ParserStage::Regexp(re)) => format!("| regexp {}", go_quote(re)),
        Stage::Parser(ParserStage::Pattern(p)) => format!("| pattern {}", go_quote(p)),
        Stage::Parser(ParserStage::Unpack) => "| unpack".into(),
        Stage::LabelFilter(f) => format!("| {}", label_filter_s(f)),
        Stage::LineFormat(t) => format!("| line_format {}", go_quote(t)),
        Stage::LabelFormat(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    LabelFormatItem::Rename { dst, src } => format!("{dst}={src}"),
                    LabelFormatItem::Template { dst, template } => format!("{dst}={}", go_quote(template)),
                })
                .collect();
            format!("| label_format {}", items.join(","))
        }
        Stage::Decolorize => "| decolorize".into(),
        Stage::Drop(items) => format!("| drop {}", named_s(items)),
        Stage::Keep(items) => format!("| keep {}", named_s(items)),
    }
}

fn loki_stage_s(stage: &LokiStage<'_>) -> String {
    match stage {
        LokiStage::Filters(chain) => chain_s(chain),
        LokiStage::Other(stage) => stage_s(stage),
    }
}

pub(super) fn log_s(log: &LogExpr) -> String {
    let mut s = selector_s(&log.matchers);
    for stage in loki_stages(&log.pipeline) {
        s.push(' ');
        s.push_str(&loki_stage_s(&stage));
    }
    s
}

pub(super) fn unwrap_head(u: &Unwrap) -> String {
    match u.conversion {
        UnwrapConversion::None => format!("| unwrap {}", u.label),
        conv => format!("| unwrap {conv}({})", u.label),
    }
}

fn unwrap_s(u: &Unwrap) -> String {
    let mut s = format!(" {}", unwrap_head(u));
    for f in &u.post_filters {
        s.push_str(" | ");
        s.push_str(&label_filter_s(f));
    }
    s
}

fn grouping_s(g: &Grouping) -> String {
    format!("{}({})", if g.without { " without " } else { " by " }, g.labels.join(","))
}

fn range_s(r: &RangeAggregation) -> String {
    let mut s = format!("{}(", r.op);
    if let Some(p) = r.param {
        s.push_str(&go_float_f(p));
        s.push(',');
    }
    s.push_str(&log_s(&r.log));
    if let Some(u) = &r.unwrap {
        s.push_str(&unwrap_s(u));
    }
    s.push_str(&format!("[{}]", model_duration(r.range)));
    if r.offset != 0 {
        s.push_str(&format!(" offset {}", go_duration(r.offset)));
    }
    s.push(')');
    if let Some(g) = &r.grouping {
        s.push_str(&grouping_s(g));
    }
    s
}

pub(super) fn is_k_op(op: VectorOp) -> bool {
    matches!(op, VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk)
}

pub(super) fn k_s(v: &VectorAggregation) -> String {
    format!("{}", v.param.unwrap_or(0.0) as i64)
}

fn vector_s(v: &VectorAggregation) -> String {
    let mut s = v.op.name().to_string();
    if let Some(g) = &v.grouping
        && (g.without || !g.labels.is_empty())
    {
        s.push_str(&grouping_s(g));
    }
    s.push('(');
    if is_k_op(v.op) {
        s.push_str(&k_s(v));
        s.push(',');
    }
    s.push_str(&sample_s(&v.expr));
    s.push(')');
    s
}

/// The operator with its modifiers, as Loki's `BinOpExpr.String()` writes it.
fn bin_op_s(b: &BinaryExpr) -> String {
    bin_op_with(b, ",")
}

/// The operator with its modifiers, label lists joined with `separator` (Loki's
/// one-line form uses `,`, its pretty printer `, `).
pub(super) fn bin_op_with(b: &BinaryExpr, separator: &str) -> String {
    let mut op = b.op.symbol().to_string();
    if b.return_bool {
        op.push_str(" bool");
    }
    let mut group = match &b.group {
        Some((GroupSide::Left, _)) => "group_left".to_string(),
        Some((GroupSide::Right, _)) => "group_right".to_string(),
        None => String::new(),
    };
    if let Some((_, include)) = &b.group
        && !include.is_empty()
    {
        group = format!("{group} ({})", include.join(separator));
    }
    if let Some(m) = &b.matching
        && (m.on || !m.labels.is_empty())
    {
        op = format!("{op} {} ({}) {group}", if m.on { "on" } else { "ignoring" }, m.labels.join(separator));
    }
    op
}

fn binary_s(b: &BinaryExpr) -> String {
    format!("({} {} {})", sample_s(&b.lhs), bin_op_s(b), sample_s(&b.rhs))
}

fn label_replace_s(l: &LabelReplace) -> String {
    format!(
        "label_replace({},{},{},{},{})",
        sample_s(&l.expr),
        go_quote(&l.dst),
        go_quote(&l.replacement),
        go_quote(&l.src),
        go_quote(&l.regex)
    )
}

pub(super) fn sample_s(e: &SampleExpr) -> String {
    match sample(e) {
        Sample::Literal(v) => go_float_v(v),
        Sample::Range(r) => range_s(r),
        Sample::Vector(v) => vector_s(v),
        Sample::Binary(b) => binary_s(b),
        Sample::VectorFn(v) => {
            if v.is_finite() {
                format!("vector({v:.6})")
            } else {
                format!("vector({})", go_float_v(v))
            }
        }
        Sample::LabelReplace(l) => label_replace_s(l),
    }
}
