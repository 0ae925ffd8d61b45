//! `line_format`/`label_format` templates: Go text/template (the `gotmpl` crate) with
//! Loki's function map (its own functions and the sprig subset it enables), the
//! `__line__`/`__timestamp__` functions and `missingkey=zero` semantics.

mod compare;
mod convert;
mod functions;
mod go_errors;
mod go_time;
mod go_types;
mod indexing;
mod strings;

use super::labels::LabelsBuilder;
use functions::functions;
pub use functions::functions as template_functions;
use go_errors::SiteCollector;
use gotmpl::parse::{Expr, ListNode, Node, PipeNode};
use gotmpl::{Template, TemplateError, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ERR_TEMPLATE: &str = "TemplateFormatErr";

thread_local! {
    static CURRENT: RefCell<(String, i64)> = const { RefCell::new((String::new(), 0)) };
}

/// A compiled template.
pub struct CompiledTemplate {
    tmpl: Template,
    /// `{{.name}}` alone: copy the label value directly.
    pub simple_key: Option<String>,
    /// Field names the template refers to (given "" when missing, as Go does for a
    /// `map[string]string` with `missingkey=zero`).
    fields: Vec<Arc<str>>,
    uses_line: bool,
    uses_ts: bool,
    /// The source and parsed tree, to word errors no call site claimed as Go does.
    source: Box<Source>,
}

struct Source {
    name: String,
    src: String,
    root: ListNode,
}

impl std::fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTemplate").field("simple_key", &self.simple_key).finish()
    }
}

const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le",
    "lt", "ne",
];

/// Calls `f` on every action's, branch's and template call's pipeline, in source order
/// (nested pipelines inside arguments are the caller's to walk).
pub(super) fn for_each_pipe(l: &ListNode, f: &mut dyn FnMut(&PipeNode)) {
    for n in &l.nodes {
        match n {
            Node::List(l) => for_each_pipe(l, f),
            Node::Action(a) => f(&a.pipe),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                f(&b.pipe);
                for_each_pipe(&b.body, f);
                if let Some(e) = &b.else_body {
                    for_each_pipe(e, f);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    f(p);
                }
            }
            _ => {}
        }
    }
}

fn walk_list(l: &ListNode, fields: &mut Vec<Arc<str>>, idents: &mut Vec<String>) {
    for_each_pipe(l, &mut |p| walk_pipe(p, fields, idents));
}

fn walk_pipe(p: &PipeNode, fields: &mut Vec<Arc<str>>, idents: &mut Vec<String>) {
    for c in &p.commands {
        for e in &c.args {
            walk_expr(e, fields, idents);
        }
    }
}

fn walk_expr(e: &Expr, fields: &mut Vec<Arc<str>>, idents: &mut Vec<String>) {
    match e {
        Expr::Field(_, names) => {
            if let Some(f) = names.first() {
                fields.push(Arc::from(f.as_str()));
            }
        }
        Expr::Identifier(_, name) => idents.push(name.to_string()),
        Expr::Pipe(_, p) => walk_pipe(p, fields, idents),
        Expr::Chain(_, inner, _) => walk_expr(inner, fields, idents),
        _ => {}
    }
}

fn simple_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^\{\{(?:- )?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*(?: -)?\}\}$").expect("static regex"))
}

impl CompiledTemplate {
    pub fn new(name: &str, src: &str) -> Result<CompiledTemplate, String> {
        let parsed = with_functions(Template::new(name)).parse(src).map_err(|e| e.to_string())?;
        let simple_key = simple_regex().captures(src).map(|c| c[1].to_string());
        let mut fields: Vec<Arc<str>> = Vec::new();
        let mut idents: Vec<String> = Vec::new();
        let root = parsed.lookup(name).cloned().unwrap_or(ListNode { pos: gotmpl::parse::Pos::new(0, 1), nodes: Vec::new() });
        walk_list(&root, &mut fields, &mut idents);
        let known: Vec<&str> = functions().iter().map(|(n, _)| *n).chain(GO_BUILTINS.iter().copied()).collect();
        for i in &idents {
            if !known.contains(&i.as_str()) {
                return Err(format!("template: {name}:1: function {} not defined", skald_common::go_quote(i)));
            }
        }
        fields.sort();
        fields.dedup();
        let tmpl = with_call_sites(name, src, parsed)?;
        Ok(CompiledTemplate {
            tmpl,
            simple_key,
            fields,
            uses_line: src.contains("__line__"),
            uses_ts: src.contains("__timestamp__"),
            source: Box::new(Source { name: name.to_string(), src: src.to_string(), root }),
        })
    }

    /// The template data: every label (with `__error__`/`__error_details__`).
    pub fn data(&self, b: &LabelsBuilder) -> Value {
        let mut m: BTreeMap<Arc<str>, Value> = BTreeMap::new();
        b.for_each(|n, v| {
            m.insert(Arc::from(n), Value::String(Arc::from(v)));
        });
        for f in &self.fields {
            m.entry(f.clone()).or_insert_with(|| Value::String(Arc::from("")));
        }
        Value::Map(Arc::new(m))
    }

    pub fn execute(&self, data: &Value, line: &str, ts: i64, out: &mut String) -> Result<(), String> {
        if self.uses_line || self.uses_ts {
            CURRENT.with(|c| {
                let mut c = c.borrow_mut();
                c.0.clear();
                if self.uses_line {
                    c.0.push_str(line);
                }
                c.1 = ts;
            });
        }
        out.clear();
        self.tmpl.execute_fmt(out, data).map_err(|e| match e {
            TemplateError::Exec(m) if go_errors::is_located(&m) => m,
            other => go_errors::unattributed(&self.source.name, &self.source.src, &self.source.root, data, &other),
        })
    }
}

fn with_functions(mut t: Template) -> Template {
    for (fname, f) in functions() {
        t = t.func(fname, f);
    }
    t
}

/// The template to execute: `parsed` itself when it calls no function, else the source
/// parsed again with each call going to an alias that words the function's errors as Go
/// does at that call site (see `go_errors`).
fn with_call_sites(name: &str, src: &str, parsed: Template) -> Result<Template, String> {
    let functions: BTreeMap<&'static str, Arc<functions::F>> = functions().into_iter().map(|(n, f)| (n, Arc::new(f))).collect();
    let is_function = |n: &str| functions.contains_key(n);
    let mut collector =
        SiteCollector { parse_name: name, tmpl: name, src, known: &is_function, sites: Vec::new(), vars: Default::default() };
    for template in parsed.templates() {
        if let Some(body) = parsed.lookup(template) {
            collector.tmpl = template;
            collector.list(body);
        }
    }
    let mut sites = collector.sites;
    sites.sort_by_key(|s| s.offset);
    sites.dedup_by_key(|s| s.offset);
    if sites.is_empty() || sites.iter().any(|s| src.get(s.offset..s.offset + s.name.len()) != Some(s.name.as_str())) {
        return Ok(parsed);
    }
    let mut renamed = String::with_capacity(src.len() + sites.len() * 8);
    let mut at = 0;
    let mut t = with_functions(Template::new(name));
    for (i, site) in sites.into_iter().enumerate() {
        let alias = go_errors::alias(&site.name, i);
        renamed.push_str(&src[at..site.offset]);
        renamed.push_str(&alias);
        at = site.offset + site.name.len();
        match functions.get(site.name.as_str()).cloned() {
            Some(f) => {
                t = t.func(&alias, move |a: &[Value]| {
                    if let Some(e) = site.static_error().or_else(|| site.runtime_error(a)) {
                        return Err(e);
                    }
                    f(a).map_err(|e| site.wrap(e))
                })
            }
            // A builtin of gotmpl's that Go refuses here: the call only fails.
            None => t = t.func(&alias, move |_: &[Value]| Err(site.static_error().unwrap_or_else(|| TemplateError::Exec(String::new())))),
        }
    }
    renamed.push_str(&src[at..]);
    t.parse(&renamed).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::LabelSet;

    fn render(tmpl: &str, labels: &[(&str, &str)]) -> Result<String, String> {
        let t = CompiledTemplate::new("line", tmpl)?;
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments")]));
        for (n, v) in labels {
            b.set_parsed(n, v);
        }
        let mut out = String::new();
        t.execute(&t.data(&b), "the line", 1_717_200_001_582_000_000, &mut out)?;
        Ok(out)
    }

    #[test]
    fn loki_examples() {
        assert_eq!(render("{{.level | ToUpper}} {{.msg}}", &[("level", "info")]).unwrap(), "INFO ");
        assert_eq!(
            render(r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{.region}}"#, &[("level", "error"), ("region", "eu")]).unwrap(),
            "ERR eu"
        );
        assert_eq!(render("{{.user}} paid {{.amount}}", &[("user", "erin"), ("amount", "0.25")]).unwrap(), "erin paid 0.25");
        assert_eq!(render("hello {{.app}}", &[]).unwrap(), "hello payments");
    }

    #[test]
    fn functions_work() {
        assert_eq!(render("{{ __line__ }}", &[]).unwrap(), "the line");
        assert_eq!(render("{{ __timestamp__ | unixEpochMillis }}", &[]).unwrap(), "1717200001582");
        assert_eq!(render(r#"{{ __timestamp__ | date "2006-01-02T15:04:05.000Z07:00" }}"#, &[]).unwrap(), "2024-06-01T00:00:01.582Z");
        assert_eq!(render(r#"{{ regexReplaceAll "(a+)" .x "<$1>" }}"#, &[("x", "baab")]).unwrap(), "b<aa>b");
        assert_eq!(render(r#"{{ Replace .x "a" "o" -1 }}|{{ replace "a" "o" .x }}"#, &[("x", "banana")]).unwrap(), "bonono|bonono");
        assert_eq!(render(r#"{{ .x | trunc 3 }}|{{ substr 1 3 .x }}|{{ alignRight 5 .x }}"#, &[("x", "abcd")]).unwrap(), "abc|bc| abcd");
        assert_eq!(render(r#"{{ add 1 .n }} {{ mulf .n 1.5 }} {{ div 7 2 }}"#, &[("n", "4")]).unwrap(), "5 6 3");
        assert_eq!(render(r#"{{ default "none" .missing }}"#, &[]).unwrap(), "none");
        assert_eq!(render(r#"{{ .x | b64enc }}|{{ .x | b64enc | b64dec }}"#, &[("x", "hello!?")]).unwrap(), "aGVsbG8hPw==|hello!?");
        assert_eq!(render(r#"{{ duration .d }}|{{ bytes .b }}"#, &[("d", "1.5s"), ("b", "2KB")]).unwrap(), "1.5|2000");
        assert_eq!(render(r#"{{ printf "%05.1f" 3.14159 }}|{{ len .x }}"#, &[("x", "abc")]).unwrap(), "003.1|3");
        assert_eq!(render(r#"{{ if contains "err" .x }}yes{{end}}"#, &[("x", "an error")]).unwrap(), "yes");
        assert_eq!(render(r#"{{ "a b" | title }} {{ unixToTime "1717200001" | unixEpoch }}"#, &[]).unwrap(), "A B 1717200001");
        assert_eq!(render(r#"{{ toDate "2006-01-02" "2024-06-01" | unixEpoch }}"#, &[]).unwrap(), "1717200000");
        assert!(CompiledTemplate::new("line", "{{ nosuchfn .x }}").is_err());
        assert!(CompiledTemplate::new("line", "{{ .x ").is_err());
    }

    #[test]
    fn functions_loki_does_not_have_are_refused() {
        for name in ["toJson", "abbrev", "abs"] {
            let error = CompiledTemplate::new("line", &format!("{{{{ {name} .x }}}}")).unwrap_err();
            assert_eq!(error, format!("template: line:1: function \"{name}\" not defined"));
        }
    }

    #[test]
    fn to_date_in_zone_reads_the_wall_time_in_the_zone() {
        // Go: time.ParseInLocation in Europe/Paris prints as CET/CEST with its offset.
        assert_eq!(
            render(r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2024-01-02 10:00" }}"#, &[]).unwrap(),
            "2024-01-02 10:00:00 +0100 CET"
        );
        assert_eq!(
            render(r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2024-07-02 10:00" | unixEpoch }}"#, &[]).unwrap(),
            "1719907200"
        );
        assert_eq!(
            render(r#"{{ toDateInZone "2006-01-02 15:04" "America/New_York" "2024-01-02 10:00" | unixEpoch }}"#, &[]).unwrap(),
            "1704207600"
        );
        // A value with its own offset keeps it; an unknown zone is UTC.
        assert_eq!(
            render(r#"{{ toDateInZone "2006-01-02 15:04 -0700" "Asia/Tokyo" "2024-01-02 10:00 +0000" | unixEpoch }}"#, &[]).unwrap(),
            "1704189600"
        );
        assert_eq!(
            render(r#"{{ toDateInZone "2006-01-02 15:04" "Mars/Olympus" "2024-01-02 10:00" }}"#, &[]).unwrap(),
            "2024-01-02 10:00:00 +0000 UTC"
        );
    }

    #[test]
    fn simple_key_detection() {
        assert_eq!(CompiledTemplate::new("l", "{{.message}}").unwrap().simple_key.as_deref(), Some("message"));
        assert_eq!(CompiledTemplate::new("l", "{{ .message }}").unwrap().simple_key.as_deref(), Some("message"));
        assert_eq!(CompiledTemplate::new("l", "{{.message | ToUpper}}").unwrap().simple_key, None);
    }
}
