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
//! Variables take the type of what they were declared with (`$v := add 1 2` is an
//! `int64`), and `default` the type its arguments share. Not checked (no error where Go
//! has one): values whose type Go only knows when running (`fromJson`, `index`, `and`,
//! a `default` over arguments of different types, a variable assigned in a branch).

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
    sig("index", &[ANY], Some(ANY), ANY),
    sig("slice", &[ANY], Some(ANY), ANY),
    // Go's builtins that `gotmpl` implements.
    sig("not", &[ANY], None, "bool"),
    sig("and", &[ANY], Some(ANY), ANY),
    sig("or", &[ANY], Some(ANY), ANY),
    sig("call", &[ANY], Some(ANY), ANY),
    sig("printf", &[S], Some(ANY), S),
    sig("print", &[], Some(ANY), S),
    sig("println", &[], Some(ANY), S),
    sig("html", &[], Some(ANY), S),
    sig("js", &[], Some(ANY), S),
    sig("urlquery", &[], Some(ANY), S),
];

/// The static types of declared variables (`$` is the data, a `map[string]string`).
#[derive(Default)]
pub(super) struct Vars(std::collections::HashMap<String, Option<&'static str>>);

impl Vars {
    pub fn declare(&mut self, name: &str, t: Option<&'static str>) {
        self.0.insert(name.to_string(), t);
    }

    fn get(&self, name: &str) -> Option<&'static str> {
        if name == "$" { Some("map[string]string") } else { self.0.get(name).copied().flatten() }
    }
}

/// Go's arity check of a call (before its arguments are evaluated): `explicit`
/// arguments written, and a value piped in or not.
pub(super) fn arity_error(name: &str, explicit: usize, piped: bool) -> Option<String> {
    let sig = signature(name)?;
    let total = explicit + usize::from(piped);
    match sig.variadic {
        // Go counts only the written arguments here.
        Some(_) if total < sig.params.len() => {
            Some(format!("wrong number of args for {name}: want at least {} got {explicit}", sig.params.len()))
        }
        None if total != sig.params.len() => Some(format!("wrong number of args for {name}: want {} got {total}", sig.params.len())),
        _ => None,
    }
}

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
pub(super) fn check_call(
    src: &str,
    name: &str,
    cmd: &CommandNode,
    piped: Option<Option<&'static str>>,
    vars: &Vars,
) -> Option<(At, String)> {
    let sig = signature(name)?;
    let args = &cmd.args[1..];
    if arity_error(name, args.len(), piped.is_some()).is_some() {
        return None;
    }
    let param = |i: usize| sig.params.get(i).copied().or(sig.variadic).unwrap_or(ANY);
    for (i, arg) in args.iter().enumerate() {
        if let Some(found) = check_arg(src, param(i), arg, vars) {
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

/// A check Go makes when running, for an argument whose type is not known before: the
/// argument's position in the call's values, the Go type wanted, the node Go names.
pub(super) struct RuntimeCheck {
    pub arg: usize,
    pub want: &'static str,
    pub at: At,
}

/// The runtime checks of a call that passed `check_call`: arguments (and a piped value)
/// of unknown static type given to a `string`, `int`, `float64` or `time.Time` parameter.
pub(super) fn runtime_checks(
    src: &str,
    name: &str,
    cmd: &CommandNode,
    piped: Option<Option<&'static str>>,
    vars: &Vars,
) -> Vec<RuntimeCheck> {
    let Some(sig) = signature(name) else { return Vec::new() };
    let args = &cmd.args[1..];
    let param = |i: usize| sig.params.get(i).copied().or(sig.variadic).unwrap_or(ANY);
    let checked = |want: &str| matches!(want, "string" | "int" | "float64" | "time.Time");
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let unknown = matches!(arg, Expr::Variable(..) | Expr::Pipe(..) | Expr::Chain(..)) && static_type(arg, vars).is_none();
        if unknown
            && checked(param(i))
            && let Some(at) = last_visited(src, arg)
        {
            out.push(RuntimeCheck { arg: i, want: param(i), at });
        }
    }
    let want = param(args.len());
    if piped == Some(None) && checked(want) {
        let at = match args.last() {
            Some(last) => last_visited(src, last),
            None => Some(At { offset: cmd.args[0].pos().offset, context: name.to_string() }),
        };
        if let Some(at) = at {
            out.push(RuntimeCheck { arg: args.len(), want, at });
        }
    }
    out
}

/// Go's `validateType` on a value known only when running (Go's type names as the
/// value's kind suggests: an integer reads as `int`, though sprig's math gives `int64`).
pub(super) fn runtime_type_error(value: &gotmpl::Value, want: &str) -> Option<String> {
    use gotmpl::Value;
    let got = match value {
        Value::Nil => return Some(format!("invalid value; expected {want}")),
        other => super::go_errors::go_type(other),
    };
    let fits = match want {
        "string" => matches!(value, Value::String(_)),
        "int" => matches!(value, Value::Int(_)),
        "float64" => matches!(value, Value::Float(_)),
        // A time is a string to gotmpl, written as Go's `time.Time.String()`.
        "time.Time" => matches!(value, Value::String(t) if super::go_time::parse_go_time(super::go_time::TIME_STRING, t).is_some()),
        _ => true,
    };
    (!fits).then(|| format!("wrong type for value; expected {want}; got {got}"))
}

fn assignable(got: &str, want: &str) -> bool {
    want == ANY || got == want
}

/// Go's `evalArg` for one explicit argument.
fn check_arg(src: &str, want: &'static str, arg: &Expr, vars: &Vars) -> Option<(At, String)> {
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
        Expr::Variable(..) => {
            let got = static_type(arg, vars)?;
            (!assignable(got, want)).then(|| (here(), format!("wrong type for value; expected {want}; got {got}")))
        }
        Expr::Pipe(..) => {
            let got = static_type(arg, vars)?;
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
fn static_type(e: &Expr, vars: &Vars) -> Option<&'static str> {
    match e {
        Expr::Variable(_, name, fields) => match fields.len() {
            0 => vars.get(name),
            1 if name == "$" => Some(S),
            _ => None,
        },
        Expr::Field(_, names) if names.len() == 1 => Some(S),
        Expr::Dot(_) => Some("map[string]string"),
        Expr::String(..) => Some(S),
        Expr::Bool(..) => Some("bool"),
        Expr::Number(_, Number::Float(_)) => Some("float64"),
        Expr::Number(..) => Some("int"),
        Expr::Pipe(_, p) => pipe_type(p, vars),
        _ => None,
    }
}

/// The type of a pipeline's value: its last command's.
pub(super) fn pipe_type(p: &PipeNode, vars: &Vars) -> Option<&'static str> {
    let (last, before) = p.commands.split_last()?;
    let piped = before.last().map(|c| command_type(c, vars));
    command_type_piped(last, piped, vars)
}

/// The type of a command's value (a call's Go result type, or its operand's type).
pub(super) fn command_type(cmd: &CommandNode, vars: &Vars) -> Option<&'static str> {
    command_type_piped(cmd, None, vars)
}

fn command_type_piped(cmd: &CommandNode, piped: Option<Option<&'static str>>, vars: &Vars) -> Option<&'static str> {
    match cmd.args.first()? {
        // `default` gives back one of its arguments: their type when they share one.
        Expr::Identifier(_, name) if name == "default" => {
            let mut types = cmd.args[1..].iter().map(|a| static_type(a, vars)).chain(piped);
            let first = types.next()??;
            types.all(|t| t == Some(first)).then_some(first)
        }
        Expr::Identifier(_, name) => signature(name).map(|s| s.result).filter(|t| *t != ANY),
        single if cmd.args.len() == 1 => static_type(single, vars),
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
{{ not }}	line:1:3: executing "line" at <not>: wrong number of args for not: want 1 got 0
{{ not 1 2 }}	line:1:3: executing "line" at <not>: wrong number of args for not: want 1 got 2
{{ index }}	line:1:3: executing "line" at <index>: wrong number of args for index: want at least 1 got 0
{{ index .x 5 }}	line:1:3: executing "line" at <index .x 5>: error calling index: index out of range: 5
{{ index .x "a" }}	line:1:3: executing "line" at <index .x "a">: error calling index: cannot index slice/array with type string
{{ index . 1 }}	line:1:3: executing "line" at <index . 1>: error calling index: value has type int; should be string
{{ slice }}	line:1:3: executing "line" at <slice>: wrong number of args for slice: want at least 1 got 0
{{ slice .x 1 9 }}	line:1:3: executing "line" at <slice .x 1 9>: error calling slice: index out of range: 9
{{ slice .x 2 1 }}	line:1:3: executing "line" at <slice .x 2 1>: error calling slice: invalid slice index: 2 > 1
{{ slice .x 1 2 3 }}	line:1:3: executing "line" at <slice .x 1 2 3>: error calling slice: cannot 3-index slice a string
{{ slice . 1 }}	line:1:3: executing "line" at <slice . 1>: error calling slice: can't slice item of type map[string]string
{{ printf }}	line:1:3: executing "line" at <printf>: wrong number of args for printf: want at least 1 got 0
{{ printf 5 }}	line:1:10: executing "line" at <5>: expected string; found 5
{{ call }}	line:1:3: executing "line" at <call>: wrong number of args for call: want at least 1 got 0
{{ and }}	line:1:3: executing "line" at <and>: wrong number of args for and: want at least 1 got 0
{{ or }}	line:1:3: executing "line" at <or>: wrong number of args for or: want at least 1 got 0
{{ len }}	line:1:3: executing "line" at <len>: wrong number of args for len: want 1 got 0
{{ len .x .x }}	line:1:3: executing "line" at <len>: wrong number of args for len: want 1 got 2
{{ $v := 5 }}{{ ToUpper $v }}	line:1:24: executing "line" at <$v>: wrong type for value; expected string; got int
{{ $v := .x }}{{ ToUpper $v }}{{ trunc $v .x }}	line:1:39: executing "line" at <$v>: wrong type for value; expected int; got string
{{ $v := add 1 2 }}{{ ToUpper $v }}	line:1:30: executing "line" at <$v>: wrong type for value; expected string; got int64
{{ with $v := add 1 2 }}{{ ToUpper $v }}{{ end }}	line:1:35: executing "line" at <$v>: wrong type for value; expected string; got int64
{{ default 1 2 | ToUpper }}	line:1:17: executing "line" at <ToUpper>: wrong type for value; expected string; got int
{{ $ | ToUpper }}	line:1:7: executing "line" at <ToUpper>: wrong type for value; expected string; got map[string]string
{{ index . "x" }}	OK abc
{{ index .x 1 }}	OK 98
{{ slice .x 1 }}	OK bc
{{ html }}	OK 
{{ default 1 .x | ToUpper }}	OK ABC
{{ $.x | ToUpper }}	OK ABC
{{ unixEpoch (index . "x") }}	line:1:22: executing "line" at <"x">: wrong type for value; expected time.Time; got string
{{ $v := fromJson .x }}{{ unixEpoch $v }}	line:1:36: executing "line" at <$v>: invalid value; expected time.Time
{{ unixEpoch (default (unixToTime "1700000000") .y) }}	OK 1700000000
{{ $v := fromJson .x }}{{ ToUpper $v }}	line:1:34: executing "line" at <$v>: invalid value; expected string
{{ fromJson .x | ToUpper }}	line:1:17: executing "line" at <ToUpper>: invalid value; expected string
{{ (fromJson .x).key }}	OK <no value>
{{ fromJson "[1,2]" | ToUpper }}	line:1:22: executing "line" at <ToUpper>: wrong type for value; expected string; got []interface {}
{{ fromJson "{\"a\":1}" | ToUpper }}	line:1:26: executing "line" at <ToUpper>: wrong type for value; expected string; got map[string]interface {}
{{ (fromJson "{\"a\":1}").a | ToUpper }}	line:1:30: executing "line" at <ToUpper>: wrong type for value; expected string; got float64
{{ (fromJson "{\"a\":\"b\"}").a | ToUpper }}	OK B
{{ default 1 .y | ToUpper }}	line:1:18: executing "line" at <ToUpper>: wrong type for value; expected string; got int
{{ default 1 .x | ToUpper }}	OK ABC
{{ ToUpper (default 1 .y) }}	line:1:22: executing "line" at <.y>: wrong type for value; expected string; got int
{{ $v := default 1 .y }}{{ ToUpper $v }}	line:1:35: executing "line" at <$v>: wrong type for value; expected string; got int
{{ trunc (default "a" .y) .x }}	line:1:22: executing "line" at <.y>: wrong type for value; expected int; got string
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
