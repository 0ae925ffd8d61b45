//! Compiled label matchers (`=`, `!=`, `=~`, `!~`); regexes are fully anchored as in
//! Prometheus and Loki.

use regex::Regex;
use skald_common::LabelSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regex in matcher for label '{name}': {message}")]
pub struct MatcherError {
    pub name: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub enum LabelMatcher {
    Eq(String, String),
    Neq(String, String),
    Re(String, Regex),
    Nre(String, Regex),
}

impl LabelMatcher {
    /// Compiles a regex matcher; `negate` selects `!~`. `pattern` is in the `regex`
    /// crate's syntax: callers holding a Go (LogQL) pattern translate it first
    /// (`skald_logql::pipeline::translate_go_regex`: ASCII `\d`, Go's literal `{`).
    pub fn regex(name: &str, pattern: &str, negate: bool) -> Result<LabelMatcher, MatcherError> {
        let anchored = format!("^(?s:{pattern})$");
        let regex = regex::RegexBuilder::new(&anchored)
            .unicode(true)
            .octal(true)
            .build()
            .map_err(|e| MatcherError { name: name.to_string(), message: e.to_string() })?;
        Ok(if negate { LabelMatcher::Nre(name.to_string(), regex) } else { LabelMatcher::Re(name.to_string(), regex) })
    }

    pub fn name(&self) -> &str {
        match self {
            LabelMatcher::Eq(n, _) | LabelMatcher::Neq(n, _) | LabelMatcher::Re(n, _) | LabelMatcher::Nre(n, _) => n,
        }
    }

    /// The same test on another label.
    pub fn renamed(&self, name: &str) -> LabelMatcher {
        let name = name.to_string();
        match self {
            LabelMatcher::Eq(_, v) => LabelMatcher::Eq(name, v.clone()),
            LabelMatcher::Neq(_, v) => LabelMatcher::Neq(name, v.clone()),
            LabelMatcher::Re(_, re) => LabelMatcher::Re(name, re.clone()),
            LabelMatcher::Nre(_, re) => LabelMatcher::Nre(name, re.clone()),
        }
    }

    pub fn matches_value(&self, value: &str) -> bool {
        match self {
            LabelMatcher::Eq(_, v) => value == v,
            LabelMatcher::Neq(_, v) => value != v,
            LabelMatcher::Re(_, re) => re.is_match(value),
            LabelMatcher::Nre(_, re) => !re.is_match(value),
        }
    }

    /// A missing label matches as the empty string.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(self.name()).unwrap_or(""))
    }

    /// True when the matcher accepts the empty string (so it also accepts streams
    /// without the label).
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}

pub fn matches_all(matchers: &[LabelMatcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let m = LabelMatcher::regex("job", "ngin.*", false).unwrap();
        assert!(m.matches_value("nginx"));
        assert!(!m.matches_value("xnginx"));
        let m = LabelMatcher::regex("job", "a|b", false).unwrap();
        assert!(m.matches_value("a") && !m.matches_value("ab"));
        assert!(LabelMatcher::regex("job", "(", false).is_err());
    }
}
