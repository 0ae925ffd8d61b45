//! The function map of templates: Loki's own functions, the sprig subset it enables and
//! `__line__`/`__timestamp__`.

use super::CURRENT;
use super::convert::{arg, err, is_empty_value, json_to_value, s, to_f64, to_i64, vstr};
use super::go_time::{format_go_time, now_ns, parse_go_time, parse_go_time_in_zone, time_value, time_value_in, value_to_ns};
use super::strings::{align, b64dec, b64enc, go_replace, substring, title, trim_set, trunc, url_decode, url_encode};
use crate::pipeline::goregex;
use crate::pipeline::label_filter::{parse_go_duration, parse_humanize_bytes};
use gotmpl::{TemplateError, Value};

pub(super) type F = Box<dyn Fn(&[Value]) -> gotmpl::Result<Value> + Send + Sync>;

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

/// Every template function by name (also used by the agent's `template` stage).
pub fn functions() -> Vec<(&'static str, F)> {
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
    v.extend(super::compare::go_builtins());
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
            // Go's strconv.ParseInt error, wrapped as Loki does (`%w` of a nil error when
            // only the length is wrong).
            let i: i64 = e.parse().map_err(|x: std::num::ParseIntError| {
                let why = match x.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
                    _ => "invalid syntax",
                };
                err(format!("unable to parse time '{e}': strconv.ParseInt: parsing {}: {why}", skald_common::go_quote(&e)))
            })?;
            let ns = match e.len() {
                5 => i * 86400 * 1_000_000_000,
                10 => i * 1_000_000_000,
                13 => i * 1_000_000,
                16 => i * 1_000,
                19 => i,
                _ => return Err(err(format!("unable to parse time '{e}': %!w(<nil>)"))),
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
            Ok(match parse_go_time_in_zone(&s(&a[0]), &s(&a[2]), &s(&a[1])) {
                Some((ns, zone)) => time_value_in(ns, &zone),
                None => time_value(i64::MIN / 2),
            })
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
        "fromJson",
        Box::new(|a| {
            let a = arg("fromJson", a, 1)?;
            // sprig: json.Unmarshal into an interface{}, nil when the text is no JSON.
            Ok(match serde_json::from_str::<serde_json::Value>(&s(&a[0])) {
                Ok(j) => json_to_value(&j),
                Err(_) => Value::Nil,
            })
        }),
    ));
    v
}

#[cfg(test)]
mod tests {
    /// Loki's `functionMap`, its sprig subset and the line and timestamp functions
    /// (`pkg/logql/log/fmt.go`, v3.7.6):
    /// a template using anything else is refused as Loki refuses it.
    const LOKI_FUNCTIONS: &[&str] = &[
        "ToLower",
        "ToUpper",
        "Replace",
        "Trim",
        "TrimLeft",
        "TrimRight",
        "TrimPrefix",
        "TrimSuffix",
        "TrimSpace",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "count",
        "urldecode",
        "urlencode",
        "bytes",
        "duration",
        "duration_seconds",
        "unixEpochMillis",
        "unixEpochNanos",
        "toDateInZone",
        "unixToTime",
        "alignLeft",
        "alignRight",
        "b64enc",
        "b64dec",
        "lower",
        "upper",
        "title",
        "trunc",
        "substr",
        "contains",
        "hasPrefix",
        "hasSuffix",
        "indent",
        "nindent",
        "replace",
        "repeat",
        "trim",
        "trimAll",
        "trimSuffix",
        "trimPrefix",
        "int",
        "float64",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "addf",
        "subf",
        "mulf",
        "divf",
        "max",
        "min",
        "maxf",
        "minf",
        "ceil",
        "floor",
        "round",
        "fromJson",
        "date",
        "toDate",
        "now",
        "unixEpoch",
        "default",
        // addLineAndTimestampFunctions
        "__line__",
        "__timestamp__",
    ];

    #[test]
    fn exactly_lokis_functions() {
        // Go's comparison builtins are registered over gotmpl's, not added.
        let builtins: Vec<&str> = super::super::compare::go_builtins().into_iter().map(|(name, _)| name).collect();
        let mut ours: Vec<&str> = super::functions().into_iter().map(|(name, _)| name).filter(|n| !builtins.contains(n)).collect();
        ours.sort_unstable();
        let mut loki = LOKI_FUNCTIONS.to_vec();
        loki.sort_unstable();
        assert_eq!(ours, loki);
    }
}
