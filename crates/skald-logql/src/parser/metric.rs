//! Metric expressions: binary operators (precedence climbing), range and vector
//! aggregations, `vector()` and `label_replace()`.

use super::keywords::{is_comparison, is_set_op, precedence, range_op, range_op_name, vector_op, vector_op_name};
use super::validate::{compile_anchored, const_value, log_type_name};
use super::{Modifiers, Operand, PResult, Parser};
use crate::ast::*;
use crate::lexer::TokKind;

impl Parser<'_> {
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
    pub(super) fn binary(&mut self, min_prec: u8) -> PResult<(Operand, usize)> {
        self.enter()?;
        let (mut lhs, mut depth) = self.unary()?;
        while let Some(op) = self.peek_binop() {
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.bump();
            let modifiers = self.bin_modifiers(op)?;
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
                    format!("unexpected type for left leg of binary operation ({}): {}", op.symbol(), log_type_name(&l)),
                ));
            }
        };
        let rhs = match rhs {
            Operand::Sample(s) => s,
            Operand::Log(l) => {
                return Err(self.error_at(
                    op_pos,
                    format!("unexpected type for right leg of binary operation ({}): {}", op.symbol(), log_type_name(&l)),
                ));
            }
        };
        if is_set_op(op) {
            if let Some(v) = const_value(&lhs) {
                self.defer_unpositioned(format!(
                    "unexpected literal for left leg of logical/set binary operation ({}): {v:.6}",
                    op.symbol()
                ));
            } else if let Some(v) = const_value(&rhs) {
                self.defer_unpositioned(format!(
                    "unexpected literal for right leg of logical/set binary operation ({}): {v:.6}",
                    op.symbol()
                ));
            }
        }
        let node = BinaryExpr { op, lhs: *lhs, rhs: *rhs, return_bool, matching, group };
        Ok(Operand::Sample(Box::new(SampleExpr::Binary(Box::new(node)))))
    }

    fn bin_modifiers(&mut self, op: BinaryOp) -> PResult<Modifiers> {
        let mut return_bool = false;
        if self.is_kw("bool") {
            if !is_comparison(op) {
                self.defer_unpositioned("bool modifier can only be used on comparison operators");
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
                match self.peek().clone() {
                    TokKind::Number(text) => {
                        self.bump();
                        let v = self.number_value(&text);
                        Ok((Operand::Sample(Box::new(SampleExpr::Literal(if negative { -v } else { v }))), 1))
                    }
                    _ => Err(self.unexpected(&["NUMBER"])),
                }
            }
            _ => self.primary(),
        }
    }

    pub(super) fn number_value(&mut self, text: &str) -> f64 {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.defer_unpositioned(format!(
                    "unable to parse literal as a float: strconv.ParseFloat: parsing {text:?}: value out of range"
                ));
                0.0
            }
        }
    }

    fn primary(&mut self) -> PResult<(Operand, usize)> {
        match self.peek().clone() {
            TokKind::Number(text) => {
                self.bump();
                let v = self.number_value(&text);
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
            (Some((text, _)), RangeOp::QuantileOverTime) => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => value = Some(v),
                _ => self.defer_unpositioned(format!(
                    "invalid parameter for operation {name}: strconv.ParseFloat: parsing {text:?}: value out of range"
                )),
            },
            (Some((text, _)), _) => self.defer_unpositioned(format!("parameter {text} not supported for operation {name}")),
            (None, RangeOp::QuantileOverTime) => self.defer_unpositioned(format!("parameter required for operation {name}")),
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
            self.defer_unpositioned(format!("grouping not allowed for {name} aggregation"));
        }
        if lr.unwrap.is_some() {
            if matches!(op, RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate) {
                self.defer_unpositioned(format!("invalid aggregation {name} with unwrap"));
            }
        } else if !matches!(
            op,
            RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime
        ) {
            self.defer_unpositioned(format!("invalid aggregation {name} without unwrap"));
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
        let agg = self.finish_vector_aggregation(op, name, param, inner, grouping, grouping_first);
        Ok((agg, depth))
    }

    /// Loki's mustNewVectorAggregationExpr and validateSortGrouping.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn finish_vector_aggregation(
        &mut self,
        op: VectorOp,
        name: &str,
        param: Option<(String, usize)>,
        inner: Box<SampleExpr>,
        grouping: Option<Grouping>,
        grouping_first: bool,
    ) -> Operand {
        let mut value = None;
        match (&param, op) {
            (None, VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk) => {
                self.defer_unpositioned(format!("parameter required for operation {name}"))
            }
            (Some((text, _)), VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk) => match text.parse::<i64>() {
                Ok(k) if k > 0 => value = Some(k as f64),
                Ok(_) => self.defer_unpositioned(format!("invalid parameter (must be greater than 0) {name}({text}")),
                Err(_) => self.defer_unpositioned(format!("invalid parameter {name}({text},")),
            },
            (Some((text, _)), _) => self.defer_unpositioned(format!("unsupported parameter for operation {name}({text},")),
            (None, _) => {}
        }
        if op == VectorOp::ApproxTopk && grouping.is_some() {
            self.defer_unpositioned("grouping not allowed for approx_topk aggregation");
        }
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && grouping.as_ref().is_some_and(|g| !g.labels.is_empty()) {
            self.defer_unpositioned("sort and sort_desc doesn't allow grouping by ");
        }
        let agg = VectorAggregation { op, param: value, expr: inner, grouping, grouping_first };
        Operand::Sample(Box::new(SampleExpr::VectorAggregation(agg)))
    }

    fn vector(&mut self) -> PResult<(Operand, usize)> {
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let TokKind::Number(text) = self.peek().clone() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        self.bump();
        let v = self.number_value(&text);
        self.expect(TokKind::RParen, ")")?;
        Ok((Operand::Sample(Box::new(SampleExpr::Vector(v))), 1))
    }

    fn label_replace(&mut self) -> PResult<(Operand, usize)> {
        let fn_pos = self.pos();
        self.bump();
        self.expect(TokKind::LParen, "(")?;
        let (inner, depth) = self.sample_arg()?;
        let mut args = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(TokKind::Comma, ",")?;
            args.push(self.expect_string()?);
        }
        self.expect(TokKind::RParen, ")")?;
        let depth = depth + 1;
        self.check_depth(depth, fn_pos)?;
        Ok((self.finish_label_replace(inner, args), depth))
    }

    #[inline(never)]
    #[allow(clippy::boxed_local, reason = "boxed to keep the recursive parser's frames small")]
    fn finish_label_replace(&mut self, inner: Box<SampleExpr>, mut args: Vec<String>) -> Operand {
        // Loki compiles `^(?:<regex>)$`, so Go's message quotes the wrapped pattern.
        if let Err(e) =
            crate::pipeline::goregex_syntax::check(&format!("^(?:{})$", args[3])).and_then(|()| compile_anchored(&args[3]).map(|_| ()))
        {
            self.defer_unpositioned(format!("invalid regex in label_replace: {e}"));
        }
        let regex = args.pop().unwrap_or_default();
        let src = args.pop().unwrap_or_default();
        let replacement = args.pop().unwrap_or_default();
        let dst = args.pop().unwrap_or_default();
        let lr = LabelReplace { expr: *inner, dst, replacement, src, regex };
        Operand::Sample(Box::new(SampleExpr::LabelReplace(Box::new(lr))))
    }
}
