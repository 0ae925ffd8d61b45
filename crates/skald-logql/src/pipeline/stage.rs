//! What each stage of the syntax tree compiles to: regexes, templates, parsers and
//! filters built once per query.

use super::label_filter::{CompiledLabelFilter, StringMatcher};
use super::labels::ERROR_LABEL;
use super::line_filter::CompiledLineFilter;
use super::pattern::PatternMatcher;
use super::template::CompiledTemplate;
use super::{PipelineError, err, goregex, json, logfmt};
use crate::ast::{LabelFormatItem, NamedMatcher, ParserStage, Stage};
use regex::bytes::Regex;

pub(super) enum DropKeepItem {
    Name(String),
    Matcher(StringMatcher),
}

pub(super) enum LabelFmt {
    Rename { dst: String, src: String },
    Template { dst: String, tmpl: CompiledTemplate },
}

pub(super) struct RegexpParser {
    pub(super) re: Regex,
    /// (group index, label name)
    pub(super) names: Vec<(usize, String)>,
}

pub(super) enum CompiledStage {
    LineFilter(CompiledLineFilter),
    Json,
    JsonExpr(json::JsonExprParser),
    Logfmt(logfmt::LogfmtParser),
    LogfmtExpr(logfmt::LogfmtExprParser),
    Regexp(RegexpParser),
    Pattern(PatternMatcher),
    Unpack,
    LabelFilter(CompiledLabelFilter),
    LineFormat(CompiledTemplate),
    LabelFormat(Vec<LabelFmt>),
    Decolorize,
    Drop(Vec<DropKeepItem>),
    Keep(Vec<DropKeepItem>),
}

fn params(p: &[crate::ast::ExtractionParam]) -> Vec<(String, String)> {
    p.iter().map(|e| (e.name.clone(), e.path.clone().unwrap_or_else(|| e.name.clone()))).collect()
}

fn drop_keep_items(items: &[NamedMatcher]) -> Result<Vec<DropKeepItem>, PipelineError> {
    items
        .iter()
        .map(|i| match i {
            NamedMatcher::Name(n) => Ok(DropKeepItem::Name(n.clone())),
            NamedMatcher::Matcher(m) => Ok(DropKeepItem::Matcher(StringMatcher::new(m).map_err(err)?)),
        })
        .collect()
}

pub(super) fn decolorize_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let pattern = "[\u{1b}\u{9b}][[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\u{7})|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))";
        goregex::compile(pattern).expect("ANSI pattern compiles")
    })
}

impl CompiledStage {
    /// Stages that set parsed labels from the line (the early label filters follow them).
    pub(super) fn is_parser(&self) -> bool {
        matches!(
            self,
            CompiledStage::Json
                | CompiledStage::JsonExpr(_)
                | CompiledStage::Logfmt(_)
                | CompiledStage::LogfmtExpr(_)
                | CompiledStage::Regexp(_)
                | CompiledStage::Pattern(_)
                | CompiledStage::Unpack
        )
    }

    pub(super) fn new(stage: &Stage) -> Result<CompiledStage, PipelineError> {
        Ok(match stage {
            Stage::LineFilter(f) => CompiledStage::LineFilter(CompiledLineFilter::new(f).map_err(err)?),
            Stage::Parser(p) => match p {
                ParserStage::Json(ps) if ps.is_empty() => CompiledStage::Json,
                ParserStage::Json(ps) => CompiledStage::JsonExpr(json::JsonExprParser::new(&params(ps)).map_err(err)?),
                ParserStage::Logfmt { strict, keep_empty, params: ps } if ps.is_empty() => {
                    CompiledStage::Logfmt(logfmt::LogfmtParser { strict: *strict, keep_empty: *keep_empty })
                }
                ParserStage::Logfmt { strict, params: ps, .. } => {
                    CompiledStage::LogfmtExpr(logfmt::LogfmtExprParser::new(*strict, &params(ps)).map_err(err)?)
                }
                ParserStage::Regexp(re) => {
                    let regex = goregex::compile(re).map_err(err)?;
                    let mut names: Vec<(usize, String)> = Vec::new();
                    for (i, n) in regex.capture_names().enumerate() {
                        let Some(n) = n else { continue };
                        if !skald_common::is_valid_label_name(n) {
                            return Err(PipelineError(format!("invalid extracted label name '{n}'")));
                        }
                        if names.iter().any(|(_, x)| x == n) {
                            return Err(PipelineError(format!("duplicate extracted label name '{n}'")));
                        }
                        names.push((i, n.to_string()));
                    }
                    if names.is_empty() {
                        return Err(PipelineError("at least one named capture must be supplied".into()));
                    }
                    CompiledStage::Regexp(RegexpParser { re: regex, names })
                }
                ParserStage::Pattern(p) => {
                    let m = PatternMatcher::new_parser(p).map_err(err)?;
                    for n in m.names() {
                        if !skald_common::is_valid_label_name(n) {
                            return Err(PipelineError(format!("invalid capture label name '{n}'")));
                        }
                    }
                    CompiledStage::Pattern(m)
                }
                ParserStage::Unpack => CompiledStage::Unpack,
            },
            Stage::LabelFilter(f) => CompiledStage::LabelFilter(CompiledLabelFilter::new(f).map_err(err)?),
            Stage::LineFormat(t) => CompiledStage::LineFormat(
                CompiledTemplate::new("line", t).map_err(|e| PipelineError(format!("invalid line template: {e}")))?,
            ),
            Stage::LabelFormat(items) => {
                let mut seen: Vec<&str> = Vec::new();
                let mut out = Vec::new();
                for item in items {
                    let dst = match item {
                        LabelFormatItem::Rename { dst, .. } | LabelFormatItem::Template { dst, .. } => dst,
                    };
                    if dst == ERROR_LABEL {
                        return Err(PipelineError(format!("{dst} cannot be formatted")));
                    }
                    if seen.contains(&dst.as_str()) {
                        return Err(PipelineError(format!("multiple label name '{dst}' not allowed in a single format operation")));
                    }
                    seen.push(dst);
                    out.push(match item {
                        LabelFormatItem::Rename { dst, src } => LabelFmt::Rename { dst: dst.clone(), src: src.clone() },
                        LabelFormatItem::Template { dst, template } => LabelFmt::Template {
                            dst: dst.clone(),
                            tmpl: CompiledTemplate::new("label", template)
                                .map_err(|e| PipelineError(format!("invalid template for label '{dst}': {e}")))?,
                        },
                    });
                }
                CompiledStage::LabelFormat(out)
            }
            Stage::Decolorize => {
                decolorize_regex();
                CompiledStage::Decolorize
            }
            Stage::Drop(items) => CompiledStage::Drop(drop_keep_items(items)?),
            Stage::Keep(items) => CompiledStage::Keep(drop_keep_items(items)?),
        })
    }
}
