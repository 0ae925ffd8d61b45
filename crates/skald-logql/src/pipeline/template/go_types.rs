//! Go's argument type checks for template function calls. Go's functions are typed
//! (`strings.ToUpper(string)`, sprig's `trunc(int, string)`, `unixEpoch(time.Time)`)
//! and text/template refuses a call whose argument does not fit (`expected string;
//! found 5`, `wrong type for value; expected time.Time; got string`); `gotmpl`'s values
//! are untyped and the functions would convert. The types are known before running:
//! Loki's template data is a `map[string]string` (every field is a string), literals
//! have their constant kinds, and each function its Go return type. So each call site
//! is checked once, when compiled, and a call that Go would refuse fails when reached,
//! with Go's message at the node Go names (`evalArg`/`validateType` in exec.go).
//!
//! Not checked (no error where Go has one): values of variables (`$v`) and of functions
//! returning `interface{}` (`default`, `fromJson`, `index`), whose type Go only knows
//! when running.

use gotmpl::parse::{CommandNode, Expr, Number, PipeNode};

/// A Go function's parameter types (`...` marks the variadic element type) and result.
struct Signature {
    name: &'static str,
    params: &'static [&'static str],
    variadic: Option<&'static str>,
    result: &'static str,
}

const fn sig(name: &'static str, params: &'static [&'static str], variadic: Option<&'static str>, result: &'static str) -> Signature {
    Signature { name, params, variadic, result }
}

const ANY: &str = "interface {}";
const S: &str = "string";
const TIME: &str = "time.Time";

/// Loki's functions (fmt.go) and the sprig ones it enables, with Go's signatures.
const SIGNATURES: &[Signature] = &[
    sig("ToLower", &[S], None, S),
    sig("ToUpper", &[S], None, S),
    sig("Replace", &[S, S, S, "int"], None, S),
    sig("Trim", &[S, S], None, S),
    sig("TrimLeft", &[S, S], None, S),
    sig("TrimRight", &[S, S], None, S),
    sig("TrimPrefix", &[S, S], None, S),
    sig("TrimSuffix", &[S, S], None, S),
    sig("TrimSpace", &[S], None, S),
    sig("regexReplaceAll", &[S, S, S], None, S),
    sig("regexReplaceAllLiteral", &[S, S, S], None, S),
    sig("count", &[S, S], None, "int"),
    sig("urldecode", &[S], None, S),
    sig("urlencode", &[S], None, S),
    sig("bytes", &[S], None, "float64"),
    sig("duration", &[S], None, "float64"),
    sig("duration_seconds", &[S], None, "float64"),
    sig("unixEpochMillis", &[TIME], None, S),
    sig("unixEpochNanos", &[TIME], None, S),
    sig("toDateInZone", &[S, S, S], None, TIME),
    sig("unixToTime", &[S], None, TIME),
    sig("alignLeft", &["int", S], None, S),
    sig("alignRight", &["int", S], None, S),
    sig("b64enc", &[S], None, S),
    sig("b64dec", &[S], None, S),
    sig("lower", &[S], None, S),
    sig("upper", &[S], None, S),
    sig("title", &[S], None, S),
    sig("trunc", &["int", S], None, S),
    sig("substr", &["int", "int", S], None, S),
    sig("contains", &[S, S], None, "bool"),
    sig("hasPrefix", &[S, S], None, "bool"),
    sig("hasSuffix", &[S, S], None, "bool"),
    sig("indent", &["int", S], None, S),
    sig("nindent", &["int", S], None, S),
    sig("replace", &[S, S, S], None, S),
    sig("repeat", &["int", S], None, S),
    sig("trim", &[S], None, S),
    sig("trimAll", &[S, S], None, S),
    sig("trimSuffix", &[S, S], None, S),
    sig("trimPrefix", &[S, S], None, S),
    sig("int", &[ANY], None, "int"),
    sig("float64", &[ANY], None, "float64"),
    sig("add", &[], Some(ANY), "int64"),
    sig("sub", &[ANY, ANY], None, "int64"),
    sig("mul", &[ANY], Some(ANY), "int64"),
    sig("div", &[ANY, ANY], None, "int64"),
    sig("mod", &[ANY, ANY], None, "int64"),
    sig("addf", &[], Some(ANY), "float64"),
    sig("subf", &[ANY], Some(ANY), "float64"),
    sig("mulf", &[ANY], Some(ANY), "float64"),
    sig("divf", &[ANY], Some(ANY), "float64"),
    sig("max", &[ANY], Some(ANY), "int64"),
    sig("min", &[ANY], Some(ANY), "int64"),
    sig("maxf", &[ANY], Some(ANY), "float64"),
    sig("minf", &[ANY], Some(ANY), "float64"),
    sig("ceil", &[ANY], None, "float64"),
    sig("floor", &[ANY], None, "float64"),
    sig("round", &[ANY, "int"], Some("float64"), "float64"),
    sig("fromJson", &[S], None, ANY),
    sig("date", &[S, ANY], None, S),
    sig("toDate", &[S, S], None, TIME),
    sig("now", &[], None, TIME),
    sig("unixEpoch", &[TIME], None, S),
    sig("default", &[ANY], Some(ANY), ANY),
    sig("__line__", &[], None, S),
    sig("__timestamp__", &[], None, TIME),
    sig("eq", &[ANY], Some(ANY), "bool"),
    sig("ne", &[ANY, ANY], None, "bool"),
    sig("lt", &[ANY, ANY], None, "bool"),
    sig("le", &[ANY, ANY], None, "bool"),
    sig("gt", &[ANY, ANY], None, "bool"),
    sig("ge", &[ANY, ANY], None, "bool"),
    sig("len", &[ANY], None, "int"),
];

fn signature(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

/// A node Go would name in an error: its position and text.
pub(super) struct At {
    pub offset: usize,
    pub context: String,
}

/// The first argument of `cmd` (a call of `name`) that Go refuses, with the node Go names
/// and the message; `piped` is the static type of a value piped into the call (None:
/// nothing piped, or not known).
pub(super) fn check_call(src: &str, name: &str, cmd: &CommandNode, piped: Option<Option<&'static str>>) -> Option<(At, String)> {
    let sig = signature(name)?;
    let args = &cmd.args[1..];
    let total = args.len() + usize::from(piped.is_some());
    let arity_ok = match sig.variadic {
        Some(_) => total >= sig.params.len(),
        None => total == sig.params.len(),
    };
    if !arity_ok {
        return None; // Go's arity error comes first; the call site words it.
    }
    let param = |i: usize| sig.params.get(i).copied().or(sig.variadic).unwrap_or(ANY);
    for (i, arg) in args.iter().enumerate() {
        if let Some(found) = check_arg(src, param(i), arg) {
            return Some(found);
        }
    }
    let want = param(args.len());
    match piped {
        Some(Some(got)) if !assignable(got, want) => {
            let at = match args.last() {
                Some(last) => last_visited(src, last)?,
                None => At { offset: cmd.args[0].pos().offset, context: name.to_string() },
            };
            Some((at, format!("wrong type for value; expected {want}; got {got}")))
        }
        _ => None,
    }
}

fn assignable(got: &str, want: &str) -> bool {
    want == ANY || got == want
}

/// Go's `evalArg` for one explicit argument.
fn check_arg(src: &str, want: &'static str, arg: &Expr) -> Option<(At, String)> {
    if want == ANY {
        return None;
    }
    let here = || At { offset: arg.pos().offset, context: node_text(src, arg) };
    let literal = |found: &str| match want {
        "string" => format!("expected string; found {found}"),
        "int" => format!("expected integer; found {found}"),
        "float64" => format!("expected float; found {found}"),
        other => format!("can't handle {found} for arg of type {other}"),
    };
    match arg {
        Expr::String(..) if want == S => None,
        Expr::Number(_, n) if want == "float64" || (want == "int" && is_int(n)) => None,
        Expr::String(..) | Expr::Number(..) | Expr::Bool(..) => Some((here(), literal(&node_text(src, arg)))),
        Expr::Nil(_) => Some((here(), format!("cannot assign nil to {want}"))),
        Expr::Field(_, names) if names.len() == 1 => {
            (want != S).then(|| (here(), format!("wrong type for value; expected {want}; got string")))
        }
        Expr::Dot(_) => Some((here(), format!("wrong type for value; expected {want}; got map[string]string"))),
        Expr::Pipe(..) => {
            let got = static_type(arg)?;
            if assignable(got, want) {
                return None;
            }
            Some((last_visited(src, arg)?, format!("wrong type for value; expected {want}; got {got}")))
        }
        _ => None,
    }
}

/// Go's `NumberNode.IsInt`: an integer constant, or a float one with an integer value
/// (`1e2`, `1.0`).
fn is_int(n: &Number) -> bool {
    match n {
        Number::Float(f) => f.fract() == 0.0 && f.abs() < 9.2e18,
        _ => true,
    }
}

/// The Go type of an expression's value, where it is known without running.
fn static_type(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Field(_, names) if names.len() == 1 => Some(S),
        Expr::Dot(_) => Some("map[string]string"),
        Expr::String(..) => Some(S),
        Expr::Bool(..) => Some("bool"),
        Expr::Number(_, Number::Float(_)) => Some("float64"),
        Expr::Number(..) => Some("int"),
        Expr::Pipe(_, p) => pipe_type(p),
        _ => None,
    }
}

/// The type of a pipeline's value: its last command's.
pub(super) fn pipe_type(p: &PipeNode) -> Option<&'static str> {
    command_type(p.commands.last()?)
}

/// The type of a command's value (a call's Go result type, or its operand's type).
pub(super) fn command_type(cmd: &CommandNode) -> Option<&'static str> {
    match cmd.args.first()? {
        Expr::Identifier(_, name) => signature(name).map(|s| s.result).filter(|t| *t != ANY),
        single if cmd.args.len() == 1 => static_type(single),
        _ => None,
    }
}

/// The node Go's executor last stood at after evaluating `e` (where it reports a value
/// of the wrong type): the last argument of the last call inside, recursively.
fn last_visited(src: &str, e: &Expr) -> Option<At> {
    match e {
        Expr::Pipe(_, p) => {
            let cmd = p.commands.last()?;
            match cmd.args.as_slice() {
                [Expr::Identifier(pos, name)] => Some(At { offset: pos.offset, context: name.to_string() }),
                [Expr::Identifier(..), .., last] => last_visited(src, last),
                [single] => last_visited(src, single),
                _ => None,
            }
        }
        other => Some(At { offset: other.pos().offset, context: node_text(src, other) }),
    }
}

/// A node's text as Go prints it.
fn node_text(src: &str, e: &Expr) -> String {
    let cmd = CommandNode { pos: e.pos(), args: vec![e.clone()] };
    super::go_errors::command_string(src, &cmd)
}

#[cfg(test)]
mod tests {
    use super::super::CompiledTemplate;
    use crate::pipeline::labels::LabelsBuilder;
    use skald_common::LabelSet;

    /// What Go 1.26.6's text/template answers for calls of functions with Loki's Go
    /// signatures, data `map[string]string{"x": "abc"}` (`template: ` prefix left out).
    const GO_ANSWERS: &str = r#"
{{ ToUpper 5 }}	line:1:11: executing "line" at <5>: expected string; found 5
{{ ToUpper 1.5 }}	line:1:11: executing "line" at <1.5>: expected string; found 1.5
{{ ToUpper true }}	line:1:11: executing "line" at <true>: expected string; found true
{{ ToUpper nil }}	line:1:11: executing "line" at <nil>: cannot assign nil to string
{{ ToUpper . }}	line:1:11: executing "line" at <.>: wrong type for value; expected string; got map[string]string
{{ trunc "3" .x }}	line:1:9: executing "line" at <"3">: expected integer; found "3"
{{ trunc 1.5 .x }}	line:1:9: executing "line" at <1.5>: expected integer; found 1.5
{{ trunc .x .x }}	line:1:9: executing "line" at <.x>: wrong type for value; expected int; got string
{{ trunc 3 5 }}	line:1:11: executing "line" at <5>: expected string; found 5
{{ .x | trunc .x }}	line:1:14: executing "line" at <.x>: wrong type for value; expected int; got string
{{ add 1 2 | ToUpper }}	line:1:13: executing "line" at <ToUpper>: wrong type for value; expected string; got int64
{{ add 1 2 | trunc 3 }}	line:1:19: executing "line" at <3>: wrong type for value; expected string; got int64
{{ .x | unixEpoch }}	line:1:8: executing "line" at <unixEpoch>: wrong type for value; expected time.Time; got string
{{ unixEpoch "x" }}	line:1:13: executing "line" at <"x">: can't handle "x" for arg of type time.Time
{{ unixEpoch .x }}	line:1:13: executing "line" at <.x>: wrong type for value; expected time.Time; got string
{{ ToUpper (add 1 2) }}	line:1:18: executing "line" at <2>: wrong type for value; expected string; got int64
{{ trunc (add 1 2) .x }}	line:1:16: executing "line" at <2>: wrong type for value; expected int; got int64
{{ contains "a" 5 }}	line:1:16: executing "line" at <5>: expected string; found 5
{{ round 1.5 "x" }}	line:1:13: executing "line" at <"x">: expected integer; found "x"
{{ Replace .x "a" "b" "1" }}	line:1:22: executing "line" at <"1">: expected integer; found "1"
{{ Replace .x "a" "b" .x }}	line:1:22: executing "line" at <.x>: wrong type for value; expected int; got string
{{ count "a" .x | ToUpper }}	line:1:18: executing "line" at <ToUpper>: wrong type for value; expected string; got int
{{ ToUpper 'a' }}	line:1:11: executing "line" at <'a'>: expected string; found 'a'
{{ ToUpper 0x10 }}	line:1:11: executing "line" at <0x10>: expected string; found 0x10
{{ .x | ToUpper | trunc "2" }}	line:1:24: executing "line" at <"2">: expected integer; found "2"
{{ eq (ToUpper 5) "x" }}	line:1:15: executing "line" at <5>: expected string; found 5
{{ unixToTime "1700000000" | unixEpoch }}	OK 1700000000
{{ default "a" .x | ToUpper }}	OK ABC
{{ alignLeft (count "a" .x) .x }}	OK a
{{ trunc 1e2 .x }}	OK abc
"#;

    #[test]
    fn argument_types_are_checked_as_go_checks_them() {
        for line in GO_ANSWERS.lines().filter(|l| !l.is_empty()) {
            let (src, want) = line.split_once('\t').expect("template<TAB>answer");
            let t = CompiledTemplate::new("line", src).unwrap();
            let b = LabelsBuilder::new(LabelSet::from_pairs([("x", "abc")]));
            let mut out = String::new();
            let got = t.execute(&t.data(&b), "l", 0, &mut out).map(|()| format!("OK {out}"));
            match want.strip_prefix("OK ") {
                Some(rendered) => assert_eq!(got, Ok(format!("OK {rendered}")), "{src}"),
                None => assert_eq!(got, Err(format!("template: {want}")), "{src}"),
            }
        }
    }
}
