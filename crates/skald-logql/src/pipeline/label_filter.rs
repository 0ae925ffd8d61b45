//! Label filters (`| level="error" and status >= 500`), with Go's number, duration and
//! humanized-bytes parsing.

use super::goregex;
use super::ip::IpMatcher;
use super::labels::{ERROR_DETAILS_LABEL, ERROR_LABEL, LabelsBuilder};
use crate::ast::{CmpOp, LabelFilter, MatchOp, Matcher};
use regex::bytes::Regex;

pub const ERR_LABEL_FILTER: &str = "LabelFilterErr";

/// A compiled `name op "value"` string matcher.
#[derive(Debug, Clone)]
pub struct StringMatcher {
    pub name: String,
    negate: bool,
    kind: MatchKind,
}

#[derive(Debug, Clone)]
enum MatchKind {
    Eq(String),
    Re(Regex),
}

impl StringMatcher {
    pub fn new(m: &Matcher) -> Result<StringMatcher, String> {
        let (negate, kind) = match m.op {
            MatchOp::Eq => (false, MatchKind::Eq(m.value.clone())),
            MatchOp::Neq => (true, MatchKind::Eq(m.value.clone())),
            MatchOp::Re => (false, MatchKind::Re(goregex::compile_anchored(&m.value)?)),
            MatchOp::Nre => (true, MatchKind::Re(goregex::compile_anchored(&m.value)?)),
        };
        Ok(StringMatcher { name: m.name.clone(), negate, kind })
    }

    pub fn matches(&self, v: &str) -> bool {
        let m = match &self.kind {
            // (`__error__=""` is the common case: no comparison call for it)
            MatchKind::Eq(s) => s.len() == v.len() && (s.is_empty() || s == v),
            MatchKind::Re(re) => re.is_match(v.as_bytes()),
        };
        m != self.negate
    }
}

#[derive(Debug, Clone)]
pub enum CompiledLabelFilter {
    And(Box<CompiledLabelFilter>, Box<CompiledLabelFilter>),
    Or(Box<CompiledLabelFilter>, Box<CompiledLabelFilter>),
    String(StringMatcher),
    Number { name: String, op: CmpOp, value: f64 },
    Duration { name: String, op: CmpOp, value: i64 },
    Bytes { name: String, op: CmpOp, value: u64 },
    Ip { name: String, negate: bool, ip: IpMatcher },
}

fn cmp<T: PartialOrd>(op: CmpOp, a: T, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Neq => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Gte => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Lte => a <= b,
    }
}

impl CompiledLabelFilter {
    pub fn new(f: &LabelFilter) -> Result<CompiledLabelFilter, String> {
        Ok(match f {
            LabelFilter::And(a, b) => CompiledLabelFilter::And(Box::new(Self::new(a)?), Box::new(Self::new(b)?)),
            LabelFilter::Or(a, b) => CompiledLabelFilter::Or(Box::new(Self::new(a)?), Box::new(Self::new(b)?)),
            LabelFilter::Paren(inner) => Self::new(inner)?,
            LabelFilter::String(m) => CompiledLabelFilter::String(StringMatcher::new(m)?),
            LabelFilter::Number { name, op, value } => CompiledLabelFilter::Number { name: name.clone(), op: *op, value: *value },
            LabelFilter::Duration { name, op, value } => CompiledLabelFilter::Duration { name: name.clone(), op: *op, value: *value },
            LabelFilter::Bytes { name, op, value } => CompiledLabelFilter::Bytes { name: name.clone(), op: *op, value: *value },
            LabelFilter::Ip { name, negate, pattern } => {
                CompiledLabelFilter::Ip { name: name.clone(), negate: *negate, ip: IpMatcher::new(pattern)? }
            }
        })
    }

    /// Loki's semantics: string matchers see a missing label as ""; the other kinds
    /// drop entries without the label and set `__error__="LabelFilterErr"` (keeping the
    /// entry, and any earlier error) when the value does not parse.
    pub fn process(&self, b: &mut LabelsBuilder) -> bool {
        match self {
            CompiledLabelFilter::And(l, r) => {
                let lok = l.process(b);
                let rok = r.process(b);
                lok && rok
            }
            CompiledLabelFilter::Or(l, r) => {
                if l.process(b) {
                    return true;
                }
                r.process(b)
            }
            CompiledLabelFilter::String(m) => {
                if m.name == ERROR_LABEL {
                    return m.matches(&b.err);
                }
                if m.name == ERROR_DETAILS_LABEL {
                    return m.matches(&b.err_details);
                }
                m.matches(b.get(&m.name).unwrap_or(""))
            }
            CompiledLabelFilter::Number { name, op, value } => {
                let Some(v) = b.get(name) else { return false };
                match parse_go_float(v) {
                    Ok(f) => cmp(*op, f, *value),
                    Err(e) => {
                        // Keep a more useful earlier error.
                        if !b.has_err() {
                            b.set_err(ERR_LABEL_FILTER, Some(&e));
                        }
                        true
                    }
                }
            }
            CompiledLabelFilter::Duration { name, op, value } => {
                let Some(v) = b.get(name) else { return false };
                match parse_go_duration(v) {
                    Ok(d) => cmp(*op, d, *value),
                    Err(e) => {
                        // Keep a more useful earlier error.
                        if !b.has_err() {
                            b.set_err(ERR_LABEL_FILTER, Some(&e));
                        }
                        true
                    }
                }
            }
            CompiledLabelFilter::Bytes { name, op, value } => {
                let Some(v) = b.get(name) else { return false };
                match parse_humanize_bytes(v) {
                    Ok(n) => cmp(*op, n, *value),
                    Err(e) => {
                        // Keep a more useful earlier error.
                        if !b.has_err() {
                            b.set_err(ERR_LABEL_FILTER, Some(&e));
                        }
                        true
                    }
                }
            }
            CompiledLabelFilter::Ip { name, negate, ip } => {
                let Some(v) = b.get(name) else { return false };
                ip.matches_value(v) != *negate
            }
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)` (decimal forms, `inf`, `nan`, hex without `p`
/// exponents excluded) with its error message.
pub fn parse_go_float(s: &str) -> Result<f64, String> {
    let err = || format!("strconv.ParseFloat: parsing {}: invalid syntax", skald_common::go_quote(s));
    if s.is_empty() {
        return Err(err());
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("nan") {
        return s.parse::<f64>().map_err(|_| err());
    }
    // Go allows `_` only with a base prefix; reject letters other than e/E here.
    if !body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return Err(err());
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!("strconv.ParseFloat: parsing {}: value out of range", skald_common::go_quote(s))),
        Ok(v) => Ok(v),
        Err(_) => Err(err()),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let quoted = skald_common::go_quote(orig);
    let invalid = || format!("time: invalid duration {quoted}");
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        // integer part
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let mut i = 0;
        let mut v: u128 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            v = v.checked_mul(10).and_then(|v| v.checked_add((s[i] - b'0') as u128)).ok_or_else(invalid)?;
            if v > (1u128 << 63) {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i != 0;
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut post = false;
        if i < s.len() && s[i] == b'.' {
            i += 1;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + (s[i] - b'0') as u128;
                    scale *= 10;
                }
                i += 1;
            }
            post = i != start;
        }
        if !pre && !post {
            return Err(invalid());
        }
        let ustart = i;
        while i < s.len() && s[i] != b'.' && !s[i].is_ascii_digit() {
            i += 1;
        }
        if ustart == i {
            return Err(format!("time: missing unit in duration {quoted}"));
        }
        let unit = &s[ustart..i];
        let mult: u128 = match unit {
            b"ns" => 1,
            b"us" | [0xC2, 0xB5, b's'] | [0xCE, 0xBC, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!("time: unknown unit {} in duration {quoted}", skald_common::go_quote(&String::from_utf8_lossy(unit))));
            }
        };
        let whole = v.checked_mul(mult).ok_or_else(invalid)?;
        let f = frac * mult / scale;
        total = total.checked_add(whole + f).ok_or_else(invalid)?;
        if total > (1u128 << 63) {
            return Err(invalid());
        }
        s = &s[i..];
    }
    if neg {
        Ok(-(total as i128) as i64)
    } else {
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
        Ok(total as i64)
    }
}

/// go-humanize's `ParseBytes`.
pub fn parse_humanize_bytes(s: &str) -> Result<u64, String> {
    let mut last = 0;
    let mut has_comma = false;
    for (i, c) in s.char_indices() {
        if !(c.is_ascii_digit() || c == '.' || c == ',') {
            break;
        }
        if c == ',' {
            has_comma = true;
        }
        last = i + c.len_utf8();
    }
    let mut num = s[..last].to_string();
    if has_comma {
        num = num.replace(',', "");
    }
    let f: f64 = parse_go_float(&num)?;
    let extra = s[last..].trim().to_ascii_lowercase();
    let m: f64 = match extra.as_str() {
        "b" | "" => 1.0,
        "kib" | "ki" => 1024.0,
        "kb" | "k" => 1000.0,
        "mib" | "mi" => 1024f64.powi(2),
        "mb" | "m" => 1e6,
        "gib" | "gi" => 1024f64.powi(3),
        "gb" | "g" => 1e9,
        "tib" | "ti" => 1024f64.powi(4),
        "tb" | "t" => 1e12,
        "pib" | "pi" => 1024f64.powi(5),
        "pb" | "p" => 1e15,
        "eib" | "ei" => 1024f64.powi(6),
        "eb" | "e" => 1e18,
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * m;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::LabelSet;

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("7.2s"), Ok(7_200_000_000));
        assert_eq!(parse_go_duration("864us"), Ok(864_000));
        assert_eq!(parse_go_duration("1h2m"), Ok(3_720_000_000_000));
        assert_eq!(parse_go_duration("-3µs"), Ok(-3000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("abc"), Err("time: invalid duration \"abc\"".into()));
        assert_eq!(parse_go_duration("12"), Err("time: missing unit in duration \"12\"".into()));
        assert_eq!(parse_go_duration("1x"), Err("time: unknown unit \"x\" in duration \"1x\"".into()));
    }

    #[test]
    fn bytes_and_floats() {
        assert_eq!(parse_humanize_bytes("100KB"), Ok(100_000));
        assert_eq!(parse_humanize_bytes("70MB"), Ok(70_000_000));
        assert_eq!(parse_humanize_bytes("1.5 KiB"), Ok(1536));
        assert_eq!(parse_humanize_bytes("15B"), Ok(15));
        assert_eq!(parse_humanize_bytes("1,000"), Ok(1000));
        assert!(parse_humanize_bytes("12XB").is_err());
        assert_eq!(parse_go_float("1e3"), Ok(1000.0));
        assert_eq!(parse_go_float("abc"), Err("strconv.ParseFloat: parsing \"abc\": invalid syntax".into()));
        assert!(parse_go_float("").is_err());
        assert!(parse_go_float("NaN").unwrap().is_nan());
    }

    fn builder(parsed: &[(&str, &str)]) -> LabelsBuilder {
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "checkout")]));
        for (n, v) in parsed {
            b.set_parsed(n, v);
        }
        b
    }

    fn num(name: &str, op: CmpOp, value: f64) -> LabelFilter {
        LabelFilter::Number { name: name.into(), op, value }
    }

    fn s(name: &str, op: MatchOp, value: &str) -> LabelFilter {
        LabelFilter::String(Matcher { name: name.into(), op, value: value.into() })
    }

    #[test]
    fn semantics() {
        let f = CompiledLabelFilter::new(&num("status", CmpOp::Gte, 500.0)).unwrap();
        assert!(f.process(&mut builder(&[("status", "503")])));
        assert!(!f.process(&mut builder(&[("status", "200")])));
        assert!(!f.process(&mut builder(&[])));
        let mut b = builder(&[("status", "abc")]);
        assert!(f.process(&mut b));
        assert_eq!(b.err, "LabelFilterErr");
        assert_eq!(b.err_details, "strconv.ParseFloat: parsing \"abc\": invalid syntax");
        // an existing error lets numeric filters through
        assert!(f.process(&mut b));

        let f = CompiledLabelFilter::new(&LabelFilter::And(
            Box::new(num("amount", CmpOp::Gt, 250.0)),
            Box::new(s("user", MatchOp::Eq, "alice")),
        ))
        .unwrap();
        assert!(f.process(&mut builder(&[("amount", "255.32"), ("user", "alice")])));
        assert!(!f.process(&mut builder(&[("amount", "255.32"), ("user", "bob")])));
        let f = CompiledLabelFilter::new(&LabelFilter::Or(
            Box::new(s("level", MatchOp::Eq, "warn")),
            Box::new(LabelFilter::Paren(Box::new(s("level", MatchOp::Re, "err.*")))),
        ))
        .unwrap();
        assert!(f.process(&mut builder(&[("level", "error")])));
        assert!(!f.process(&mut builder(&[("level", "info")])));
        let f = CompiledLabelFilter::new(&s("missing", MatchOp::Eq, "")).unwrap();
        assert!(f.process(&mut builder(&[])));
        let f = CompiledLabelFilter::new(&LabelFilter::Duration { name: "duration".into(), op: CmpOp::Gt, value: 500_000_000 }).unwrap();
        assert!(f.process(&mut builder(&[("duration", "7.2s")])));
        assert!(!f.process(&mut builder(&[("duration", "864us")])));
        let f = CompiledLabelFilter::new(&LabelFilter::Bytes { name: "size".into(), op: CmpOp::Gt, value: 100_000 }).unwrap();
        assert!(f.process(&mut builder(&[("size", "847KB")])));
        assert!(!f.process(&mut builder(&[("size", "15B")])));
        let f = CompiledLabelFilter::new(&LabelFilter::Ip { name: "ip".into(), negate: false, pattern: "10.0.0.0/8".into() }).unwrap();
        assert!(f.process(&mut builder(&[("ip", "10.1.2.3")])));
        assert!(!f.process(&mut builder(&[("ip", "11.1.2.3")])));
        // __error__ matchers look at the error
        let f = CompiledLabelFilter::new(&s("__error__", MatchOp::Eq, "")).unwrap();
        let mut b = builder(&[]);
        assert!(f.process(&mut b));
        b.set_err("JSONParserErr", None);
        assert!(!f.process(&mut b));
    }
}
