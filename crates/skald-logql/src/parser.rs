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

mod keywords;
mod label_filter;
mod log;
mod metric;
#[cfg(test)]
mod tests;
mod validate;

use crate::ast::*;
use crate::lexer::{TokKind, Token, lex};
use keywords::{RESERVED, function_token_name};

/// Maximum nesting of the syntax tree (parentheses, function calls, operator chains).
pub const MAX_DEPTH: usize = 128;

/// A query Loki's parser refuses. Line and column 0: an error Loki raises without a
/// position (semantic checks, stage errors), printed `parse error : ...`. Line 0 with a
/// column: an error at a range (`[5m]`), which Loki's lexer scans by hand and so reports
/// on line 0 at the column of its `[`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.message)
        } else {
            write!(f, "parse error at line {}, col {}: {}", self.line, self.col, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a LogQL query: a log query (`{app="a"} |= "x"`) or a metric query.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input);
    if p.is_kw("variants") && matches!(p.peek_at(1), TokKind::LParen) {
        let variants = p.variants()?;
        if !matches!(p.peek(), TokKind::Eof) {
            return Err(p.unexpected(&[]));
        }
        if let Some(err) = p.deferred.take() {
            return Err(err);
        }
        return Ok(Expr::Variants(variants));
    }
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

    /// `variants(<metric>, ...) of (<log range>)` (Loki's grammar: top level only).
    fn variants(&mut self) -> PResult<VariantsExpr> {
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let mut variants = Vec::new();
        loop {
            match self.binary(0)?.0 {
                Operand::Sample(sample) => variants.push(*sample),
                Operand::Log(_) => return Err(self.unexpected(&[])),
            }
            if !matches!(self.peek(), TokKind::Comma) {
                break;
            }
            self.bump();
        }
        self.expect(TokKind::RParen, ")")?;
        if !self.is_kw("of") {
            return Err(self.unexpected(&["OF"]));
        }
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let lr = self.log_range()?;
        let Some(range) = lr.range else { return Err(self.unexpected(&["RANGE"])) };
        self.expect(TokKind::RParen, ")")?;
        Ok(VariantsExpr { variants, log: lr.log, range, offset: lr.offset })
    }

    // ----- errors -----

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let before = &self.input[..pos.min(self.input.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        // Loki's lexer scans a range by hand: errors there have no line.
        let line = if self.input.as_bytes().get(pos) == Some(&b'[') { 0 } else { line };
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

    /// Records a semantic error without a position, as Loki reports its parser-stage
    /// checks (`parse error : invalid pattern parser: ...`).
    fn defer_unpositioned(&mut self, message: impl Into<String>) {
        if self.deferred.is_none() {
            self.deferred = Some(ParseError { line: 0, col: 0, message: message.into() });
        }
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
}
