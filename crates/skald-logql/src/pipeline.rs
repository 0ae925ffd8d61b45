//! Compiled log pipelines: what happens to each entry of a stream after the selector.
//!
//! The engine depends on exactly this API:
//!
//! - `Pipeline::new(&[Stage]) -> Result<Pipeline, PipelineError>` compiles the stages
//!   once per query (regexes, templates, IP ranges, JSON paths).
//! - `Pipeline::line_filter_only() -> bool` is true when every stage is a line filter; then
//!   `Pipeline::matches_line(&[u8]) -> bool` tests raw bytes with no allocation (the
//!   scan fast path, used without ever building labels).
//! - `Pipeline::for_stream(&LabelSet) -> StreamPipeline` makes the per-stream state.
//! - `StreamPipeline::process(&mut self, ts, line, metadata) -> Option<Processed<'_>>`:
//!   `None` when a filter drops the entry, else the (possibly rewritten) line and the
//!   categorised labels (stream labels, structured metadata, parsed labels; `__error__`
//!   and `__error_details__` are parsed labels).
//! - `SampleExtractor::new(&RangeAggregation) -> Result<SampleExtractor, PipelineError>`
//!   and `SampleExtractor::for_stream(&LabelSet) -> StreamSampleExtractor` whose
//!   `process(ts, line, metadata) -> Option<(f64, &LabelSet)>` gives the sample value
//!   (1 for counts, line length in bytes for bytes_*, the unwrapped value otherwise)
//!   and the sample's full label set (stream + metadata + parsed, after the grouping
//!   of the range aggregation has NOT been applied).

mod goregex;
mod ip;
mod json;
mod label_filter;
mod labels;
mod line_filter;
mod logfmt;
mod pattern;
mod template;

pub use label_filter::{parse_go_duration, parse_go_float, parse_humanize_bytes};
pub use labels::{ERROR_DETAILS_LABEL, ERROR_LABEL};

use crate::ast::{LabelFormatItem, NamedMatcher, ParserStage, RangeAggregation, RangeOp, Stage, UnwrapConversion};
use label_filter::{CompiledLabelFilter, StringMatcher};
use labels::{LabelsBuilder, assign_labels, sanitize_key_into};
use line_filter::CompiledLineFilter;
use pattern::PatternMatcher;
use regex::bytes::Regex;
use skald_common::{Label, LabelSet};
use std::sync::Arc;
use template::{CompiledTemplate, ERR_TEMPLATE};

/// `__error__` value of a failed unwrap conversion.
pub const ERR_SAMPLE_EXTRACTION: &str = "SampleExtractionErr";

/// Why a pipeline could not be compiled (bad regex, template, IP range, ...). The HTTP
/// layer maps it to 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PipelineError(pub String);

/// Labels of one processed entry, by category (Loki's `LabelsResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelsResult {
    /// Stream labels (as changed by `drop`/`keep`/`label_format` where those apply).
    pub stream: LabelSet,
    /// Structured metadata of the entry, sorted by name (a name colliding with a stream
    /// label is renamed `<name>_extracted`, as in Loki).
    pub structured_metadata: Vec<Label>,
    /// Labels added by parsers and formatters, plus `__error__`/`__error_details__`,
    /// sorted by name.
    pub parsed: Vec<Label>,
}

impl LabelsResult {
    /// All labels merged into one set (what a log query returns without
    /// `categorize-labels`, and what metric queries group by).
    pub fn all(&self) -> LabelSet {
        let mut set = self.stream.clone();
        for label in self.structured_metadata.iter().chain(self.parsed.iter()) {
            set.insert(label.name.clone(), label.value.clone());
        }
        set
    }
}

/// An entry that passed the pipeline.
pub struct Processed<'a> {
    pub line: &'a str,
    pub labels: &'a LabelsResult,
}

enum DropKeepItem {
    Name(String),
    Matcher(StringMatcher),
}

enum LabelFmt {
    Rename { dst: String, src: String },
    Template { dst: String, tmpl: CompiledTemplate },
}

struct RegexpParser {
    re: Regex,
    /// (group index, label name)
    names: Vec<(usize, String)>,
}

enum CompiledStage {
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

fn err<E: std::fmt::Display>(e: E) -> PipelineError {
    PipelineError(e.to_string())
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

fn decolorize_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let pattern = "[\u{1b}\u{9b}][[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\u{7})|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))";
        goregex::compile(pattern).expect("ANSI pattern compiles")
    })
}

impl CompiledStage {
    fn new(stage: &Stage) -> Result<CompiledStage, PipelineError> {
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

struct Inner {
    stages: Vec<CompiledStage>,
    line_filter_only: bool,
    /// Loki's parser hints: when set, the `json` and `logfmt` parsers only build the
    /// labels named here (they still scan the whole line, so `__error__` is the same).
    /// Only set by a sample extractor whose result depends on nothing else.
    hints: Option<Box<[String]>>,
}

/// A pipeline compiled once per query; cheap to share across streams and threads.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("stages", &self.inner.stages.len()).finish()
    }
}

impl Pipeline {
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        Self::with_hints(stages, None)
    }

    fn with_hints(stages: &[Stage], hints: Option<Box<[String]>>) -> Result<Pipeline, PipelineError> {
        let stages = stages.iter().map(CompiledStage::new).collect::<Result<Vec<_>, _>>()?;
        let line_filter_only = stages.iter().all(|s| matches!(s, CompiledStage::LineFilter(_)));
        Ok(Pipeline { inner: Arc::new(Inner { stages, line_filter_only, hints }) })
    }

    /// True when every stage is a line filter (also when there are no stages).
    pub fn line_filter_only(&self) -> bool {
        self.inner.line_filter_only
    }

    /// Runs the line filters on raw bytes (no allocation). Only meaningful when
    /// [`line_filter_only`](Self::line_filter_only); other stages are ignored.
    pub fn matches_line(&self, line: &[u8]) -> bool {
        for s in &self.inner.stages {
            if let CompiledStage::LineFilter(f) = s
                && !f.matches(line)
            {
                return false;
            }
        }
        true
    }

    pub fn for_stream(&self, labels: &LabelSet) -> StreamPipeline {
        StreamPipeline {
            inner: self.inner.clone(),
            b: LabelsBuilder::new(labels.clone()),
            bufs: [String::new(), String::new()],
            result: LabelsResult { stream: labels.clone(), ..Default::default() },
            stream_is_base: true,
            json: json::JsonScratch::default(),
            key: String::new(),
            val: String::new(),
            pending: Vec::new(),
        }
    }
}

#[derive(Clone, Copy)]
enum Cur {
    Input,
    Buf(usize),
}

/// The input line of a stage and the buffer a rewriting stage writes into.
fn io<'x>(bufs: &'x mut [String; 2], cur: Cur, line: &'x str) -> (&'x str, &'x mut String, usize) {
    let (a, b) = bufs.split_at_mut(1);
    match cur {
        Cur::Input => (line, &mut a[0], 0),
        Cur::Buf(0) => (&a[0], &mut b[0], 1),
        Cur::Buf(_) => (&b[0], &mut a[0], 0),
    }
}

/// Per-stream state of a pipeline: label builder and buffers reused across entries.
pub struct StreamPipeline {
    inner: Arc<Inner>,
    b: LabelsBuilder,
    bufs: [String; 2],
    result: LabelsResult,
    stream_is_base: bool,
    json: json::JsonScratch,
    key: String,
    val: String,
    pending: Vec<(String, String)>,
}

fn drop_matches(item: &DropKeepItem, b: &mut LabelsBuilder) {
    match item {
        DropKeepItem::Name(name) => {
            if name == ERROR_LABEL {
                b.err.clear();
            } else if name == ERROR_DETAILS_LABEL {
                b.err_details.clear();
            } else if b.get(name).is_some() {
                b.del(name);
            }
        }
        DropKeepItem::Matcher(m) => {
            if m.name == ERROR_LABEL {
                if m.matches(&b.err) {
                    b.err.clear();
                }
            } else if m.name == ERROR_DETAILS_LABEL {
                if m.matches(&b.err_details) {
                    b.err_details.clear();
                }
            } else if m.matches(b.get(&m.name).unwrap_or("")) {
                b.del(&m.name);
            }
        }
    }
}

fn keep_labels(items: &[DropKeepItem], b: &mut LabelsBuilder) {
    if items.is_empty() {
        return;
    }
    let mut all: Vec<(String, String)> = Vec::new();
    b.for_each(|n, v| all.push((n.to_string(), v.to_string())));
    for (name, value) in all {
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL || name == "__preserve_error__" {
            continue;
        }
        let keep = items.iter().any(|i| match i {
            DropKeepItem::Name(n) => *n == name,
            DropKeepItem::Matcher(m) => m.name == name && m.matches(&value),
        });
        if !keep {
            b.del(&name);
        }
    }
}

impl StreamPipeline {
    /// Runs the stages; `None` when the entry is filtered out.
    fn run(&mut self, ts: i64, line: &str, metadata: &[Label]) -> Option<Cur> {
        self.b.reset();
        if !metadata.is_empty() {
            self.b.add_metadata(metadata);
        }
        let mut cur = Cur::Input;
        let inner = &*self.inner;
        for stage in &inner.stages {
            let (input, out, out_idx) = io(&mut self.bufs, cur, line);
            match stage {
                CompiledStage::LineFilter(f) => {
                    if !f.matches(input.as_bytes()) {
                        return None;
                    }
                }
                CompiledStage::Json => json::parse_json(input.as_bytes(), &mut self.b, &mut self.json, inner.hints.as_deref()),
                CompiledStage::JsonExpr(p) => p.process(input.as_bytes(), &mut self.b, &mut self.json),
                CompiledStage::Logfmt(p) => p.process(input.as_bytes(), &mut self.b, &mut self.key, &mut self.val, inner.hints.as_deref()),
                CompiledStage::LogfmtExpr(p) => p.process(input.as_bytes(), &mut self.b, &mut self.key, &mut self.val),
                CompiledStage::Regexp(p) => {
                    if let Some(caps) = p.re.captures(input.as_bytes()) {
                        for (i, name) in &p.names {
                            self.key.clear();
                            sanitize_key_into(&mut self.key, name.as_bytes(), true);
                            if self.key.is_empty() {
                                continue;
                            }
                            if self.b.base_has(&self.key) {
                                self.key.push_str(labels::DUPLICATE_SUFFIX);
                            }
                            let v = caps.get(*i).map(|m| m.as_bytes()).unwrap_or(b"");
                            self.val.clear();
                            self.val.push_str(&String::from_utf8_lossy(v));
                            self.b.set_parsed(&self.key, &self.val);
                        }
                    }
                }
                CompiledStage::Pattern(m) => {
                    let b = &mut self.b;
                    let key = &mut self.key;
                    let val = &mut self.val;
                    m.matches(input.as_bytes(), |i, v| {
                        let name = &m.names()[i];
                        key.clear();
                        key.push_str(name);
                        if b.base_has(key) {
                            key.push_str(labels::DUPLICATE_SUFFIX);
                        }
                        val.clear();
                        val.push_str(&String::from_utf8_lossy(v));
                        b.set_parsed(key, val);
                    });
                }
                CompiledStage::Unpack => {
                    if json::unpack(input.as_bytes(), &mut self.b, &mut self.json, &mut self.pending, out) {
                        cur = Cur::Buf(out_idx);
                    }
                }
                CompiledStage::LabelFilter(f) => {
                    if !f.process(&mut self.b) {
                        return None;
                    }
                }
                CompiledStage::LineFormat(t) => {
                    if let Some(key) = &t.simple_key {
                        out.clear();
                        if let Some(v) = self.b.get(key) {
                            out.push_str(v);
                        }
                        cur = Cur::Buf(out_idx);
                    } else {
                        let data = t.data(&self.b);
                        match t.execute(&data, input, ts, out) {
                            Ok(()) => cur = Cur::Buf(out_idx),
                            Err(e) => self.b.set_err(ERR_TEMPLATE, Some(&e)),
                        }
                    }
                }
                CompiledStage::LabelFormat(fmts) => {
                    let mut data = None;
                    for f in fmts {
                        match f {
                            LabelFmt::Rename { dst, src } => {
                                if let Some(v) = self.b.get(src) {
                                    self.val.clear();
                                    self.val.push_str(v);
                                    self.b.set_parsed(dst, &self.val);
                                    self.b.del(src);
                                }
                            }
                            LabelFmt::Template { dst, tmpl } => {
                                // Loki builds the template data once per stage.
                                let d = data.get_or_insert_with(|| tmpl.data(&self.b));
                                match tmpl.execute(d, input, ts, &mut self.val) {
                                    Ok(()) => self.b.set_parsed(dst, &self.val),
                                    Err(e) => self.b.set_err(ERR_TEMPLATE, Some(&e)),
                                }
                            }
                        }
                    }
                }
                CompiledStage::Decolorize => {
                    let re = decolorize_regex();
                    if re.is_match(input.as_bytes()) {
                        let replaced = re.replace_all(input.as_bytes(), &b""[..]);
                        out.clear();
                        out.push_str(&String::from_utf8_lossy(&replaced));
                        cur = Cur::Buf(out_idx);
                    }
                }
                CompiledStage::Drop(items) => {
                    for i in items {
                        drop_matches(i, &mut self.b);
                    }
                }
                CompiledStage::Keep(items) => keep_labels(items, &mut self.b),
            }
        }
        Some(cur)
    }

    fn line<'a>(&'a self, cur: Cur, line: &'a str) -> &'a str {
        match cur {
            Cur::Input => line,
            Cur::Buf(i) => &self.bufs[i],
        }
    }

    fn finish_result(&mut self) {
        let b = &self.b;
        if b.stream_changed() {
            self.result.stream = LabelSet::from_labels(b.base.iter().filter(|l| b.stream_visible(&l.name)).cloned().collect());
            self.stream_is_base = false;
        } else if !self.stream_is_base {
            self.result.stream = b.base.clone();
            self.stream_is_base = true;
        }
        assign_labels(&mut self.result.structured_metadata, b.meta.as_slice().iter().map(|l| (l.name.as_str(), l.value.as_str())));
        self.result.structured_metadata.sort_unstable_by(|x, y| x.name.cmp(&y.name));
        let errs = [(ERROR_LABEL, b.err.as_str()), (ERROR_DETAILS_LABEL, b.err_details.as_str())];
        assign_labels(
            &mut self.result.parsed,
            b.parsed.as_slice().iter().map(|l| (l.name.as_str(), l.value.as_str())).chain(errs.into_iter().filter(|(_, v)| !v.is_empty())),
        );
        self.result.parsed.sort_unstable_by(|x, y| x.name.cmp(&y.name));
    }

    /// Processes one entry: `None` when a filter drops it, else the (possibly rewritten)
    /// line and its categorised labels. `ts` is the entry time in Unix nanoseconds.
    pub fn process<'a>(&'a mut self, ts: i64, line: &'a str, metadata: &[Label]) -> Option<Processed<'a>> {
        let cur = self.run(ts, line, metadata)?;
        self.finish_result();
        let this: &'a StreamPipeline = self;
        Some(Processed { line: this.line(cur, line), labels: &this.result })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleKind {
    /// Every entry counts 1.
    Count,
    /// The line length in bytes (after the pipeline).
    Bytes,
    Unwrap,
}

struct UnwrapImpl {
    label: String,
    conversion: UnwrapConversion,
    post_filters: Vec<CompiledLabelFilter>,
    /// The unwrapped label leaves the sample labels unless the aggregation groups
    /// `by` labels (then the grouping decides).
    remove_label: bool,
}

/// The sample extraction of a range aggregation, compiled once per query.
pub struct SampleExtractor {
    pipeline: Pipeline,
    kind: SampleKind,
    unwrap: Option<Arc<UnwrapImpl>>,
}

impl SampleExtractor {
    pub fn new(agg: &RangeAggregation) -> Result<SampleExtractor, PipelineError> {
        let pipeline = Pipeline::with_hints(&agg.log.pipeline, parser_hints(agg))?;
        let kind = match agg.op {
            RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime => SampleKind::Count,
            RangeOp::BytesOverTime | RangeOp::BytesRate => SampleKind::Bytes,
            _ => SampleKind::Unwrap,
        };
        let unwrap = match (&agg.unwrap, kind) {
            (None, SampleKind::Unwrap) => {
                return Err(PipelineError(format!("invalid aggregation {:?} without unwrap", agg.op)));
            }
            (Some(_), SampleKind::Count | SampleKind::Bytes) => {
                return Err(PipelineError(format!("invalid aggregation {:?} with unwrap", agg.op)));
            }
            (None, _) => None,
            (Some(u), _) => {
                let post_filters =
                    u.post_filters.iter().map(|f| CompiledLabelFilter::new(f).map_err(err)).collect::<Result<Vec<_>, _>>()?;
                let remove_label = match &agg.grouping {
                    Some(g) => g.without,
                    None => true,
                };
                Some(Arc::new(UnwrapImpl { label: u.label.clone(), conversion: u.conversion, post_filters, remove_label }))
            }
        };
        Ok(SampleExtractor { pipeline, kind, unwrap })
    }

    /// True when the sample value and labels do not depend on the line content at all
    /// (no pipeline stages, no unwrap, a count-like op): every entry is a sample of value
    /// 1 whose labels are the stream labels plus the entry's structured metadata, so the
    /// engine may count entries from timestamps (and metadata) alone.
    pub fn needs_no_line(&self) -> bool {
        self.kind == SampleKind::Count && self.unwrap.is_none() && self.pipeline.inner.stages.is_empty()
    }

    /// The log pipeline before the sample extraction.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn for_stream(&self, labels: &LabelSet) -> StreamSampleExtractor {
        StreamSampleExtractor {
            sp: self.pipeline.for_stream(labels),
            kind: self.kind,
            unwrap: self.unwrap.clone(),
            tmp: Vec::new(),
            labels: labels.clone(),
        }
    }
}

/// Loki's parser hints for a range aggregation: the only labels its samples can depend
/// on, when that set is known. It is known when the aggregation groups `by` some labels
/// and every stage reads labels by name (line and label filters, parsers, decolorize):
/// then the labels are the grouping, the unwrapped label and the filtered ones. Any
/// stage that may read every label (templates, `keep`, `drop`, `unpack`) or a grouping
/// that keeps every label (`without`, none) disables the hints.
fn parser_hints(agg: &RangeAggregation) -> Option<Box<[String]>> {
    let grouping = agg.grouping.as_ref().filter(|g| !g.without)?;
    let mut names: Vec<String> = grouping.labels.clone();
    for stage in &agg.log.pipeline {
        match stage {
            Stage::LineFilter(_) | Stage::Decolorize => {}
            Stage::Parser(ParserStage::Json(_) | ParserStage::Logfmt { .. } | ParserStage::Regexp(_) | ParserStage::Pattern(_)) => {}
            Stage::LabelFilter(f) => filter_names(f, &mut names),
            Stage::Parser(ParserStage::Unpack) | Stage::LineFormat(_) | Stage::LabelFormat(_) | Stage::Drop(_) | Stage::Keep(_) => {
                return None;
            }
        }
    }
    if let Some(u) = &agg.unwrap {
        names.push(u.label.clone());
        for f in &u.post_filters {
            filter_names(f, &mut names);
        }
    }
    names.sort_unstable();
    names.dedup();
    Some(names.into_boxed_slice())
}

fn filter_names(f: &crate::ast::LabelFilter, out: &mut Vec<String>) {
    use crate::ast::LabelFilter as F;
    match f {
        F::And(a, b) | F::Or(a, b) => {
            filter_names(a, out);
            filter_names(b, out);
        }
        F::Paren(inner) => filter_names(inner, out),
        F::String(m) => out.push(m.name.clone()),
        F::Number { name, .. } | F::Duration { name, .. } | F::Bytes { name, .. } | F::Ip { name, .. } => out.push(name.clone()),
    }
}

/// Per-stream sample extraction.
pub struct StreamSampleExtractor {
    sp: StreamPipeline,
    kind: SampleKind,
    unwrap: Option<Arc<UnwrapImpl>>,
    tmp: Vec<Label>,
    labels: LabelSet,
}

impl StreamSampleExtractor {
    /// The sample of one entry: `None` when the pipeline drops it (or, with unwrap, when
    /// the label is missing or empty). A failed conversion keeps the sample with value 0
    /// and `__error__="SampleExtractionErr"` unless a post filter drops it.
    pub fn process(&mut self, ts: i64, line: &str, metadata: &[Label]) -> Option<(f64, &LabelSet)> {
        let value = self.process_value(ts, line, metadata)?;
        // Full label set, sorted; reuse the previous set when nothing changed.
        self.sorted_labels();
        if self.tmp.as_slice() != self.labels.as_slice() {
            self.labels = LabelSet::from_labels(self.tmp.clone());
        }
        Some((value, &self.labels))
    }

    /// Like [`process`](Self::process) but only the value: the sample's labels are then
    /// read with [`label`](Self::label) or [`sorted_labels`](Self::sorted_labels) (until
    /// the next entry).
    pub fn process_value(&mut self, ts: i64, line: &str, metadata: &[Label]) -> Option<f64> {
        let cur = self.sp.run(ts, line, metadata)?;
        Some(match self.kind {
            SampleKind::Count => 1.0,
            SampleKind::Bytes => self.sp.line(cur, line).len() as f64,
            SampleKind::Unwrap => {
                let u = self.unwrap.as_ref()?;
                let b = &mut self.sp.b;
                let raw = match b.get(&u.label) {
                    Some(v) if !v.is_empty() => v,
                    _ => return None,
                };
                let converted = match u.conversion {
                    UnwrapConversion::None => parse_go_float(raw),
                    UnwrapConversion::Duration | UnwrapConversion::DurationSeconds => parse_go_duration(raw).map(|d| d as f64 / 1e9),
                    UnwrapConversion::Bytes => parse_humanize_bytes(raw).map(|v| v as f64),
                };
                let v = match converted {
                    Ok(v) => v,
                    Err(e) => {
                        b.set_err(ERR_SAMPLE_EXTRACTION, Some(&e));
                        0.0
                    }
                };
                for f in &u.post_filters {
                    if !f.process(b) {
                        return None;
                    }
                }
                if u.remove_label {
                    b.del(&u.label);
                }
                v
            }
        })
    }

    /// The value of one label of the last sample's full label set (what `process`
    /// returns), without building the set.
    pub fn label(&self, name: &str) -> Option<&str> {
        // The set is built in the order stream, metadata, parsed, error labels, and
        // the last of a repeated name wins.
        let b = &self.sp.b;
        if name == ERROR_LABEL && !b.err.is_empty() {
            return Some(&b.err);
        }
        if name == ERROR_DETAILS_LABEL && !b.err_details.is_empty() {
            return Some(&b.err_details);
        }
        b.get(name)
    }

    /// The last sample's full label set, sorted by name (buffers reused).
    pub fn sorted_labels(&mut self) -> &[Label] {
        let b = &self.sp.b;
        let tmp = &mut self.tmp;
        let mut n = 0;
        b.for_each(|name, value| {
            if n < tmp.len() {
                reuse_label(&mut tmp[n], name, value);
            } else {
                tmp.push(Label::new(name, value));
            }
            n += 1;
        });
        tmp.truncate(n);
        if !tmp.is_sorted_by(|x, y| x.name < y.name) {
            // Stable, so that of a repeated name (a parsed `__error__` next to the
            // error itself) the last one wins, as in `LabelSet::from_labels`.
            tmp.sort_by(|x, y| x.name.cmp(&y.name));
            tmp.dedup_by(|later, kept| {
                if later.name != kept.name {
                    return false;
                }
                std::mem::swap(later, kept);
                true
            });
        }
        tmp
    }
}

fn reuse_label(l: &mut Label, name: &str, value: &str) {
    if l.name != name {
        l.name.clear();
        l.name.push_str(name);
    }
    if l.value != value {
        l.value.clear();
        l.value.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::*;

    const NGINX: &str = r#"10.0.0.66 - dave [01/Jun/2024:00:00:01 +0000] "POST /api/users HTTP/1.1" 400 13759 "-" "curl/8.0" 1.999"#;
    const LOGFMT: &str = r#"level=error msg="cart updated" user=erin order_id=6508 amount=0.25 duration=7.2s status=503 error="bad input""#;
    const JSON: &str = r#"{"level":"info","msg":"refund issued","latency_ms":101,"size":"70MB","user":{"id":10,"name":"erin"},"region":"ap-south","tags":["retry","slow"]}"#;
    const BROKEN: &str = r#"{"level":"info","msg":"truncated"#;
    const ANSI: &str = "\u{1b}[31m2024-06-01T00:52:43Z DEBUG [auth] token refreshed for user=bob\u{1b}[0m";

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied())
    }
    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
    }
    fn checkout() -> LabelSet {
        ls(&[("app", "checkout"), ("env", "prod"), ("namespace", "shop"), ("cluster", "eu")])
    }
    fn payments() -> LabelSet {
        ls(&[("app", "payments"), ("env", "dev"), ("namespace", "shop"), ("cluster", "eu")])
    }
    fn nginx() -> LabelSet {
        ls(&[("job", "nginx"), ("env", "prod"), ("instance", "web-1"), ("cluster", "eu")])
    }
    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher { name: name.into(), op, value: value.into() }
    }
    fn lf(op: LineFilterOp, v: &str) -> Stage {
        Stage::LineFilter(LineFilter { op, values: vec![LineFilterValue::Literal(v.into())] })
    }
    fn logfmt() -> Stage {
        Stage::Parser(ParserStage::Logfmt { strict: false, keep_empty: false, params: vec![] })
    }
    fn json() -> Stage {
        Stage::Parser(ParserStage::Json(vec![]))
    }
    fn sf(name: &str, op: MatchOp, v: &str) -> Stage {
        Stage::LabelFilter(LabelFilter::String(m(name, op, v)))
    }
    fn no_error() -> Stage {
        sf("__error__", MatchOp::Eq, "")
    }

    fn run(stages: &[Stage], stream: &LabelSet, line: &str, md: &[Label]) -> Option<(String, LabelsResult)> {
        let p = Pipeline::new(stages).unwrap();
        let mut sp = p.for_stream(stream);
        sp.process(1_717_200_001_582_000_000, line, md).map(|r| (r.line.to_string(), r.labels.clone()))
    }

    #[test]
    fn is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Pipeline>();
        check::<SampleExtractor>();
        fn check_send<T: Send>() {}
        check_send::<StreamPipeline>();
        check_send::<StreamSampleExtractor>();
    }

    #[test]
    fn line_filters_fast_path() {
        let p = Pipeline::new(&[lf(LineFilterOp::Contains, "POST"), lf(LineFilterOp::NotContains, "/login")]).unwrap();
        assert!(p.line_filter_only());
        assert!(p.matches_line(NGINX.as_bytes()));
        assert!(!p.matches_line(br#"10.0.0.1 - bob [x] "POST /login HTTP/1.1" 200"#));
        assert!(!p.matches_line(br#"10.0.0.1 - bob [x] "GET /api HTTP/1.1" 200"#));
        assert!(Pipeline::new(&[]).unwrap().line_filter_only());
        assert!(!Pipeline::new(&[logfmt()]).unwrap().line_filter_only());
        // process agrees with matches_line and leaves labels alone
        let (line, l) = run(&[lf(LineFilterOp::Contains, "POST")], &nginx(), NGINX, &labels(&[("trace_id", "63ca828dd5f4b3b2")])).unwrap();
        assert_eq!(line, NGINX);
        assert_eq!(l.stream, nginx());
        assert_eq!(l.structured_metadata, labels(&[("trace_id", "63ca828dd5f4b3b2")]));
        assert!(l.parsed.is_empty());
    }

    #[test]
    fn logfmt_and_label_filters() {
        let stages = [logfmt(), sf("level", MatchOp::Eq, "error")];
        let (_, l) = run(&stages, &checkout(), LOGFMT, &labels(&[("trace_id", "d09836aa21100c77")])).unwrap();
        assert_eq!(l.stream, checkout());
        assert_eq!(l.structured_metadata, labels(&[("trace_id", "d09836aa21100c77")]));
        assert_eq!(
            l.parsed,
            labels(&[
                ("amount", "0.25"),
                ("duration", "7.2s"),
                ("error", "bad input"),
                ("level", "error"),
                ("msg", "cart updated"),
                ("order_id", "6508"),
                ("status", "503"),
                ("user", "erin"),
            ])
        );
        assert_eq!(l.all().get("trace_id"), Some("d09836aa21100c77"));
        assert!(run(&[logfmt(), sf("level", MatchOp::Eq, "warn")], &checkout(), LOGFMT, &[]).is_none());
        let dur = Stage::LabelFilter(LabelFilter::Duration { name: "duration".into(), op: CmpOp::Gt, value: 500_000_000 });
        assert!(run(&[logfmt(), dur], &checkout(), LOGFMT, &[]).is_some());
        let and = Stage::LabelFilter(LabelFilter::And(
            Box::new(LabelFilter::Number { name: "amount".into(), op: CmpOp::Gt, value: 250.0 }),
            Box::new(LabelFilter::String(m("user", MatchOp::Eq, "alice"))),
        ));
        assert!(run(&[logfmt(), and], &checkout(), LOGFMT, &[]).is_none());
        // extraction params
        let p = Stage::Parser(ParserStage::Logfmt {
            strict: false,
            keep_empty: false,
            params: vec![ExtractionParam { name: "user".into(), path: None }, ExtractionParam { name: "order_id".into(), path: None }],
        });
        let (_, l) = run(&[p], &checkout(), LOGFMT, &[]).unwrap();
        assert_eq!(l.parsed, labels(&[("order_id", "6508"), ("user", "erin")]));
    }

    #[test]
    fn json_and_errors() {
        let (_, l) = run(&[json()], &payments(), JSON, &[]).unwrap();
        assert_eq!(
            l.parsed,
            labels(&[
                ("latency_ms", "101"),
                ("level", "info"),
                ("msg", "refund issued"),
                ("region", "ap-south"),
                ("size", "70MB"),
                ("user_id", "10"),
                ("user_name", "erin"),
            ])
        );
        let (line, l) = run(&[json()], &payments(), BROKEN, &[]).unwrap();
        assert_eq!(line, BROKEN);
        assert_eq!(
            l.parsed,
            labels(&[
                ("__error__", "JSONParserErr"),
                ("__error_details__", "Value is string, but can't find closing '\"' symbol"),
                ("level", "info"),
            ])
        );
        assert!(run(&[json(), no_error()], &payments(), BROKEN, &[]).is_none());
        assert!(run(&[json(), no_error()], &payments(), JSON, &[]).is_some());
        assert!(run(&[json(), sf("__error__", MatchOp::Neq, "")], &payments(), BROKEN, &[]).is_some());
        // A numeric filter drops lines without the label, error or not (Loki 3.x; the
        // conformance case `| json | size > 100KB` depends on it).
        let num = Stage::LabelFilter(LabelFilter::Number { name: "latency_ms".into(), op: CmpOp::Gt, value: 1000.0 });
        assert!(run(&[json(), num.clone()], &payments(), BROKEN, &[]).is_none());
        assert!(run(&[json(), sf("user_name", MatchOp::Eq, "bob"), num], &payments(), BROKEN, &[]).is_none());
        let size = Stage::LabelFilter(LabelFilter::Bytes { name: "size".into(), op: CmpOp::Gt, value: 100_000 });
        assert!(run(&[json(), size], &payments(), JSON, &[]).is_some());
        // json params
        let p = Stage::Parser(ParserStage::Json(vec![
            ExtractionParam { name: "lvl".into(), path: Some("level".into()) },
            ExtractionParam { name: "uid".into(), path: Some("user.id".into()) },
        ]));
        let (_, l) = run(&[p], &payments(), JSON, &[]).unwrap();
        assert_eq!(l.parsed, labels(&[("lvl", "info"), ("uid", "10")]));
        // a label colliding with a stream label gets _extracted
        let (_, l) = run(&[json()], &ls(&[("app", "payments"), ("level", "x")]), JSON, &[]).unwrap();
        assert_eq!(l.all().get("level"), Some("x"));
        assert_eq!(l.all().get("level_extracted"), Some("info"));
    }

    #[test]
    fn line_format() {
        let lf1 = Stage::LineFormat("{{.level | ToUpper}} {{.msg}}".into());
        assert_eq!(run(&[json(), lf1.clone()], &payments(), JSON, &[]).unwrap().0, "INFO refund issued");
        assert_eq!(run(&[json(), lf1], &payments(), BROKEN, &[]).unwrap().0, "INFO ");
        let lf2 = Stage::LineFormat(r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{.region}}"#.into());
        assert_eq!(run(&[json(), lf2], &payments(), JSON, &[]).unwrap().0, "ok ap-south");
        let lf3 = Stage::LineFormat("{{.user}} paid {{.amount}}".into());
        assert_eq!(run(&[logfmt(), lf3], &checkout(), LOGFMT, &[]).unwrap().0, "erin paid 0.25");
        // simple key, then filters run on the new line
        let (line, _) =
            run(&[json(), Stage::LineFormat("{{.msg}}".into()), lf(LineFilterOp::Contains, "refund")], &payments(), JSON, &[]).unwrap();
        assert_eq!(line, "refund issued");
        assert!(
            run(&[json(), Stage::LineFormat("{{.msg}}".into()), lf(LineFilterOp::Contains, "latency")], &payments(), JSON, &[]).is_none()
        );
        // chained rewrites use both buffers
        let stages = [
            Stage::LineFormat("a{{__line__}}".into()),
            Stage::LineFormat("b{{__line__}}".into()),
            Stage::LineFormat("c{{__line__}}".into()),
        ];
        assert_eq!(run(&stages, &payments(), "x", &[]).unwrap().0, "cbax");
        // execution errors set TemplateFormatErr and keep the line
        let (line, l) = run(&[Stage::LineFormat(r#"{{ div 1 0 }}"#.into())], &payments(), "orig", &[]).unwrap();
        assert_eq!(line, "orig");
        assert_eq!(l.all().get("__error__"), Some("TemplateFormatErr"));
        assert!(Pipeline::new(&[Stage::LineFormat("{{ .a ".into())]).is_err());
        let (line, _) = run(&[Stage::LineFormat("{{ __timestamp__ | unixEpoch }}".into())], &payments(), "x", &[]).unwrap();
        assert_eq!(line, "1717200001");
    }

    #[test]
    fn label_format_drop_keep() {
        let rename = Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "who".into(), src: "user".into() }]);
        let (_, l) = run(&[logfmt(), rename], &checkout(), LOGFMT, &[]).unwrap();
        assert_eq!(l.all().get("who"), Some("erin"));
        assert_eq!(l.all().get("user"), None);
        let tmpl = Stage::LabelFormat(vec![LabelFormatItem::Template { dst: "greeting".into(), template: "hello {{.user}}".into() }]);
        let (_, l) = run(&[logfmt(), tmpl], &checkout(), LOGFMT, &[]).unwrap();
        assert_eq!(l.all().get("greeting"), Some("hello erin"));
        // renaming a stream label moves it to parsed
        let rename_stream = Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "application".into(), src: "app".into() }]);
        let (_, l) = run(&[rename_stream], &checkout(), LOGFMT, &[]).unwrap();
        assert_eq!(l.stream, ls(&[("env", "prod"), ("namespace", "shop"), ("cluster", "eu")]));
        assert_eq!(l.parsed, labels(&[("application", "checkout")]));
        // overwriting a stream label with a template moves it to parsed
        let over = Stage::LabelFormat(vec![LabelFormatItem::Template { dst: "env".into(), template: "{{.env}}-x".into() }]);
        let (_, l) = run(&[over], &checkout(), LOGFMT, &[]).unwrap();
        assert_eq!(l.stream.get("env"), None);
        assert_eq!(l.parsed, labels(&[("env", "prod-x")]));
        assert!(Pipeline::new(&[Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "__error__".into(), src: "a".into() }])]).is_err());
        assert!(
            Pipeline::new(&[Stage::LabelFormat(vec![
                LabelFormatItem::Rename { dst: "a".into(), src: "b".into() },
                LabelFormatItem::Rename { dst: "a".into(), src: "c".into() }
            ])])
            .is_err()
        );

        let keep = Stage::Keep(vec![NamedMatcher::Name("user".into()), NamedMatcher::Name("level".into())]);
        let (_, l) = run(&[logfmt(), keep], &checkout(), LOGFMT, &labels(&[("trace_id", "t")])).unwrap();
        assert_eq!(l.stream, LabelSet::new());
        assert!(l.structured_metadata.is_empty());
        assert_eq!(l.parsed, labels(&[("level", "error"), ("user", "erin")]));
        let keep_m = Stage::Keep(vec![NamedMatcher::Matcher(m("level", MatchOp::Eq, "info")), NamedMatcher::Name("app".into())]);
        let (_, l) = run(&[logfmt(), keep_m], &checkout(), LOGFMT, &[]).unwrap();
        assert_eq!(l.all(), ls(&[("app", "checkout")]));

        let drop = Stage::Drop(["order_id", "amount", "duration", "msg"].iter().map(|n| NamedMatcher::Name(n.to_string())).collect());
        let (_, l) = run(&[logfmt(), drop], &checkout(), LOGFMT, &labels(&[("trace_id", "t")])).unwrap();
        assert_eq!(l.stream, checkout());
        assert_eq!(l.structured_metadata, labels(&[("trace_id", "t")]));
        assert_eq!(l.parsed, labels(&[("error", "bad input"), ("level", "error"), ("status", "503"), ("user", "erin")]));
        let drop_stream = Stage::Drop(vec![NamedMatcher::Matcher(m("env", MatchOp::Eq, "prod")), NamedMatcher::Name("trace_id".into())]);
        let (_, l) = run(&[drop_stream], &checkout(), LOGFMT, &labels(&[("trace_id", "t")])).unwrap();
        assert_eq!(l.stream, ls(&[("app", "checkout"), ("namespace", "shop"), ("cluster", "eu")]));
        assert!(l.structured_metadata.is_empty());
        // dropping __error__ clears the error
        let (_, l) =
            run(&[json(), Stage::Drop(vec![NamedMatcher::Name("__error__".into())]), no_error()], &payments(), BROKEN, &[]).unwrap();
        assert_eq!(l.all().get("__error_details__"), Some("Value is string, but can't find closing '\"' symbol"));
    }

    #[test]
    fn pattern_regexp_decolorize_unpack() {
        let p = Stage::Parser(ParserStage::Pattern(r#"<ip> - <user> [<_>] "<method> <path> <_>" <status> <bytes> <_>"#.into()));
        let (_, l) = run(&[p, sf("status", MatchOp::Eq, "400")], &nginx(), NGINX, &[]).unwrap();
        assert_eq!(
            l.parsed,
            labels(&[
                ("bytes", "13759"),
                ("ip", "10.0.0.66"),
                ("method", "POST"),
                ("path", "/api/users"),
                ("status", "400"),
                ("user", "dave")
            ])
        );
        let r = Stage::Parser(ParserStage::Regexp(r#"" (?P<status>\d{3}) (?P<bytes>\d+) "#.into()));
        let (_, l) = run(&[r, sf("status", MatchOp::Re, "4..")], &nginx(), NGINX, &[]).unwrap();
        assert_eq!(l.parsed, labels(&[("bytes", "13759"), ("status", "400")]));
        let r = Stage::Parser(ParserStage::Regexp(r"user=(?P<user>\w+)".into()));
        let (_, l) = run(&[r], &ls(&[("app", "auth")]), ANSI, &[]).unwrap();
        assert_eq!(l.parsed, labels(&[("user", "bob")]));
        assert!(Pipeline::new(&[Stage::Parser(ParserStage::Regexp("(a)".into()))]).is_err());
        assert!(Pipeline::new(&[Stage::Parser(ParserStage::Regexp("(?P<a>".into()))]).is_err());
        assert!(Pipeline::new(&[Stage::Parser(ParserStage::Pattern("<_> x".into()))]).is_err());

        let (line, _) = run(&[Stage::Decolorize], &ls(&[("app", "auth")]), ANSI, &[]).unwrap();
        assert_eq!(line, "2024-06-01T00:52:43Z DEBUG [auth] token refreshed for user=bob");
        let plain = "2024-06-01T00:52:43Z DEBUG [auth] x";
        assert_eq!(run(&[Stage::Decolorize], &ls(&[("app", "auth")]), plain, &[]).unwrap().0, plain);

        let (line, l) =
            run(&[Stage::Parser(ParserStage::Unpack)], &ls(&[("app", "x")]), r#"{"_entry":"inner line","pod":"p1"}"#, &[]).unwrap();
        assert_eq!(line, "inner line");
        assert_eq!(l.parsed, labels(&[("pod", "p1")]));
    }

    #[test]
    fn metadata_filters_and_reuse() {
        let stages = [sf("trace_id", MatchOp::Neq, "")];
        let p = Pipeline::new(&stages).unwrap();
        let mut sp = p.for_stream(&nginx());
        assert!(sp.process(1, NGINX, &[]).is_none());
        let r = sp.process(2, NGINX, &labels(&[("trace_id", "025b413f8a9a021e")])).unwrap();
        assert_eq!(r.labels.structured_metadata, labels(&[("trace_id", "025b413f8a9a021e")]));
        // buffers are reused: a later entry does not see earlier parsed labels
        let p = Pipeline::new(&[json()]).unwrap();
        let mut sp = p.for_stream(&payments());
        let n1 = sp.process(1, BROKEN, &[]).unwrap().labels.parsed.len();
        assert_eq!(n1, 3);
        let r = sp.process(2, r#"{"a":"1"}"#, &[]).unwrap();
        assert_eq!(r.labels.parsed, labels(&[("a", "1")]));
        // ip filters
        let ipf = Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("192.168.1.0/24".into())] });
        let p = Pipeline::new(&[ipf]).unwrap();
        assert!(p.matches_line(b"2024-06-01T00:51:57Z INFO [auth] login failed for user=dave ip=192.168.1.6"));
        assert!(!p.matches_line(b"2024-06-01T00:51:48Z WARN [auth] login failed for user=carol ip=192.168.0.4"));
        assert!(
            Pipeline::new(&[Stage::LineFilter(LineFilter {
                op: LineFilterOp::Contains,
                values: vec![LineFilterValue::Ip("nope".into())]
            })])
            .is_err()
        );
    }

    fn agg(op: RangeOp, pipeline: Vec<Stage>, unwrap: Option<Unwrap>, grouping: Option<Grouping>) -> RangeAggregation {
        RangeAggregation {
            op,
            param: None,
            log: LogExpr { matchers: vec![], pipeline },
            unwrap,
            range: 300_000_000_000,
            offset: 0,
            grouping,
        }
    }

    fn unwrap(label: &str, conversion: UnwrapConversion, post_filters: Vec<LabelFilter>) -> Option<Unwrap> {
        Some(Unwrap { label: label.into(), conversion, post_filters })
    }

    #[test]
    fn sample_extraction() {
        let e = SampleExtractor::new(&agg(RangeOp::CountOverTime, vec![], None, None)).unwrap();
        assert!(e.needs_no_line());
        let mut se = e.for_stream(&nginx());
        let (v, l) = se.process(1, NGINX, &labels(&[("trace_id", "t")])).unwrap();
        assert_eq!(v, 1.0);
        assert_eq!(l.get("trace_id"), Some("t"));
        let e = SampleExtractor::new(&agg(RangeOp::Rate, vec![lf(LineFilterOp::Contains, "POST")], None, None)).unwrap();
        assert!(!e.needs_no_line());
        let mut se = e.for_stream(&nginx());
        assert_eq!(se.process(1, NGINX, &[]).unwrap().0, 1.0);
        assert!(se.process(1, "GET", &[]).is_none());

        let e = SampleExtractor::new(&agg(RangeOp::BytesOverTime, vec![], None, None)).unwrap();
        assert!(!e.needs_no_line());
        assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().0, JSON.len() as f64);
        let e = SampleExtractor::new(&agg(RangeOp::BytesRate, vec![json(), Stage::LineFormat("{{.msg}}".into())], None, None)).unwrap();
        assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().0, "refund issued".len() as f64);

        // unwrap: value, label removed, error handling
        let e = SampleExtractor::new(&agg(RangeOp::SumOverTime, vec![json()], unwrap("latency_ms", UnwrapConversion::None, vec![]), None))
            .unwrap();
        assert!(!e.needs_no_line());
        let mut se = e.for_stream(&payments());
        let (v, l) = se.process(1, JSON, &[]).unwrap();
        assert_eq!(v, 101.0);
        assert_eq!(l.get("latency_ms"), None);
        assert_eq!(l.get("user_name"), Some("erin"));
        assert!(se.process(1, BROKEN, &[]).is_none(), "missing unwrap label: no sample");
        let (v, l) = se.process(1, r#"{"latency_ms":"slow"}"#, &[]).unwrap();
        assert_eq!(v, 0.0);
        assert_eq!(l.get("__error__"), Some("SampleExtractionErr"));
        assert_eq!(l.get("__error_details__"), Some("strconv.ParseFloat: parsing \"slow\": invalid syntax"));
        // same labels twice give the same set
        let a = se.process(1, JSON, &[]).unwrap().1.clone();
        let b = se.process(2, JSON, &[]).unwrap().1.clone();
        assert_eq!(a, b);

        let post = vec![LabelFilter::String(m("__error__", MatchOp::Eq, ""))];
        let e = SampleExtractor::new(&agg(RangeOp::AvgOverTime, vec![json()], unwrap("latency_ms", UnwrapConversion::None, post), None))
            .unwrap();
        assert!(e.for_stream(&payments()).process(1, r#"{"latency_ms":"slow"}"#, &[]).is_none());

        let by = Some(Grouping { without: false, labels: vec!["latency_ms".into()] });
        let e = SampleExtractor::new(&agg(RangeOp::MaxOverTime, vec![json()], unwrap("latency_ms", UnwrapConversion::None, vec![]), by))
            .unwrap();
        assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().1.get("latency_ms"), Some("101"));

        let e = SampleExtractor::new(&agg(
            RangeOp::QuantileOverTime,
            vec![logfmt()],
            unwrap("duration", UnwrapConversion::Duration, vec![]),
            None,
        ))
        .unwrap();
        assert!((e.for_stream(&checkout()).process(1, LOGFMT, &[]).unwrap().0 - 7.2).abs() < 1e-9);
        let e =
            SampleExtractor::new(&agg(RangeOp::SumOverTime, vec![json()], unwrap("size", UnwrapConversion::Bytes, vec![]), None)).unwrap();
        assert_eq!(e.for_stream(&payments()).process(1, JSON, &[]).unwrap().0, 70_000_000.0);

        assert!(SampleExtractor::new(&agg(RangeOp::SumOverTime, vec![], None, None)).is_err());
        assert!(SampleExtractor::new(&agg(RangeOp::CountOverTime, vec![], unwrap("x", UnwrapConversion::None, vec![]), None)).is_err());
    }
}

/// Checks every entry Loki returned for some conformance log queries: the entry must
/// pass our pipeline with the same line and the same labels. Skipped when the shared
/// conformance files are not there.
#[cfg(test)]
mod conformance {
    use super::*;
    use crate::ast::*;
    use std::collections::HashMap;

    const DIR: &str = "/work/shared/conformance";

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher { name: name.into(), op, value: value.into() }
    }
    fn sf(name: &str, op: MatchOp, v: &str) -> Stage {
        Stage::LabelFilter(LabelFilter::String(m(name, op, v)))
    }
    fn logfmt() -> Stage {
        Stage::Parser(ParserStage::Logfmt { strict: false, keep_empty: false, params: vec![] })
    }
    fn json() -> Stage {
        Stage::Parser(ParserStage::Json(vec![]))
    }

    fn queries() -> Vec<(&'static str, Vec<Stage>)> {
        let name = |n: &str| NamedMatcher::Name(n.into());
        vec![
            (r#"{app="checkout"} | logfmt"#, vec![logfmt()]),
            (r#"{app="checkout"} | logfmt | level="error""#, vec![logfmt(), sf("level", MatchOp::Eq, "error")]),
            (
                r#"{app="checkout"} | logfmt | status >= 500"#,
                vec![logfmt(), Stage::LabelFilter(LabelFilter::Number { name: "status".into(), op: CmpOp::Gte, value: 500.0 })],
            ),
            (
                r#"{app="checkout"} | logfmt | duration > 500ms"#,
                vec![logfmt(), Stage::LabelFilter(LabelFilter::Duration { name: "duration".into(), op: CmpOp::Gt, value: 500_000_000 })],
            ),
            (
                r#"{app="checkout"} | logfmt user, order_id"#,
                vec![Stage::Parser(ParserStage::Logfmt {
                    strict: false,
                    keep_empty: false,
                    params: vec![
                        ExtractionParam { name: "user".into(), path: None },
                        ExtractionParam { name: "order_id".into(), path: None },
                    ],
                })],
            ),
            (
                r#"{app="checkout"} | logfmt | line_format "{{.user}} paid {{.amount}}""#,
                vec![logfmt(), Stage::LineFormat("{{.user}} paid {{.amount}}".into())],
            ),
            (
                r#"{app="checkout"} | logfmt | label_format who=user"#,
                vec![logfmt(), Stage::LabelFormat(vec![LabelFormatItem::Rename { dst: "who".into(), src: "user".into() }])],
            ),
            (
                r#"{app="checkout"} | logfmt | label_format greeting="hello {{.user}}""#,
                vec![
                    logfmt(),
                    Stage::LabelFormat(vec![LabelFormatItem::Template { dst: "greeting".into(), template: "hello {{.user}}".into() }]),
                ],
            ),
            (r#"{app="checkout"} | logfmt | keep user, level"#, vec![logfmt(), Stage::Keep(vec![name("user"), name("level")])]),
            (
                r#"{app="checkout"} | logfmt | drop order_id, amount, duration, msg"#,
                vec![logfmt(), Stage::Drop(vec![name("order_id"), name("amount"), name("duration"), name("msg")])],
            ),
            (r#"{app="payments"} | json"#, vec![json()]),
            (r#"{app="payments"} | json | __error__="""#, vec![json(), sf("__error__", MatchOp::Eq, "")]),
            (r#"{app="payments"} | json | __error__!="""#, vec![json(), sf("__error__", MatchOp::Neq, "")]),
            (
                r#"{app="payments"} | json lvl="level", uid="user.id""#,
                vec![Stage::Parser(ParserStage::Json(vec![
                    ExtractionParam { name: "lvl".into(), path: Some("level".into()) },
                    ExtractionParam { name: "uid".into(), path: Some("user.id".into()) },
                ]))],
            ),
            (
                r#"{app="payments"} | json | size > 100KB"#,
                vec![json(), Stage::LabelFilter(LabelFilter::Bytes { name: "size".into(), op: CmpOp::Gt, value: 100_000 })],
            ),
            (
                r#"{app="payments"} | json | line_format "{{.level | ToUpper}} {{.msg}}""#,
                vec![json(), Stage::LineFormat("{{.level | ToUpper}} {{.msg}}".into())],
            ),
            (
                r#"{app="payments"} | json | line_format "{{ if eq .level \"error\" }}ERR{{ else }}ok{{ end }} {{.region}}""#,
                vec![json(), Stage::LineFormat(r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{.region}}"#.into())],
            ),
            (
                r#"{job="nginx"} | pattern "<ip> - <user> [<_>] \"<method> <path> <_>\" <status> <bytes> <_>""#,
                vec![Stage::Parser(ParserStage::Pattern(r#"<ip> - <user> [<_>] "<method> <path> <_>" <status> <bytes> <_>"#.into()))],
            ),
            (
                r#"{job="nginx"} | regexp "\" (?P<status>\\d{3}) (?P<bytes>\\d+) ""#,
                vec![Stage::Parser(ParserStage::Regexp(r#"" (?P<status>\d{3}) (?P<bytes>\d+) "#.into()))],
            ),
            (r#"{app="auth"} | decolorize"#, vec![Stage::Decolorize]),
            (
                r#"{app="auth"} | regexp "user=(?P<user>\\w+)" | user="carol""#,
                vec![Stage::Parser(ParserStage::Regexp(r"user=(?P<user>\w+)".into())), sf("user", MatchOp::Eq, "carol")],
            ),
            (r#"{app="auth"} | trace_id!="""#, vec![sf("trace_id", MatchOp::Neq, "")]),
            (
                r#"{app="auth"} |> "<_> WARN <_>""#,
                vec![Stage::LineFilter(LineFilter {
                    op: LineFilterOp::Pattern,
                    values: vec![LineFilterValue::Literal("<_> WARN <_>".into())],
                })],
            ),
            (
                r#"{app="auth"} |= ip("192.168.1.0/24")"#,
                vec![Stage::LineFilter(LineFilter {
                    op: LineFilterOp::Contains,
                    values: vec![LineFilterValue::Ip("192.168.1.0/24".into())],
                })],
            ),
        ]
    }

    #[test]
    fn loki_answers() {
        let (Ok(dataset), Ok(cases)) =
            (std::fs::read_to_string(format!("{DIR}/dataset.jsonl")), std::fs::read_to_string(format!("{DIR}/cases.json")))
        else {
            eprintln!("conformance files not found; skipped");
            return;
        };
        // (ts, stream labels) -> (line, metadata); all streams have distinct label sets
        let mut entries: HashMap<(String, String), (LabelSet, String, Vec<Label>)> = HashMap::new();
        let mut streams_by_ts: HashMap<String, Vec<LabelSet>> = HashMap::new();
        for body in dataset.lines() {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            for s in v["streams"].as_array().unwrap() {
                let stream = LabelSet::from_pairs(
                    s["stream"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
                );
                for e in s["values"].as_array().unwrap() {
                    let ts = e[0].as_str().unwrap().to_string();
                    let md: Vec<Label> = e
                        .get(2)
                        .and_then(|m| m.as_object())
                        .map(|m| m.iter().map(|(k, v)| Label::new(k.clone(), v.as_str().unwrap())).collect())
                        .unwrap_or_default();
                    entries.insert((ts.clone(), stream.to_string()), (stream.clone(), e[1].as_str().unwrap().to_string(), md));
                    streams_by_ts.entry(ts).or_default().push(stream.clone());
                }
            }
        }
        let cases: serde_json::Value = serde_json::from_str(&cases).unwrap();
        let mut checked = 0;
        let sel = regex::Regex::new(r#"^\{(\w+)="([^"]+)"\}"#).unwrap();
        for (query, stages) in queries() {
            let p = Pipeline::new(&stages).unwrap();
            let mut found = false;
            for c in cases["cases"].as_array().unwrap() {
                if c["params"]["query"].as_str() != Some(query) || c["resultType"].as_str() != Some("streams") {
                    continue;
                }
                found = true;
                for s in c["result"].as_array().unwrap() {
                    let want = LabelSet::from_pairs(
                        s["stream"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
                    );
                    for e in s["values"].as_array().unwrap() {
                        let ts = e[0].as_str().unwrap();
                        let want_line = e[1].as_str().unwrap();
                        // find the source entry among the streams with that timestamp
                        let mut ok = false;
                        let mut got_desc = String::new();
                        for stream in streams_by_ts.get(ts).into_iter().flatten() {
                            let (stream, line, md) = &entries[&(ts.to_string(), stream.to_string())];
                            let mut sp = p.for_stream(stream);
                            if let Some(r) = sp.process(ts.parse().unwrap(), line, md) {
                                let all = r.labels.all();
                                if r.line == want_line && all == want {
                                    ok = true;
                                    break;
                                }
                                got_desc = format!("{all} {:?}", r.line);
                            }
                        }
                        assert!(ok, "{query}: entry {ts} want {want} {want_line:?}, got {got_desc}");
                        checked += 1;
                    }
                }
            }
            assert!(found, "no case for {query}");
            // When Loki returned fewer entries than the limit, the answer is complete:
            // we must keep exactly as many.
            let caps = sel.captures(query).unwrap();
            let total: usize = cases["cases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["params"]["query"].as_str() == Some(query) && c["params"]["direction"].as_str() == Some("forward"))
                .flat_map(|c| c["result"].as_array().unwrap().iter().map(|s| s["values"].as_array().unwrap().len()))
                .sum();
            if total < 100 {
                let mut ours = 0;
                for (stream, line, md) in entries.values() {
                    if stream.get(&caps[1]) != Some(&caps[2]) {
                        continue;
                    }
                    if p.for_stream(stream).process(0, line, md).is_some() {
                        ours += 1;
                    }
                }
                assert_eq!(ours, total, "{query}: complete answer size");
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}
