//! `line_format`/`label_format` templates: Go text/template (the `gotmpl` crate) with
//! Loki's function map (its own functions and the sprig subset it enables), the
//! `__line__`/`__timestamp__` functions and `missingkey=zero` semantics.

use super::goregex;
use super::label_filter::{parse_go_duration, parse_go_float, parse_humanize_bytes};
use super::labels::LabelsBuilder;
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

fn walk_list(l: &ListNode, fields: &mut Vec<Arc<str>>, idents: &mut Vec<String>) {
    for n in &l.nodes {
        match n {
            Node::List(l) => walk_list(l, fields, idents),
            Node::Action(a) => walk_pipe(&a.pipe, fields, idents),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                walk_pipe(&b.pipe, fields, idents);
                walk_list(&b.body, fields, idents);
                if let Some(e) = &b.else_body {
                    walk_list(e, fields, idents);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    walk_pipe(p, fields, idents);
                }
            }
            _ => {}
        }
    }
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
        let mut t = Template::new(name);
        for (fname, f) in functions() {
            t = t.func(fname, f);
        }
        let tmpl = t.parse(src).map_err(|e| e.to_string())?;
        let simple_key = simple_regex().captures(src).map(|c| c[1].to_string());
        let mut fields: Vec<Arc<str>> = Vec::new();
        let mut idents: Vec<String> = Vec::new();
        if let Some(root) = tmpl.lookup(name) {
            walk_list(root, &mut fields, &mut idents);
        }
        let known: Vec<&str> = functions().iter().map(|(n, _)| *n).chain(GO_BUILTINS.iter().copied()).collect();
        for i in &idents {
            if !known.contains(&i.as_str()) {
                return Err(format!("template: {name}:1: function {} not defined", skald_common::go_quote(i)));
            }
        }
        fields.sort();
        fields.dedup();
        Ok(CompiledTemplate { tmpl, simple_key, fields, uses_line: src.contains("__line__"), uses_ts: src.contains("__timestamp__") })
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
        self.tmpl.execute_fmt(out, data).map_err(|e| e.to_string())
    }
}

// ---------- helpers ----------

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn arg<'v>(name: &str, args: &'v [Value], n: usize) -> gotmpl::Result<&'v [Value]> {
    if args.len() != n {
        return Err(TemplateError::ArgCount { name: name.to_string(), expected: n, got: args.len() });
    }
    Ok(args)
}

fn vstr(x: impl Into<String>) -> Value {
    Value::String(Arc::from(x.into()))
}

/// spf13/cast's ToInt64 (as sprig uses it): 0 when not convertible.
fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => *b as i64,
        Value::String(s) => {
            let mut t: &str = s;
            // trimZeroDecimal: "12.000" -> "12"
            if let Some((a, b)) = t.split_once('.')
                && !b.is_empty()
                && b.bytes().all(|c| c == b'0')
            {
                t = a;
            }
            parse_go_int(t).unwrap_or(0)
        }
        _ => 0,
    }
}

fn parse_go_int(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::String(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::String(s) => s.is_empty(),
        Value::Int(i) => *i == 0,
        Value::Uint(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::Bool(b) => !*b,
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

fn trim_set<'a>(s: &'a str, cutset: &str, left: bool, right: bool) -> &'a str {
    let f = |c: char| cutset.contains(c);
    match (left, right) {
        (true, true) => s.trim_matches(f),
        (true, false) => s.trim_start_matches(f),
        (false, true) => s.trim_end_matches(f),
        _ => s,
    }
}

fn go_replace(s: &str, old: &str, new: &str, n: i64) -> String {
    if n < 0 {
        if old.is_empty() {
            // Go inserts `new` around every rune
            let mut out = String::new();
            out.push_str(new);
            for c in s.chars() {
                out.push(c);
                out.push_str(new);
            }
            return out;
        }
        return s.replace(old, new);
    }
    s.replacen(old, new, n as usize)
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn substring(start: i64, end: i64, s: &str) -> String {
    let runes: Vec<char> = s.chars().collect();
    let l = runes.len() as i64;
    let end = end.min(l);
    let start = start.min(l);
    if start < 0 {
        if end < 0 {
            return String::new();
        }
        return runes[..end as usize].iter().collect();
    }
    if end < 0 {
        return runes[start as usize..].iter().collect();
    }
    if start > end {
        return String::new();
    }
    runes[start as usize..end as usize].iter().collect()
}

fn trunc(c: i64, s: &str) -> String {
    let runes: Vec<char> = s.chars().collect();
    let l = runes.len() as i64;
    if c < 0 && l + c > 0 {
        return runes[(l + c) as usize..].iter().collect();
    }
    if c >= 0 && l > c {
        return runes[..c as usize].iter().collect();
    }
    s.to_string()
}

fn align(count: i64, src: &str, left: bool) -> String {
    let runes: Vec<char> = src.chars().collect();
    let l = runes.len() as i64;
    if count < 0 || count == l {
        return src.to_string();
    }
    let pad = count - l;
    if pad > 0 {
        let p = " ".repeat(pad as usize);
        return if left { format!("{src}{p}") } else { format!("{p}{src}") };
    }
    if left { runes[..count as usize].iter().collect() } else { runes[(l - count) as usize..].iter().collect() }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64enc(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64dec(input: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    let data = input.trim_end_matches('=');
    for (i, c) in data.bytes().enumerate() {
        let v = B64.iter().position(|&b| b == c).ok_or_else(|| format!("illegal base64 data at input byte {i}"))?;
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => out.push(v),
                    None => {
                        let end = (i + 3).min(b.len());
                        return Err(format!("invalid URL escape {}", skald_common::go_quote(&String::from_utf8_lossy(&b[i..end]))));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `encoding/json` `Marshal`, as sprig's `toJson` uses it: map keys sorted, `<`, `>`,
/// `&`, U+2028 and U+2029 escaped, floats in `'f'` form unless tiny or huge. `None` where
/// Go fails (NaN, infinities, functions).
fn to_json(v: &Value) -> Option<String> {
    fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    fn float(f: f64) -> Option<String> {
        if !f.is_finite() {
            return None;
        }
        let a = f.abs();
        if a != 0.0 && !(1e-6..1e21).contains(&a) {
            // strconv's 'e' form (two-digit minimum exponent), then Go's cleanup of
            // `e-09` to `e-9`.
            let sci = format!("{f:e}");
            let (m, e) = sci.split_once('e')?;
            let e: i32 = e.parse().ok()?;
            let sign = if e < 0 { '-' } else { '+' };
            let digits = if (-9..0).contains(&e) { format!("{}", -e) } else { format!("{:02}", e.unsigned_abs()) };
            return Some(format!("{m}e{sign}{digits}"));
        }
        Some(f.to_string())
    }
    fn walk(out: &mut String, v: &Value) -> Option<()> {
        match v {
            Value::Nil => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Uint(u) => out.push_str(&u.to_string()),
            Value::Float(f) => out.push_str(&float(*f)?),
            Value::String(s) => string(out, s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    walk(out, item)?;
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push('{');
                for (i, (k, item)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(out, k);
                    out.push(':');
                    walk(out, item)?;
                }
                out.push('}');
            }
            _ => return None,
        }
        Some(())
    }
    let mut out = String::new();
    walk(&mut out, v)?;
    Some(out)
}

/// sprig's `abbrev` (goutils `Abbreviate`): a width below 4 leaves the string alone, a
/// longer string keeps its first `width - 3` bytes followed by `...`.
fn abbrev(width: i64, s: &str) -> String {
    if width < 4 || s.len() as i64 <= width {
        return s.to_string();
    }
    let keep = (width - 3) as usize;
    format!("{}...", String::from_utf8_lossy(&s.as_bytes()[..keep]))
}

fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => vstr(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect::<Vec<_>>().into()),
        serde_json::Value::Object(o) => {
            let m: BTreeMap<Arc<str>, Value> = o.iter().map(|(k, v)| (Arc::from(k.as_str()), json_to_value(v))).collect();
            Value::Map(Arc::new(m))
        }
    }
}

// ---------- time ----------

/// Times are carried as Go's `time.Time.String()` text in UTC,
/// `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn time_value(ns: i64) -> Value {
    vstr(format_go_time(ns, "2006-01-02 15:04:05.999999999 -0700 MST"))
}

fn value_to_ns(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i.saturating_mul(1_000_000_000)),
        Value::Uint(u) => Some((*u as i64).saturating_mul(1_000_000_000)),
        Value::String(s) => parse_go_time("2006-01-02 15:04:05.999999999 -0700 MST", s),
        _ => None,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Year4,
    Year2,
    MonthLong,
    Month3,
    Month2,
    Month1,
    Day2,
    DaySp,
    Day1,
    Weekday,
    Wday3,
    Hour24,
    Hour12x2,
    Hour12,
    Min2,
    Min1,
    Sec2,
    Sec1,
    PmUpper,
    PmLower,
    ZoneName,
    TzZColon,
    TzZ,
    TzColon,
    Tz,
    TzHour,
    /// fractional seconds: digits, trim zeros (`.999`) or not (`.000`)
    Frac(usize, bool),
}

fn layout_tokens(layout: &str) -> Vec<Result<Tok, String>> {
    const TABLE: &[(&str, Tok)] = &[
        ("January", Tok::MonthLong),
        ("Jan", Tok::Month3),
        ("Monday", Tok::Weekday),
        ("Mon", Tok::Wday3),
        ("MST", Tok::ZoneName),
        ("2006", Tok::Year4),
        ("Z07:00", Tok::TzZColon),
        ("Z0700", Tok::TzZ),
        ("-07:00", Tok::TzColon),
        ("-0700", Tok::Tz),
        ("-07", Tok::TzHour),
        ("01", Tok::Month2),
        ("02", Tok::Day2),
        ("_2", Tok::DaySp),
        ("03", Tok::Hour12x2),
        ("04", Tok::Min2),
        ("05", Tok::Sec2),
        ("06", Tok::Year2),
        ("15", Tok::Hour24),
        ("PM", Tok::PmUpper),
        ("pm", Tok::PmLower),
        ("1", Tok::Month1),
        ("2", Tok::Day1),
        ("3", Tok::Hour12),
        ("4", Tok::Min1),
        ("5", Tok::Sec1),
    ];
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        if (rest.starts_with(".0") || rest.starts_with(".9") || rest.starts_with(",0") || rest.starts_with(",9"))
            && let Some(d) = rest.as_bytes().get(1).copied()
        {
            let n = rest[1..].bytes().take_while(|&c| c == d).count();
            let after = rest.as_bytes().get(1 + n);
            if !after.is_some_and(|c| c.is_ascii_digit()) {
                if !lit.is_empty() {
                    out.push(Err(std::mem::take(&mut lit)));
                }
                out.push(Ok(Tok::Frac(n, d == b'9')));
                rest = &rest[1 + n..];
                continue;
            }
        }
        for (pat, tok) in TABLE {
            if rest.starts_with(pat) {
                if !lit.is_empty() {
                    out.push(Err(std::mem::take(&mut lit)));
                }
                out.push(Ok(*tok));
                rest = &rest[pat.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        out.push(Err(lit));
    }
    out
}

/// Formats UTC nanoseconds with a Go layout.
pub fn format_go_time(ns: i64, layout: &str) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, se) = (sod / 3600, (sod / 60) % 60, sod % 60);
    let wd = (days + 4).rem_euclid(7) as usize;
    let mut out = String::new();
    for t in layout_tokens(layout) {
        match t {
            Err(lit) => out.push_str(&lit),
            Ok(tok) => match tok {
                Tok::Year4 => out.push_str(&format!("{y:04}")),
                Tok::Year2 => out.push_str(&format!("{:02}", y.rem_euclid(100))),
                Tok::MonthLong => out.push_str(MONTHS[(mo - 1) as usize]),
                Tok::Month3 => out.push_str(&MONTHS[(mo - 1) as usize][..3]),
                Tok::Month2 => out.push_str(&format!("{mo:02}")),
                Tok::Month1 => out.push_str(&format!("{mo}")),
                Tok::Day2 => out.push_str(&format!("{d:02}")),
                Tok::DaySp => out.push_str(&format!("{d:>2}")),
                Tok::Day1 => out.push_str(&format!("{d}")),
                Tok::Weekday => out.push_str(DAYS[wd]),
                Tok::Wday3 => out.push_str(&DAYS[wd][..3]),
                Tok::Hour24 => out.push_str(&format!("{h:02}")),
                Tok::Hour12x2 => out.push_str(&format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 })),
                Tok::Hour12 => out.push_str(&format!("{}", if h % 12 == 0 { 12 } else { h % 12 })),
                Tok::Min2 => out.push_str(&format!("{mi:02}")),
                Tok::Min1 => out.push_str(&format!("{mi}")),
                Tok::Sec2 => out.push_str(&format!("{se:02}")),
                Tok::Sec1 => out.push_str(&format!("{se}")),
                Tok::PmUpper => out.push_str(if h >= 12 { "PM" } else { "AM" }),
                Tok::PmLower => out.push_str(if h >= 12 { "pm" } else { "am" }),
                Tok::ZoneName => out.push_str("UTC"),
                Tok::TzZColon | Tok::TzZ => out.push('Z'),
                Tok::TzColon => out.push_str("+00:00"),
                Tok::Tz => out.push_str("+0000"),
                Tok::TzHour => out.push_str("+00"),
                Tok::Frac(n, trim) => {
                    let digits = format!("{nanos:09}");
                    let mut f: String = digits.chars().take(n.min(9)).collect();
                    if trim {
                        while f.ends_with('0') {
                            f.pop();
                        }
                        if !f.is_empty() {
                            out.push('.');
                            out.push_str(&f);
                        }
                    } else {
                        while f.len() < n {
                            f.push('0');
                        }
                        out.push('.');
                        out.push_str(&f);
                    }
                }
            },
        }
    }
    out
}

/// Parses text with a Go layout into UTC nanoseconds (numeric zone offsets applied).
pub fn parse_go_time(layout: &str, value: &str) -> Option<i64> {
    let mut v = value;
    let (mut y, mut mo, mut d, mut h, mut mi, mut se, mut ns, mut off) = (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    fn num(v: &mut &str, min: usize, max: usize) -> Option<i64> {
        let n = v.bytes().take(max).take_while(|c| c.is_ascii_digit()).count();
        if n < min {
            return None;
        }
        let r = v[..n].parse().ok()?;
        *v = &v[n..];
        Some(r)
    }
    fn sign_off(v: &mut &str, colon: bool, minutes: bool) -> Option<i64> {
        let sign = match v.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        *v = &v[1..];
        let hh = num(v, 2, 2)?;
        let mut mm = 0;
        if minutes {
            if colon {
                *v = v.strip_prefix(':')?;
            }
            mm = num(v, 2, 2)?;
        }
        Some(sign * (hh * 3600 + mm * 60))
    }
    for t in layout_tokens(layout) {
        match t {
            Err(lit) => v = v.strip_prefix(lit.as_str())?,
            Ok(tok) => match tok {
                Tok::Year4 => y = num(&mut v, 4, 4)?,
                Tok::Year2 => {
                    let yy = num(&mut v, 2, 2)?;
                    y = if yy >= 69 { 1900 + yy } else { 2000 + yy };
                }
                Tok::MonthLong | Tok::Month3 => {
                    let i = MONTHS.iter().position(|m| {
                        let m = if tok == Tok::Month3 { &m[..3] } else { m };
                        v.len() >= m.len() && v[..m.len()].eq_ignore_ascii_case(m)
                    })?;
                    let l = if tok == Tok::Month3 { 3 } else { MONTHS[i].len() };
                    v = &v[l..];
                    mo = i as i64 + 1;
                }
                Tok::Month2 => mo = num(&mut v, 2, 2)?,
                Tok::Month1 => mo = num(&mut v, 1, 2)?,
                Tok::Day2 => d = num(&mut v, 2, 2)?,
                Tok::DaySp => {
                    v = v.strip_prefix(' ').unwrap_or(v);
                    d = num(&mut v, 1, 2)?
                }
                Tok::Day1 => d = num(&mut v, 1, 2)?,
                Tok::Weekday | Tok::Wday3 => {
                    let i = DAYS.iter().position(|m| {
                        let m = if tok == Tok::Wday3 { &m[..3] } else { m };
                        v.len() >= m.len() && v[..m.len()].eq_ignore_ascii_case(m)
                    })?;
                    v = &v[if tok == Tok::Wday3 { 3 } else { DAYS[i].len() }..];
                }
                Tok::Hour24 => h = num(&mut v, 2, 2)?,
                Tok::Hour12x2 => h = num(&mut v, 2, 2)?,
                Tok::Hour12 => h = num(&mut v, 1, 2)?,
                Tok::Min2 => mi = num(&mut v, 2, 2)?,
                Tok::Min1 => mi = num(&mut v, 1, 2)?,
                Tok::Sec2 => {
                    se = num(&mut v, 2, 2)?;
                    // Go accepts fractional seconds after seconds even if not in the layout
                    if let Some(r) = v.strip_prefix('.')
                        && r.starts_with(|c: char| c.is_ascii_digit())
                    {
                        v = r;
                        let n = v.bytes().take_while(|c| c.is_ascii_digit()).count();
                        let digits = &v[..n];
                        let mut f: String = digits.chars().take(9).collect();
                        while f.len() < 9 {
                            f.push('0');
                        }
                        ns = f.parse().ok()?;
                        v = &v[n..];
                    }
                }
                Tok::Sec1 => se = num(&mut v, 1, 2)?,
                Tok::PmUpper | Tok::PmLower => {
                    let p = v.get(..2)?.to_ascii_uppercase();
                    pm = Some(p == "PM");
                    v = &v[2..];
                }
                Tok::ZoneName => {
                    let n = v.bytes().take_while(|c| c.is_ascii_uppercase()).count();
                    if n < 3 {
                        return None;
                    }
                    v = &v[n..];
                }
                Tok::TzZColon | Tok::TzZ => {
                    if let Some(r) = v.strip_prefix('Z') {
                        v = r;
                    } else {
                        off = sign_off(&mut v, tok == Tok::TzZColon, true)?;
                    }
                }
                Tok::TzColon => off = sign_off(&mut v, true, true)?,
                Tok::Tz => off = sign_off(&mut v, false, true)?,
                Tok::TzHour => off = sign_off(&mut v, false, false)?,
                Tok::Frac(_, _) => {
                    if let Some(r) = v.strip_prefix('.').or_else(|| v.strip_prefix(',')) {
                        v = r;
                        let n = v.bytes().take_while(|c| c.is_ascii_digit()).count();
                        let mut f: String = v[..n].chars().take(9).collect();
                        while f.len() < 9 {
                            f.push('0');
                        }
                        ns = f.parse().ok()?;
                        v = &v[n..];
                    }
                }
            },
        }
    }
    if !v.is_empty() {
        return None;
    }
    if let Some(p) = pm {
        if p && h < 12 {
            h += 12;
        } else if !p && h == 12 {
            h = 0;
        }
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + se - off;
    Some(secs * 1_000_000_000 + ns)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

type F = Box<dyn Fn(&[Value]) -> gotmpl::Result<Value> + Send + Sync>;

fn str1(name: &'static str, f: fn(&str) -> String) -> (&'static str, F) {
    (name, Box::new(move |a: &[Value]| Ok(vstr(f(&s(&arg(name, a, 1)?[0]))))))
}

fn regex_fn(name: &'static str, literal: bool) -> (&'static str, F) {
    (
        name,
        Box::new(move |a: &[Value]| {
            let a = arg(name, a, 3)?;
            let re = goregex::compile(&s(&a[0])).map_err(err)?;
            let input = s(&a[1]);
            let repl = s(&a[2]);
            let out = if literal {
                re.replace_all(input.as_bytes(), regex::bytes::NoExpand(repl.as_bytes()))
            } else {
                re.replace_all(input.as_bytes(), repl.as_bytes())
            };
            Ok(vstr(String::from_utf8_lossy(&out).into_owned()))
        }),
    )
}

fn functions() -> Vec<(&'static str, F)> {
    let mut v: Vec<(&'static str, F)> = vec![
        str1("ToLower", |x| x.to_lowercase()),
        str1("ToUpper", |x| x.to_uppercase()),
        str1("lower", |x| x.to_lowercase()),
        str1("upper", |x| x.to_uppercase()),
        str1("title", title),
        str1("TrimSpace", |x| x.trim().to_string()),
        str1("trim", |x| x.trim().to_string()),
        str1("b64enc", |x| b64enc(x.as_bytes())),
        str1("b64dec", |x| match b64dec(x) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }),
        str1("urlencode", url_encode),
        regex_fn("regexReplaceAll", false),
        regex_fn("regexReplaceAllLiteral", true),
    ];
    v.push((
        "Replace",
        Box::new(|a| {
            let a = arg("Replace", a, 4)?;
            Ok(vstr(go_replace(&s(&a[0]), &s(&a[1]), &s(&a[2]), to_i64(&a[3]))))
        }),
    ));
    v.push((
        "replace",
        Box::new(|a| {
            let a = arg("replace", a, 3)?;
            Ok(vstr(go_replace(&s(&a[2]), &s(&a[0]), &s(&a[1]), -1)))
        }),
    ));
    for (name, l, r) in [("Trim", true, true), ("TrimLeft", true, false), ("TrimRight", false, true)] {
        v.push((
            name,
            Box::new(move |a| {
                let a = arg(name, a, 2)?;
                Ok(vstr(trim_set(&s(&a[0]), &s(&a[1]), l, r)))
            }),
        ));
    }
    v.push((
        "trimAll",
        Box::new(|a| {
            let a = arg("trimAll", a, 2)?;
            Ok(vstr(trim_set(&s(&a[1]), &s(&a[0]), true, true)))
        }),
    ));
    // Go-style (s, affix) and sprig-style (affix, s)
    for (name, prefix, sprig) in
        [("TrimPrefix", true, false), ("TrimSuffix", false, false), ("trimPrefix", true, true), ("trimSuffix", false, true)]
    {
        v.push((
            name,
            Box::new(move |a| {
                let a = arg(name, a, 2)?;
                let (x, affix) = if sprig { (s(&a[1]), s(&a[0])) } else { (s(&a[0]), s(&a[1])) };
                let out = if prefix { x.strip_prefix(affix.as_str()) } else { x.strip_suffix(affix.as_str()) };
                Ok(vstr(out.map(str::to_string).unwrap_or(x.clone())))
            }),
        ));
    }
    for (name, kind) in [("contains", 0), ("hasPrefix", 1), ("hasSuffix", 2)] {
        v.push((
            name,
            Box::new(move |a| {
                let a = arg(name, a, 2)?;
                let (needle, hay) = (s(&a[0]), s(&a[1]));
                Ok(Value::Bool(match kind {
                    0 => hay.contains(needle.as_str()),
                    1 => hay.starts_with(needle.as_str()),
                    _ => hay.ends_with(needle.as_str()),
                }))
            }),
        ));
    }
    v.push((
        "count",
        Box::new(|a| {
            let a = arg("count", a, 2)?;
            let re = goregex::compile(&s(&a[0])).map_err(err)?;
            Ok(Value::Int(re.find_iter(s(&a[1]).as_bytes()).count() as i64))
        }),
    ));
    v.push((
        "urldecode",
        Box::new(|a| {
            let a = arg("urldecode", a, 1)?;
            url_decode(&s(&a[0])).map(vstr).map_err(err)
        }),
    ));
    v.push((
        "bytes",
        Box::new(|a| {
            let a = arg("bytes", a, 1)?;
            parse_humanize_bytes(&s(&a[0])).map(|b| Value::Float(b as f64)).map_err(err)
        }),
    ));
    for name in ["duration", "duration_seconds"] {
        v.push((
            name,
            Box::new(move |a| {
                let a = arg(name, a, 1)?;
                parse_go_duration(&s(&a[0])).map(|d| Value::Float(d as f64 / 1e9)).map_err(err)
            }),
        ));
    }
    v.push(("__line__", Box::new(|_| Ok(CURRENT.with(|c| vstr(c.borrow().0.clone()))))));
    v.push(("__timestamp__", Box::new(|_| Ok(time_value(CURRENT.with(|c| c.borrow().1))))));
    v.push(("now", Box::new(|_| Ok(time_value(now_ns())))));
    v.push((
        "unixEpoch",
        Box::new(|a| {
            let a = arg("unixEpoch", a, 1)?;
            let ns = value_to_ns(&a[0]).ok_or_else(|| err("unixEpoch: expected a time"))?;
            Ok(vstr(ns.div_euclid(1_000_000_000).to_string()))
        }),
    ));
    v.push((
        "unixEpochMillis",
        Box::new(|a| {
            let a = arg("unixEpochMillis", a, 1)?;
            let ns = value_to_ns(&a[0]).ok_or_else(|| err("unixEpochMillis: expected a time"))?;
            Ok(vstr(ns.div_euclid(1_000_000).to_string()))
        }),
    ));
    v.push((
        "unixEpochNanos",
        Box::new(|a| {
            let a = arg("unixEpochNanos", a, 1)?;
            let ns = value_to_ns(&a[0]).ok_or_else(|| err("unixEpochNanos: expected a time"))?;
            Ok(vstr(ns.to_string()))
        }),
    ));
    v.push((
        "unixToTime",
        Box::new(|a| {
            let a = arg("unixToTime", a, 1)?;
            let e = s(&a[0]);
            let i: i64 = e.parse().map_err(|_| err(format!("unable to parse time '{e}'")))?;
            let ns = match e.len() {
                5 => i * 86400 * 1_000_000_000,
                10 => i * 1_000_000_000,
                13 => i * 1_000_000,
                16 => i * 1_000,
                19 => i,
                _ => return Err(err(format!("unable to parse time '{e}'"))),
            };
            Ok(time_value(ns))
        }),
    ));
    v.push((
        "date",
        Box::new(|a| {
            let a = arg("date", a, 2)?;
            let ns = value_to_ns(&a[1]).unwrap_or_else(now_ns);
            Ok(vstr(format_go_time(ns, &s(&a[0]))))
        }),
    ));
    v.push((
        "toDate",
        Box::new(|a| {
            let a = arg("toDate", a, 2)?;
            Ok(time_value(parse_go_time(&s(&a[0]), &s(&a[1])).unwrap_or(i64::MIN / 2)))
        }),
    ));
    v.push((
        "toDateInZone",
        Box::new(|a| {
            let a = arg("toDateInZone", a, 3)?;
            // Only UTC is known here; other zones are treated as UTC.
            Ok(time_value(parse_go_time(&s(&a[0]), &s(&a[2])).unwrap_or(i64::MIN / 2)))
        }),
    ));
    for (name, left) in [("alignLeft", true), ("alignRight", false)] {
        v.push((
            name,
            Box::new(move |a| {
                let a = arg(name, a, 2)?;
                Ok(vstr(align(to_i64(&a[0]), &s(&a[1]), left)))
            }),
        ));
    }
    v.push((
        "trunc",
        Box::new(|a| {
            let a = arg("trunc", a, 2)?;
            Ok(vstr(trunc(to_i64(&a[0]), &s(&a[1]))))
        }),
    ));
    v.push((
        "substr",
        Box::new(|a| {
            let a = arg("substr", a, 3)?;
            Ok(vstr(substring(to_i64(&a[0]), to_i64(&a[1]), &s(&a[2]))))
        }),
    ));
    for (name, newline) in [("indent", false), ("nindent", true)] {
        v.push((
            name,
            Box::new(move |a| {
                let a = arg(name, a, 2)?;
                let pad = " ".repeat(to_i64(&a[0]).max(0) as usize);
                let out = format!("{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}")));
                Ok(vstr(if newline { format!("\n{out}") } else { out }))
            }),
        ));
    }
    v.push((
        "repeat",
        Box::new(|a| {
            let a = arg("repeat", a, 2)?;
            Ok(vstr(s(&a[1]).repeat(to_i64(&a[0]).max(0) as usize)))
        }),
    ));
    v.push(("int", Box::new(|a| Ok(Value::Int(to_i64(&arg("int", a, 1)?[0]))))));
    v.push(("float64", Box::new(|a| Ok(Value::Float(to_f64(&arg("float64", a, 1)?[0]))))));
    v.push(("add", Box::new(|a| Ok(Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add))))));
    v.push(("mul", Box::new(|a| Ok(Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul))))));
    v.push((
        "sub",
        Box::new(|a| {
            let a = arg("sub", a, 2)?;
            Ok(Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
        }),
    ));
    v.push((
        "div",
        Box::new(|a| {
            let a = arg("div", a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(err("runtime error: integer divide by zero"));
            }
            Ok(Value::Int(to_i64(&a[0]).wrapping_div(d)))
        }),
    ));
    v.push((
        "mod",
        Box::new(|a| {
            let a = arg("mod", a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(err("runtime error: integer divide by zero"));
            }
            Ok(Value::Int(to_i64(&a[0]).wrapping_rem(d)))
        }),
    ));
    v.push(("addf", Box::new(|a| Ok(Value::Float(a.iter().map(to_f64).sum())))));
    v.push(("mulf", Box::new(|a| Ok(Value::Float(a.iter().map(to_f64).product())))));
    v.push((
        "subf",
        Box::new(|a| {
            let first = a.first().map(to_f64).unwrap_or(0.0);
            Ok(Value::Float(a.iter().skip(1).map(to_f64).fold(first, |x, y| x - y)))
        }),
    ));
    v.push((
        "divf",
        Box::new(|a| {
            let first = a.first().map(to_f64).unwrap_or(0.0);
            Ok(Value::Float(a.iter().skip(1).map(to_f64).fold(first, |x, y| x / y)))
        }),
    ));
    v.push(("max", Box::new(|a| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0))))));
    v.push(("min", Box::new(|a| Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0))))));
    v.push(("maxf", Box::new(|a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max))))));
    v.push(("minf", Box::new(|a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min))))));
    v.push(("ceil", Box::new(|a| Ok(Value::Float(to_f64(&arg("ceil", a, 1)?[0]).ceil())))));
    v.push(("floor", Box::new(|a| Ok(Value::Float(to_f64(&arg("floor", a, 1)?[0]).floor())))));
    v.push((
        "round",
        Box::new(|a| {
            if a.len() < 2 {
                return Err(TemplateError::ArgCount { name: "round".into(), expected: 2, got: a.len() });
            }
            let x = to_f64(&a[0]);
            let p = to_i64(&a[1]) as i32;
            let r = a.get(2).map(to_f64).unwrap_or(0.5);
            let pow = 10f64.powi(p);
            let digit = pow * x;
            let (int, frac) = (digit.trunc(), digit.fract());
            let rounded = if frac >= r { int + 1.0 } else { int };
            Ok(Value::Float(rounded / pow))
        }),
    ));
    v.push((
        "default",
        Box::new(|a| {
            if a.is_empty() {
                return Err(TemplateError::ArgCount { name: "default".into(), expected: 1, got: 0 });
            }
            if a.len() == 1 || is_empty_value(&a[1]) {
                return Ok(a[0].clone());
            }
            Ok(a[1].clone())
        }),
    ));
    v.push((
        "toJson",
        Box::new(|a| {
            let a = arg("toJson", a, 1)?;
            // sprig ignores the marshalling error (NaN, functions) and returns "".
            Ok(vstr(to_json(&a[0]).unwrap_or_default()))
        }),
    ));
    v.push((
        "abbrev",
        Box::new(|a| {
            let a = arg("abbrev", a, 2)?;
            Ok(vstr(abbrev(to_i64(&a[0]), &s(&a[1]))))
        }),
    ));
    v.push(("abs", Box::new(|a| Ok(Value::Float(to_f64(&arg("abs", a, 1)?[0]).abs())))));
    v.push((
        "fromJson",
        Box::new(|a| {
            let a = arg("fromJson", a, 1)?;
            Ok(match serde_json::from_str::<serde_json::Value>(&s(&a[0])) {
                Ok(j @ serde_json::Value::Object(_)) => json_to_value(&j),
                _ => Value::Map(Arc::new(BTreeMap::new())),
            })
        }),
    ));
    v
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
    fn to_json_abbrev_abs() {
        assert_eq!(render("{{ toJson . }}", &[("b", "x<y>&\"z\"\n")]).unwrap(), r#"{"app":"payments","b":"x\u003cy\u003e\u0026\"z\"\n"}"#);
        assert_eq!(render("{{ toJson .b }}", &[("b", "é\u{1}\u{2028}")]).unwrap(), r#""é\u0001\u2028""#);
        assert_eq!(render("{{ toJson .missing }}", &[]).unwrap(), "\"\"");
        assert_eq!(
            render("{{ toJson 42 }}|{{ toJson 1.5 }}|{{ toJson true }}|{{ toJson 1e21 }}|{{ toJson 1e-7 }}", &[]).unwrap(),
            "42|1.5|true|1e+21|1e-7"
        );
        assert_eq!(
            render("{{ .j | fromJson | toJson }}", &[("j", r#"{"b":[1,"x",null],"a":{"c":false}}"#)]).unwrap(),
            r#"{"a":{"c":false},"b":[1,"x",null]}"#
        );
        assert_eq!(to_json(&Value::Float(f64::NAN)), None);
        assert_eq!(
            render("{{ abbrev 5 .x }}|{{ abbrev 3 .x }}|{{ abbrev 20 .x }}|{{ .x | abbrev 8 }}", &[("x", "hello world")]).unwrap(),
            "he...|hello world|hello world|hello..."
        );
        assert_eq!(render(r#"{{ abbrev 4 "" }}|{{ abbrev 4 "abcd" }}|{{ abbrev 4 "abcde" }}"#, &[]).unwrap(), "|abcd|a...");
        assert_eq!(
            render(r#"{{ abs -5 }}|{{ abs 2.5 }}|{{ abs .n }}|{{ .m | abs }}|{{ abs "x" }}"#, &[("n", "-1.25"), ("m", "-7")]).unwrap(),
            "5|2.5|1.25|7|0"
        );
        assert!(render("{{ abs }}", &[]).is_err());
    }

    #[test]
    fn simple_key_detection() {
        assert_eq!(CompiledTemplate::new("l", "{{.message}}").unwrap().simple_key.as_deref(), Some("message"));
        assert_eq!(CompiledTemplate::new("l", "{{ .message }}").unwrap().simple_key.as_deref(), Some("message"));
        assert_eq!(CompiledTemplate::new("l", "{{.message | ToUpper}}").unwrap().simple_key, None);
    }
}
