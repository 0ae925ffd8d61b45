//! `| logfmt`: a port of Loki's logfmt decoder (go-logfmt on bytes) and parsers.

use super::labels::{DUPLICATE_SUFFIX, LabelsBuilder, sanitize_key_into};

pub const ERR_LOGFMT: &str = "LogfmtParserErr";

pub struct Decoder<'a> {
    line: &'a [u8],
    pos: usize,
    pub key: Option<&'a [u8]>,
    pub value: Option<std::borrow::Cow<'a, [u8]>>,
    pub err: Option<String>,
}

impl<'a> Decoder<'a> {
    pub fn new(line: &'a [u8]) -> Decoder<'a> {
        Decoder { line, pos: 0, key: None, value: None, err: None }
    }

    pub fn eol(&self) -> bool {
        self.pos >= self.line.len()
    }

    fn syntax_error(&mut self, msg: &str) {
        self.err = Some(format!("logfmt syntax error at pos {} : {}", self.pos + 1, msg));
    }

    fn unexpected(&mut self, c: u8) {
        let q = if c == b'"' {
            "'\"'".to_string()
        } else if c == b'\'' {
            "'\\''".to_string()
        } else {
            format!("'{}'", c as char)
        };
        self.err = Some(format!("logfmt syntax error at pos {} : unexpected {}", self.pos + 1, q));
    }

    fn skip_value(&mut self) -> bool {
        let line = self.line;
        match line[self.pos..].iter().position(|&c| c <= b' ') {
            Some(p) => self.pos += p,
            None => self.pos = line.len(),
        }
        false
    }

    fn key_has_rune_error(key: &[u8]) -> bool {
        String::from_utf8_lossy(key).contains('\u{FFFD}')
    }

    /// Advances to the next key/value pair.
    pub fn scan_keyval(&mut self) -> bool {
        self.key = None;
        self.value = None;
        let line = self.line;
        // garbage
        match line[self.pos..].iter().position(|&c| c > b' ') {
            Some(p) => self.pos += p,
            None => {
                self.pos = line.len();
                return false;
            }
        }
        // key
        let start = self.pos;
        let mut multibyte = false;
        let mut i = self.pos;
        loop {
            if i >= line.len() {
                self.pos = line.len();
                if self.pos > start {
                    let key = &line[start..self.pos];
                    if multibyte && Self::key_has_rune_error(key) {
                        self.syntax_error("invalid key");
                        return false;
                    }
                    self.key = Some(key);
                }
                return true;
            }
            let c = line[i];
            if c == b'=' {
                self.pos = i;
                if self.pos > start {
                    let key = &line[start..self.pos];
                    if multibyte && Self::key_has_rune_error(key) {
                        self.syntax_error("invalid key");
                        return self.skip_value();
                    }
                    self.key = Some(key);
                }
                if self.key.is_none() {
                    self.unexpected(c);
                    return self.skip_value();
                }
                break;
            } else if c == b'"' {
                self.pos = i;
                self.unexpected(c);
                return self.skip_value();
            } else if c <= b' ' {
                self.pos = i;
                if self.pos > start {
                    let key = &line[start..self.pos];
                    if multibyte && Self::key_has_rune_error(key) {
                        self.syntax_error("invalid key");
                        return false;
                    }
                    self.key = Some(key);
                }
                return true;
            } else if c >= 0x80 {
                multibyte = true;
            }
            i += 1;
        }
        // equal
        self.pos += 1;
        if self.pos >= line.len() {
            return true;
        }
        let c = line[self.pos];
        if c <= b' ' {
            return true;
        }
        if c == b'"' {
            return self.qvalue();
        }
        let start = self.pos;
        let mut i = self.pos;
        while i < line.len() {
            let c = line[i];
            if c == b'=' || c == b'"' {
                self.pos = i;
                self.unexpected(c);
                return self.skip_value();
            }
            if c <= b' ' {
                self.pos = i;
                if self.pos > start {
                    self.value = Some(line[start..self.pos].into());
                }
                return true;
            }
            i += 1;
        }
        self.pos = line.len();
        if self.pos > start {
            self.value = Some(line[start..self.pos].into());
        }
        true
    }

    fn qvalue(&mut self) -> bool {
        let line = self.line;
        let start = self.pos;
        let mut has_esc = false;
        let mut esc = false;
        let mut i = self.pos + 1;
        while i < line.len() {
            let c = line[i];
            if esc {
                esc = false;
            } else if c == b'\\' {
                has_esc = true;
                esc = true;
            } else if c == b'"' {
                self.pos = i + 1;
                if has_esc {
                    match unquote(&line[start..self.pos]) {
                        Some(v) => self.value = Some(v.into()),
                        None => {
                            self.syntax_error("invalid quoted value");
                            return false;
                        }
                    }
                } else {
                    let s = start + 1;
                    let e = self.pos - 1;
                    if e > s {
                        self.value = Some(line[s..e].into());
                    }
                }
                return true;
            }
            i += 1;
        }
        self.pos = line.len();
        self.syntax_error("unterminated quoted value");
        false
    }
}

/// go-logfmt's `unquoteBytes` (JSON string escapes) on a quoted value.
fn unquote(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() < 2 || s[0] != b'"' || s[s.len() - 1] != b'"' {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    super::json::unescape(inner, &mut out).ok()?;
    Some(out)
}

/// `| logfmt [--strict] [--keep-empty]`.
#[derive(Debug, Clone)]
pub struct LogfmtParser {
    pub strict: bool,
    pub keep_empty: bool,
}

fn value_string(v: Option<&[u8]>, out: &mut String) {
    out.clear();
    if let Some(v) = v {
        if v.is_ascii() {
            // ASCII is valid UTF-8 and holds no U+FFFD.
            out.push_str(std::str::from_utf8(v).unwrap_or_default());
            return;
        }
        let s = String::from_utf8_lossy(v);
        if s.contains('\u{FFFD}') {
            out.extend(s.chars().map(|c| if c == '\u{FFFD}' { ' ' } else { c }));
        } else {
            out.push_str(&s);
        }
    }
}

impl LogfmtParser {
    /// `hints`: when set, only labels with these names are built (the line is still
    /// decoded to its end, so errors do not change).
    pub fn process(&self, line: &[u8], b: &mut LabelsBuilder, key: &mut String, val: &mut String, hints: Option<&[String]>) {
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            if !dec.scan_keyval() {
                if self.strict {
                    break;
                }
                continue;
            }
            let Some(k) = dec.key else { continue };
            key.clear();
            sanitize_key_into(key, k, true);
            if key.is_empty() {
                continue;
            }
            if b.collides(key) {
                key.push_str(DUPLICATE_SUFFIX);
            }
            if b.is_extracted(key) {
                continue;
            }
            if let Some(h) = hints
                && !h.iter().any(|n| n.len() == key.len() && n == key)
            {
                continue;
            }
            value_string(dec.value.as_deref(), val);
            if !self.keep_empty && val.is_empty() {
                continue;
            }
            b.set_parsed_new(key, val);
        }
        if self.strict
            && let Some(e) = &dec.err
        {
            b.set_err(ERR_LOGFMT, Some(e));
        }
    }
}

/// `| logfmt a, b="key"`.
#[derive(Debug, Clone)]
pub struct LogfmtExprParser {
    pub strict: bool,
    /// (label name, logfmt key)
    pub exprs: Vec<(String, String)>,
}

impl LogfmtExprParser {
    pub fn new(strict: bool, params: &[(String, String)]) -> Result<LogfmtExprParser, String> {
        if params.is_empty() {
            return Err("no logfmt expression provided".into());
        }
        for (id, _) in params {
            if !skald_common::is_valid_label_name(id) {
                return Err(format!("invalid extracted label name '{id}'"));
            }
        }
        Ok(LogfmtExprParser { strict, exprs: params.to_vec() })
    }

    pub fn process(&self, line: &[u8], b: &mut LabelsBuilder, key: &mut String, val: &mut String) {
        for (id, _) in &self.exprs {
            if !b.base_has(id) {
                b.set_parsed(id, "");
            }
        }
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            if !dec.scan_keyval() {
                if self.strict {
                    break;
                }
                continue;
            }
            let Some(k) = dec.key else { continue };
            key.clear();
            sanitize_key_into(key, k, true);
            if key.is_empty() {
                continue;
            }
            // map the logfmt key to the requested label name
            let Some((id, _)) = self.exprs.iter().find(|(_, orig)| orig == key) else {
                continue;
            };
            key.clear();
            key.push_str(id);
            if b.collides(key) {
                key.push_str(DUPLICATE_SUFFIX);
            }
            let v = dec.value.as_deref();
            let invalid = v.is_some_and(|v| String::from_utf8_lossy(v).contains('\u{FFFD}'));
            value_string(if invalid { None } else { v }, val);
            b.set_parsed(key, val);
        }
        if self.strict
            && let Some(e) = &dec.err
        {
            b.set_err(ERR_LOGFMT, Some(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::LabelSet;

    fn run(p: &LogfmtParser, line: &str) -> (Vec<(String, String)>, String, String) {
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "checkout")]));
        let (mut k, mut v) = (String::new(), String::new());
        p.process(line.as_bytes(), &mut b, &mut k, &mut v, None);
        let mut out: Vec<(String, String)> = b.parsed.as_slice().iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        out.sort();
        (out, b.err.clone(), b.err_details.clone())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        v.sort();
        v
    }

    #[test]
    fn basic() {
        let p = LogfmtParser { strict: false, keep_empty: false };
        let (l, e, _) = run(
            &p,
            r#"level=error msg="cart updated" user=erin order_id=6508 amount=0.25 duration=7.2s status=503 error="bad input" app=x"#,
        );
        assert_eq!(
            l,
            pairs(&[
                ("level", "error"),
                ("msg", "cart updated"),
                ("user", "erin"),
                ("order_id", "6508"),
                ("amount", "0.25"),
                ("duration", "7.2s"),
                ("status", "503"),
                ("error", "bad input"),
                ("app_extracted", "x"),
            ])
        );
        assert_eq!(e, "");
    }

    #[test]
    fn escapes_empty_and_errors() {
        let p = LogfmtParser { strict: false, keep_empty: false };
        let (l, e, _) = run(&p, r#"a="x \"y\"" b= c d=1 "bad e=2 f=a=b g=3"#);
        assert_eq!(l, pairs(&[("a", "x \"y\""), ("d", "1"), ("e", "2"), ("g", "3")]));
        assert_eq!(e, "");
        let p = LogfmtParser { strict: false, keep_empty: true };
        let (l, _, _) = run(&p, "b= c");
        assert_eq!(l, pairs(&[("b", ""), ("c", "")]));
        let p = LogfmtParser { strict: true, keep_empty: false };
        let (l, e, d) = run(&p, r#"a=1 "bad e=2"#);
        assert_eq!(l, pairs(&[("a", "1")]));
        assert_eq!(e, "LogfmtParserErr");
        assert_eq!(d, "logfmt syntax error at pos 5 : unexpected '\"'");
        let (_, e, d) = run(&p, r#"a="unterminated"#);
        assert_eq!(e, "LogfmtParserErr");
        assert_eq!(d, "logfmt syntax error at pos 16 : unterminated quoted value");
    }

    #[test]
    fn expressions() {
        let p =
            LogfmtExprParser::new(false, &[("user".into(), "user".into()), ("oid".into(), "order_id".into()), ("z".into(), "z".into())])
                .unwrap();
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "checkout")]));
        let (mut k, mut v) = (String::new(), String::new());
        p.process(b"level=info user=dave order_id=1446", &mut b, &mut k, &mut v);
        let mut out: Vec<(String, String)> = b.parsed.as_slice().iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        out.sort();
        assert_eq!(out, pairs(&[("user", "dave"), ("oid", "1446"), ("z", "")]));
    }
}
