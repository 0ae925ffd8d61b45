//! The LogQL syntax tree (Loki 3.x). The parser builds it, `Display` prints it back as
//! canonical LogQL (so that `parse(print(e)) == e`), and the evaluator walks it.
//!
//! All durations are `i64` nanoseconds.

/// A whole query: either a log query or a metric (sample) query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Sample(SampleExpr),
    /// `variants(<metric>, ...) of (<log range>)`: several metric queries over one
    /// selection of lines (Loki's multi-variant queries).
    Variants(VariantsExpr),
}

/// `variants(v0, v1, ...) of ({selector} | pipeline [range] offset ...)`. Each variant
/// is a range aggregation, or a vector aggregation of one; the lines are those of the
/// `of` range (its selector and pipeline; a variant's own stages are not used, its
/// operation, unwrap, range and grouping are), and each variant's series carry
/// `__variant__` = its position.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantsExpr {
    pub variants: Vec<SampleExpr>,
    pub log: LogExpr,
    pub range: i64,
    pub offset: i64,
}

/// `{selector} | pipeline...`
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub pipeline: Vec<Stage>,
}

/// A label matcher of a stream selector or of a label filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (fully anchored)
    Re,
    /// `!~` (fully anchored)
    Nre,
}

/// One stage of a log pipeline, in query order.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a"`, `!~ "b"`, `|= "a" or "b"`, `|= ip("10.0.0.0/8")`, `|> "<_> x"`.
    LineFilter(LineFilter),
    /// `| json`, `| logfmt`, `| regexp "..."`, `| pattern "..."`, `| unpack`.
    Parser(ParserStage),
    /// `| level="error" and status >= 500`
    LabelFilter(LabelFilter),
    /// `| line_format "{{.a}}"`
    LineFormat(String),
    /// `| label_format a=b, c="{{.x}}"`
    LabelFormat(Vec<LabelFormatItem>),
    /// `| decolorize`
    Decolorize,
    /// `| drop a, b="x"`
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="x"`
    Keep(Vec<NamedMatcher>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

/// A line filter; `values` holds the `or` alternatives (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub values: Vec<LineFilterValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LineFilterValue {
    Literal(String),
    /// `ip("...")`: an address, a range `a-b` or a CIDR.
    Ip(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParserStage {
    /// `json` or `json a="x.y", b` (each param: label name, optional path expression).
    Json(Vec<ExtractionParam>),
    /// `logfmt [--strict] [--keep-empty] [params]`
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<ExtractionParam>,
    },
    Regexp(String),
    Pattern(String),
    Unpack,
}

/// `name` or `name="path"` in `json`/`logfmt` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractionParam {
    pub name: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Label filter expressions. `and` (also written `,` or whitespace) binds tighter than `or`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// Parentheses are kept so printing round-trips.
    Paren(Box<LabelFilter>),
    /// `name = "v"`, `name =~ "re"`, ...
    String(Matcher),
    /// `name > 1.5` (`=`/`==` both mean equality for numbers).
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// `name > 250ms`
    Duration {
        name: String,
        op: CmpOp,
        value: i64,
    },
    /// `name > 100KB`
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
    /// `name = ip("...")` or `name != ip("...")`
    Ip {
        name: String,
        negate: bool,
        pattern: String,
    },
}

/// `dst=src` (rename) or `dst="template"` in `label_format`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFormatItem {
    Rename { dst: String, src: String },
    Template { dst: String, template: String },
}

/// An item of `drop`/`keep`: a bare name or a `name op "value"` matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedMatcher {
    Name(String),
    Matcher(Matcher),
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    RangeAggregation(RangeAggregation),
    VectorAggregation(VectorAggregation),
    Binary(Box<BinaryExpr>),
    Literal(f64),
    /// `vector(1)`
    Vector(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`
    LabelReplace(Box<LabelReplace>),
    /// Parentheses kept for printing.
    Paren(Box<SampleExpr>),
}

impl SampleExpr {
    /// Whether a vector aggregation with this operation appears anywhere in the expression.
    pub fn uses_vector_op(&self, op: VectorOp) -> bool {
        match self {
            SampleExpr::VectorAggregation(v) => v.op == op || v.expr.uses_vector_op(op),
            SampleExpr::Binary(b) => b.lhs.uses_vector_op(op) || b.rhs.uses_vector_op(op),
            SampleExpr::LabelReplace(l) => l.expr.uses_vector_op(op),
            SampleExpr::Paren(inner) => inner.uses_vector_op(op),
            SampleExpr::RangeAggregation(_) | SampleExpr::Literal(_) | SampleExpr::Vector(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

/// `op([param,] {log} [| unwrap ...] [range] [offset o]) [by|without (...)]`
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    pub op: RangeOp,
    /// The quantile of `quantile_over_time`.
    pub param: Option<f64>,
    pub log: LogExpr,
    pub unwrap: Option<Unwrap>,
    pub range: i64,
    pub offset: i64,
    pub grouping: Option<Grouping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConversion {
    None,
    /// `duration(label)` and `duration_seconds(label)`: seconds.
    Duration,
    DurationSeconds,
    /// `bytes(label)`
    Bytes,
}

/// `| unwrap [conv(]label[)] [| post filters...]`
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: UnwrapConversion,
    /// Label filters after the unwrap (typically `__error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
    /// `approx_topk(k, ...)`: Loki answers it from count-min sketches when sharding;
    /// Skald, which does not shard it, answers the exact `topk`.
    ApproxTopk,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    pub op: VectorOp,
    /// The `k` of `topk`/`bottomk`.
    pub param: Option<f64>,
    pub expr: Box<SampleExpr>,
    pub grouping: Option<Grouping>,
    /// `sum by (x) (...)` (true) or `sum(...) by (x)` (false); printing keeps the form.
    pub grouping_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl BinaryOp {
    /// The value of `l op r` for two literals, folded as Loki's `reduceBinOp` does
    /// (division and modulo by zero give NaN; comparisons give 1 or 0); `None` for the
    /// set operators, which take no literals.
    pub fn fold_literals(self, l: f64, r: f64) -> Option<f64> {
        let truth = |c: bool| if c { 1.0 } else { 0.0 };
        Some(match self {
            BinaryOp::Add => l + r,
            BinaryOp::Sub => l - r,
            BinaryOp::Mul => l * r,
            BinaryOp::Div if r == 0.0 => f64::NAN,
            BinaryOp::Div => l / r,
            BinaryOp::Mod if r == 0.0 => f64::NAN,
            BinaryOp::Mod => l % r,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// `on (...)` when true, `ignoring (...)` when false.
    pub on: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSide {
    Left,
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: SampleExpr,
    pub rhs: SampleExpr,
    /// `bool` modifier of comparisons.
    pub return_bool: bool,
    pub matching: Option<VectorMatching>,
    /// `group_left (labels)` / `group_right (labels)`.
    pub group: Option<(GroupSide, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    pub expr: SampleExpr,
    pub dst: String,
    pub replacement: String,
    pub src: String,
    pub regex: String,
}
