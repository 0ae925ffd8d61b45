//! Running a pipeline over the entries of one stream: the per-stream state, the stage
//! loop and the `drop`/`keep` label edits.

use super::labels::{ERROR_DETAILS_LABEL, ERROR_LABEL, LabelsBuilder, assign_labels, sanitize_key_into};
use super::stage::{CompiledStage, DropKeepItem, LabelFmt, decolorize_regex};
use super::template::ERR_TEMPLATE;
use super::{Inner, LabelsResult, Pipeline, Processed, json, labels};
use skald_common::{Label, LabelSet};
use std::sync::Arc;

impl Pipeline {
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
pub(super) enum Cur {
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
    pub(super) b: LabelsBuilder,
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

/// Loki's `ShouldContinueParsingLine` for each label a parser just set (the parsed
/// labels from position `from` on: parsers append, never remove): the first
/// single-label filter on that label decides.
fn early_filters_pass(inner: &Inner, b: &mut LabelsBuilder, from: usize) -> bool {
    for i in from..b.parsed_len() {
        let name = &b.parsed.as_slice()[i].name;
        let Some(&(_, index)) = inner.early.iter().find(|(n, _)| n == name) else { continue };
        if let CompiledStage::LabelFilter(f) = &inner.stages[index]
            && !f.process(b)
        {
            return false;
        }
    }
    true
}

impl StreamPipeline {
    /// Runs the stages; `None` when the entry is filtered out.
    pub(super) fn run(&mut self, ts: i64, line: &str, metadata: &[Label]) -> Option<Cur> {
        self.b.reset();
        if !metadata.is_empty() {
            self.b.add_metadata(metadata);
        }
        let mut cur = Cur::Input;
        let inner = &*self.inner;
        for stage in &inner.stages {
            let (input, out, out_idx) = io(&mut self.bufs, cur, line);
            let parsed_before = self.b.parsed_len();
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
                            if self.b.collides(&self.key) {
                                self.key.push_str(labels::DUPLICATE_SUFFIX);
                            }
                            if self.b.is_extracted(&self.key) {
                                continue;
                            }
                            let v = caps.get(*i).map(|m| m.as_bytes()).unwrap_or(b"");
                            self.val.clear();
                            self.val.push_str(&String::from_utf8_lossy(v));
                            self.b.set_parsed_new(&self.key, &self.val);
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
                        if b.collides(key) {
                            key.push_str(labels::DUPLICATE_SUFFIX);
                        }
                        if b.is_extracted(key) {
                            return;
                        }
                        val.clear();
                        val.push_str(&String::from_utf8_lossy(v));
                        b.set_parsed_new(key, val);
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
            if stage.is_parser() && !inner.early.is_empty() && !early_filters_pass(inner, &mut self.b, parsed_before) {
                return None;
            }
        }
        Some(cur)
    }

    pub(super) fn line<'a>(&'a self, cur: Cur, line: &'a str) -> &'a str {
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
