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

use skald_common::{format_duration, go_quote};

use crate::ast::*;
use crate::print::duration_string;

/// Loki's line width: an expression whose one-line form is longer is broken up.
const MAX_CHARS_PER_LINE: usize = 100;

/// Formats `expr` as Loki's `format_query` does.
pub fn prettify(expr: &Expr) -> String {
    Pretty { max: MAX_CHARS_PER_LINE }.expr(expr)
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

// ---------- Loki's number and duration formats ----------

/// Go's `fmt.Sprint(float64)` (`%v`, i.e. `strconv.FormatFloat(v, 'g', -1, 64)`): shortest
/// digits, in exponent form when the exponent is < -4 or >= 6 (`1e+06`, `1e-05`).
fn go_float_v(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        v.to_string()
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        v.to_string()
    }
}

/// Go's `time.Duration.String()`: `1h30m0s`, `5m0s`, `1.5s`, `250ms`, `1µs`, `0s`.
fn go_duration(nanos: i64) -> String {
    fn frac(v: u64, prec: u32) -> (u64, String) {
        let div = 10u64.pow(prec);
        let f = v % div;
        let s = if f == 0 {
            String::new()
        } else {
            let digits = format!("{f:0width$}", width = prec as usize);
            format!(".{}", digits.trim_end_matches('0'))
        };
        (v / div, s)
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        let (i, f) = frac(u, 3);
        format!("{i}{f}µs")
    } else if u < 1_000_000_000 {
        let (i, f) = frac(u, 6);
        format!("{i}{f}ms")
    } else {
        let (secs, f) = frac(u, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}{f}s")
        } else if m > 0 {
            format!("{m}m{s}{f}s")
        } else {
            format!("{s}{f}s")
        }
    };
    if neg { format!("-{body}") } else { body }
}

/// `humanize.Bytes` (SI units, one decimal below 10) without its space, as Loki prints
/// byte label filters: `100kB`, `1.5MB`, `5B`.
fn humanize_bytes(v: u64) -> String {
    if v < 10 {
        return format!("{v}B");
    }
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((v as f64).ln() / 1000f64.ln()).floor();
    let suffix = SIZES[(e as usize).min(SIZES.len() - 1)];
    let val = ((v as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 { format!("{val:.1}{suffix}") } else { format!("{val:.0}{suffix}") }
}

/// The model (Prometheus) duration of ranges: `5m`, `1h30m`; negative ones keep their sign.
fn model_duration(nanos: i64) -> String {
    if nanos >= 0 { format_duration(nanos) } else { duration_string(nanos) }
}

// ---------- the AST as Loki sees it ----------

/// A sample expression with parentheses removed and literal-only operations folded, as
/// Loki's parser builds them.
enum Sample<'a> {
    Literal(f64),
    Range(&'a RangeAggregation),
    Vector(&'a VectorAggregation),
    Binary(&'a BinaryExpr),
    VectorFn(f64),
    LabelReplace(&'a LabelReplace),
}

fn is_set_op(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
}

/// The value of an expression made only of literals, computed as Loki's `reduceBinOp`.
fn fold(e: &SampleExpr) -> Option<f64> {
    match e {
        SampleExpr::Literal(v) => Some(*v),
        SampleExpr::Paren(inner) => fold(inner),
        SampleExpr::Binary(b) if !is_set_op(b.op) => {
            let (l, r) = (fold(&b.lhs)?, fold(&b.rhs)?);
            let truth = |c: bool| if c { 1.0 } else { 0.0 };
            Some(match b.op {
                BinaryOp::Add => l + r,
                BinaryOp::Sub => l - r,
                BinaryOp::Mul => l * r,
                BinaryOp::Div => {
                    if r == 0.0 {
                        f64::NAN
                    } else {
                        l / r
                    }
                }
                BinaryOp::Mod => {
                    if r == 0.0 {
                        f64::NAN
                    } else {
                        l % r
                    }
                }
                BinaryOp::Pow => l.powf(r),
                BinaryOp::Eq => truth(l == r),
                BinaryOp::Neq => truth(l != r),
                BinaryOp::Gt => truth(l > r),
                BinaryOp::Gte => truth(l >= r),
                BinaryOp::Lt => truth(l < r),
                BinaryOp::Lte => truth(l <= r),
                BinaryOp::Or | BinaryOp::And | BinaryOp::Unless => return None,
            })
        }
        _ => None,
    }
}

fn sample(e: &SampleExpr) -> Sample<'_> {
    if let Some(v) = fold(e) {
        return Sample::Literal(v);
    }
    match e {
        SampleExpr::Paren(inner) => sample(inner),
        SampleExpr::Literal(v) => Sample::Literal(*v),
        SampleExpr::RangeAggregation(r) => Sample::Range(r),
        SampleExpr::VectorAggregation(v) => Sample::Vector(v),
        SampleExpr::Binary(b) => Sample::Binary(b),
        SampleExpr::Vector(v) => Sample::VectorFn(*v),
        SampleExpr::LabelReplace(l) => Sample::LabelReplace(l),
    }
}

/// One line filter of a chain: `|= "a" or "b"`, `!= "c"`.
struct FilterItem<'a> {
    op: LineFilterOp,
    values: &'a [LineFilterValue],
}

/// A pipeline stage as Loki groups them: consecutive line filters form one stage.
enum LokiStage<'a> {
    Filters(Vec<FilterItem<'a>>),
    Other(&'a Stage),
}

fn loki_stages(pipeline: &[Stage]) -> Vec<LokiStage<'_>> {
    let mut out: Vec<LokiStage<'_>> = Vec::new();
    for stage in pipeline {
        let Stage::LineFilter(lf) = stage else {
            out.push(LokiStage::Other(stage));
            continue;
        };
        let positive = matches!(lf.op, LineFilterOp::Contains | LineFilterOp::Regex | LineFilterOp::Pattern);
        let items: Vec<FilterItem<'_>> = if positive {
            vec![FilterItem { op: lf.op, values: &lf.values }]
        } else {
            // Loki turns `!= "a" or "b"` into `!= "a" != "b"`.
            (0..lf.values.len()).map(|i| FilterItem { op: lf.op, values: &lf.values[i..i + 1] }).collect()
        };
        match out.last_mut() {
            Some(LokiStage::Filters(chain)) => chain.extend(items),
            _ => out.push(LokiStage::Filters(items)),
        }
    }
    out
}

// ---------- Loki's one-line forms (`String()`) ----------

fn matcher_s(m: &Matcher) -> String {
    format!("{}{}{}", m.name, m.op, go_quote(&m.value))
}

fn selector_s(matchers: &[Matcher]) -> String {
    format!("{{{}}}", matchers.iter().map(matcher_s).collect::<Vec<_>>().join(", "))
}

fn filter_item_s(item: &FilterItem<'_>) -> String {
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

fn label_filter_s(f: &LabelFilter) -> String {
    match f {
        LabelFilter::And(l, r) => format!("( {} , {} )", label_filter_s(l), label_filter_s(r)),
        LabelFilter::Or(l, r) => format!("( {} or {} )", label_filter_s(l), label_filter_s(r)),
        LabelFilter::Paren(inner) => label_filter_s(inner),
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

fn stage_s(stage: &Stage) -> String {
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

fn log_s(log: &LogExpr) -> String {
    let mut s = selector_s(&log.matchers);
    for stage in loki_stages(&log.pipeline) {
        s.push(' ');
        s.push_str(&loki_stage_s(&stage));
    }
    s
}

fn unwrap_head(u: &Unwrap) -> String {
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

fn is_k_op(op: VectorOp) -> bool {
    matches!(op, VectorOp::Topk | VectorOp::Bottomk)
}

fn k_s(v: &VectorAggregation) -> String {
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
        group = format!("{group} ({})", include.join(","));
    }
    if let Some(m) = &b.matching
        && (m.on || !m.labels.is_empty())
    {
        op = format!("{op} {} ({}) {group}", if m.on { "on" } else { "ignoring" }, m.labels.join(","));
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

fn sample_s(e: &SampleExpr) -> String {
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
        }
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
        group = format!("{group} ({})", include.join(", "));
    }
    if let Some(m) = &b.matching
        && (m.on || !m.labels.is_empty())
    {
        op = format!("{op} {} ({}) {group}", if m.on { "on" } else { "ignoring" }, m.labels.join(", "));
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_expr;

    /// [`prettify`] with another line width (Loki's own tests use 20).
    fn pretty(q: &str, width: usize) -> String {
        let e = parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        Pretty { max: width }.expr(&e)
    }

    /// Loki's `prettier_test.go` cases (`MaxCharsPerLine = 20`).
    #[test]
    fn loki_prettier_cases() {
        let cases: &[(&str, &str)] = &[
            // basic stream selector
            (r#"{job="loki", instance="localhost"}"#, r#"{job="loki", instance="localhost"}"#),
            // pipeline_label_filter
            (
                r#"{job="loki", instance="localhost"}|logfmt|level="error" "#,
                "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | level=\"error\"",
            ),
            // pipeline_line_filter
            (
                r#"{job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt"#,
                "{job=\"loki\", instance=\"localhost\"}\n  |= \"error\"\n  != \"memcached\"\n  |= ip(\"192.168.0.1\")\n  | logfmt",
            ),
            // pipeline_line_format
            (
                r#"{job="loki", instance="localhost"}|logfmt|line_format "{{.error}}""#,
                "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | line_format \"{{.error}}\"",
            ),
            // pipeline_label_format
            (
                r#"{job="loki", instance="localhost"}|logfmt|label_format dst="{{.src}}""#,
                "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | label_format dst=\"{{.src}}\"",
            ),
            // aggregation
            (
                r#"count_over_time({job="loki", instance="localhost"}|logfmt[1m])"#,
                "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    | logfmt [1m]\n)",
            ),
            // aggregation_with_offset
            (
                r#"count_over_time({job="loki", instance="localhost"}|= "error"[5m] offset 20m)"#,
                "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\" [5m] offset 20m\n)",
            ),
            // unwrap
            (
                r#"quantile_over_time(0.99,{container="ingress-nginx",service="hosted-grafana"}| json| unwrap response_latency_seconds| __error__=""[1m]) by (cluster)"#,
                "quantile_over_time(\n  0.99,\n  {container=\"ingress-nginx\", service=\"hosted-grafana\"}\n    | json\n    | unwrap response_latency_seconds\n    | __error__=\"\" [1m]\n) by (cluster)",
            ),
            // pipeline_aggregation_line_filter
            (
                r#"count_over_time({job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt[1m])"#,
                "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\"\n    != \"memcached\"\n    |= ip(\"192.168.0.1\")\n    | logfmt [1m]\n)",
            ),
            // jsonparserExpr
            (
                r#"{job="loki", namespace="loki-prod", container="nginx-ingress"}| json first_server="servers[0]", ua="request.headers[\"User-Agent\"]" | level="error""#,
                "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}\n  | json first_server=\"servers[0]\",ua=\"request.headers[\\\"User-Agent\\\"]\"\n  | level=\"error\"",
            ),
            // vector aggregation: sum
            (
                r#"sum(count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#,
                "sum by (container)(\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)",
            ),
            // vector aggregation: topk
            (
                r#"topk(5, count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#,
                "topk by (container)(\n  5,\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)",
            ),
            // label_replace
            (
                r#"label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*")"#,
                "label_replace(\n  rate(\n    {job=\"api-server\", service=\"a:c\"}\n      |= \"err\" [5m]\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
            ),
            // label_replace_nested
            (
                r#"label_replace(label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*"), "foo", "$1", "service", "(.*):.*")"#,
                "label_replace(\n  label_replace(\n    rate(\n      {job=\"api-server\", service=\"a:c\"}\n        |= \"err\" [5m]\n    ),\n    \"foo\",\n    \"$1\",\n    \"service\",\n    \"(.*):.*\"\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
            ),
            // single binop
            (
                r#"sum(rate({job="loki", namespace="loki-prod", instance="localhost"}[5m]))/sum(count_over_time({job="loki", namespace="loki-prod", instance="localhost"}[5m]))"#,
                "  sum(\n    rate(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )\n/\n  sum(\n    count_over_time(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )",
            ),
            // multiple binops
            (
                r#"sum(rate({job="loki"}[5m])) + sum(rate({job="loki-dev"}[5m])) / sum(rate({job="loki-prod"}[5m]))"#,
                "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n+\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n  /\n    sum(\n      rate(\n        {job=\"loki-prod\"} [5m]\n      )\n    )",
            ),
            // multiple binops check precedence
            (
                r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
                "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  /\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
            ),
            // multiple binops check precedence2
            (
                r#"sum(rate({job="loki"}[5m])) - sum(rate({job="loki-stage"}[5m])) / sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
                "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  -\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-dev\"} [5m]\n        )\n      )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
            ),
            // multiple binops check precedence4
            (
                r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
                "      sum(\n        rate(\n          {job=\"loki\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n  %\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
            ),
            // multiple binops check precedence5
            (
                r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) * sum(rate({job="loki-prod"}[5m]))"#,
                "      sum(\n        rate(\n          {job=\"loki\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n  %\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n*\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
            ),
            // binops with options
            (
                r#"sum(rate({job="loki"}[5m])) * on(instance, job) group_left (node) sum(rate({job="loki-prod"}[5m]))"#,
                "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n* on (instance, job) group_left (node)\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(&pretty(input, 20), expected, "input: {input}");
        }
    }

    /// Short queries: Loki's one-line `String()` forms.
    #[test]
    fn one_line_forms() {
        for (input, expected) in [
            (r#"{app="a",env=~"p.*"}|="x"|json|level="error""#, r#"{app="a", env=~"p.*"} |= "x" | json | level="error""#),
            (r#"sum by(env)(count_over_time({job="nginx"}[5m]))"#, r#"sum by (env)(count_over_time({job="nginx"}[5m]))"#),
            (r#"sum(rate({job="nginx"}[5m])) by (env, pod) * 60"#, r#"(sum by (env,pod)(rate({job="nginx"}[5m])) * 60)"#),
            (r#"count_over_time({job="nginx"}[10m] |= "POST")"#, r#"count_over_time({job="nginx"} |= "POST"[10m])"#),
            (
                r#"{a="b"} | x>=500 | d>1h30m | s<=100KB | y="5" | z=5 | w < 1.5MB"#,
                r#"{a="b"} | x>=500 | d>1h30m0s | s<=100kB | y="5" | z==5 | w<1.5MB"#,
            ),
            (r#"{a="b"} | x > 1 and y < 2 or z = "q""#, r#"{a="b"} | ( ( x>1 , y<2 ) or z="q" )"#),
            (r#"{a="b"} | x > 1, (y < 2 or z = "q")"#, r#"{a="b"} | ( x>1 , ( y<2 or z="q" ) )"#),
            (r#"{a="b"} | json x, y="a.b" | logfmt --strict"#, r#"{a="b"} | json x="x",y="a.b" | logfmt --strict"#),
            (r#"{a="b"} | logfmt --strict --keep-empty x"#, r#"{a="b"} | logfmt --strict --keep-empty x="x""#),
            (r#"{a="b"} |= "x" or "y" != "z" or "w" | ip=ip("1.2.3.4")"#, r#"{a="b"} |= "x" or "y" != "z" != "w" | ip=ip("1.2.3.4")"#),
            (
                r#"{a="b"} | drop a, b="c" | keep d | label_format x=y, z="{{.a}}""#,
                r#"{a="b"} | drop a,b="c" | keep d | label_format x=y,z="{{.a}}""#,
            ),
            (
                r#"{a="b"} | decolorize | regexp "(?P<x>.)" | pattern "<_> <y>" | unpack"#,
                r#"{a="b"} | decolorize | regexp "(?P<x>.)" | pattern "<_> <y>" | unpack"#,
            ),
            (
                r#"quantile_over_time(.99,{a="b"}|unwrap duration(d)|__error__=""[5m]offset 1h)by(x,y)"#,
                r#"quantile_over_time(0.99,{a="b"} | unwrap duration(d) | __error__=""[5m] offset 1h0m0s) by (x,y)"#,
            ),
            (r#"topk(3, sum without (a) (rate({x="y"}[1m])))"#, r#"topk(3,sum without (a)(rate({x="y"}[1m])))"#),
            (r#"sum by () (rate({x="y"}[1m]))"#, r#"sum(rate({x="y"}[1m]))"#),
            (r#"1+2*-3"#, "-5"),
            (r#"(1 + 1) * count_over_time({a="b"}[1m])"#, r#"(2 * count_over_time({a="b"}[1m]))"#),
            (r#"1e6 + count_over_time({a="b"}[1m])"#, r#"(1e+06 + count_over_time({a="b"}[1m]))"#),
            (r#"vector(1) or vector(2)"#, "(vector(1.000000) or vector(2.000000))"),
            (r#"label_replace(vector(1), "a", "$1", "b", "(.*)")"#, r#"label_replace(vector(1.000000),"a","$1","b","(.*)")"#),
            (
                r#"rate({a="b"}[1m]) / on (a, b) group_left (c, d) rate({a="b"}[1m])"#,
                r#"(rate({a="b"}[1m]) / on (a,b) group_left (c,d) rate({a="b"}[1m]))"#,
            ),
            (r#"rate({a="b"}[1m]) > bool ignoring (a) rate({a="b"}[1m])"#, r#"(rate({a="b"}[1m]) > bool ignoring (a)  rate({a="b"}[1m]))"#),
            (r#"((rate({a="b"}[1m])))"#, r#"rate({a="b"}[1m])"#),
        ] {
            assert_eq!(pretty(input, MAX_CHARS_PER_LINE), expected, "input: {input}");
        }
    }

    #[test]
    fn long_queries_at_100_chars() {
        // A pipeline longer than 100 characters: one stage per line; a run of short line
        // filters stays on one line.
        let q = r#"{cluster="prod-eu-west-1", namespace="payments", container="api"} |= "error" != "timeout" | json | status >= 500 | line_format "{{.msg}}""#;
        assert_eq!(
            pretty(q, MAX_CHARS_PER_LINE),
            "{cluster=\"prod-eu-west-1\", namespace=\"payments\", container=\"api\"}\n  |= \"error\" != \"timeout\"\n  | json\n  | status>=500\n  | line_format \"{{.msg}}\""
        );
        // A long line filter run breaks after the longest prefix that fits.
        let q = format!(r#"{{a="b"}} |= "{}" |= "x" != "y" | json"#, "e".repeat(90));
        assert_eq!(pretty(&q, MAX_CHARS_PER_LINE), format!("{{a=\"b\"}}\n  |= \"{}\"\n  |= \"x\"\n  != \"y\"\n  | json", "e".repeat(90)));
        let q = r#"sum by (namespace, pod) (rate({cluster="prod-eu-west-1", namespace="payments-production"} |= "error" [5m]))"#;
        assert_eq!(
            pretty(q, MAX_CHARS_PER_LINE),
            "sum by (namespace, pod)(\n  rate({cluster=\"prod-eu-west-1\", namespace=\"payments-production\"} |= \"error\"[5m])\n)"
        );
        // Comments are not kept (Loki formats the parsed expression).
        let q = "{app=\"x\"} # the app\n|= \"a\" // more\n/* block */ | json";
        assert_eq!(pretty(q, MAX_CHARS_PER_LINE), r#"{app="x"} |= "a" | json"#);
    }

    #[test]
    fn kept_where_loki_would_lose_them() {
        let g = |q: &str| pretty(q, 20);
        assert_eq!(g(r#"{job="loki-prod"} |= "aa" or "bb""#), "{job=\"loki-prod\"}\n  |= \"aa\" or \"bb\"");
        assert_eq!(
            g(r#"sum without () (count_over_time({job="loki"}[5m]))"#),
            "sum without ()(\n  count_over_time(\n    {job=\"loki\"} [5m]\n  )\n)"
        );
        assert_eq!(g(r#"count_over_time({job="loki"}[5m] offset -5m)"#), "count_over_time(\n  {job=\"loki\"} [5m] offset -5m\n)");
        assert_eq!(
            g(r#"rate({job="loki"}[5m]) * on () rate({job="loki"}[5m])"#),
            "  rate(\n    {job=\"loki\"} [5m]\n  )\n* on () \n  rate(\n    {job=\"loki\"} [5m]\n  )"
        );
    }

    #[test]
    fn deep_and_long_queries() {
        // Long runs of filters and label filters: no deep recursion on the chain.
        let filters = r#"|= "x" "#.repeat(20_000);
        let q = format!(r#"{{a="b"}} {filters}| json"#);
        let p = pretty(&q, MAX_CHARS_PER_LINE);
        // The selector, 14 filters that fit on a line, then one filter per line, then json.
        assert_eq!(p.lines().count(), 1 + 1 + (20_000 - 14) + 1);
        let labels = "| a=\"b\" ".repeat(5_000);
        let q = format!(r#"{{a="b"}} {labels}"#);
        assert_eq!(pretty(&q, MAX_CHARS_PER_LINE).lines().count(), 5_001);
        for q in [format!(r#"{{a="b"}} | {}"#, vec![r#"x="y""#; 2_000].join(" and ")), vec![r#"rate({a="b"}[1m])"#; 100].join(" + ")] {
            if let Ok(e) = parse_expr(&q) {
                let _ = prettify(&e);
            }
        }
    }

    #[test]
    fn go_formats() {
        assert_eq!(go_float_v(1e6), "1e+06");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(1234567.0), "1.234567e+06");
        assert_eq!(go_float_v(0.0001), "0.0001");
        assert_eq!(go_float_v(0.00001), "1e-05");
        assert_eq!(go_float_v(-2.5), "-2.5");
        assert_eq!(go_float_v(1e100), "1e+100");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(5 * 60 * 1_000_000_000), "5m0s");
        assert_eq!(go_duration(5_400_000_000_000), "1h30m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(1_000), "1µs");
        assert_eq!(go_duration(7), "7ns");
        assert_eq!(go_duration(-60_000_000_000), "-1m0s");
        assert_eq!(humanize_bytes(5), "5B");
        assert_eq!(humanize_bytes(100_000), "100kB");
        assert_eq!(humanize_bytes(1_500), "1.5kB");
        assert_eq!(humanize_bytes(1024), "1.0kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5MB");
        assert_eq!(humanize_bytes(999), "999B");
    }

    /// Pretty output of short queries parses back to the same query.
    #[test]
    fn output_parses_back() {
        for q in [
            r#"{a="b"} |= "x" or "y" | json x, y="a.b" | logfmt --strict | s <= 100KB | d > 1h30m | x >= 500"#,
            r#"{a="b"} | x > 1 and y < 2 or z = "q" | drop a, b="c" | keep d | label_format x=y, z="{{.a}}""#,
            r#"quantile_over_time(.99,{a="b"}|unwrap duration(d)|__error__=""[5m]offset 1h)by(x,y)"#,
            r#"topk(3, sum without (a) (rate({x="y"}[1m]))) / on (a) group_left (b) vector(1)"#,
        ] {
            let e = parse_expr(q).unwrap();
            let p = prettify(&e);
            assert!(parse_expr(&p).is_ok(), "{q} -> {p}");
        }
    }
}
