//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`, `ip("...")` and their `or`
//! alternatives, run on raw bytes without allocating.

use super::goregex;
use super::ip::IpMatcher;
use super::pattern::PatternMatcher;
use crate::ast::{LineFilter, LineFilterOp, LineFilterValue};
use memchr::memmem::Finder;
use regex::bytes::Regex;

#[derive(Debug, Clone)]
enum Alt {
    /// Always true (`|= ""`, `|~ ""`).
    True,
    Literal(Box<Finder<'static>>),
    Regex(Regex),
    Pattern(PatternMatcher),
    Ip(IpMatcher),
}

impl Alt {
    #[inline]
    fn is_match(&self, line: &[u8]) -> bool {
        match self {
            Alt::True => true,
            Alt::Literal(f) => f.find(line).is_some(),
            Alt::Regex(re) => re.is_match(line),
            Alt::Pattern(p) => p.test(line),
            Alt::Ip(ip) => ip.matches_line(line),
        }
    }
}

/// A compiled line filter: true when the line passes.
#[derive(Debug, Clone)]
pub struct CompiledLineFilter {
    negate: bool,
    alts: Vec<Alt>,
}

fn is_plain_literal(re: &str) -> bool {
    !re.is_empty() && regex::escape(re) == re
}

impl CompiledLineFilter {
    pub fn new(f: &LineFilter) -> Result<CompiledLineFilter, String> {
        let negate = matches!(f.op, LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern);
        let mut alts = Vec::with_capacity(f.values.len());
        for v in &f.values {
            let alt = match v {
                LineFilterValue::Ip(p) => {
                    if !matches!(f.op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                        return Err("ip: invalid operation".into());
                    }
                    Alt::Ip(IpMatcher::new(p)?)
                }
                LineFilterValue::Literal(s) => match f.op {
                    LineFilterOp::Contains | LineFilterOp::NotContains => {
                        if s.is_empty() {
                            Alt::True
                        } else {
                            Alt::Literal(Box::new(Finder::new(s.as_bytes()).into_owned()))
                        }
                    }
                    LineFilterOp::Regex | LineFilterOp::NotRegex => {
                        if s.is_empty() {
                            Alt::True
                        } else if is_plain_literal(s) {
                            Alt::Literal(Box::new(Finder::new(s.as_bytes()).into_owned()))
                        } else {
                            Alt::Regex(goregex::compile(s)?)
                        }
                    }
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => Alt::Pattern(PatternMatcher::new_filter(s)?),
                },
            };
            alts.push(alt);
        }
        Ok(CompiledLineFilter { negate, alts })
    }

    #[inline]
    pub fn matches(&self, line: &[u8]) -> bool {
        let any = match self.alts.as_slice() {
            [one] => one.is_match(line),
            alts => alts.iter().any(|a| a.is_match(line)),
        };
        any != self.negate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lf(op: LineFilterOp, vals: &[&str]) -> CompiledLineFilter {
        CompiledLineFilter::new(&LineFilter { op, values: vals.iter().map(|v| LineFilterValue::Literal(v.to_string())).collect() }).unwrap()
    }

    #[test]
    fn contains_and_or() {
        let f = lf(LineFilterOp::Contains, &["error", "warn"]);
        assert!(f.matches(b"level=warn"));
        assert!(!f.matches(b"level=info"));
        let f = lf(LineFilterOp::NotContains, &["error", "warn"]);
        assert!(!f.matches(b"level=warn"));
        assert!(f.matches(b"level=info"));
        let f = lf(LineFilterOp::Contains, &[""]);
        assert!(f.matches(b"anything"));
    }

    #[test]
    fn regex_filters() {
        let f = lf(LineFilterOp::Regex, &["HTTP/1.1\" 5\\d\\d"]);
        assert!(f.matches(br#"10.0.1.29 - carol [01/Jun/2024:00:59:08 +0000] "GET /api/users HTTP/1.1" 500 41213 "-""#));
        assert!(!f.matches(br#""GET /api/users HTTP/1.1" 200 41213"#));
        let f = lf(LineFilterOp::NotRegex, &["(?i)token"]);
        assert!(!f.matches(b"2024-06-01T00:52:18Z DEBUG [auth] Token refreshed for user=bob"));
        assert!(f.matches(b"2024-06-01T00:52:31Z INFO [auth] session expired user=dave"));
        assert!(
            CompiledLineFilter::new(&LineFilter { op: LineFilterOp::Regex, values: vec![LineFilterValue::Literal("(".into())] }).is_err()
        );
    }

    #[test]
    fn pattern_and_ip() {
        let f = lf(LineFilterOp::Pattern, &["<_> WARN <_>"]);
        assert!(f.matches(b"2024-06-01T00:51:48Z WARN [auth] login failed"));
        let f = lf(LineFilterOp::NotPattern, &["<_> WARN <_>"]);
        assert!(!f.matches(b"2024-06-01T00:51:48Z WARN [auth] login failed"));
        let f =
            CompiledLineFilter::new(&LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("192.168.1.0/24".into())] })
                .unwrap();
        assert!(f.matches(b"login failed for user=dave ip=192.168.1.6"));
        assert!(!f.matches(b"login failed for user=dave ip=192.168.0.6"));
        assert!(
            CompiledLineFilter::new(&LineFilter { op: LineFilterOp::Regex, values: vec![LineFilterValue::Ip("192.168.1.0/24".into())] })
                .is_err()
        );
    }
}
