//! Canonical LogQL printing: `Display` for every syntax tree node, such that
//! `parse_expr(&e.to_string()) == Ok(e)` for every parsed `e`.
//!
//! Spacing follows Loki's style: `{app="a", env=~"p.*"} |= "x" | json | level="error"`,
//! `sum by (env) (count_over_time({job="nginx"}[5m]))`, `status >= 500`; strings are
//! Go-quoted and durations printed as Prometheus does (`1h30m`, `500ms`).

use std::fmt::{self, Display, Formatter};

use skald_common::{format_duration, go_quote};

use crate::ast::*;

/// A duration in LogQL syntax; negative durations (offsets, label filters) get a `-`.
pub(crate) fn duration_string(nanos: i64) -> String {
    if nanos < 0 {
        match nanos.checked_neg() {
            Some(positive) => format!("-{}", format_duration(positive)),
            None => format!("-{}ns", nanos.unsigned_abs()),
        }
    } else {
        format_duration(nanos)
    }
}

/// A number literal; `-0` would lex as a (zero) duration, as in Loki, so it prints as `0`.
fn number_string(v: f64) -> String {
    if v == 0.0 { "0".to_string() } else { v.to_string() }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_labels(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    f.write_str("(")?;
    write_list(f, labels)?;
    f.write_str(")")
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(log) => log.fmt(f),
            Expr::Sample(sample) => sample.fmt(f),
            Expr::Variants(v) => {
                f.write_str("variants(")?;
                for (i, variant) in v.variants.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{variant}")?;
                }
                write!(f, ") of ({}", v.log)?;
                if !v.log.pipeline.is_empty() {
                    f.write_str(" ")?;
                }
                write!(f, "[{}]", duration_string(v.range))?;
                if v.offset != 0 {
                    write!(f, " offset {}", duration_string(v.offset))?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Display for MatchOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        })
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op, go_quote(&self.value))
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        write_list(f, &self.matchers)?;
        f.write_str("}")?;
        for stage in &self.pipeline {
            write!(f, " {stage}")?;
        }
        Ok(())
    }
}

impl Display for LineFilterOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        })
    }
}

impl Display for LineFilterValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LineFilterValue::Literal(s) => f.write_str(&go_quote(s)),
            LineFilterValue::Ip(s) => write!(f, "ip({})", go_quote(s)),
        }
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(" or")?;
            }
            write!(f, " {value}")?;
        }
        Ok(())
    }
}

impl Display for ExtractionParam {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(path) = &self.path {
            write!(f, "={}", go_quote(path))?;
        }
        Ok(())
    }
}

impl Display for ParserStage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ParserStage::Json(params) => {
                f.write_str("json")?;
                if !params.is_empty() {
                    f.write_str(" ")?;
                    write_list(f, params)?;
                }
                Ok(())
            }
            ParserStage::Logfmt { strict, keep_empty, params } => {
                f.write_str("logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                if !params.is_empty() {
                    f.write_str(" ")?;
                    write_list(f, params)?;
                }
                Ok(())
            }
            ParserStage::Regexp(re) => write!(f, "regexp {}", go_quote(re)),
            ParserStage::Pattern(p) => write!(f, "pattern {}", go_quote(p)),
            ParserStage::Unpack => f.write_str("unpack"),
        }
    }
}

impl Display for LabelFormatItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFormatItem::Rename { dst, src } => write!(f, "{dst}={src}"),
            LabelFormatItem::Template { dst, template } => {
                write!(f, "{dst}={}", go_quote(template))
            }
        }
    }
}

impl Display for NamedMatcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            NamedMatcher::Name(name) => f.write_str(name),
            NamedMatcher::Matcher(m) => m.fmt(f),
        }
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => lf.fmt(f),
            Stage::Parser(p) => write!(f, "| {p}"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", go_quote(t)),
            Stage::LabelFormat(items) => {
                f.write_str("| label_format ")?;
                write_list(f, items)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
            Stage::Drop(items) => {
                f.write_str("| drop ")?;
                write_list(f, items)
            }
            Stage::Keep(items) => {
                f.write_str("| keep ")?;
                write_list(f, items)
            }
        }
    }
}

impl Display for CmpOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        })
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::And(l, r) => write!(f, "{l} and {r}"),
            LabelFilter::Or(l, r) => write!(f, "{l} or {r}"),
            LabelFilter::Paren(inner) => write!(f, "({inner})"),
            LabelFilter::String(m) => m.fmt(f),
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name} {op} {}", number_string(*value))
            }
            LabelFilter::Duration { name, op, value } => {
                write!(f, "{name} {op} {}", duration_string(*value))
            }
            LabelFilter::Bytes { name, op, value } => write!(f, "{name} {op} {value}B"),
            LabelFilter::Ip { name, negate, pattern } => {
                write!(f, "{name}{}ip({})", if *negate { "!=" } else { "=" }, go_quote(pattern))
            }
        }
    }
}

impl Display for UnwrapConversion {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnwrapConversion::None => "",
            UnwrapConversion::Duration => "duration",
            UnwrapConversion::DurationSeconds => "duration_seconds",
            UnwrapConversion::Bytes => "bytes",
        })
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conversion {
            UnwrapConversion::None => write!(f, "| unwrap {}", self.label)?,
            conv => write!(f, "| unwrap {conv}({})", self.label)?,
        }
        for filter in &self.post_filters {
            write!(f, " | {filter}")?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(if self.without { "without " } else { "by " })?;
        write_labels(f, &self.labels)
    }
}

impl RangeOp {
    /// The operation's LogQL name (`count_over_time`, `rate`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }
}

impl Display for RangeOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl VectorOp {
    /// The operation's LogQL name (`sum`, `topk`, `sort_desc`, ...).
    pub fn name(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
            VectorOp::ApproxTopk => "approx_topk",
        }
    }
}

impl Display for VectorOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl BinaryOp {
    /// The operator as written in LogQL (`+`, `==`, `and`, ...).
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
        }
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl Display for RangeAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op)?;
        if let Some(param) = self.param {
            write!(f, "{}, ", number_string(param))?;
        }
        write!(f, "{}", self.log)?;
        if let Some(unwrap) = &self.unwrap {
            write!(f, " {unwrap}")?;
        }
        if !self.log.pipeline.is_empty() || self.unwrap.is_some() {
            f.write_str(" ")?;
        }
        write!(f, "[{}]", duration_string(self.range))?;
        if self.offset != 0 {
            write!(f, " offset {}", duration_string(self.offset))?;
        }
        f.write_str(")")?;
        if let Some(grouping) = &self.grouping {
            write!(f, " {grouping}")?;
        }
        Ok(())
    }
}

impl Display for VectorAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.name())?;
        if self.grouping_first
            && let Some(grouping) = &self.grouping
        {
            write!(f, " {grouping} ")?;
        }
        f.write_str("(")?;
        if let Some(param) = self.param {
            write!(f, "{}, ", number_string(param))?;
        }
        write!(f, "{})", self.expr)?;
        if !self.grouping_first
            && let Some(grouping) = &self.grouping
        {
            write!(f, " {grouping}")?;
        }
        Ok(())
    }
}

impl Display for BinaryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.lhs, self.op)?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(matching) = &self.matching {
            f.write_str(if matching.on { " on " } else { " ignoring " })?;
            write_labels(f, &matching.labels)?;
        }
        if let Some((side, labels)) = &self.group {
            f.write_str(match side {
                GroupSide::Left => " group_left",
                GroupSide::Right => " group_right",
            })?;
            if !labels.is_empty() {
                f.write_str(" ")?;
                write_labels(f, labels)?;
            }
        }
        write!(f, " {}", self.rhs)
    }
}

impl Display for LabelReplace {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "label_replace({}, {}, {}, {}, {})",
            self.expr,
            go_quote(&self.dst),
            go_quote(&self.replacement),
            go_quote(&self.src),
            go_quote(&self.regex)
        )
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::RangeAggregation(r) => r.fmt(f),
            SampleExpr::VectorAggregation(v) => v.fmt(f),
            SampleExpr::Binary(b) => b.fmt(f),
            SampleExpr::Literal(v) => f.write_str(&number_string(*v)),
            SampleExpr::Vector(v) => write!(f, "vector({})", number_string(*v)),
            SampleExpr::LabelReplace(l) => l.fmt(f),
            SampleExpr::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::parse_expr;

    fn canonical(q: &str) -> String {
        let e = parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let printed = e.to_string();
        assert_eq!(parse_expr(&printed).as_ref(), Ok(&e), "{q} printed as {printed}");
        printed
    }

    #[test]
    fn canonical_forms() {
        for (input, expected) in [
            (r#"{app="a",env=~"p.*"}|="x"|json|level="error""#, r#"{app="a", env=~"p.*"} |= "x" | json | level="error""#),
            (r#"sum by(env)(count_over_time({job="nginx"}[5m]))"#, r#"sum by (env) (count_over_time({job="nginx"}[5m]))"#),
            (r#"sum(rate({job="nginx"}[5m])) by (env) * 60"#, r#"sum(rate({job="nginx"}[5m])) by (env) * 60"#),
            (r#"count_over_time({job="nginx"}[10m] |= "POST")"#, r#"count_over_time({job="nginx"} |= "POST" [10m])"#),
            (r#"{a="b"} | x>=500 | d>1h30m | s<=100KB | y="5" | z=5"#, r#"{a="b"} | x >= 500 | d > 1h30m | s <= 100000B | y="5" | z == 5"#),
            (r#"{a="b"} | json x, y="a.b" | logfmt --strict"#, r#"{a="b"} | json x, y="a.b" | logfmt --strict"#),
            (r#"{a="b"} |= "x" or "y" | ip=ip("1.2.3.4")"#, r#"{a="b"} |= "x" or "y" | ip=ip("1.2.3.4")"#),
            (
                r#"quantile_over_time(.99,{a="b"}|unwrap duration(d)|__error__=""[5m]offset -1m)by(x)"#,
                r#"quantile_over_time(0.99, {a="b"} | unwrap duration(d) | __error__="" [5m] offset -1m) by (x)"#,
            ),
            (r#"1+2*-3"#, "1 + 2 * -3"),
            (r#"a_b(1)"#, ""),
        ] {
            if expected.is_empty() {
                assert!(parse_expr(input).is_err());
                continue;
            }
            assert_eq!(canonical(input), expected);
        }
        canonical(r#"label_replace(vector(1), "a", "$1", "b", "(.*)")"#);
        canonical(r#"{a="b"} != "x" !~ "y" |> "<_>" !> "z" | unpack | decolorize | keep a, b!="c""#);
        canonical("count_over_time({a=\"b\"}[5m]) / on (a) group_left (b, c) count_over_time({a=\"b\"}[5m])");
        canonical("count_over_time({a=\"b\"}[5m]) > bool ignoring () group_right count_over_time({a=\"b\"}[5m])");
    }
}
