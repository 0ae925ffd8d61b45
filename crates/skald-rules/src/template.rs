//! Alert label and annotation templates as Prometheus expands them (`template/template.go`):
//! Go text/template with `$labels`, `$value`, `$externalLabels` and `$externalURL`
//! defined, and Prometheus' functions (`humanize`, `humanizeDuration`, `title`,
//! `reReplaceAll`...). A template that fails renders as `<error expanding template: ...>`,
//! as Prometheus renders it; rule files are checked when loaded so that is rare.
//!
//! Not here: the functions over query results (`query`, `first`, `label`, `value`,
//! `sortByLabel`, `strvalue`): a template using them is refused when the rule is loaded.

use crate::alert::Labels;
use gotmpl::parse::{Expr, ListNode, Node, PipeNode};
use gotmpl::{Template, TemplateError, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Defines the variables every alert template sees (Prometheus' `defs`).
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// What a template sees besides the series.
#[derive(Debug, Clone, Default)]
pub struct TemplateContext {
    pub external_labels: Labels,
    pub external_url: String,
}

/// Parses `text` as the template of alert `rule`, with Prometheus' functions.
pub fn parse(rule: &str, text: &str) -> Result<Template, String> {
    let name = format!("__alert_{rule}");
    let mut t = Template::new(&name);
    for (fname, f) in functions() {
        t = t.func(fname, f);
    }
    let t = t.parse(&format!("{DEFS}{text}")).map_err(|e| format!("error parsing template {name}: {e}"))?;
    // Go refuses an unknown function when parsing; gotmpl only when calling it.
    let known: Vec<&str> = functions().iter().map(|(n, _)| *n).chain(GO_BUILTINS.iter().copied()).collect();
    let mut unknown = None;
    for root in t.templates().iter().filter_map(|n| t.lookup(n)) {
        walk_identifiers(root, &mut |ident| {
            if unknown.is_none() && !known.contains(&ident) {
                unknown = Some(ident.to_string());
            }
        });
    }
    match unknown {
        Some(ident) => {
            Err(format!("error parsing template {name}: template: {name}:1: function {} not defined", skald_common::go_quote(&ident)))
        }
        None => Ok(t),
    }
}

const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le",
    "lt", "ne",
];

/// Calls `f` on every function name a template calls.
fn walk_identifiers(list: &ListNode, f: &mut dyn FnMut(&str)) {
    fn pipe(p: &PipeNode, f: &mut dyn FnMut(&str)) {
        for cmd in &p.commands {
            for arg in &cmd.args {
                expr(arg, f);
            }
        }
    }
    fn expr(e: &Expr, f: &mut dyn FnMut(&str)) {
        match e {
            Expr::Identifier(_, name) => f(name),
            Expr::Pipe(_, p) => pipe(p, f),
            Expr::Chain(_, inner, _) => expr(inner, f),
            _ => {}
        }
    }
    for node in &list.nodes {
        match node {
            Node::List(l) => walk_identifiers(l, f),
            Node::Action(a) => pipe(&a.pipe, f),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                pipe(&b.pipe, f);
                walk_identifiers(&b.body, f);
                if let Some(e) = &b.else_body {
                    walk_identifiers(e, f);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    pipe(p, f);
                }
            }
            _ => {}
        }
    }
}

/// Label names a template reads as `$labels.x` / `.Labels.x` (and the external labels'):
/// Go gives a missing key of a `map[string]string` as "" (`missingkey=zero`), gotmpl as
/// `<no value>`, so the names read are filled with "" first.
fn referenced(text: &str, map: &str) -> Vec<String> {
    let variable = if map == "Labels" { "$labels." } else { "$externalLabels." };
    let field = format!(".{map}.");
    let mut out = Vec::new();
    for prefix in [variable, field.as_str()] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Expands `text` for one series (Prometheus' `Expand`; errors rendered in the text).
pub fn expand(rule: &str, text: &str, labels: &Labels, value: f64, ctx: &TemplateContext) -> String {
    // Texts without an action are the common case: no template to run.
    if !text.contains("{{") {
        return text.to_string();
    }
    let result = parse(rule, text).and_then(|t| {
        let data = data(text, labels, value, ctx);
        t.execute_to_string(&data).map_err(|e| format!("error executing template __alert_{rule}: {e}"))
    });
    match result {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

fn string_map(m: &Labels, read: Vec<String>) -> Value {
    let mut map: BTreeMap<Arc<str>, Value> = m.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::String(Arc::from(v.as_str())))).collect();
    for name in read {
        map.entry(Arc::from(name.as_str())).or_insert_with(|| Value::String(Arc::from("")));
    }
    Value::Map(Arc::new(map))
}

fn data(text: &str, labels: &Labels, value: f64, ctx: &TemplateContext) -> Value {
    let mut m: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    m.insert(Arc::from("Labels"), string_map(labels, referenced(text, "Labels")));
    m.insert(Arc::from("ExternalLabels"), string_map(&ctx.external_labels, referenced(text, "ExternalLabels")));
    m.insert(Arc::from("ExternalURL"), Value::String(Arc::from(ctx.external_url.as_str())));
    m.insert(Arc::from("Value"), Value::Float(value));
    Value::Map(Arc::new(m))
}

type F = Box<dyn Fn(&[Value]) -> gotmpl::Result<Value> + Send + Sync>;

fn err(message: impl Into<String>) -> TemplateError {
    TemplateError::Exec(message.into())
}

fn one<'a>(name: &str, args: &'a [Value]) -> gotmpl::Result<&'a Value> {
    match args {
        [v] => Ok(v),
        _ => Err(err(format!("wrong number of args for {name}: want 1 got {}", args.len()))),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// Prometheus' `convertToFloat`: numbers, and strings parsed as floats.
fn to_float(v: &Value) -> gotmpl::Result<f64> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::String(s) => skald_logql::pipeline::parse_go_float(s).map_err(err),
        other => Err(err(format!("can't convert {} to float", other))),
    }
}

fn float_fn(name: &'static str, f: fn(f64) -> String) -> (&'static str, F) {
    (name, Box::new(move |a: &[Value]| Ok(Value::String(Arc::from(f(to_float(one(name, a)?)?).as_str())))))
}

fn str_fn(name: &'static str, f: fn(&str) -> String) -> (&'static str, F) {
    (name, Box::new(move |a: &[Value]| Ok(Value::String(Arc::from(f(&text(one(name, a)?)).as_str())))))
}

fn go_regex(pattern: &str) -> gotmpl::Result<regex::Regex> {
    regex::Regex::new(&skald_logql::pipeline::translate_go_regex(pattern)).map_err(|e| err(format!("error parsing regexp: {e}")))
}

fn functions() -> Vec<(&'static str, F)> {
    vec![
        float_fn("humanize", crate::humanize::humanize),
        float_fn("humanize1024", crate::humanize::humanize1024),
        float_fn("humanizeDuration", crate::humanize::humanize_duration),
        float_fn("humanizePercentage", crate::humanize::humanize_percentage),
        float_fn("humanizeTimestamp", crate::humanize::humanize_timestamp),
        str_fn("title", crate::humanize::title),
        str_fn("toUpper", |s| s.to_uppercase()),
        str_fn("toLower", |s| s.to_lowercase()),
        str_fn("stripPort", crate::humanize::strip_port),
        str_fn("stripDomain", crate::humanize::strip_domain),
        str_fn("safeHtml", str::to_string),
        str_fn("graphLink", |expr| format!("/graph?g0.expr={}&g0.tab=0", crate::humanize::query_escape(expr))),
        str_fn("tableLink", |expr| format!("/graph?g0.expr={}&g0.tab=1", crate::humanize::query_escape(expr))),
        (
            "match",
            Box::new(|a: &[Value]| match a {
                [pattern, s] => Ok(Value::Bool(go_regex(&text(pattern))?.is_match(&text(s)))),
                _ => Err(err(format!("wrong number of args for match: want 2 got {}", a.len()))),
            }),
        ),
        (
            "reReplaceAll",
            Box::new(|a: &[Value]| match a {
                [pattern, repl, s] => {
                    let re = go_regex(&text(pattern))?;
                    // Go's `$1`/`${name}` expansion reads names as the regex crate does.
                    Ok(Value::String(Arc::from(re.replace_all(&text(s), text(repl).as_str()).as_ref())))
                }
                _ => Err(err(format!("wrong number of args for reReplaceAll: want 3 got {}", a.len()))),
            }),
        ),
        (
            "toTime",
            Box::new(|a: &[Value]| {
                let v = to_float(one("toTime", a)?)?;
                Ok(Value::String(Arc::from(crate::humanize::go_time_string(v).as_str())))
            }),
        ),
        (
            "parseDuration",
            Box::new(|a: &[Value]| {
                let s = text(one("parseDuration", a)?);
                let ms = crate::duration::parse_prom_duration(&s).map_err(err)?;
                Ok(Value::Float(ms as f64 / 1000.0))
            }),
        ),
        (
            "args",
            Box::new(|a: &[Value]| {
                let m: BTreeMap<Arc<str>, Value> =
                    a.iter().enumerate().map(|(i, v)| (Arc::from(format!("arg{i}").as_str()), v.clone())).collect();
                Ok(Value::Map(Arc::new(m)))
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expands_labels_value_and_external_labels() {
        let ctx = TemplateContext { external_labels: labels(&[("cluster", "eu")]), external_url: "http://skald:3100".into() };
        let l = labels(&[("app", "checkout"), ("status", "500")]);
        assert_eq!(
            expand("HighErrors", "{{ $labels.app }} failing at {{ $value }} ({{ $externalLabels.cluster }})", &l, 0.25, &ctx),
            "checkout failing at 0.25 (eu)"
        );
        assert_eq!(expand("A", "{{ $value | humanizePercentage }}", &l, 0.0525, &ctx), "5.25%");
        assert_eq!(expand("A", "{{ humanize $value }}", &l, 1234567.0, &ctx), "1.235M");
        assert_eq!(expand("A", "{{ $labels.missing }}", &l, 1.0, &ctx), "");
        assert_eq!(expand("A", "{{ $externalURL }}", &l, 1.0, &ctx), "http://skald:3100");
        assert_eq!(expand("A", "plain text", &l, 1.0, &ctx), "plain text");
        assert_eq!(expand("A", "{{ reReplaceAll \"(.*)o(.*)\" \"$2-$1\" $labels.app }}", &l, 1.0, &ctx), "ut-check");
        assert_eq!(expand("A", "{{ if match \"^check\" $labels.app }}yes{{ end }}", &l, 1.0, &ctx), "yes");
    }

    #[test]
    fn a_failing_template_renders_the_error() {
        let out = expand("A", "{{ humanize \"abc\" }}", &Labels::new(), 1.0, &TemplateContext::default());
        assert!(out.starts_with("<error expanding template: error executing template __alert_A: "), "{out}");
        assert!(out.contains("invalid syntax"), "{out}");
        let parse_error = expand("A", "{{ nosuch }}", &Labels::new(), 1.0, &TemplateContext::default());
        assert!(parse_error.starts_with("<error expanding template: error parsing template __alert_A: "), "{parse_error}");
    }
}
