//! Loki's query formatter (`syntax.Prettify`, served by `/loki/api/v1/format_query`).
//!
//! An expression whose one-line form fits in 100 bytes is printed on one line; a longer
//! one is broken up, each level indented by two spaces:
//! - a log pipeline puts every stage on its own line under the selector (a run of line
//!   filters stays on one line while it fits);
//! - range and vector aggregations, and `label_replace`, put their arguments on their own
//!   lines, closing `)` back at the function's indentation;
//! - a binary operation puts both operands one level deeper and the operator alone on a
//!   line between them (so nesting shows through indentation, as in Loki).
//!
//! The one-line forms are Loki's `String()` forms, not this crate's canonical `Display`:
//! binary operations are parenthesised (`(a / b)`), label filter conjunctions print as
//! `( a , b )`, numeric filters without spaces (`status>=500`), duration filters and
//! offsets as Go durations (`1m0s`), byte filters humanized (`100kB`), `vector(1.000000)`,
//! `json a="a"`, comma lists without spaces, literal-only arithmetic folded (`1 + 2` is
//! `3`) and grouping parentheses dropped.
//!
//! Where Loki's broken-up form would lose part of the query, the part is kept: `or`
//! alternatives of a line filter, `without ()` of a vector aggregation, `by ()` of a range
//! aggregation, `on ()` of a binary operation and negative offsets.

mod go_format;
mod loki_ast;
mod one_line;
mod regex_filter;
#[cfg(test)]
mod tests;

use crate::ast::*;
use go_format::{go_float_v, model_duration};
use loki_ast::{FilterItem, LokiStage, Sample, loki_stages, sample};
use one_line::{filter_item_s, is_k_op, k_s, label_filter_s, log_s, sample_s, selector_s, stage_s, unwrap_head};
use skald_common::go_quote;

/// Loki's line width: an expression whose one-line form is longer is broken up.
const MAX_CHARS_PER_LINE: usize = 100;

/// Formats `expr` as Loki's `format_query` does.
pub fn prettify(expr: &Expr) -> String {
    Pretty { max: MAX_CHARS_PER_LINE }.expr(expr)
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

// ---------- the broken-up forms (`Pretty(level)`) ----------

struct Pretty {
    max: usize,
}

impl Pretty {
    fn fits(&self, s: &str) -> bool {
        s.len() <= self.max
    }

    fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::Log(log) => self.log(log, 0),
            Expr::Sample(s) => self.sample(s, 0),
            Expr::Variants(v) => self.variants(v),
        }
    }

    /// Loki always breaks `variants` up: each variant, then the log range, indented.
    fn variants(&self, v: &VariantsExpr) -> String {
        let variants: Vec<String> = v.variants.iter().map(|variant| self.sample(variant, 1)).collect();
        let mut s = format!("variants(\n{}\n) of (\n", variants.join(",\n"));
        s.push_str(&self.log(&v.log, 1));
        s.push_str(&format!(" [{}]", model_duration(v.range)));
        if v.offset != 0 {
            s.push_str(&format!(" offset {}", model_duration(v.offset)));
        }
        s.push_str("\n)");
        s
    }

    fn log(&self, log: &LogExpr, level: usize) -> String {
        let one_line = log_s(log);
        if log.pipeline.is_empty() || self.fits(&one_line) {
            return indent(level) + &one_line;
        }
        let mut s = indent(level) + &selector_s(&log.matchers);
        for stage in loki_stages(&log.pipeline) {
            s.push('\n');
            s.push_str(&self.stage(&stage, level + 1));
        }
        s
    }

    fn stage(&self, stage: &LokiStage<'_>, level: usize) -> String {
        match stage {
            LokiStage::Filters(chain) => self.chain(chain, level),
            // Loki does not indent `| decolorize`.
            LokiStage::Other(Stage::Decolorize) => "| decolorize".into(),
            LokiStage::Other(stage) => indent(level) + &stage_s(stage),
        }
    }

    /// A run of line filters: on one line while it fits, else the longest prefix that
    /// fits (at least one filter) on the first line and one filter per line after it
    /// (Loki's recursion over the filter chain, unrolled).
    fn chain(&self, chain: &[FilterItem<'_>], level: usize) -> String {
        let items: Vec<String> = chain.iter().map(filter_item_s).collect();
        let mut first = 0;
        let mut len = 0;
        for (i, item) in items.iter().enumerate() {
            len += item.len() + usize::from(i > 0);
            if i > 0 && len > self.max {
                break;
            }
            first = i + 1;
        }
        let mut s = indent(level) + &items[..first].join(" ");
        for item in &items[first..] {
            s.push('\n');
            s.push_str(&indent(level));
            s.push_str(item);
        }
        s
    }

    fn sample(&self, e: &SampleExpr, level: usize) -> String {
        let one_line = sample_s(e);
        if self.fits(&one_line) {
            return indent(level) + &one_line;
        }
        match sample(e) {
            Sample::Literal(_) | Sample::VectorFn(_) => indent(level) + &one_line,
            Sample::Range(r) => self.range(r, level),
            Sample::Vector(v) => self.vector(v, level),
            Sample::Binary(b) => self.binary(b, level),
            Sample::LabelReplace(l) => self.label_replace(l, level),
        }
    }

    fn range(&self, r: &RangeAggregation, level: usize) -> String {
        let mut s = indent(level) + r.op.name() + "(\n";
        if let Some(p) = r.param {
            s.push_str(&format!("{}{},\n", indent(level + 1), go_float_v(p)));
        }
        s.push_str(&self.log(&r.log, level + 1));
        if let Some(u) = &r.unwrap {
            s.push('\n');
            s.push_str(&indent(level + 2));
            s.push_str(&unwrap_head(u));
            for f in &u.post_filters {
                s.push_str(&format!("\n{}| {}", indent(level + 2), label_filter_s(f)));
            }
        }
        s.push_str(&format!(" [{}]", model_duration(r.range)));
        if r.offset != 0 {
            s.push_str(&format!(" offset {}", model_duration(r.offset)));
        }
        s.push('\n');
        s.push_str(&indent(level));
        s.push(')');
        if let Some(g) = &r.grouping {
            s.push_str(&grouping_pretty(g, true));
        }
        s
    }

    fn vector(&self, v: &VectorAggregation, level: usize) -> String {
        let mut args = Vec::new();
        if is_k_op(v.op) {
            args.push(indent(level + 1) + &k_s(v));
        }
        args.push(self.sample(&v.expr, level + 1));
        let mut s = indent(level) + v.op.name();
        if let Some(g) = &v.grouping {
            s.push_str(&grouping_pretty(g, false));
        }
        format!("{s}(\n{}\n{})", args.join(",\n"), indent(level))
    }

    fn binary(&self, b: &BinaryExpr, level: usize) -> String {
        format!("{}\n{}{}\n{}", self.sample(&b.lhs, level + 1), indent(level), bin_op_pretty(b), self.sample(&b.rhs, level + 1))
    }

    fn label_replace(&self, l: &LabelReplace, level: usize) -> String {
        let inner = indent(level + 1);
        let args = [
            self.sample(&l.expr, level + 1),
            inner.clone() + &go_quote(&l.dst),
            inner.clone() + &go_quote(&l.replacement),
            inner.clone() + &go_quote(&l.src),
            inner + &go_quote(&l.regex),
        ];
        format!("{}label_replace(\n{}\n{})", indent(level), args.join(",\n"), indent(level))
    }
}

/// ` by (a, b)`, ` without (a)`; an empty `by ()` of a vector aggregation is dropped (it is
/// the default), kept for a range aggregation (where it is not).
fn grouping_pretty(g: &Grouping, range: bool) -> String {
    if !g.without && g.labels.is_empty() && !range {
        return String::new();
    }
    format!("{} ({})", if g.without { " without" } else { " by" }, g.labels.join(", "))
}

/// The operator line of a broken-up binary operation (Loki's `formatBinaryOp`).
fn bin_op_pretty(b: &BinaryExpr) -> String {
    one_line::bin_op_with(b, ", ")
}
