//! Label sets: the identity of a stream.

use crate::go_quote::go_quote;
use std::fmt;

/// One name/value pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

/// A set of labels kept sorted by name, each name at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSet(Vec<Label>);

impl LabelSet {
    pub fn new() -> Self {
        LabelSet(Vec::new())
    }

    /// Builds a set from pairs; a later pair with the same name replaces an earlier one.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut set = LabelSet::new();
        for (name, value) in pairs {
            set.insert(name.into(), value.into());
        }
        set
    }

    /// Builds a set from labels that may be unsorted or repeated (the last one wins).
    pub fn from_labels(labels: Vec<Label>) -> Self {
        let mut set = LabelSet::new();
        for label in labels {
            set.insert(label.name, label.value);
        }
        set
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// Sets `name` to `value`, replacing any previous value.
    pub fn insert(&mut self, name: String, value: String) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(&name)) {
            Ok(i) => self.0[i].value = value,
            Err(i) => self.0.insert(i, Label { name, value }),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => Some(self.0.remove(i).value),
            Err(_) => None,
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Label) -> bool) {
        self.0.retain(|l| keep(l));
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }
}

impl<'a> IntoIterator for &'a LabelSet {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Loki's (Prometheus') string form: `{a="1", b="two"}` with Go-quoted values.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, label) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&label.name)?;
            f.write_str("=")?;
            f.write_str(&go_quote(&label.value))?;
        }
        f.write_str("}")
    }
}

/// Label names as Prometheus and Loki accept them: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why a label string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct LabelsError {
    pub message: String,
    pub position: usize,
}

/// Parses a push request's stream labels, `{name="value", ...}`, as Loki does (only `=`
/// matchers, Go string literals in double quotes or backticks). Names are not checked
/// here beyond their syntax: validation decides what is acceptable.
pub fn parse_label_set(input: &str) -> Result<LabelSet, LabelsError> {
    let mut parser = LabelParser { bytes: input.as_bytes(), input, pos: 0 };
    parser.skip_space();
    parser.expect(b'{')?;
    let mut labels = Vec::new();
    loop {
        parser.skip_space();
        if parser.peek() == Some(b'}') {
            parser.pos += 1;
            break;
        }
        if !labels.is_empty() {
            parser.expect(b',')?;
            parser.skip_space();
            if parser.peek() == Some(b'}') {
                parser.pos += 1;
                break;
            }
        }
        let name = parser.name()?;
        parser.skip_space();
        parser.expect(b'=')?;
        if matches!(parser.peek(), Some(b'~')) {
            return Err(parser.error("only equality matchers are allowed in stream labels"));
        }
        parser.skip_space();
        let value = parser.string()?;
        labels.push(Label { name, value });
    }
    parser.skip_space();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("unexpected characters after labels"));
    }
    let mut set = LabelSet::new();
    for label in labels {
        if set.get(&label.name).is_some() {
            return Err(LabelsError { message: format!("duplicate label name '{}'", label.name), position: 0 });
        }
        set.insert(label.name, label.value);
    }
    Ok(set)
}

struct LabelParser<'a> {
    bytes: &'a [u8],
    input: &'a str,
    pos: usize,
}

impl LabelParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, message: &str) -> LabelsError {
        LabelsError { message: message.to_string(), position: self.pos }
    }

    fn expect(&mut self, byte: u8) -> Result<(), LabelsError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn name(&mut self) -> Result<String, LabelsError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b':' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if start == self.pos {
            return Err(self.error("expected a label name"));
        }
        Ok(self.input[start..self.pos].to_string())
    }

    fn string(&mut self) -> Result<String, LabelsError> {
        match self.peek() {
            Some(b'`') => {
                self.pos += 1;
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b == b'`' {
                        let value = self.input[start..self.pos].to_string();
                        self.pos += 1;
                        return Ok(value);
                    }
                    self.pos += 1;
                }
                Err(self.error("unterminated raw string"))
            }
            Some(b'"') => {
                self.pos += 1;
                let (value, used) = unquote_go(&self.input[self.pos..]).map_err(|m| self.error(m))?;
                self.pos += used;
                Ok(value)
            }
            _ => Err(self.error("expected a quoted label value")),
        }
    }
}

/// Decodes the body of a Go double-quoted string (after the opening quote); returns the
/// value and the number of bytes consumed including the closing quote.
pub(crate) fn unquote_go(rest: &str) -> Result<(String, usize), &'static str> {
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("newline in string"),
            '\\' => {
                let (_, esc) = chars.next().ok_or("unterminated escape")?;
                match esc {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let digits = match esc {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..digits {
                            let (_, d) = chars.next().ok_or("short escape")?;
                            code = code * 16 + d.to_digit(16).ok_or("bad hex escape")?;
                        }
                        out.push(char::from_u32(code).ok_or("bad unicode escape")?);
                    }
                    '0'..='7' => {
                        let mut code = esc.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let (_, d) = chars.next().ok_or("short octal escape")?;
                            code = code * 8 + d.to_digit(8).ok_or("bad octal escape")?;
                        }
                        out.push(char::from_u32(code).ok_or("bad octal escape")?);
                    }
                    _ => return Err("unknown escape sequence"),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_loki_form() {
        let set = parse_label_set(r#"{job="nginx", env="prod",a=`x\y`}"#).unwrap();
        assert_eq!(set.to_string(), r#"{a="x\\y", env="prod", job="nginx"}"#);
        assert_eq!(set.get("job"), Some("nginx"));
        assert_eq!(parse_label_set("{}").unwrap().len(), 0);
    }

    #[test]
    fn rejects_malformed_labels() {
        assert!(parse_label_set("job=\"x\"").is_err());
        assert!(parse_label_set("{job=~\"x\"}").is_err());
        assert!(parse_label_set("{job=\"x\"").is_err());
        assert!(parse_label_set("{job=\"x\", job=\"y\"}").is_err());
        assert!(parse_label_set("{=\"x\"}").is_err());
    }

    #[test]
    fn quotes_like_go() {}

    #[test]
    fn label_names() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a-b"));
        assert!(!is_valid_label_name(""));
    }

    proptest::proptest! {
        #[test]
        fn display_parse_round_trip(pairs in proptest::collection::vec(("[a-z_][a-z0-9_]{0,8}", "\\PC{0,12}"), 0..6)) {
            let set = LabelSet::from_pairs(pairs);
            let parsed = parse_label_set(&set.to_string()).unwrap();
            proptest::prop_assert_eq!(parsed, set);
        }
    }
}
