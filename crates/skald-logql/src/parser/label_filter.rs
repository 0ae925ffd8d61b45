//! Label filters: `or` of `and`s of `name op value` leaves (string, number, duration,
//! bytes and `ip()` comparisons).

use super::{PResult, Parser};
use crate::ast::*;
use crate::lexer::TokKind;

impl Parser<'_> {
    /// `or` of `and`s; `and`, `,` and juxtaposition all mean `and`.
    pub(super) fn label_filter(&mut self) -> PResult<(LabelFilter, usize)> {
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
                let value = self.number_value(&text);
                Ok(LabelFilter::Number { name, op, value })
            }
            TokKind::Add | TokKind::Sub => {
                let negative = matches!(self.peek(), TokKind::Sub);
                self.bump();
                let TokKind::Number(text) = self.peek().clone() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                let v = self.number_value(&text);
                Ok(LabelFilter::Number { name, op, value: if negative { -v } else { v } })
            }
            _ => Err(self.unexpected(&[])),
        }
    }
}
