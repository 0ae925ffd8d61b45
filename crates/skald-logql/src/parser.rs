//! The LogQL parser: a hand-written recursive-descent / precedence-climbing parser that
//! accepts Loki 3.x's grammar (`pkg/logql/syntax/expr.y`) and builds the [`crate::ast`]
//! tree.
//!
//! Errors carry 1-based line and column (in characters) of the offending token and use
//! Loki's yacc wording (`syntax error: unexpected X, expecting Y`); semantic errors
//! (invalid regexes, unwrap rules, ...) use Loki's messages. As in Loki, semantic checks
//! are reported only once the whole input is syntactically valid (the first one wins).
//!
//! Parsing is linear in the input and never recurses deeper than [`MAX_DEPTH`] levels of
//! nesting (parentheses, aggregations, chains of binary operators or label filters).

use crate::ast::*;
use crate::lexer::{TokKind, Token, lex};

/// Maximum nesting of the syntax tree (parentheses, function calls, operator chains).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parses a LogQL query: a log query (`{app="a"} |= "x"`) or a metric query.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input);
    let (operand, _) = p.binary(0)?;
    if !matches!(p.peek(), TokKind::Eof) {
        return Err(p.unexpected(&[]));
    }
    if let Some(err) = p.deferred.take() {
        return Err(err);
    }
    Ok(match operand {
        Operand::Log(log) => Expr::Log(*log),
        Operand::Sample(sample) => Expr::Sample(*sample),
    })
}

/// Parses a bare stream selector (`{a="b", c=~"x"}`), as `/series` `match[]` takes it.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse_expr(input)? {
        Expr::Log(log) if log.pipeline.is_empty() => Ok(log.matchers),
        _ => Err(ParseError { line: 1, col: 1, message: "only label matchers is supported".to_string() }),
    }
}

type PResult<T> = Result<T, ParseError>;

/// `bool`, `on|ignoring (...)`, `group_left|group_right (...)` of a binary operator.
type Modifiers = (bool, Option<VectorMatching>, Option<(GroupSide, Vec<String>)>);

/// An operand of a binary expression: Loki's grammar lets log expressions appear there
/// syntactically and rejects them afterwards.
///
/// Operands are boxed so that the frames of the recursive functions stay small.
enum Operand {
    Log(Box<LogExpr>),
    Sample(Box<SampleExpr>),
}

/// Words that are always keywords (Loki's `tokens` map), compared case-insensitively.
const RESERVED: &[&str] = &[
    "by",
    "without",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "json",
    "regexp",
    "logfmt",
    "unpack",
    "pattern",
    "label_format",
    "line_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
];

/// Words that are keywords only when called (followed by `(` or `by|without (`), with
/// their token names in yacc error messages.
fn function_token_name(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "count_over_time" => "COUNT_OVER_TIME",
        "rate" => "RATE",
        "rate_counter" => "RATE_COUNTER",
        "bytes_over_time" => "BYTES_OVER_TIME",
        "bytes_rate" => "BYTES_RATE",
        "avg_over_time" => "AVG_OVER_TIME",
        "sum_over_time" => "SUM_OVER_TIME",
        "min_over_time" => "MIN_OVER_TIME",
        "max_over_time" => "MAX_OVER_TIME",
        "stddev_over_time" => "STDDEV_OVER_TIME",
        "stdvar_over_time" => "STDVAR_OVER_TIME",
        "quantile_over_time" => "QUANTILE_OVER_TIME",
        "first_over_time" => "FIRST_OVER_TIME",
        "last_over_time" => "LAST_OVER_TIME",
        "absent_over_time" => "ABSENT_OVER_TIME",
        "vector" => "VECTOR",
        "sum" => "SUM",
        "avg" => "AVG",
        "min" => "MIN",
        "max" => "MAX",
        "count" => "COUNT",
        "stddev" => "STDDEV",
        "stdvar" => "STDVAR",
        "topk" => "TOPK",
        "bottomk" => "BOTTOMK",
        "sort" => "SORT",
        "sort_desc" => "SORT_DESC",
        "approx_topk" => "APPROX_TOPK",
        "label_replace" => "label_replace",
        "bytes" => "BYTES_CONV",
        "duration" => "DURATION_CONV",
        "duration_seconds" => "DURATION_SECONDS_CONV",
        "ip" => "ip",
        _ => return None,
    })
}

fn range_op(lower: &str) -> Option<RangeOp> {
    Some(match lower {
        "count_over_time" => RangeOp::CountOverTime,
        "rate" => RangeOp::Rate,
        "rate_counter" => RangeOp::RateCounter,
        "bytes_over_time" => RangeOp::BytesOverTime,
        "bytes_rate" => RangeOp::BytesRate,
        "avg_over_time" => RangeOp::AvgOverTime,
        "sum_over_time" => RangeOp::SumOverTime,
        "min_over_time" => RangeOp::MinOverTime,
        "max_over_time" => RangeOp::MaxOverTime,
        "stddev_over_time" => RangeOp::StddevOverTime,
        "stdvar_over_time" => RangeOp::StdvarOverTime,
        "quantile_over_time" => RangeOp::QuantileOverTime,
        "first_over_time" => RangeOp::FirstOverTime,
        "last_over_time" => RangeOp::LastOverTime,
        "absent_over_time" => RangeOp::AbsentOverTime,
        _ => return None,
    })
}

fn vector_op(lower: &str) -> Option<VectorOp> {
    Some(match lower {
        "sum" => VectorOp::Sum,
        "avg" => VectorOp::Avg,
        "min" => VectorOp::Min,
        "max" => VectorOp::Max,
        "count" => VectorOp::Count,
        "stddev" => VectorOp::Stddev,
        "stdvar" => VectorOp::Stdvar,
        "topk" => VectorOp::Topk,
        "bottomk" => VectorOp::Bottomk,
        "sort" => VectorOp::Sort,
        "sort_desc" => VectorOp::SortDesc,
        _ => return None,
    })
}

fn range_op_name(op: RangeOp) -> &'static str {
    op.name()
}

fn vector_op_name(op: VectorOp) -> &'static str {
    op.name()
}

fn binary_op_name(op: BinaryOp) -> &'static str {
    match op {
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

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
        BinaryOp::Pow => 6,
    }
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte)
}

fn is_set_op(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
}

/// The value of a constant (literal-only) sample expression, folded as Loki does.
fn const_value(e: &SampleExpr) -> Option<f64> {
    match e {
        SampleExpr::Literal(v) => Some(*v),
        SampleExpr::Paren(inner) => const_value(inner),
        SampleExpr::Binary(b) => {
            let l = const_value(&b.lhs)?;
            let r = const_value(&b.rhs)?;
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

/// Compiles a label-matcher regex (fully anchored, as Prometheus does).
fn compile_anchored(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| regex_error(&e))
}

/// A one-line message for a regex error, in the spirit of Go's `error parsing regexp: ...`.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let detail = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error:").map(|s| s.trim().to_string()))
        .unwrap_or_else(|| text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "));
    format!("error parsing regexp: {detail}")
}

/// Whether the matcher accepts the empty string (such matchers select no stream alone).
fn matches_empty(m: &Matcher) -> bool {
    match m.op {
        MatchOp::Eq => m.value.is_empty(),
        MatchOp::Neq => !m.value.is_empty(),
        MatchOp::Re | MatchOp::Nre => {
            let Ok(re) = compile_anchored(&m.value) else {
                return false;
            };
            re.is_match("") == (m.op == MatchOp::Re)
        }
    }
}

/// The result of Loki's `logRangeExpr`: a log expression with unwrap, range and offset.
struct LogRange {
    log: LogExpr,
    unwrap: Option<Unwrap>,
    range: Option<i64>,
    offset: i64,
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    idx: usize,
    depth: usize,
    deferred: Option<ParseError>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser { input, toks: lex(input), idx: 0, depth: 0, deferred: None }
    }

    // ----- token access -----

    fn kind_at(&self, idx: usize) -> &TokKind {
        let i = idx.min(self.toks.len() - 1);
        &self.toks[i].kind
    }

    fn peek(&self) -> &TokKind {
        self.kind_at(self.idx)
    }

    fn peek_at(&self, n: usize) -> &TokKind {
        self.kind_at(self.idx + n)
    }

    fn pos(&self) -> usize {
        self.toks[self.idx.min(self.toks.len() - 1)].pos
    }

    fn bump(&mut self) -> TokKind {
        let kind = self.peek().clone();
        if self.idx < self.toks.len() - 1 {
            self.idx += 1;
        }
        kind
    }

    /// Whether the token at `idx` is the (case-insensitive) keyword `kw`.
    fn is_kw_at(&self, idx: usize, kw: &str) -> bool {
        matches!(self.kind_at(idx), TokKind::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(self.idx, kw)
    }

    /// Loki's `isFunction`: the word at `idx` is followed by `(` or `by|without (`.
    fn is_call_at(&self, idx: usize) -> bool {
        match self.kind_at(idx + 1) {
            TokKind::LParen => true,
            TokKind::Ident(_) => {
                (self.is_kw_at(idx + 1, "by") || self.is_kw_at(idx + 1, "without")) && matches!(self.kind_at(idx + 2), TokKind::LParen)
            }
            _ => false,
        }
    }

    /// The word at `idx` when it is a plain identifier (not a keyword).
    fn ident_at(&self, idx: usize) -> Option<&str> {
        match self.kind_at(idx) {
            TokKind::Ident(w) => {
                let lower = w.to_ascii_lowercase();
                if RESERVED.contains(&lower.as_str()) {
                    return None;
                }
                if function_token_name(&lower).is_some() && self.is_call_at(idx) {
                    return None;
                }
                Some(w)
            }
            _ => None,
        }
    }

    /// The token's name as yacc prints it in error messages.
    fn token_name(&self, idx: usize) -> String {
        let kind = self.kind_at(idx);
        let s = match kind {
            TokKind::Ident(w) => {
                let lower = w.to_ascii_lowercase();
                if RESERVED.contains(&lower.as_str()) {
                    return lower;
                }
                match function_token_name(&lower) {
                    Some(name) if self.is_call_at(idx) => name,
                    _ => "IDENTIFIER",
                }
            }
            TokKind::Str(_) => "STRING",
            TokKind::Number(_) => "NUMBER",
            TokKind::Duration(_) => "DURATION",
            TokKind::Bytes(_) => "BYTES",
            TokKind::Range(_) => "RANGE",
            TokKind::Flag(_) => "PARSER_FLAG",
            TokKind::LBrace => "{",
            TokKind::RBrace => "}",
            TokKind::LParen => "(",
            TokKind::RParen => ")",
            TokKind::Comma => ",",
            TokKind::Dot => ".",
            TokKind::Eq => "=",
            TokKind::Neq => "!=",
            TokKind::Re => "=~",
            TokKind::Nre => "!~",
            TokKind::Npa => "!>",
            TokKind::PipeExact => "|=",
            TokKind::PipeMatch => "|~",
            TokKind::PipePattern => "|>",
            TokKind::Pipe => "|",
            TokKind::Add => "+",
            TokKind::Sub => "-",
            TokKind::Mul => "*",
            TokKind::Div => "/",
            TokKind::Mod => "%",
            TokKind::Pow => "^",
            TokKind::CmpEq => "==",
            TokKind::Gt => ">",
            TokKind::Gte => ">=",
            TokKind::Lt => "<",
            TokKind::Lte => "<=",
            TokKind::Other(c) => return c.to_string(),
            TokKind::Error(_) => "error",
            TokKind::Eof => "$end",
        };
        s.to_string()
    }

    // ----- errors -----

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let before = &self.input[..pos.min(self.input.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        ParseError { line, col, message: message.into() }
    }

    /// `syntax error: unexpected X[, expecting A or B]` at the current token (or the
    /// lexical error there). As goyacc does, the expected list is given only when it has
    /// fewer than four entries.
    fn unexpected(&self, expected: &[&str]) -> ParseError {
        if let TokKind::Error(msg) = self.peek() {
            return self.error_at(self.pos(), msg.clone());
        }
        let mut message = format!("syntax error: unexpected {}", self.token_name(self.idx));
        if !expected.is_empty() && expected.len() < 4 {
            message.push_str(", expecting ");
            message.push_str(&expected.join(" or "));
        }
        self.error_at(self.pos(), message)
    }

    /// Records a semantic error, reported if the input turns out syntactically valid.
    fn defer(&mut self, pos: usize, message: impl Into<String>) {
        if self.deferred.is_none() {
            self.deferred = Some(self.error_at(pos, message));
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.pos(), "expression nesting too deep"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn check_depth(&self, depth: usize, pos: usize) -> PResult<()> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(pos, "expression nesting too deep"));
        }
        Ok(())
    }

    fn expect(&mut self, kind: TokKind, name: &str) -> PResult<()> {
        if *self.peek() == kind {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(&[name]))
        }
    }

    fn expect_ident(&mut self) -> PResult<String> {
        match self.ident_at(self.idx) {
            Some(w) => {
                let w = w.to_string();
                self.bump();
                Ok(w)
            }
            None => Err(self.unexpected(&["IDENTIFIER"])),
        }
    }

    fn expect_string(&mut self) -> PResult<String> {
        match self.peek() {
            TokKind::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected(&["STRING"])),
        }
    }

    // ----- metric expressions -----

    fn peek_binop(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            TokKind::Add => BinaryOp::Add,
            TokKind::Sub => BinaryOp::Sub,
            TokKind::Mul => BinaryOp::Mul,
            TokKind::Div => BinaryOp::Div,
            TokKind::Mod => BinaryOp::Mod,
            TokKind::Pow => BinaryOp::Pow,
            TokKind::CmpEq => BinaryOp::Eq,
            TokKind::Neq => BinaryOp::Neq,
            TokKind::Gt => BinaryOp::Gt,
            TokKind::Gte => BinaryOp::Gte,
            TokKind::Lt => BinaryOp::Lt,
            TokKind::Lte => BinaryOp::Lte,
            TokKind::Ident(_) if self.is_kw("or") => BinaryOp::Or,
            TokKind::Ident(_) if self.is_kw("and") => BinaryOp::And,
            TokKind::Ident(_) if self.is_kw("unless") => BinaryOp::Unless,
            _ => return None,
        })
    }

    /// Precedence climbing over binary operators; returns the operand and its depth.
    fn binary(&mut self, min_prec: u8) -> PResult<(Operand, usize)> {
        self.enter()?;
        let (mut lhs, mut depth) = self.unary()?;
        while let Some(op) = self.peek_binop() {
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.bump();
            let modifiers = self.bin_modifiers(op, op_pos)?;
            let next_min = if op == BinaryOp::Pow { prec } else { prec + 1 };
            let (rhs, rhs_depth) = self.binary(next_min)?;
            depth = depth.max(rhs_depth) + 1;
            self.check_depth(depth, op_pos)?;
            lhs = self.make_binary(op, op_pos, lhs, rhs, modifiers)?;
        }
        self.leave();
        Ok((lhs, depth))
    }

    /// Builds a binary node (kept out of `binary` to keep its recursive frame small).
    #[inline(never)]
    fn make_binary(&mut self, op: BinaryOp, op_pos: usize, lhs: Operand, rhs: Operand, modifiers: Modifiers) -> PResult<Operand> {
        let (return_bool, matching, group) = modifiers;
        let lhs = match lhs {
            Operand::Sample(s) => s,
            Operand::Log(l) => {
                return Err(self.error_at(
                    op_pos,
                    format!("unexpected type for left leg of binary operation ({}): {}", binary_op_name(op), log_type_name(&l)),
                ));
            }
        };
        let rhs = match rhs {
            Operand::Sample(s) => s,
            Operand::Log(l) => {
                return Err(self.error_at(
                    op_pos,
                    format!("unexpected type for right leg of binary operation ({}): {}", binary_op_name(op), log_type_name(&l)),
                ));
            }
        };
        if is_set_op(op) {
            if let Some(v) = const_value(&lhs) {
                self.defer(
                    op_pos,
                    format!("unexpected literal for left leg of logical/set binary operation ({}): {v:.6}", binary_op_name(op)),
                );
            } else if let Some(v) = const_value(&rhs) {
                self.defer(
                    op_pos,
                    format!("unexpected literal for right leg of logical/set binary operation ({}): {v:.6}", binary_op_name(op)),
                );
            }
        }
        let node = BinaryExpr { op, lhs: *lhs, rhs: *rhs, return_bool, matching, group };
        Ok(Operand::Sample(Box::new(SampleExpr::Binary(Box::new(node)))))
    }

    fn bin_modifiers(&mut self, op: BinaryOp, op_pos: usize) -> PResult<Modifiers> {
        let mut return_bool = false;
        if self.is_kw("bool") {
            if !is_comparison(op) {
                self.defer(op_pos, "bool modifier can only be used on comparison operators");
            }
            self.bump();
            return_bool = true;
        }
        let mut matching = None;
        if self.is_kw("on") || self.is_kw("ignoring") {
            let on = self.is_kw("on");
            self.bump();
            let labels = self.label_list()?;
            matching = Some(VectorMatching { on, labels });
        }
        let mut group = None;
        if matching.is_some() && (self.is_kw("group_left") || self.is_kw("group_right")) {
            let side = if self.is_kw("group_left") { GroupSide::Left } else { GroupSide::Right };
            self.bump();
            // `group_left (a, b)` versus `group_left (sum(...))`: a label list is `()` or
            // identifiers separated by commas.
            let is_list = matches!(self.peek(), TokKind::LParen)
                && (matches!(self.peek_at(1), TokKind::RParen)
                    || (self.ident_at(self.idx + 1).is_some() && matches!(self.peek_at(2), TokKind::Comma | TokKind::RParen)));
            let labels = if is_list { self.label_list()? } else { Vec::new() };
            group = Some((side, labels));
        }
        Ok((return_bool, matching, group))
    }

    /// `( [label (, label)*] )`
    fn label_list(&mut self) -> PResult<Vec<String>> {
        self.expect(TokKind::LParen, "(")?;
        let mut labels = Vec::new();
        if matches!(self.peek(), TokKind::RParen) {
            self.bump();
            return Ok(labels);
        }
        loop {
            if self.ident_at(self.idx).is_none() {
                return Err(self.unexpected(if labels.is_empty() { &["IDENTIFIER", ")"] } else { &["IDENTIFIER"] }));
            }
            labels.push(self.expect_ident()?);
            match self.peek() {
                TokKind::Comma => {
                    self.bump();
                }
                TokKind::RParen => {
                    self.bump();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected(&[",", ")"])),
            }
        }
    }

    fn grouping(&mut self) -> PResult<Grouping> {
        let without = self.is_kw("without");
        self.bump();
        let labels = self.label_list()?;
        Ok(Grouping { without, labels })
    }

    fn at_grouping(&self) -> bool {
        (self.is_kw("by") || self.is_kw("without")) && matches!(self.peek_at(1), TokKind::LParen)
    }

    fn unary(&mut self) -> PResult<(Operand, usize)> {
        match self.peek() {
            TokKind::Add | TokKind::Sub => {
                let negative = matches!(self.peek(), TokKind::Sub);
                self.bump();
                let pos = self.pos();
                match self.peek().clone() {
                    TokKind::Number(text) => {
                        self.bump();
                        let v = self.number_value(&text, pos);
                        Ok((Operand::Sample(Box::new(SampleExpr::Literal(if negative { -v } else { v }))), 1))
                    }
                    _ => Err(self.unexpected(&["NUMBER"])),
                }
            }
            _ => self.primary(),
        }
    }

    fn number_value(&mut self, text: &str, pos: usize) -> f64 {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.defer(pos, format!("unable to parse literal as a float: strconv.ParseFloat: parsing {text:?}: value out of range"));
                0.0
            }
        }
    }

    fn primary(&mut self) -> PResult<(Operand, usize)> {
        let pos = self.pos();
        match self.peek().clone() {
            TokKind::Number(text) => {
                self.bump();
                let v = self.number_value(&text, pos);
                Ok((Operand::Sample(Box::new(SampleExpr::Literal(v))), 1))
            }
            TokKind::LParen => {
                self.bump();
                let (inner, depth) = self.binary(0)?;
                self.expect(TokKind::RParen, ")")?;
                match inner {
                    Operand::Sample(s) => Ok((Operand::Sample(Box::new(SampleExpr::Paren(s))), depth + 1)),
                    Operand::Log(l) => Ok((Operand::Log(l), depth)),
                }
            }
            TokKind::LBrace => {
                let log = self.log_expr()?;
                Ok((Operand::Log(Box::new(log)), 1))
            }
            TokKind::Ident(word) if self.is_call_at(self.idx) => {
                let lower = word.to_ascii_lowercase();
                if let Some(op) = range_op(&lower) {
                    return self.range_aggregation(op, range_op_name(op));
                }
                if let Some(op) = vector_op(&lower) {
                    return self.vector_aggregation(op, vector_op_name(op));
                }
                match lower.as_str() {
                    "vector" => self.vector(),
                    "label_replace" => self.label_replace(),
                    _ => Err(self.unexpected(&[])),
                }
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    fn sample_arg(&mut self) -> PResult<(Box<SampleExpr>, usize)> {
        let (operand, depth) = self.binary(0)?;
        match operand {
            Operand::Sample(s) => Ok((s, depth)),
            Operand::Log(_) => Err(self.unexpected(&[])),
        }
    }

    fn range_aggregation(&mut self, op: RangeOp, name: &str) -> PResult<(Operand, usize)> {
        let fn_pos = self.pos();
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let mut param = None;
        if let (TokKind::Number(text), TokKind::Comma) = (self.peek().clone(), self.peek_at(1)) {
            param = Some((text, self.pos()));
            self.bump();
            self.bump();
        }
        self.enter()?;
        let lr = self.log_range()?;
        self.leave();
        let Some(range) = lr.range else {
            return Err(self.unexpected(&[]));
        };
        self.expect(TokKind::RParen, ")")?;
        let grouping = if self.at_grouping() { Some(self.grouping()?) } else { None };

        // Loki's newRangeAggregationExpr and RangeAggregationExpr.validate.
        let mut value = None;
        match (&param, op) {
            (Some((text, pos)), RangeOp::QuantileOverTime) => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => value = Some(v),
                _ => self.defer(
                    *pos,
                    format!("invalid parameter for operation {name}: strconv.ParseFloat: parsing {text:?}: value out of range"),
                ),
            },
            (Some((text, pos)), _) => self.defer(*pos, format!("parameter {text} not supported for operation {name}")),
            (None, RangeOp::QuantileOverTime) => self.defer(fn_pos, format!("parameter required for operation {name}")),
            (None, _) => {}
        }
        if grouping.is_some()
            && !matches!(
                op,
                RangeOp::AvgOverTime
                    | RangeOp::StddevOverTime
                    | RangeOp::StdvarOverTime
                    | RangeOp::QuantileOverTime
                    | RangeOp::MaxOverTime
                    | RangeOp::MinOverTime
                    | RangeOp::FirstOverTime
                    | RangeOp::LastOverTime
            )
        {
            self.defer(fn_pos, format!("grouping not allowed for {name} aggregation"));
        }
        if lr.unwrap.is_some() {
            if matches!(op, RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate) {
                self.defer(fn_pos, format!("invalid aggregation {name} with unwrap"));
            }
        } else if !matches!(
            op,
            RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime
        ) {
            self.defer(fn_pos, format!("invalid aggregation {name} without unwrap"));
        }

        let agg = RangeAggregation { op, param: value, log: lr.log, unwrap: lr.unwrap, range, offset: lr.offset, grouping };
        Ok((Operand::Sample(Box::new(SampleExpr::RangeAggregation(agg))), 1))
    }

    fn vector_aggregation(&mut self, op: VectorOp, name: &str) -> PResult<(Operand, usize)> {
        let fn_pos = self.pos();
        self.bump();
        let mut grouping = None;
        let mut grouping_first = false;
        if self.at_grouping() {
            grouping = Some(self.grouping()?);
            grouping_first = true;
        }
        self.expect(TokKind::LParen, "(")?;
        let mut param = None;
        if let (TokKind::Number(text), TokKind::Comma) = (self.peek().clone(), self.peek_at(1)) {
            param = Some((text, self.pos()));
            self.bump();
            self.bump();
        }
        let (inner, depth) = self.sample_arg()?;
        self.expect(TokKind::RParen, ")")?;
        if grouping.is_none() && self.at_grouping() {
            grouping = Some(self.grouping()?);
        }
        let depth = depth + 1;
        self.check_depth(depth, fn_pos)?;
        let agg = self.finish_vector_aggregation(op, name, fn_pos, param, inner, grouping, grouping_first);
        Ok((agg, depth))
    }

    /// Loki's mustNewVectorAggregationExpr and validateSortGrouping.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn finish_vector_aggregation(
        &mut self,
        op: VectorOp,
        name: &str,
        fn_pos: usize,
        param: Option<(String, usize)>,
        inner: Box<SampleExpr>,
        grouping: Option<Grouping>,
        grouping_first: bool,
    ) -> Operand {
        let mut value = None;
        match (&param, op) {
            (None, VectorOp::Topk | VectorOp::Bottomk) => self.defer(fn_pos, format!("parameter required for operation {name}")),
            (Some((text, pos)), VectorOp::Topk | VectorOp::Bottomk) => match text.parse::<i64>() {
                Ok(k) if k > 0 => value = Some(k as f64),
                Ok(_) => self.defer(*pos, format!("invalid parameter (must be greater than 0) {name}({text}")),
                Err(_) => self.defer(*pos, format!("invalid parameter {name}({text},")),
            },
            (Some((text, pos)), _) => self.defer(*pos, format!("unsupported parameter for operation {name}({text},")),
            (None, _) => {}
        }
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && grouping.as_ref().is_some_and(|g| !g.labels.is_empty()) {
            self.defer(fn_pos, "sort and sort_desc doesn't allow grouping by ");
        }
        let agg = VectorAggregation { op, param: value, expr: inner, grouping, grouping_first };
        Operand::Sample(Box::new(SampleExpr::VectorAggregation(agg)))
    }

    fn vector(&mut self) -> PResult<(Operand, usize)> {
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let pos = self.pos();
        let TokKind::Number(text) = self.peek().clone() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        self.bump();
        let v = self.number_value(&text, pos);
        self.expect(TokKind::RParen, ")")?;
        Ok((Operand::Sample(Box::new(SampleExpr::Vector(v))), 1))
    }

    fn label_replace(&mut self) -> PResult<(Operand, usize)> {
        let fn_pos = self.pos();
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let (inner, depth) = self.sample_arg()?;
        let mut args = Vec::with_capacity(4);
        let mut regex_pos = 0;
        for _ in 0..4 {
            self.expect(TokKind::Comma, ",")?;
            regex_pos = self.pos();
            args.push(self.expect_string()?);
        }
        self.expect(TokKind::RParen, ")")?;
        let depth = depth + 1;
        self.check_depth(depth, fn_pos)?;
        Ok((self.finish_label_replace(inner, args, regex_pos), depth))
    }

    #[inline(never)]
    #[allow(clippy::boxed_local, reason = "boxed to keep the recursive parser's frames small")]
    fn finish_label_replace(&mut self, inner: Box<SampleExpr>, mut args: Vec<String>, regex_pos: usize) -> Operand {
        if let Err(e) = compile_anchored(&args[3]) {
            self.defer(regex_pos, format!("invalid regex in label_replace: {e}"));
        }
        let regex = args.pop().unwrap_or_default();
        let src = args.pop().unwrap_or_default();
        let replacement = args.pop().unwrap_or_default();
        let dst = args.pop().unwrap_or_default();
        let lr = LabelReplace { expr: *inner, dst, replacement, src, regex };
        Operand::Sample(Box::new(SampleExpr::LabelReplace(Box::new(lr))))
    }

    // ----- log expressions -----

    /// `{selector} pipeline...` (no unwrap, no range).
    fn log_expr(&mut self) -> PResult<LogExpr> {
        let matchers = self.selector()?;
        let pipeline = self.pipeline()?;
        if matches!(self.peek(), TokKind::Pipe) && self.is_kw_at(self.idx + 1, "unwrap") {
            self.bump();
            return Err(self.unexpected(&[]));
        }
        Ok(LogExpr { matchers, pipeline })
    }

    /// Loki's `logRangeExpr`: every placement of range, offset, pipeline and unwrap,
    /// with the optional parentheses.
    fn log_range(&mut self) -> PResult<LogRange> {
        if matches!(self.peek(), TokKind::LParen) {
            self.bump();
            self.enter()?;
            let mut inner = self.log_range()?;
            self.leave();
            self.expect(TokKind::RParen, ")")?;
            if inner.range.is_none() {
                match self.peek() {
                    TokKind::Range(r) => {
                        inner.range = Some(*r);
                        self.bump();
                        inner.offset = self.offset()?;
                    }
                    _ => return Err(self.unexpected(&["RANGE"])),
                }
            }
            return Ok(inner);
        }
        let matchers = self.selector()?;
        let mut lr = LogRange { log: LogExpr { matchers, pipeline: Vec::new() }, unwrap: None, range: None, offset: 0 };
        if let TokKind::Range(r) = self.peek() {
            lr.range = Some(*r);
            self.bump();
            lr.offset = self.offset()?;
        }
        lr.log.pipeline = self.pipeline()?;
        if matches!(self.peek(), TokKind::Pipe) && self.is_kw_at(self.idx + 1, "unwrap") {
            lr.unwrap = Some(self.unwrap()?);
        }
        if lr.range.is_none()
            && let TokKind::Range(r) = self.peek()
        {
            lr.range = Some(*r);
            self.bump();
            lr.offset = self.offset()?;
        }
        Ok(lr)
    }

    fn offset(&mut self) -> PResult<i64> {
        if !self.is_kw("offset") {
            return Ok(0);
        }
        self.bump();
        match self.peek() {
            TokKind::Duration(d) => {
                let d = *d;
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }

    /// `| unwrap [conv(]label[)] [| label filter]...`
    fn unwrap(&mut self) -> PResult<Unwrap> {
        self.bump(); // |
        self.bump(); // unwrap
        let conversion = match self.peek() {
            TokKind::Ident(w) if matches!(self.peek_at(1), TokKind::LParen) => match w.to_ascii_lowercase().as_str() {
                "bytes" => Some(UnwrapConversion::Bytes),
                "duration" => Some(UnwrapConversion::Duration),
                "duration_seconds" => Some(UnwrapConversion::DurationSeconds),
                _ => None,
            },
            _ => None,
        };
        let (label, conversion) = match conversion {
            Some(conv) => {
                self.bump();
                self.bump();
                let label = self.expect_ident()?;
                self.expect(TokKind::RParen, ")")?;
                (label, conv)
            }
            None => (self.expect_ident()?, UnwrapConversion::None),
        };
        let mut post_filters = Vec::new();
        while matches!(self.peek(), TokKind::Pipe) {
            self.bump();
            post_filters.push(self.label_filter()?.0);
        }
        Ok(Unwrap { label, conversion, post_filters })
    }

    /// `{name op "value", ...}`; records Loki's "at least one non-empty matcher" check.
    fn selector(&mut self) -> PResult<Vec<Matcher>> {
        let start = self.pos();
        self.expect(TokKind::LBrace, "{")?;
        let mut matchers = Vec::new();
        if matches!(self.peek(), TokKind::RBrace) {
            self.bump();
        } else {
            loop {
                if self.ident_at(self.idx).is_none() {
                    return Err(self.unexpected(if matchers.is_empty() { &["IDENTIFIER", "}"] } else { &["IDENTIFIER"] }));
                }
                matchers.push(self.matcher()?);
                match self.peek() {
                    TokKind::Comma => {
                        self.bump();
                    }
                    TokKind::RBrace => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.unexpected(&["}", ","])),
                }
            }
        }
        if matchers.iter().all(matches_empty) {
            self.defer(
                start,
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            );
        }
        Ok(matchers)
    }

    fn match_op(&self) -> Option<MatchOp> {
        Some(match self.peek() {
            TokKind::Eq => MatchOp::Eq,
            TokKind::Neq => MatchOp::Neq,
            TokKind::Re => MatchOp::Re,
            TokKind::Nre => MatchOp::Nre,
            _ => return None,
        })
    }

    /// `name op "value"`
    fn matcher(&mut self) -> PResult<Matcher> {
        let name = self.expect_ident()?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected(&["=", "!=", "=~", "!~"]));
        };
        self.bump();
        self.matcher_value(name, op)
    }

    fn matcher_value(&mut self, name: String, op: MatchOp) -> PResult<Matcher> {
        let pos = self.pos();
        let value = self.expect_string()?;
        if matches!(op, MatchOp::Re | MatchOp::Nre)
            && let Err(e) = compile_anchored(&value)
        {
            self.defer(pos, e);
        }
        Ok(Matcher { name, op, value })
    }

    fn pipeline(&mut self) -> PResult<Vec<Stage>> {
        let mut stages = Vec::new();
        loop {
            match self.peek() {
                TokKind::PipeExact | TokKind::PipeMatch | TokKind::PipePattern | TokKind::Neq | TokKind::Nre | TokKind::Npa => {
                    stages.push(self.line_filter()?)
                }
                TokKind::Pipe => {
                    if self.is_kw_at(self.idx + 1, "unwrap") {
                        break;
                    }
                    self.bump();
                    stages.push(self.pipe_stage()?);
                }
                _ => break,
            }
        }
        Ok(stages)
    }

    fn line_filter(&mut self) -> PResult<Stage> {
        let op = match self.bump() {
            TokKind::PipeExact => LineFilterOp::Contains,
            TokKind::Neq => LineFilterOp::NotContains,
            TokKind::PipeMatch => LineFilterOp::Regex,
            TokKind::Nre => LineFilterOp::NotRegex,
            TokKind::PipePattern => LineFilterOp::Pattern,
            _ => LineFilterOp::NotPattern,
        };
        let mut values = vec![self.line_filter_value(op)?];
        while self.is_kw("or")
            && (matches!(self.peek_at(1), TokKind::Str(_))
                || (self.is_kw_at(self.idx + 1, "ip") && matches!(self.peek_at(2), TokKind::LParen)))
        {
            self.bump();
            values.push(self.line_filter_value(op)?);
        }
        Ok(Stage::LineFilter(LineFilter { op, values }))
    }

    fn line_filter_value(&mut self, op: LineFilterOp) -> PResult<LineFilterValue> {
        let pos = self.pos();
        match self.peek().clone() {
            TokKind::Str(s) => {
                self.bump();
                if matches!(op, LineFilterOp::Regex | LineFilterOp::NotRegex)
                    && let Err(e) = regex::Regex::new(&s)
                {
                    self.defer(pos, regex_error(&e));
                }
                Ok(LineFilterValue::Literal(s))
            }
            TokKind::Ident(_) if self.is_kw("ip") && matches!(self.peek_at(1), TokKind::LParen) => {
                self.bump();
                self.bump();
                let s = self.expect_string()?;
                self.expect(TokKind::RParen, ")")?;
                Ok(LineFilterValue::Ip(s))
            }
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    /// A stage after `|`.
    fn pipe_stage(&mut self) -> PResult<Stage> {
        let word = match self.peek() {
            TokKind::Ident(w) => w.to_ascii_lowercase(),
            TokKind::LParen => return Ok(Stage::LabelFilter(self.label_filter()?.0)),
            _ => return Err(self.unexpected(&[])),
        };
        match word.as_str() {
            "json" => {
                self.bump();
                Ok(Stage::Parser(ParserStage::Json(self.extraction_params()?)))
            }
            "logfmt" => {
                self.bump();
                let (mut strict, mut keep_empty) = (false, false);
                while let TokKind::Flag(flag) = self.peek() {
                    match flag.as_str() {
                        "--strict" => strict = true,
                        _ => keep_empty = true,
                    }
                    self.bump();
                }
                let params = self.extraction_params()?;
                Ok(Stage::Parser(ParserStage::Logfmt { strict, keep_empty, params }))
            }
            "regexp" => {
                self.bump();
                let arg_pos = self.pos();
                let re = self.expect_string()?;
                if let Err(e) = validate_regexp_parser(&re) {
                    self.defer(arg_pos, format!("invalid regexp parser: {e}"));
                }
                Ok(Stage::Parser(ParserStage::Regexp(re)))
            }
            "pattern" => {
                self.bump();
                let arg_pos = self.pos();
                let pattern = self.expect_string()?;
                if let Err(e) = validate_pattern(&pattern) {
                    self.defer(arg_pos, format!("invalid pattern parser: {e}"));
                }
                Ok(Stage::Parser(ParserStage::Pattern(pattern)))
            }
            "unpack" => {
                self.bump();
                Ok(Stage::Parser(ParserStage::Unpack))
            }
            "line_format" => {
                self.bump();
                Ok(Stage::LineFormat(self.expect_string()?))
            }
            "label_format" => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    let dst = self.expect_ident()?;
                    self.expect(TokKind::Eq, "=")?;
                    let item = match self.peek().clone() {
                        TokKind::Str(template) => {
                            self.bump();
                            LabelFormatItem::Template { dst, template }
                        }
                        _ if self.ident_at(self.idx).is_some() => LabelFormatItem::Rename { dst, src: self.expect_ident()? },
                        _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
                    };
                    items.push(item);
                    if !matches!(self.peek(), TokKind::Comma) {
                        break;
                    }
                    self.bump();
                }
                Ok(Stage::LabelFormat(items))
            }
            "decolorize" => {
                self.bump();
                Ok(Stage::Decolorize)
            }
            "drop" | "keep" => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    let name = self.expect_ident()?;
                    let item = match self.match_op() {
                        Some(op) => {
                            self.bump();
                            NamedMatcher::Matcher(self.matcher_value(name, op)?)
                        }
                        None => NamedMatcher::Name(name),
                    };
                    items.push(item);
                    if !matches!(self.peek(), TokKind::Comma) {
                        break;
                    }
                    self.bump();
                }
                Ok(if word == "drop" { Stage::Drop(items) } else { Stage::Keep(items) })
            }
            _ => Ok(Stage::LabelFilter(self.label_filter()?.0)),
        }
    }

    /// `json`/`logfmt` parameters: `name` or `name="path"`, comma separated (optional).
    fn extraction_params(&mut self) -> PResult<Vec<ExtractionParam>> {
        let mut params = Vec::new();
        if self.ident_at(self.idx).is_none() {
            return Ok(params);
        }
        loop {
            let name = self.expect_ident()?;
            let path = if matches!(self.peek(), TokKind::Eq) {
                self.bump();
                Some(self.expect_string()?)
            } else {
                None
            };
            params.push(ExtractionParam { name, path });
            if !matches!(self.peek(), TokKind::Comma) {
                break;
            }
            self.bump();
        }
        Ok(params)
    }

    // ----- label filters -----

    /// `or` of `and`s; `and`, `,` and juxtaposition all mean `and`.
    fn label_filter(&mut self) -> PResult<(LabelFilter, usize)> {
        let (mut lhs, mut depth) = self.label_filter_and()?;
        while self.is_kw("or") {
            let pos = self.pos();
            self.bump();
            let (rhs, rhs_depth) = self.label_filter_and()?;
            depth = depth.max(rhs_depth) + 1;
            self.check_depth(depth, pos)?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    fn label_filter_and(&mut self) -> PResult<(LabelFilter, usize)> {
        let (mut lhs, mut depth) = self.label_filter_primary()?;
        loop {
            let pos = self.pos();
            if self.is_kw("and") || matches!(self.peek(), TokKind::Comma) {
                self.bump();
            } else if !(matches!(self.peek(), TokKind::LParen) || self.ident_at(self.idx).is_some()) {
                break;
            }
            let (rhs, rhs_depth) = self.label_filter_primary()?;
            depth = depth.max(rhs_depth) + 1;
            self.check_depth(depth, pos)?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    fn label_filter_primary(&mut self) -> PResult<(LabelFilter, usize)> {
        if matches!(self.peek(), TokKind::LParen) {
            self.bump();
            self.enter()?;
            let (inner, depth) = self.label_filter()?;
            self.leave();
            self.expect(TokKind::RParen, ")")?;
            return Ok((LabelFilter::Paren(Box::new(inner)), depth + 1));
        }
        Ok((self.label_filter_leaf()?, 1))
    }

    /// `name op value` (kept out of the recursive path to keep its frames small).
    #[inline(never)]
    fn label_filter_leaf(&mut self) -> PResult<LabelFilter> {
        let name = self.expect_ident()?;
        let op_kind = self.peek().clone();
        let filter = match op_kind {
            TokKind::Eq | TokKind::Neq => {
                let negate = op_kind == TokKind::Neq;
                self.bump();
                match self.peek() {
                    TokKind::Str(_) => {
                        let op = if negate { MatchOp::Neq } else { MatchOp::Eq };
                        LabelFilter::String(self.matcher_value(name, op)?)
                    }
                    TokKind::Ident(_) if self.is_kw("ip") && matches!(self.peek_at(1), TokKind::LParen) => {
                        self.bump();
                        self.bump();
                        let pattern = self.expect_string()?;
                        self.expect(TokKind::RParen, ")")?;
                        LabelFilter::Ip { name, negate, pattern }
                    }
                    _ => self.unit_filter(name, if negate { CmpOp::Neq } else { CmpOp::Eq })?,
                }
            }
            TokKind::Re | TokKind::Nre => {
                self.bump();
                let op = if op_kind == TokKind::Re { MatchOp::Re } else { MatchOp::Nre };
                LabelFilter::String(self.matcher_value(name, op)?)
            }
            TokKind::CmpEq | TokKind::Gt | TokKind::Gte | TokKind::Lt | TokKind::Lte => {
                self.bump();
                let op = match op_kind {
                    TokKind::CmpEq => CmpOp::Eq,
                    TokKind::Gt => CmpOp::Gt,
                    TokKind::Gte => CmpOp::Gte,
                    TokKind::Lt => CmpOp::Lt,
                    _ => CmpOp::Lte,
                };
                self.unit_filter(name, op)?
            }
            _ => return Err(self.unexpected(&[])),
        };
        Ok(filter)
    }

    /// The right-hand side of a numeric, duration or bytes label filter.
    fn unit_filter(&mut self, name: String, op: CmpOp) -> PResult<LabelFilter> {
        let pos = self.pos();
        match self.peek().clone() {
            TokKind::Duration(value) => {
                self.bump();
                Ok(LabelFilter::Duration { name, op, value })
            }
            TokKind::Bytes(value) => {
                self.bump();
                Ok(LabelFilter::Bytes { name, op, value })
            }
            TokKind::Number(text) => {
                self.bump();
                let value = self.number_value(&text, pos);
                Ok(LabelFilter::Number { name, op, value })
            }
            TokKind::Add | TokKind::Sub => {
                let negative = matches!(self.peek(), TokKind::Sub);
                self.bump();
                let pos = self.pos();
                let TokKind::Number(text) = self.peek().clone() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                let v = self.number_value(&text, pos);
                Ok(LabelFilter::Number { name, op, value: if negative { -v } else { v } })
            }
            _ => Err(self.unexpected(&[])),
        }
    }
}

fn log_type_name(log: &LogExpr) -> &'static str {
    if log.pipeline.is_empty() { "*syntax.MatchersExpr" } else { "*syntax.PipelineExpr" }
}

/// Loki's `log.NewRegexpParser` checks: the regex compiles and has named captures with
/// valid, distinct label names.
fn validate_regexp_parser(re: &str) -> Result<(), String> {
    let compiled = regex::Regex::new(re).map_err(|e| regex_error(&e))?;
    let names: Vec<&str> = compiled.capture_names().flatten().collect();
    if names.is_empty() {
        return Err("at least one named capture must be supplied".to_string());
    }
    for name in names {
        if !skald_common::is_valid_label_name(name) {
            return Err(format!("invalid extracted label name '{name}'"));
        }
    }
    Ok(())
}

/// Loki's `pattern.New` checks: at least one named capture, no two consecutive
/// captures, no duplicate capture names.
fn validate_pattern(pattern: &str) -> Result<(), String> {
    #[derive(PartialEq)]
    enum Node<'a> {
        Literal,
        Capture(&'a str),
    }
    let mut nodes: Vec<Node> = Vec::new();
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j].is_ascii_alphabetic() || bytes[j] == b'_') {
                j += 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'>' {
                    nodes.push(Node::Capture(&pattern[i + 1..j]));
                    i = j + 1;
                    continue;
                }
            }
        }
        if nodes.last() != Some(&Node::Literal) {
            nodes.push(Node::Literal);
        }
        i += 1;
    }
    let named: Vec<&str> = nodes
        .iter()
        .filter_map(|n| match n {
            Node::Capture(name) if *name != "_" => Some(*name),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return Err("at least one capture is required".to_string());
    }
    for pair in nodes.windows(2) {
        if let [Node::Capture(a), Node::Capture(b)] = pair {
            return Err(format!("found consecutive capture '<{a}><{b}>': invalid expression"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for name in named {
        if !seen.insert(name) {
            return Err(format!("duplicate capture name ({name}): invalid expression"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(q: &str) -> SampleExpr {
        match parse_expr(q) {
            Ok(Expr::Sample(s)) => s,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn log(q: &str) -> LogExpr {
        match parse_expr(q) {
            Ok(Expr::Log(l)) => l,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn err(q: &str) -> ParseError {
        match parse_expr(q) {
            Err(e) => e,
            Ok(e) => panic!("{q}: expected an error, got {e:?}"),
        }
    }

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher { name: name.into(), op, value: value.into() }
    }

    #[test]
    fn selectors() {
        let l = log(r#"{job=~"ngin.*", instance!="web-1"}"#);
        assert_eq!(l.matchers, vec![m("job", MatchOp::Re, "ngin.*"), m("instance", MatchOp::Neq, "web-1")]);
        assert!(l.pipeline.is_empty());
        assert_eq!(parse_matchers(r#"{a="b", c!~`x`}"#).unwrap().len(), 2);
        assert!(parse_matchers(r#"{a="b"} |= "x""#).is_err());
        let e = err(r#"{app=~".*"}"#);
        assert!(e.message.starts_with("queries require at least one regexp"), "{e}");
        assert!(err("{}").message.starts_with("queries require"));
        assert!(err(r#"{a=""}"#).message.starts_with("queries require"));
        assert!(err(r#"{a!="x"}"#).message.starts_with("queries require"));
        log(r#"{a=~".+"}"#);
        log(r#"{a!=""}"#);
        assert!(err(r#"{a=~"("}"#).message.contains("error parsing regexp"));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let s = sample(r#"SUM(Count_Over_Time({foo="bar"}[5m])) BY (foo,bar)"#);
        let SampleExpr::VectorAggregation(v) = s else { panic!() };
        assert_eq!(v.op, VectorOp::Sum);
        assert_eq!(v.grouping, Some(Grouping { without: false, labels: vec!["foo".into(), "bar".into()] }));
        assert!(!v.grouping_first);
        // Function names are identifiers when not called.
        let l = log(r#"{rate="a"} | logfmt | ip="b" | sum > 1"#);
        assert_eq!(l.matchers[0].name, "rate");
        assert_eq!(l.pipeline.len(), 3);
    }

    #[test]
    fn line_filters() {
        let l = log(r#"{a="b"} |= "x" or "y" != "z" |~ "a.b" !~ "c" |> "<_> x" !> "y" |= ip("10.0.0.0/8")"#);
        assert_eq!(
            l.pipeline[0],
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::Contains,
                values: vec![LineFilterValue::Literal("x".into()), LineFilterValue::Literal("y".into())]
            })
        );
        assert_eq!(l.pipeline.len(), 7);
        assert_eq!(
            l.pipeline[6],
            Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("10.0.0.0/8".into())] })
        );
        assert!(err(r#"{a="b"} |~ "(""#).message.contains("error parsing regexp"));
    }

    #[test]
    fn parsers_and_formatters() {
        let l = log(
            r#"{a="b"} | json | json a, b="x.y[0]" | logfmt --strict --keep-empty c, d="e" | regexp "(?P<x>\\d+)" | pattern "<a> <_>" | unpack | line_format "{{.a}}" | label_format x=y, z="{{.a}}" | decolorize | drop a, b="c" | keep d, e=~"f.*""#,
        );
        assert_eq!(l.pipeline[0], Stage::Parser(ParserStage::Json(vec![])));
        assert_eq!(
            l.pipeline[1],
            Stage::Parser(ParserStage::Json(vec![
                ExtractionParam { name: "a".into(), path: None },
                ExtractionParam { name: "b".into(), path: Some("x.y[0]".into()) },
            ]))
        );
        assert_eq!(
            l.pipeline[2],
            Stage::Parser(ParserStage::Logfmt {
                strict: true,
                keep_empty: true,
                params: vec![
                    ExtractionParam { name: "c".into(), path: None },
                    ExtractionParam { name: "d".into(), path: Some("e".into()) },
                ]
            })
        );
        assert_eq!(
            l.pipeline[7],
            Stage::LabelFormat(vec![
                LabelFormatItem::Rename { dst: "x".into(), src: "y".into() },
                LabelFormatItem::Template { dst: "z".into(), template: "{{.a}}".into() },
            ])
        );
        assert_eq!(l.pipeline[9], Stage::Drop(vec![NamedMatcher::Name("a".into()), NamedMatcher::Matcher(m("b", MatchOp::Eq, "c"))]));
        assert!(err(r#"{a="b"} | regexp "(\\d+)""#).message.contains("at least one named capture"));
        assert!(err(r#"{a="b"} | pattern "foo""#).message.contains("at least one capture is required"));
        assert!(err(r#"{a="b"} | pattern "<a><b>""#).message.contains("consecutive capture"));
    }

    #[test]
    fn label_filters() {
        let l = log(r#"{a="b"} | x > 1.5 and y="z" or w <= 250ms, v >= 10KB u != ip("1.2.3.4") | (a=~"x" or b!~"y") c == -2"#);
        let Stage::LabelFilter(f) = &l.pipeline[0] else { panic!() };
        let num = LabelFilter::Number { name: "x".into(), op: CmpOp::Gt, value: 1.5 };
        let s = LabelFilter::String(m("y", MatchOp::Eq, "z"));
        let dur = LabelFilter::Duration { name: "w".into(), op: CmpOp::Lte, value: 250_000_000 };
        let bytes = LabelFilter::Bytes { name: "v".into(), op: CmpOp::Gte, value: 10_000 };
        let ip = LabelFilter::Ip { name: "u".into(), negate: true, pattern: "1.2.3.4".into() };
        let expected = LabelFilter::Or(
            Box::new(LabelFilter::And(Box::new(num), Box::new(s))),
            Box::new(LabelFilter::And(Box::new(LabelFilter::And(Box::new(dur), Box::new(bytes))), Box::new(ip))),
        );
        assert_eq!(f, &expected);
        let Stage::LabelFilter(f) = &l.pipeline[1] else { panic!() };
        assert!(matches!(f, LabelFilter::And(l, r)
            if matches!(**l, LabelFilter::Paren(_))
            && **r == LabelFilter::Number { name: "c".into(), op: CmpOp::Eq, value: -2.0 }));
    }

    #[test]
    fn range_aggregations() {
        let SampleExpr::RangeAggregation(r) = sample(r#"count_over_time({job="nginx"} |= "POST" [10m])"#) else { panic!() };
        assert_eq!(r.op, RangeOp::CountOverTime);
        assert_eq!(r.range, 600_000_000_000);
        assert_eq!(r.log.pipeline.len(), 1);
        // Range right after the selector, then the pipeline.
        let SampleExpr::RangeAggregation(r2) = sample(r#"count_over_time({job="nginx"}[10m] |= "POST")"#) else { panic!() };
        assert_eq!(r, r2);
        let SampleExpr::RangeAggregation(r) =
            sample(r#"quantile_over_time(0.99, {app="c"} | logfmt | unwrap duration(d) | __error__="" [10m] offset 1h) by (env)"#)
        else {
            panic!()
        };
        assert_eq!(r.param, Some(0.99));
        assert_eq!(r.offset, 3_600_000_000_000);
        let u = r.unwrap.unwrap();
        assert_eq!(u.label, "d");
        assert_eq!(u.conversion, UnwrapConversion::Duration);
        assert_eq!(u.post_filters, vec![LabelFilter::String(m("__error__", MatchOp::Eq, ""))]);
        assert_eq!(r.grouping, Some(Grouping { without: false, labels: vec!["env".into()] }));
        // Parenthesised forms.
        sample(r#"rate(({a="b"} |= "x")[5m])"#);
        sample(r#"rate(({a="b"}[5m] offset 1m))"#);
        sample(r#"sum_over_time({a="b"}[5m] | unwrap x)"#);
        sample(r#"rate({a="b"} | unwrap bytes(x) [5m])"#);
        sample(r#"sum_over_time({a="b"} | unwrap bytes [5m])"#);
        sample(r#"count_over_time({a="b"}[5m] offset -5m)"#);
    }

    #[test]
    fn range_aggregation_validation() {
        assert_eq!(err(r#"sum_over_time({a="b"}[5m])"#).message, "invalid aggregation sum_over_time without unwrap");
        assert_eq!(err(r#"count_over_time({a="b"} | unwrap x [5m])"#).message, "invalid aggregation count_over_time with unwrap");
        assert_eq!(err(r#"count_over_time({a="b"}[5m]) by (x)"#).message, "grouping not allowed for count_over_time aggregation");
        assert_eq!(err(r#"quantile_over_time({a="b"} | unwrap x [5m])"#).message, "parameter required for operation quantile_over_time");
        assert_eq!(err(r#"rate(5, {a="b"}[5m])"#).message, "parameter 5 not supported for operation rate");
        let e = err(r#"count_over_time({a="b"})"#);
        assert_eq!((e.line, e.col), (1, 24));
        assert!(err(r#"{a="b"} | unwrap x"#).message.contains("unexpected unwrap"));
        assert!(err(r#"count_over_time({a="b"}[5m] | json | unwrap x | json)"#).message.contains("unexpected json"));
    }

    #[test]
    fn vector_aggregations_and_binops() {
        let SampleExpr::VectorAggregation(v) = sample(r#"topk(2, sum by (instance) (count_over_time({job="nginx"}[15m])))"#) else {
            panic!()
        };
        assert_eq!(v.op, VectorOp::Topk);
        assert_eq!(v.param, Some(2.0));
        let SampleExpr::VectorAggregation(inner) = *v.expr else { panic!() };
        assert!(inner.grouping_first);
        assert_eq!(err(r#"topk(count_over_time({a="b"}[5m]))"#).message, "parameter required for operation topk");
        assert_eq!(err(r#"topk(1.5, count_over_time({a="b"}[5m]))"#).message, "invalid parameter topk(1.5,");
        assert_eq!(err(r#"sort by (a) (count_over_time({a="b"}[5m]))"#).message, "sort and sort_desc doesn't allow grouping by ");

        // Precedence: or < and/unless < comparisons < +- < */% < ^ (right-assoc).
        let s = sample("1 + 2 * 3 ^ 2 ^ 3 > bool 4 - 5");
        let SampleExpr::Binary(b) = s else { panic!() };
        assert_eq!(b.op, BinaryOp::Gt);
        assert!(b.return_bool);
        let SampleExpr::Binary(add) = &b.lhs else { panic!() };
        assert_eq!(add.op, BinaryOp::Add);
        let SampleExpr::Binary(mul) = &add.rhs else { panic!() };
        let SampleExpr::Binary(pow) = &mul.rhs else { panic!() };
        assert_eq!(pow.lhs, SampleExpr::Literal(3.0));
        assert!(matches!(&pow.rhs, SampleExpr::Binary(p) if p.op == BinaryOp::Pow));
        // Left associativity.
        let SampleExpr::Binary(b) = sample("1 - 2 - 3") else { panic!() };
        assert!(matches!(&b.lhs, SampleExpr::Binary(_)));
        assert_eq!(b.rhs, SampleExpr::Literal(3.0));

        let SampleExpr::Binary(b) = sample(
            r#"sum by (env, instance) (count_over_time({job="nginx"}[5m])) / ignoring (instance) group_right (x) sum by (env) (count_over_time({job="nginx"}[5m]))"#,
        ) else {
            panic!()
        };
        assert_eq!(b.matching, Some(VectorMatching { on: false, labels: vec!["instance".into()] }));
        assert_eq!(b.group, Some((GroupSide::Right, vec!["x".into()])));
        let SampleExpr::Binary(b) = sample(r#"count_over_time({a="b"}[5m]) / on () group_left (count_over_time({a="b"}[5m]))"#) else {
            panic!()
        };
        assert_eq!(b.group, Some((GroupSide::Left, vec![])));
        assert!(matches!(b.rhs, SampleExpr::Paren(_)));

        assert!(
            err(r#"1 or count_over_time({a="b"}[5m])"#)
                .message
                .starts_with("unexpected literal for left leg of logical/set binary operation (or): 1.000000")
        );
        assert!(err(r#"{a="b"} + 1"#).message.contains("unexpected type for left leg"));
        sample("vector(1) or count_over_time({a=\"b\"}[5m])");
        assert_eq!(sample("-2"), SampleExpr::Literal(-2.0));
        assert_eq!(sample("(2)"), SampleExpr::Paren(Box::new(SampleExpr::Literal(2.0))));
    }

    #[test]
    fn error_positions() {
        let e = err(r#"-sum(count_over_time({app="auth"}[5m]))"#);
        assert_eq!(e.to_string(), "parse error at line 1, col 2: syntax error: unexpected SUM, expecting NUMBER");
        let e = err(r#"{foo="bar""#);
        assert_eq!(e.to_string(), "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,");
        let e = err("{foo=\"bar\"}\n  | json\n  | foo=");
        assert_eq!((e.line, e.col), (3, 9));
        let e = err(r#"{foo="bar"} |= "unterminated"#);
        assert_eq!(e.to_string(), "parse error at line 1, col 16: literal not terminated");
        let e = err(r#"sum(rate({a="b"}[5m])) by (x"#);
        assert!(e.message.contains("unexpected $end"));
        let e = err(r#"foo(rate({a="b"}[5m]))"#);
        assert_eq!((e.line, e.col), (1, 1));
        assert!(err(r#"{a="b"} x"#).message.contains("unexpected IDENTIFIER"));
        assert!(err(r#"count_over_time({a="b"}[5m])) "#).message.contains("unexpected )"));
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).message.contains("nesting too deep"));
        let chain = vec!["1"; 10_000].join(" + ");
        assert!(err(&chain).message.contains("nesting too deep"));
        let filters = format!("{{a=\"b\"}} | {}", vec!["x=\"1\""; 10_000].join(" and "));
        assert!(err(&filters).message.contains("nesting too deep"));
        let ok = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        sample(&ok);
    }
}
