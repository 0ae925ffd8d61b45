//! Log expressions: stream selectors, log ranges with offset and unwrap, and pipeline
//! stages (line filters, parsers, formatters).

use super::validate::{compile_anchored, matches_empty, validate_pattern, validate_regexp_parser};
use super::{LogRange, PResult, Parser};
use crate::ast::*;
use crate::lexer::TokKind;

impl Parser<'_> {
    /// `{selector} pipeline...` (no unwrap, no range).
    pub(super) fn log_expr(&mut self) -> PResult<LogExpr> {
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
    pub(super) fn log_range(&mut self) -> PResult<LogRange> {
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
            self.defer_unpositioned("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
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

    pub(super) fn matcher_value(&mut self, name: String, op: MatchOp) -> PResult<Matcher> {
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
                    && let Err(e) = crate::pipeline::goregex::compile(&s)
                {
                    self.defer(pos, e);
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
                let re = self.expect_string()?;
                if let Err(e) = validate_regexp_parser(&re) {
                    self.defer_unpositioned(format!("invalid regexp parser: {e}"));
                }
                Ok(Stage::Parser(ParserStage::Regexp(re)))
            }
            "pattern" => {
                self.bump();
                let pattern = self.expect_string()?;
                if let Err(e) = validate_pattern(&pattern) {
                    self.defer_unpositioned(format!("invalid pattern parser: {e}"));
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
}
