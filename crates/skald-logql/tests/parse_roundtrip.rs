//! Property tests of the parser and printer: print -> parse round trips over random
//! syntax trees.

use proptest::prelude::*;
use skald_logql::*;

const NAMES: &[&str] =
    &["app", "env", "job", "level", "status", "latency_ms", "__error__", "x_1", "Region", "rate", "sum", "ip", "bytes", "duration"];
const REGEXES: &[&str] = &["a.*", ".+", "(foo|bar)", "[0-9]{3}", "", "x\\d+", "(?i)err"];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_string)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ._/-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
        Just("quote \" back \\ tab \t nl \n".to_string()),
    ]
}

fn regex_text() -> impl Strategy<Value = String> {
    prop::sample::select(REGEXES).prop_map(str::to_string)
}

fn match_op() -> impl Strategy<Value = MatchOp> {
    prop::sample::select(vec![MatchOp::Eq, MatchOp::Neq, MatchOp::Re, MatchOp::Nre])
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (name(), match_op(), text(), regex_text()).prop_map(|(name, op, t, r)| {
        let value = if matches!(op, MatchOp::Re | MatchOp::Nre) { r } else { t };
        Matcher { name, op, value }
    })
}

fn selector() -> impl Strategy<Value = Vec<Matcher>> {
    (name(), "[a-z]{1,8}", prop::collection::vec(matcher(), 0..3)).prop_map(|(n, v, rest)| {
        let mut ms = vec![Matcher { name: n, op: MatchOp::Eq, value: v }];
        ms.extend(rest);
        ms
    })
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![CmpOp::Eq, CmpOp::Neq, CmpOp::Gt, CmpOp::Gte, CmpOp::Lt, CmpOp::Lte])
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1000i32..1000).prop_map(f64::from), any::<f64>().prop_filter("finite", |v| v.is_finite()), (0.0f64..1.0),]
}

fn duration() -> impl Strategy<Value = i64> {
    prop_oneof![(0i64..100_000).prop_map(|ms| ms * 1_000_000), (-1_000_000_000_000_000i64..1_000_000_000_000_000), Just(0i64),]
}

fn label_filter_leaf() -> impl Strategy<Value = LabelFilter> {
    prop_oneof![
        matcher().prop_map(LabelFilter::String),
        (name(), cmp_op(), number()).prop_map(|(name, op, value)| LabelFilter::Number { name, op, value }),
        (name(), cmp_op(), duration()).prop_map(|(name, op, value)| LabelFilter::Duration { name, op, value }),
        (name(), cmp_op(), 0u64..(1u64 << 53)).prop_map(|(name, op, value)| LabelFilter::Bytes { name, op, value }),
        (name(), any::<bool>(), "[0-9./a-f:-]{1,12}").prop_map(|(name, negate, pattern)| { LabelFilter::Ip { name, negate, pattern } }),
    ]
}

fn label_filter_any() -> impl Strategy<Value = LabelFilter> {
    label_filter_leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| LabelFilter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| LabelFilter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|i| LabelFilter::Paren(Box::new(i))),
        ]
    })
}

fn paren(f: LabelFilter) -> LabelFilter {
    LabelFilter::Paren(Box::new(f))
}

/// Adds the parentheses a printed tree needs to parse back as the same tree: `and`
/// binds tighter than `or`, both are left-associative.
fn canonical_filter(f: LabelFilter) -> LabelFilter {
    match f {
        LabelFilter::And(l, r) => {
            let l = canonical_filter(*l);
            let r = canonical_filter(*r);
            let l = if matches!(l, LabelFilter::Or(..)) { paren(l) } else { l };
            let r = if matches!(r, LabelFilter::Or(..) | LabelFilter::And(..)) { paren(r) } else { r };
            LabelFilter::And(Box::new(l), Box::new(r))
        }
        LabelFilter::Or(l, r) => {
            let l = canonical_filter(*l);
            let r = canonical_filter(*r);
            let r = if matches!(r, LabelFilter::Or(..)) { paren(r) } else { r };
            LabelFilter::Or(Box::new(l), Box::new(r))
        }
        LabelFilter::Paren(i) => paren(canonical_filter(*i)),
        // `name = <number>` is printed as `==`, which is the same filter.
        leaf => leaf,
    }
}

fn label_filter() -> impl Strategy<Value = LabelFilter> {
    label_filter_any().prop_map(canonical_filter)
}

fn extraction_params() -> impl Strategy<Value = Vec<ExtractionParam>> {
    prop::collection::vec((name(), prop::option::of(text())).prop_map(|(name, path)| ExtractionParam { name, path }), 0..3)
}

fn named_matchers() -> impl Strategy<Value = Vec<NamedMatcher>> {
    prop::collection::vec(prop_oneof![name().prop_map(NamedMatcher::Name), matcher().prop_map(NamedMatcher::Matcher)], 1..3)
}

fn line_filter() -> impl Strategy<Value = LineFilter> {
    let op = prop::sample::select(vec![
        LineFilterOp::Contains,
        LineFilterOp::NotContains,
        LineFilterOp::Regex,
        LineFilterOp::NotRegex,
        LineFilterOp::Pattern,
        LineFilterOp::NotPattern,
    ]);
    let value = prop_oneof![
        3 => text().prop_map(LineFilterValue::Literal),
        1 => "[0-9./]{1,12}".prop_map(LineFilterValue::Ip),
    ];
    (op, prop::collection::vec(value, 1..3), prop::collection::vec(regex_text(), 1..3)).prop_map(|(op, values, regexes)| {
        let values = if matches!(op, LineFilterOp::Regex | LineFilterOp::NotRegex) {
            regexes.into_iter().map(LineFilterValue::Literal).collect()
        } else {
            values
        };
        LineFilter { op, values }
    })
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        3 => line_filter().prop_map(Stage::LineFilter),
        1 => extraction_params().prop_map(|p| Stage::Parser(ParserStage::Json(p))),
        1 => (any::<bool>(), any::<bool>(), extraction_params())
            .prop_map(|(strict, keep_empty, params)| Stage::Parser(ParserStage::Logfmt { strict, keep_empty, params })),
        1 => prop::sample::select(vec!["(?P<a>\\d+)", "x=(?P<x>\\w+) (?P<y>.*)"])
            .prop_map(|r| Stage::Parser(ParserStage::Regexp(r.to_string()))),
        1 => prop::sample::select(vec!["<a> <_>", "<_> - <user> [<_>] \"<method>\""])
            .prop_map(|p| Stage::Parser(ParserStage::Pattern(p.to_string()))),
        1 => Just(Stage::Parser(ParserStage::Unpack)),
        3 => label_filter().prop_map(Stage::LabelFilter),
        1 => text().prop_map(Stage::LineFormat),
        1 => prop::collection::vec(
            prop_oneof![
                (name(), name()).prop_map(|(dst, src)| LabelFormatItem::Rename { dst, src }),
                (name(), text()).prop_map(|(dst, template)| LabelFormatItem::Template { dst, template }),
            ],
            1..3
        )
        .prop_map(Stage::LabelFormat),
        1 => Just(Stage::Decolorize),
        1 => named_matchers().prop_map(Stage::Drop),
        1 => named_matchers().prop_map(Stage::Keep),
    ]
}

/// `| keep a != "x"` reads as a `keep` matcher, never as `keep a` followed by a `!=`
/// line filter: the parser cannot produce that pipeline, so the generator avoids it.
fn separate_ambiguous_stages(stages: Vec<Stage>) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for stage in stages {
        let bare_name_last = matches!(out.last(), Some(Stage::Keep(items) | Stage::Drop(items))
            if matches!(items.last(), Some(NamedMatcher::Name(_))));
        let negative_filter = matches!(&stage, Stage::LineFilter(lf)
            if matches!(lf.op, LineFilterOp::NotContains | LineFilterOp::NotRegex));
        if bare_name_last && negative_filter {
            out.push(Stage::Decolorize);
        }
        out.push(stage);
    }
    out
}

fn log_expr() -> impl Strategy<Value = LogExpr> {
    (selector(), prop::collection::vec(stage(), 0..4))
        .prop_map(|(matchers, pipeline)| LogExpr { matchers, pipeline: separate_ambiguous_stages(pipeline) })
}

fn grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), prop::collection::vec(name(), 0..3)).prop_map(|(without, labels)| Grouping { without, labels })
}

const RANGE_OPS: &[RangeOp] = &[
    RangeOp::CountOverTime,
    RangeOp::Rate,
    RangeOp::RateCounter,
    RangeOp::BytesOverTime,
    RangeOp::BytesRate,
    RangeOp::AvgOverTime,
    RangeOp::SumOverTime,
    RangeOp::MinOverTime,
    RangeOp::MaxOverTime,
    RangeOp::StddevOverTime,
    RangeOp::StdvarOverTime,
    RangeOp::QuantileOverTime,
    RangeOp::FirstOverTime,
    RangeOp::LastOverTime,
    RangeOp::AbsentOverTime,
];

fn range_aggregation() -> impl Strategy<Value = RangeAggregation> {
    let unwrap = (
        name(),
        prop::sample::select(vec![
            UnwrapConversion::None,
            UnwrapConversion::Duration,
            UnwrapConversion::DurationSeconds,
            UnwrapConversion::Bytes,
        ]),
        prop::collection::vec(label_filter(), 0..2),
    )
        .prop_map(|(label, conversion, post_filters)| Unwrap { label, conversion, post_filters });
    (
        prop::sample::select(RANGE_OPS),
        0.0f64..1.0,
        log_expr(),
        unwrap,
        any::<bool>(),
        (1i64..10_000_000).prop_map(|ms| ms * 1_000_000),
        prop_oneof![Just(0i64), duration()],
        prop::option::of(grouping()),
    )
        .prop_map(|(op, q, log, unwrap, want_unwrap, range, offset, grouping)| {
            use RangeOp::*;
            let unwrap = match op {
                CountOverTime | BytesOverTime | BytesRate => None,
                Rate | AbsentOverTime => want_unwrap.then_some(unwrap),
                _ => Some(unwrap),
            };
            let grouping_allowed = matches!(
                op,
                AvgOverTime | StddevOverTime | StdvarOverTime | QuantileOverTime | MaxOverTime | MinOverTime | FirstOverTime | LastOverTime
            );
            RangeAggregation {
                op,
                param: (op == QuantileOverTime).then_some(q),
                log,
                unwrap,
                range,
                offset,
                grouping: if grouping_allowed { grouping } else { None },
            }
        })
}

const VECTOR_OPS: &[VectorOp] = &[
    VectorOp::Sum,
    VectorOp::Avg,
    VectorOp::Min,
    VectorOp::Max,
    VectorOp::Count,
    VectorOp::Stddev,
    VectorOp::Stdvar,
    VectorOp::Topk,
    VectorOp::Bottomk,
    VectorOp::Sort,
    VectorOp::SortDesc,
];

const BINARY_OPS: &[BinaryOp] = &[
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Unless,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Mod,
    BinaryOp::Pow,
    BinaryOp::Eq,
    BinaryOp::Neq,
    BinaryOp::Gt,
    BinaryOp::Gte,
    BinaryOp::Lt,
    BinaryOp::Lte,
];

fn prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
        BinaryOp::Pow => 6,
    }
}

fn is_const(e: &SampleExpr) -> bool {
    match e {
        SampleExpr::Literal(_) => true,
        SampleExpr::Paren(i) => is_const(i),
        SampleExpr::Binary(b) => !matches!(b.op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless) && is_const(&b.lhs) && is_const(&b.rhs),
        _ => false,
    }
}

fn sparen(e: SampleExpr) -> SampleExpr {
    SampleExpr::Paren(Box::new(e))
}

/// Makes a random metric tree valid and canonical: parentheses where precedence needs
/// them, no literal legs on set operators, `bool` only on comparisons.
fn canonical_sample(e: SampleExpr) -> SampleExpr {
    match e {
        SampleExpr::Binary(b) => {
            let mut b = *b;
            b.lhs = canonical_sample(b.lhs);
            b.rhs = canonical_sample(b.rhs);
            if matches!(b.op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless) && (is_const(&b.lhs) || is_const(&b.rhs)) {
                b.op = BinaryOp::Add;
            }
            if !matches!(b.op, BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte) {
                b.return_bool = false;
            }
            if b.matching.is_none() {
                b.group = None;
            }
            let p = prec(b.op);
            let right_assoc = b.op == BinaryOp::Pow;
            let needs_left = |e: &SampleExpr| match e {
                SampleExpr::Binary(x) => {
                    if right_assoc {
                        prec(x.op) <= p
                    } else {
                        prec(x.op) < p
                    }
                }
                _ => false,
            };
            let needs_right = |e: &SampleExpr| match e {
                SampleExpr::Binary(x) => {
                    if right_assoc {
                        prec(x.op) < p
                    } else {
                        prec(x.op) <= p
                    }
                }
                _ => false,
            };
            if needs_left(&b.lhs) {
                b.lhs = sparen(b.lhs);
            }
            if needs_right(&b.rhs) {
                b.rhs = sparen(b.rhs);
            }
            SampleExpr::Binary(Box::new(b))
        }
        SampleExpr::VectorAggregation(mut v) => {
            v.expr = Box::new(canonical_sample(*v.expr));
            v.grouping_first &= v.grouping.is_some();
            if matches!(v.op, VectorOp::Sort | VectorOp::SortDesc)
                && let Some(g) = &mut v.grouping
            {
                g.labels.clear();
            }
            SampleExpr::VectorAggregation(v)
        }
        SampleExpr::LabelReplace(mut l) => {
            l.expr = canonical_sample(l.expr);
            SampleExpr::LabelReplace(l)
        }
        SampleExpr::Paren(i) => sparen(canonical_sample(*i)),
        other => other,
    }
}

fn sample_leaf() -> impl Strategy<Value = SampleExpr> {
    prop_oneof![
        4 => range_aggregation().prop_map(SampleExpr::RangeAggregation),
        1 => number().prop_map(SampleExpr::Literal),
        1 => (0.0f64..1e6).prop_map(SampleExpr::Vector),
    ]
}

fn sample_any() -> impl Strategy<Value = SampleExpr> {
    sample_leaf().prop_recursive(3, 8, 2, |inner| {
        let matching =
            prop::option::of((any::<bool>(), prop::collection::vec(name(), 0..3)).prop_map(|(on, labels)| VectorMatching { on, labels }));
        let group = prop::option::of((prop::sample::select(vec![GroupSide::Left, GroupSide::Right]), prop::collection::vec(name(), 0..3)));
        prop_oneof![
            (prop::sample::select(VECTOR_OPS), 1u32..100, inner.clone(), prop::option::of(grouping()), any::<bool>()).prop_map(
                |(op, k, expr, grouping, grouping_first)| {
                    SampleExpr::VectorAggregation(VectorAggregation {
                        op,
                        param: matches!(op, VectorOp::Topk | VectorOp::Bottomk).then_some(f64::from(k)),
                        expr: Box::new(expr),
                        grouping,
                        grouping_first,
                    })
                }
            ),
            (prop::sample::select(BINARY_OPS), inner.clone(), inner.clone(), any::<bool>(), matching, group).prop_map(
                |(op, lhs, rhs, return_bool, matching, group)| {
                    SampleExpr::Binary(Box::new(BinaryExpr { op, lhs, rhs, return_bool, matching, group }))
                }
            ),
            (inner.clone(), name(), text(), name(), regex_text()).prop_map(|(expr, dst, replacement, src, regex)| {
                SampleExpr::LabelReplace(Box::new(LabelReplace { expr, dst, replacement, src, regex }))
            }),
            inner.prop_map(sparen),
        ]
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        1 => log_expr().prop_map(Expr::Log),
        3 => sample_any().prop_map(|s| Expr::Sample(canonical_sample(s))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn print_parse_roundtrip(e in expr()) {
        let printed = e.to_string();
        let parsed = parse_expr(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&e), "printed: {}", printed);
        prop_assert_eq!(parsed.unwrap().to_string(), printed);
    }
}
