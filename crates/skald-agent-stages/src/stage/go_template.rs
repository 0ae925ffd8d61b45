//! Go templates for the `template` and `replace` stages.
//!
//! The engine is the `gotmpl` crate with the function map LogQL's `line_format` uses
//! (`skald_logql::pipeline::template_functions`: `ToLower`, `ToUpper`, `Replace`,
//! `Trim*`, `regexReplaceAll*` and the sprig subset), less LogQL's `__line__` and
//! `__timestamp__`, plus Promtail's `Hash` (SHA3-256) and `Sha2Hash` (SHA-256) of
//! `salt + input`. The data is a map of strings; a missing key renders `<no value>`, as
//! Go does for Promtail's `map[string]interface{}`. A call to an unknown function is
//! refused when the stage is built, as Go's parser does.

use gotmpl::parse::{Expr, ListNode, Node, PipeNode};
use gotmpl::{Template, Value};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Arc;

const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le",
    "lt", "ne",
];

const LOGQL_ONLY: &[&str] = &["__line__", "__timestamp__"];

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn two_strings(name: &str, args: &[Value]) -> gotmpl::Result<String> {
    match args {
        [salt, input] => Ok(text(salt) + &text(input)),
        _ => Err(gotmpl::TemplateError::Exec(format!("{name}: wants 2 arguments, got {}", args.len()))),
    }
}

/// A compiled template.
pub struct GoTemplate {
    template: Template,
}

impl std::fmt::Debug for GoTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GoTemplate")
    }
}

impl GoTemplate {
    pub fn new(source: &str) -> Result<GoTemplate, String> {
        let name = "pipeline_template";
        let mut template = Template::new(name);
        let mut known: Vec<&'static str> = GO_BUILTINS.to_vec();
        for (fname, f) in skald_logql::pipeline::template_functions() {
            if LOGQL_ONLY.contains(&fname) {
                continue;
            }
            known.push(fname);
            template = template.func(fname, f);
        }
        template = template.func("Hash", |args: &[Value]| {
            let input = two_strings("Hash", args)?;
            Ok(Value::String(Arc::from(hex(&sha3::Sha3_256::digest(input.as_bytes())))))
        });
        template = template.func("Sha2Hash", |args: &[Value]| {
            let input = two_strings("Sha2Hash", args)?;
            Ok(Value::String(Arc::from(hex(&sha2::Sha256::digest(input.as_bytes())))))
        });
        known.extend(["Hash", "Sha2Hash"]);
        let template = template.parse(source).map_err(|e| format!("could not parse template {source:?}: {e}"))?;
        let mut idents = Vec::new();
        if let Some(root) = template.lookup(name) {
            walk_list(root, &mut idents);
        }
        for ident in idents {
            if !known.contains(&ident.as_str()) {
                return Err(format!("could not parse template {source:?}: function {ident:?} not defined"));
            }
        }
        Ok(GoTemplate { template })
    }

    /// Renders the template over string `fields`.
    pub fn render(&self, fields: &BTreeMap<String, String>) -> Result<String, String> {
        let mut map: BTreeMap<Arc<str>, Value> = BTreeMap::new();
        for (name, value) in fields {
            map.insert(Arc::from(name.as_str()), Value::String(Arc::from(value.as_str())));
        }
        let mut out = String::new();
        self.template.execute_fmt(&mut out, &Value::Map(Arc::new(map))).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

fn walk_list(list: &ListNode, idents: &mut Vec<String>) {
    for node in &list.nodes {
        match node {
            Node::List(l) => walk_list(l, idents),
            Node::Action(a) => walk_pipe(&a.pipe, idents),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                walk_pipe(&b.pipe, idents);
                walk_list(&b.body, idents);
                if let Some(e) = &b.else_body {
                    walk_list(e, idents);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    walk_pipe(p, idents);
                }
            }
            _ => {}
        }
    }
}

fn walk_pipe(pipe: &PipeNode, idents: &mut Vec<String>) {
    for command in &pipe.commands {
        for arg in &command.args {
            walk_expr(arg, idents);
        }
    }
}

fn walk_expr(expr: &Expr, idents: &mut Vec<String>) {
    match expr {
        Expr::Identifier(_, name) => idents.push(name.to_string()),
        Expr::Pipe(_, p) => walk_pipe(p, idents),
        Expr::Chain(_, inner, _) => walk_expr(inner, idents),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, fields: &[(&str, &str)]) -> Result<String, String> {
        let t = GoTemplate::new(src)?;
        let map = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        t.render(&map)
    }

    #[test]
    fn promtail_functions() {
        let f = &[("Value", "Hello World"), ("app", "loki")];
        let cases: &[(&str, &str)] = &[
            ("{{ ToLower .Value }}", "hello world"),
            ("{{ .Value | ToUpper }}", "HELLO WORLD"),
            (r#"{{ Replace .Value "World" "Loki" -1 }}"#, "Hello Loki"),
            (r#"{{ Trim .Value "Hd" }}"#, "ello Worl"),
            (r#"{{ TrimLeft .Value "He" }}"#, "llo World"),
            (r#"{{ TrimRight .Value "dl" }}"#, "Hello Wor"),
            (r#"{{ TrimPrefix .Value "Hello " }}"#, "World"),
            (r#"{{ TrimSuffix .Value " World" }}"#, "Hello"),
            (r#"{{ TrimSpace "  x  " }}"#, "x"),
            (r#"{{ regexReplaceAll "(\\w+) (\\w+)" .Value "${2}_$1" }}"#, "World_Hello"),
            (r#"{{ regexReplaceAllLiteral "o" .Value "$1" }}"#, "Hell$1 W$1rld"),
            ("{{ .app }}-{{ .missing }}", "loki-<no value>"),
            (r#"{{ if eq .app "loki" }}yes{{ end }}"#, "yes"),
        ];
        for (src, want) in cases {
            assert_eq!(render(src, f).as_deref(), Ok(*want), "{src}");
        }
        let sha2 = hex(&sha2::Sha256::digest(b"saltx"));
        assert_eq!(render(r#"{{ Sha2Hash "salt" "x" }}"#, f), Ok(sha2));
        let sha3 = render(r#"{{ Hash "salt" "x" }}"#, f).unwrap();
        // SHA3-256("saltx"), not SHA-256
        assert_eq!(sha3.len(), 64);
        assert_eq!(sha3, hex(&sha3::Sha3_256::digest(b"saltx")));
        assert_ne!(sha3, hex(&sha2::Sha256::digest(b"saltx")));
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(GoTemplate::new("{{ NoSuchFunc .Value }}").unwrap_err().contains("NoSuchFunc"));
        assert!(GoTemplate::new("{{ __line__ }}").is_err());
        assert!(GoTemplate::new("{{ .Value ").is_err());
    }
}
