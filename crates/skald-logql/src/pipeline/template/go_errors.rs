//! Go's wording of template execution errors, as Loki puts them in `__error_details__`:
//! `template: line:1:3: executing "line" at <div 1 0>: error calling div: runtime error:
//! integer divide by zero`.
//!
//! Go's executor knows which node failed; `gotmpl` reports execution errors without it.
//! So every function call site gets its own alias of the function (the source is parsed
//! again with the call's identifier renamed `name__site<n>`, a name no template can call:
//! the first parse refuses unknown functions), and the alias wraps the function's errors with the site's position and text, as Go's
//! `state.errorf` does: `template: <parse name>:<line>:<byte column>: executing
//! "<template>" at <<node>>: <message>` (Go 1.26, which Loki 3.7 is built with, prints
//! the whole node). Errors not raised by a call
//! (a field of a string: `.a.b`) are attributed to the first node that can raise them.

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, PipeNode, Pos};
use gotmpl::{TemplateError, Value};
use std::fmt::Write;

/// One call of a function in the template source.
#[derive(Debug)]
pub(super) struct CallSite {
    pub name: String,
    /// Byte offset of the function's identifier in the source.
    pub offset: usize,
    /// The frame for errors of the call itself (arity): at the identifier.
    ident_frame: String,
    /// The frame for errors the function returns: at the whole command.
    cmd_frame: String,
    /// Go's refusal of the call (arity, an argument's type), known when compiled (see
    /// `go_types`): the call fails with it whenever it is reached.
    static_error: Option<String>,
    /// Arguments whose type only running tells: (argument, wanted type, frame).
    runtime_checks: Vec<(usize, &'static str, String)>,
}

impl CallSite {
    /// Go's refusal of this call, if it has one.
    pub fn static_error(&self) -> Option<TemplateError> {
        self.static_error.as_ref().map(|m| TemplateError::Exec(m.clone()))
    }

    /// Go's refusal of an argument's type that only running tells.
    pub fn runtime_error(&self, args: &[Value]) -> Option<TemplateError> {
        self.runtime_checks.iter().find_map(|(i, want, frame)| {
            let message = super::go_types::runtime_type_error(args.get(*i)?, want)?;
            Some(TemplateError::Exec(format!("{frame}{message}")))
        })
    }

    /// The function's own error in Go's wording at this site.
    pub fn wrap(&self, error: TemplateError) -> TemplateError {
        match error {
            TemplateError::ArgCount { expected, got, .. } => {
                located(&self.ident_frame, &format!("wrong number of args for {}: want {expected} got {got}", self.name))
            }
            other => located(&self.cmd_frame, &format!("error calling {}: {}", self.name, message(&other))),
        }
    }
}

fn located(frame: &str, message: &str) -> TemplateError {
    TemplateError::Exec(format!("{frame}{message}"))
}

/// A `gotmpl` error's message without its own prefix.
pub(super) fn message(error: &TemplateError) -> String {
    match error {
        TemplateError::Exec(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A message already in Go's wording (made by a call site).
pub(super) fn is_located(m: &str) -> bool {
    m.starts_with("template: ")
}

/// Go's `Tree.ErrorContext` prefix for a node.
fn frame(parse_name: &str, tmpl: &str, src: &str, pos: Pos, context: &str) -> String {
    let offset = pos.offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let (line, col) = match before.rfind('\n') {
        Some(nl) => (1 + before.matches('\n').count(), offset - nl - 1),
        None => (1, offset),
    };
    format!("template: {parse_name}:{line}:{col}: executing {} at <{context}>: ", skald_common::go_quote(tmpl))
}

/// Records every call of a function in `known`.
pub(super) struct SiteCollector<'a> {
    pub parse_name: &'a str,
    pub tmpl: &'a str,
    pub src: &'a str,
    pub known: &'a dyn Fn(&str) -> bool,
    pub sites: Vec<CallSite>,
    /// The static types of variables declared so far (`$v := ...`).
    pub vars: super::go_types::Vars,
}

/// The alias a call site's identifier is renamed to.
pub(super) fn alias(name: &str, site: usize) -> String {
    format!("{name}__site{site}")
}

impl SiteCollector<'_> {
    pub fn list(&mut self, l: &ListNode) {
        super::for_each_pipe(l, &mut |p| self.pipe(p));
    }

    fn pipe(&mut self, p: &PipeNode) {
        for (i, cmd) in p.commands.iter().enumerate() {
            let piped = i.checked_sub(1).map(|prev| super::go_types::command_type(&p.commands[prev], &self.vars));
            let ident = match cmd.args.first() {
                Some(Expr::Identifier(pos, name)) => Some((*pos, name.to_string())),
                Some(Expr::Chain(_, inner, _)) => match inner.as_ref() {
                    Expr::Identifier(pos, name) => Some((*pos, name.to_string())),
                    _ => None,
                },
                _ => None,
            };
            if let Some((pos, name)) = ident {
                let ident_frame = frame(self.parse_name, self.tmpl, self.src, pos, &name);
                let arity = super::go_types::arity_error(&name, cmd.args.len() - 1, piped.is_some()).map(|m| format!("{ident_frame}{m}"));
                let static_error = arity.or_else(|| {
                    super::go_types::check_call(self.src, &name, cmd, piped, &self.vars).map(|(at, message)| {
                        format!("{}{message}", frame(self.parse_name, self.tmpl, self.src, Pos::new(at.offset, 0), &at.context))
                    })
                });
                // Go's own builtins are aliased only to fail as Go fails; the others always.
                if (self.known)(&name) || static_error.is_some() {
                    let cmd_context = command_string(self.src, cmd);
                    let runtime_checks = super::go_types::runtime_checks(self.src, &name, cmd, piped, &self.vars)
                        .into_iter()
                        .map(|c| (c.arg, c.want, frame(self.parse_name, self.tmpl, self.src, Pos::new(c.at.offset, 0), &c.at.context)))
                        .collect();
                    self.sites.push(CallSite {
                        ident_frame,
                        cmd_frame: frame(self.parse_name, self.tmpl, self.src, cmd.pos, &cmd_context),
                        offset: pos.offset,
                        static_error,
                        runtime_checks,
                        name,
                    });
                }
            }
            for e in &cmd.args {
                self.expr(e);
            }
        }
        if let [var] = p.decl.as_slice() {
            let t = super::go_types::pipe_type(p, &self.vars);
            self.vars.declare(var, t);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Pipe(_, p) => self.pipe(p),
            Expr::Chain(_, inner, _) => self.expr(inner),
            _ => {}
        }
    }
}

/// Go's message for an error no call site claimed, located at the first node that can
/// raise it (errors of the template's structure, not of a call): a field of a
/// non-map value (`.a.b`, or `.y` where `with` made dot a string), arguments given to a
/// field, an undefined template, `range` over a string. Anything else gets Go's
/// node-less form.
pub(super) fn unattributed(parse_name: &str, src: &str, root: &ListNode, data: &Value, error: &TemplateError) -> String {
    let m = message(error);
    let at = |pos: Pos, context: &str, message: &str| format!("{}{message}", frame(parse_name, parse_name, src, pos, context));
    if let Some(field) = m.strip_prefix("can't evaluate field ").and_then(|r| r.split(' ').next()) {
        let mut found = None;
        find_field(root, field, &mut found);
        if let Some((pos, context)) = found {
            return at(pos, &context, &m);
        }
    }
    if m.starts_with("can't give argument to non-function") {
        let mut found = None;
        super::for_each_pipe(root, &mut |p| {
            for (i, cmd) in p.commands.iter().enumerate() {
                if let (None, Some(Expr::Field(pos, names))) = (&found, cmd.args.first())
                    && (cmd.args.len() > 1 || i > 0)
                {
                    found = Some((*pos, names.iter().fold(String::new(), |s, n| s + "." + n), names.last().map(|n| n.to_string())));
                }
            }
        });
        if let Some((pos, context, Some(name))) = found {
            return at(pos, &context, &format!("{name} is not a method but has arguments"));
        }
    }
    if let Some(name) = m.strip_prefix("undefined template: ")
        && let Some(node) = find_node(root, &|n| matches!(n, Node::Template(t) if t.name == name))
        && let Node::Template(t) = node
    {
        let name_at = src.get(t.pos.offset..).and_then(|r| r.find(['"', '`'])).map_or(t.pos.offset, |i| t.pos.offset + i);
        let context = match &t.pipe {
            Some(p) => {
                let mut s = String::new();
                write_pipe(src, p, &mut s);
                format!("{{{{template {} {s}}}}}", skald_common::go_quote(name))
            }
            None => format!("{{{{template {}}}}}", skald_common::go_quote(name)),
        };
        return at(Pos::new(name_at, 0), &context, &format!("template {} not defined", skald_common::go_quote(name)));
    }
    if m.starts_with("cannot range over ")
        && let Some(Node::Range(r)) = root.nodes.iter().find(|n| matches!(n, Node::Range(_)))
        && let [cmd] = r.pipe.commands.as_slice()
        && let [Expr::Field(pos, names)] = cmd.args.as_slice()
        && let ([name], Value::Map(map)) = (names.as_slice(), data)
        && let Some(value) = map.get(name.as_str())
    {
        return at(*pos, &format!(".{name}"), &format!("range can't iterate over {value}"));
    }
    format!("template: {parse_name}: {m}")
}

/// The first node (depth first, in source order) that `wanted` accepts.
fn find_node<'a>(l: &'a ListNode, wanted: &dyn Fn(&Node) -> bool) -> Option<&'a Node> {
    for n in &l.nodes {
        if wanted(n) {
            return Some(n);
        }
        let inner = match n {
            Node::List(l) => find_node(l, wanted),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                find_node(&b.body, wanted).or_else(|| b.else_body.as_ref().and_then(|e| find_node(e, wanted)))
            }
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
    }
    None
}

fn find_field(l: &ListNode, field: &str, found: &mut Option<(Pos, String)>) {
    super::for_each_pipe(l, &mut |p| {
        if found.is_none() {
            find_field_pipe(p, field, found);
        }
    });
    // `.y` alone fails only where `with` or `range` made dot something else.
    super::for_each_pipe(l, &mut |p| {
        for e in p.commands.iter().flat_map(|c| &c.args) {
            if let (None, Expr::Field(pos, names)) = (&found, e)
                && let [name] = names.as_slice()
                && name == field
            {
                *found = Some((*pos, format!(".{name}")));
            }
        }
    });
}

fn find_field_pipe(p: &PipeNode, field: &str, found: &mut Option<(Pos, String)>) {
    for e in p.commands.iter().flat_map(|c| &c.args) {
        if found.is_some() {
            return;
        }
        match e {
            // Go places a chain of fields at its second element (`.y` of `.x.y`).
            Expr::Field(pos, names) if names.iter().skip(1).any(|n| n == field) => {
                let at = Pos::new(pos.offset + 1 + names[0].len(), pos.line);
                *found = Some((at, names.iter().fold(String::new(), |s, n| s + "." + n)));
            }
            Expr::Variable(pos, var, names) if names.iter().any(|n| n == field) => {
                let at = Pos::new(pos.offset + var.len(), pos.line);
                *found = Some((at, names.iter().fold(var.to_string(), |s, n| s + "." + n)));
            }
            Expr::Pipe(_, p) => find_field_pipe(p, field, found),
            Expr::Chain(pos, inner, names) if names.iter().any(|n| n == field) => {
                let mut s = String::new();
                chain_string("", inner, names, &mut s);
                *found = Some((*pos, s));
            }
            _ => {}
        }
    }
}

/// Go's `CommandNode.String()`.
pub(super) fn command_string(src: &str, cmd: &CommandNode) -> String {
    let mut out = String::new();
    write_command(src, cmd, &mut out);
    out
}

fn write_command(src: &str, cmd: &CommandNode, out: &mut String) {
    for (i, a) in cmd.args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if let Expr::Pipe(_, p) = a {
            out.push('(');
            write_pipe(src, p, out);
            out.push(')');
        } else {
            write_expr(src, a, out);
        }
    }
}

fn write_pipe(src: &str, p: &PipeNode, out: &mut String) {
    if !p.decl.is_empty() {
        out.push_str(&p.decl.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", "));
        out.push_str(if p.is_assign { " = " } else { " := " });
    }
    for (i, c) in p.commands.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        write_command(src, c, out);
    }
}

fn chain_string(src: &str, inner: &Expr, names: &[impl AsRef<str>], out: &mut String) {
    if let Expr::Pipe(_, p) = inner {
        out.push('(');
        write_pipe(src, p, out);
        out.push(')');
    } else {
        write_expr(src, inner, out);
    }
    for n in names {
        out.push('.');
        out.push_str(n.as_ref());
    }
}

fn write_expr(src: &str, e: &Expr, out: &mut String) {
    match e {
        Expr::Dot(_) => out.push('.'),
        Expr::Field(_, names) => names.iter().for_each(|n| {
            out.push('.');
            out.push_str(n);
        }),
        Expr::Variable(_, var, names) => {
            out.push_str(var);
            names.iter().for_each(|n| {
                out.push('.');
                out.push_str(n);
            });
        }
        Expr::Identifier(_, name) => out.push_str(name),
        Expr::String(pos, value) => match literal_text(src, pos.offset) {
            Some(text) => out.push_str(text),
            None => out.push_str(&skald_common::go_quote(value)),
        },
        Expr::Number(pos, n) => match literal_text(src, pos.offset) {
            Some(text) => out.push_str(text),
            None => {
                let _ = write!(out, "{n:?}");
            }
        },
        Expr::Bool(_, b) => out.push_str(if *b { "true" } else { "false" }),
        Expr::Nil(_) => out.push_str("nil"),
        Expr::Pipe(_, p) => write_pipe(src, p, out),
        Expr::Chain(_, inner, names) => chain_string(src, inner, names, out),
    }
}

/// A literal as written (Go prints string and number nodes by their source text).
fn literal_text(src: &str, offset: usize) -> Option<&str> {
    let rest = src.get(offset..)?;
    let quote = rest.chars().next()?;
    let end = match quote {
        '"' | '\'' => {
            let mut escaped = false;
            rest.char_indices()
                .skip(1)
                .find(|&(_, c)| {
                    let closes = c == quote && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })?
                .0
                + 1
        }
        '`' => rest[1..].find('`')? + 2,
        _ => rest.find(|c: char| c.is_whitespace() || matches!(c, ')' | '|' | '}')).unwrap_or(rest.len()),
    };
    rest.get(..end)
}

/// Go's `len` builtin: "len of type int" for what has no length.
pub(super) fn go_len(a: &[Value]) -> gotmpl::Result<Value> {
    let [item] = a else {
        return Err(TemplateError::ArgCount { name: "len".into(), expected: 1, got: a.len() });
    };
    match item {
        Value::Nil => Err(TemplateError::Exec("len of nil pointer".into())),
        other => match other.len() {
            Some(n) => Ok(Value::Int(n as i64)),
            None => Err(TemplateError::Exec(format!("len of type {}", go_type(other)))),
        },
    }
}

/// The Go type a template value stands for.
pub(super) fn go_type(v: &Value) -> &'static str {
    match v {
        // Loki's data is a `map[string]string`; `fromJson` objects are
        // `map[string]interface {}` (one holding only strings reads as the data here).
        Value::Map(m) if m.values().all(|v| matches!(v, Value::String(_))) => "map[string]string",
        Value::Map(_) => "map[string]interface {}",
        Value::List(_) => "[]interface {}",
        Value::Function(_) => "func",
        other => other.type_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::CompiledTemplate;
    use crate::pipeline::labels::LabelsBuilder;
    use skald_common::LabelSet;

    fn run(src: &str) -> Result<String, String> {
        let t = CompiledTemplate::new("line", src)?;
        let b = LabelsBuilder::new(LabelSet::from_pairs([("x", "abc")]));
        let mut out = String::new();
        t.execute(&t.data(&b), "l", 0, &mut out).map(|()| out)
    }

    /// Answers of Go 1.26.6's text/template (the Go Loki 3.7 is built with), with Loki's
    /// options (`missingkey=zero`) and data (`map[string]string{"x": "abc"}`).
    #[test]
    fn errors_are_worded_as_go_words_them() {
        let q = |s: &str| s.replace('~', "\"");
        let cases: Vec<(&str, String)> = vec![
            (
                "{{ if eq .x 1 }}a{{end}}",
                q("line:1:6: executing ~line~ at <eq .x 1>: error calling eq: incompatible types for comparison: string and int"),
            ),
            (
                "{{ gt .x 1 }}",
                q("line:1:3: executing ~line~ at <gt .x 1>: error calling gt: incompatible types for comparison: string and int"),
            ),
            ("{{ lt true false }}", q("line:1:3: executing ~line~ at <lt true false>: error calling lt: invalid type for comparison")),
            ("{{ eq .x }}", q("line:1:3: executing ~line~ at <eq .x>: error calling eq: missing argument for comparison")),
            (
                "{{ eq 1 1.0 }}",
                q("line:1:3: executing ~line~ at <eq 1 1.0>: error calling eq: incompatible types for comparison: int and float64"),
            ),
            ("{{ len 5 }}", q("line:1:3: executing ~line~ at <len 5>: error calling len: len of type int")),
            ("{{ .x.y }}", q("line:1:5: executing ~line~ at <.x.y>: can't evaluate field y in type string")),
            (
                "a\n  {{ .x | ToUpper }} {{ .missing.field }}",
                q("line:2:32: executing ~line~ at <.missing.field>: can't evaluate field field in type string"),
            ),
            ("{{ with $y := .x }}{{ $y.z }}{{ end }}", q("line:1:24: executing ~line~ at <$y.z>: can't evaluate field z in type string")),
            ("{{ ToUpper }}", q("line:1:3: executing ~line~ at <ToUpper>: wrong number of args for ToUpper: want 1 got 0")),
            ("{{ .x | Replace ~a~ }}", q("line:1:8: executing ~line~ at <Replace>: wrong number of args for Replace: want 4 got 2")),
            ("{{ round }}", q("line:1:3: executing ~line~ at <round>: wrong number of args for round: want at least 2 got 0")),
            ("{{ .x | round }}", q("line:1:8: executing ~line~ at <round>: wrong number of args for round: want at least 2 got 0")),
            ("{{ default }}", q("line:1:3: executing ~line~ at <default>: wrong number of args for default: want at least 1 got 0")),
            ("{{ div 1 0 }}", q("line:1:3: executing ~line~ at <div 1 0>: error calling div: runtime error: integer divide by zero")),
            (
                "{{ ~abc~ | regexReplaceAll ~(~ ~x~ }}",
                q(
                    "line:1:11: executing ~line~ at <regexReplaceAll ~(~ ~x~>: error calling regexReplaceAll: error parsing regexp: missing closing ): `(`",
                ),
            ),
            (
                "{{ ToUpper (regexReplaceAll ~)~ .x ~y~) }}",
                q(
                    "line:1:12: executing ~line~ at <regexReplaceAll ~)~ .x ~y~>: error calling regexReplaceAll: error parsing regexp: unexpected ): `)`",
                ),
            ),
            (
                "{{ .x | unixToTime }}",
                q(
                    "line:1:8: executing ~line~ at <unixToTime>: error calling unixToTime: unable to parse time 'abc': strconv.ParseInt: parsing ~abc~: invalid syntax",
                ),
            ),
            (
                "{{ if .x }}\n{{- .x | unixToTime -}}\n{{ end }}",
                q(
                    "line:2:9: executing ~line~ at <unixToTime>: error calling unixToTime: unable to parse time 'abc': strconv.ParseInt: parsing ~abc~: invalid syntax",
                ),
            ),
            (
                "{{ $v := unixToTime .x }}",
                q(
                    "line:1:9: executing ~line~ at <unixToTime .x>: error calling unixToTime: unable to parse time 'abc': strconv.ParseInt: parsing ~abc~: invalid syntax",
                ),
            ),
            (
                "{{ printf ~%s~ (unixToTime .x) }}",
                q(
                    "line:1:16: executing ~line~ at <unixToTime .x>: error calling unixToTime: unable to parse time 'abc': strconv.ParseInt: parsing ~abc~: invalid syntax",
                ),
            ),
            (
                "{{ (unixToTime .x).Year }}",
                q(
                    "line:1:4: executing ~line~ at <unixToTime .x>: error calling unixToTime: unable to parse time 'abc': strconv.ParseInt: parsing ~abc~: invalid syntax",
                ),
            ),
            (
                "{{ unixToTime ~123~ }}",
                q("line:1:3: executing ~line~ at <unixToTime ~123~>: error calling unixToTime: unable to parse time '123': %!w(<nil>)"),
            ),
        ];
        // Errors of the template's structure (Go 1.26.6, same data).
        let structure = [
            ("{{ range $i, $v := .x }}{{ end }}", "line:1:19: executing ~line~ at <.x>: range can't iterate over abc"),
            ("{{ range .x }}{{ end }}", "line:1:9: executing ~line~ at <.x>: range can't iterate over abc"),
            ("{{ template ~nope~ }}", "line:1:12: executing ~line~ at <{{template ~nope~}}>: template ~nope~ not defined"),
            ("{{ with .x }}{{ .y }}{{ end }}", "line:1:16: executing ~line~ at <.y>: can't evaluate field y in type string"),
            ("{{ .x 1 }}", "line:1:3: executing ~line~ at <.x>: x is not a method but has arguments"),
            ("{{ $x := 1 }}{{ $x.y }}", "line:1:18: executing ~line~ at <$x.y>: can't evaluate field y in type int"),
        ];
        let cases = cases.into_iter().chain(structure.into_iter().map(|(src, want)| (src, q(want))));
        for (src, want) in cases {
            assert_eq!(run(&q(src)), Err(format!("template: {want}")), "{src}");
        }
        assert_eq!(run(r#"{{ ne .x "abc" }} {{ ge 2 1 }} {{ le "a" "b" }} {{ eq .x "q" "abc" }}"#).unwrap(), "false true true true");
    }
}
