//! Semantic checks the parser defers until the input is syntactically valid: constant
//! folding, label-matcher regexes, and the arguments of `regexp` and `pattern` stages.

use crate::ast::*;

/// The value of a constant (literal-only) sample expression, folded as Loki does.
pub(super) fn const_value(e: &SampleExpr) -> Option<f64> {
    match e {
        SampleExpr::Literal(v) => Some(*v),
        SampleExpr::Paren(inner) => const_value(inner),
        SampleExpr::Binary(b) => {
            let l = const_value(&b.lhs)?;
            let r = const_value(&b.rhs)?;
            b.op.fold_literals(l, r)
        }
        _ => None,
    }
}

/// Compiles a label-matcher regex (fully anchored, as Prometheus does).
pub(super) fn compile_anchored(re: &str) -> Result<regex::Regex, String> {
    let translated = crate::pipeline::goregex::translate(re);
    regex::RegexBuilder::new(&format!("^(?:{translated})$")).octal(true).build().map_err(|e| regex_error(re, &e))
}

/// A regex error as Go words it (`error parsing regexp: missing closing ): `(``); where
/// only the `regex` crate finds one, its message on one line.
pub(super) fn regex_error(pattern: &str, e: &regex::Error) -> String {
    if let Err(go) = crate::pipeline::goregex_syntax::check(pattern) {
        return go;
    }
    let text = e.to_string();
    let detail = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error:").map(|s| s.trim().to_string()))
        .unwrap_or_else(|| text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "));
    format!("error parsing regexp: {detail}")
}

/// Whether the matcher accepts the empty string (such matchers select no stream alone).
pub(super) fn matches_empty(m: &Matcher) -> bool {
    match m.op {
        MatchOp::Eq => m.value.is_empty(),
        MatchOp::Neq => !m.value.is_empty(),
        MatchOp::Re | MatchOp::Nre => {
            let Ok(re) = compile_anchored(&m.value) else {
                return false;
            };
            re.is_match("") == (m.op == MatchOp::Re)
        }
    }
}

pub(super) fn log_type_name(log: &LogExpr) -> &'static str {
    if log.pipeline.is_empty() { "*syntax.MatchersExpr" } else { "*syntax.PipelineExpr" }
}

/// Loki's `log.NewRegexpParser` checks: the regex compiles and has named captures with
/// valid, distinct label names.
pub(super) fn validate_regexp_parser(re: &str) -> Result<(), String> {
    let translated = crate::pipeline::goregex::translate(re);
    let compiled = regex::RegexBuilder::new(&translated).octal(true).build().map_err(|e| regex_error(re, &e))?;
    let names: Vec<&str> = compiled.capture_names().flatten().collect();
    if names.is_empty() {
        return Err("at least one named capture must be supplied".to_string());
    }
    for name in names {
        if !skald_common::is_valid_label_name(name) {
            return Err(format!("invalid extracted label name '{name}'"));
        }
    }
    Ok(())
}

/// Loki's `pattern.New` checks: at least one named capture, no two consecutive
/// captures, no duplicate capture names.
pub(super) fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        // Loki's pattern grammar has no empty expression: its yacc parser says so.
        return Err("parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL".to_string());
    }
    #[derive(PartialEq)]
    enum Node<'a> {
        Literal,
        Capture(&'a str),
    }
    let mut nodes: Vec<Node> = Vec::new();
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j].is_ascii_alphabetic() || bytes[j] == b'_') {
                j += 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'>' {
                    nodes.push(Node::Capture(&pattern[i + 1..j]));
                    i = j + 1;
                    continue;
                }
            }
        }
        if nodes.last() != Some(&Node::Literal) {
            nodes.push(Node::Literal);
        }
        i += 1;
    }
    let named: Vec<&str> = nodes
        .iter()
        .filter_map(|n| match n {
            Node::Capture(name) if *name != "_" => Some(*name),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return Err("at least one capture is required".to_string());
    }
    for pair in nodes.windows(2) {
        if let [Node::Capture(a), Node::Capture(b)] = pair {
            return Err(format!("found consecutive capture '<{a}><{b}>': invalid expression"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for name in named {
        if !seen.insert(name) {
            return Err(format!("duplicate capture name ({name}): invalid expression"));
        }
    }
    Ok(())
}
