//! `service_name` and `detected_level` discovery, as Loki's distributor does it
//! (`pkg/distributor/field_detection.go`).

use skald_common::{Label, LabelSet};

const SERVICE_NAME: &str = "service_name";
const LEVEL_LABEL: &str = "detected_level";
const LEVEL_FIELDS: &[&str] = &[
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

/// Adds `service_name` from the first present of `candidates`, else `unknown_service`.
pub fn add_service_name(labels: &mut LabelSet, candidates: &[String]) {
    if candidates.is_empty() || labels.get(SERVICE_NAME).is_some() {
        return;
    }
    let value = candidates.iter().find_map(|name| labels.get(name).map(str::to_string)).unwrap_or_else(|| "unknown_service".to_string());
    labels.insert(SERVICE_NAME.to_string(), value);
}

/// The level a stream's own labels give (checked once per stream, not per entry).
pub fn stream_level(stream: &LabelSet) -> Option<String> {
    LEVEL_FIELDS.iter().find_map(|f| stream.get(f)).map(normalize)
}

/// The `detected_level` metadata to add to an entry, if any.
#[cfg(test)]
pub fn detect_level(stream: &LabelSet, metadata: &mut [Label], line: &str) -> Option<Label> {
    detect_entry_level(stream_level(stream).as_deref(), metadata, line)
}

/// [`detect_level`] with the stream's level already known.
pub fn detect_entry_level(stream_level: Option<&str>, metadata: &mut [Label], line: &str) -> Option<Label> {
    if let Some(existing) = metadata.iter_mut().find(|l| l.name == LEVEL_LABEL) {
        existing.value = normalize(&existing.value);
        return None;
    }
    let level = if let Some(v) = stream_level {
        v.to_string()
    } else if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| metadata.iter().find(|l| l.name == *f)) {
        normalize(&v.value)
    } else if let Some(number) = metadata.iter().find(|l| l.name == "severity_number") {
        severity_level(&number.value).to_string()
    } else {
        from_line(line)
    };
    (!level.is_empty()).then(|| Label::new(LEVEL_LABEL, level))
}

/// The level of an OpenTelemetry `severity_number` (1-4 trace ... 21-24 fatal), as Loki
/// reads it from structured metadata; a value that is not a number is `info`.
fn severity_level(number: &str) -> &'static str {
    match number.trim().parse::<i64>() {
        Err(_) => "info",
        Ok(0) => "unknown",
        Ok(n) if n <= 4 => "trace",
        Ok(n) if n <= 8 => "debug",
        Ok(n) if n <= 12 => "info",
        Ok(n) if n <= 16 => "warn",
        Ok(n) if n <= 20 => "error",
        Ok(n) if n <= 24 => "fatal",
        Ok(_) => "unknown",
    }
}

fn normalize(level: &str) -> String {
    known(level).map(str::to_string).unwrap_or_else(|| level.to_string())
}

fn known(level: &str) -> Option<&'static str> {
    let eq = |s: &str| level.eq_ignore_ascii_case(s);
    Some(if eq("trace") || eq("trc") {
        "trace"
    } else if eq("debug") || eq("dbg") {
        "debug"
    } else if eq("info") || eq("inf") || eq("information") {
        "info"
    } else if eq("warn") || eq("wrn") || eq("warning") {
        "warn"
    } else if eq("error") || eq("err") {
        "error"
    } else if eq("critical") {
        "critical"
    } else if eq("fatal") {
        "fatal"
    } else {
        return None;
    })
}

fn from_line(line: &str) -> String {
    let trimmed = line.trim();
    let value = if trimmed.starts_with('{') && trimmed.ends_with('}') {
        json_level(trimmed)
    } else if line.contains('=') {
        logfmt_level(line)
    } else {
        return keyword_level(line).to_string();
    };
    match value.as_deref().and_then(known) {
        Some(level) => level.to_string(),
        None => keyword_level(line).to_string(),
    }
}

/// The first string value of an allowed level key, searching nested objects depth
/// first (as jsonparser.ObjectEach does), without building a JSON tree.
fn json_level(line: &str) -> Option<String> {
    let mut scanner = JsonScanner { bytes: line.as_bytes(), pos: 0, depth: 0 };
    scanner.skip_space();
    scanner.object().ok().flatten()
}

/// Just enough of a JSON reader to walk object keys and skip values.
struct JsonScanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl JsonScanner<'_> {
    fn skip_space(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// A string starting at `pos` (on the quote); returns its raw (still escaped) bytes.
    fn string(&mut self) -> Result<&[u8], ()> {
        if self.peek() != Some(b'"') {
            return Err(());
        }
        let start = self.pos + 1;
        let mut i = start;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.bytes[start..i]);
                }
                _ => i += 1,
            }
        }
        Err(())
    }

    /// Walks an object; `Ok(Some(level))` as soon as an allowed key has a string value.
    fn object(&mut self) -> Result<Option<String>, ()> {
        if self.peek() != Some(b'{') || self.depth > 64 {
            return Err(());
        }
        self.depth += 1;
        self.pos += 1;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(None);
                }
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                Some(b'"') => {}
                _ => return Err(()),
            }
            let key = self.string()?;
            let wanted = LEVEL_FIELDS.iter().any(|f| f.as_bytes() == key);
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(());
            }
            self.pos += 1;
            self.skip_space();
            match self.peek() {
                Some(b'"') => {
                    let value = self.string()?;
                    if wanted {
                        return Ok(Some(String::from_utf8_lossy(value).into_owned()));
                    }
                }
                Some(b'{') => {
                    if let Some(found) = self.object()? {
                        return Ok(Some(found));
                    }
                }
                _ => self.skip_value()?,
            }
        }
    }

    /// Skips a number, literal or array (arrays may nest anything).
    fn skip_value(&mut self) -> Result<(), ()> {
        let mut nesting = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'[' | b'{' => nesting += 1,
                b']' | b'}' if nesting > 0 => nesting -= 1,
                b',' | b'}' | b']' if nesting == 0 => return Ok(()),
                _ => {}
            }
            self.pos += 1;
        }
        Err(())
    }
}

/// The value of the first-listed level key present in a logfmt line.
fn logfmt_level(line: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    let bytes = line.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        let key_start = pos;
        while pos < bytes.len() && bytes[pos] != b'=' && bytes[pos] != b' ' {
            pos += 1;
        }
        let key = &line[key_start..pos];
        let mut value = String::new();
        if pos < bytes.len() && bytes[pos] == b'=' {
            pos += 1;
            if pos < bytes.len() && bytes[pos] == b'"' {
                pos += 1;
                while pos < bytes.len() && bytes[pos] != b'"' {
                    if bytes[pos] == b'\\' {
                        pos += 1;
                    }
                    if pos < bytes.len() {
                        value.push(bytes[pos] as char);
                    }
                    pos += 1;
                }
                pos += 1;
            } else {
                let start = pos;
                while pos < bytes.len() && bytes[pos] != b' ' {
                    pos += 1;
                }
                value = line[start..pos].to_string();
            }
        }
        if let Some(rank) = LEVEL_FIELDS.iter().position(|f| f.eq_ignore_ascii_case(key))
            && best.as_ref().is_none_or(|(r, _)| rank < *r)
        {
            best = Some((rank, value));
            if rank == 0 {
                break;
            }
        }
    }
    best.map(|(_, v)| v)
}

/// Loki's keyword search, in its order of precedence (info first). One pass over the
/// line finds every keyword; the best class wins.
fn keyword_level(line: &str) -> &'static str {
    use std::sync::OnceLock;
    static KEYWORDS: OnceLock<(aho_corasick::AhoCorasick, Vec<usize>)> = OnceLock::new();
    const CLASSES: [(&str, &[&str]); 5] = [
        ("info", &["info:", "INFO:", "[info]", "[INFO]", "info", "INFO"]),
        ("error", &["err:", "ERR:", "[err]", "[ERR]", "[error]", "[ERROR]"]),
        ("warn", &["warn:", "WARN:", "[warn]", "[WARN]", "[warning]", "[WARNING]", "warning", "WARNING"]),
        ("critical", &["critical:", "CRITICAL:", "[critical]", "[CRITICAL]"]),
        ("debug", &["debug:", "DEBUG:", "[debug]", "[DEBUG]", "debug", "DEBUG"]),
    ];
    let (automaton, class_of) = KEYWORDS.get_or_init(|| {
        let mut patterns = Vec::new();
        let mut classes = Vec::new();
        for (class, (_, words)) in CLASSES.iter().enumerate() {
            for word in *words {
                patterns.push(*word);
                classes.push(class);
            }
        }
        let automaton = aho_corasick::AhoCorasick::new(&patterns).expect("static keyword patterns");
        (automaton, classes)
    });
    let mut best = usize::MAX;
    for found in automaton.find_overlapping_iter(line) {
        best = best.min(class_of[found.pattern().as_usize()]);
        if best == 0 {
            break;
        }
    }
    CLASSES.get(best).map(|(name, _)| *name).unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_from_first_candidate() {
        let candidates: Vec<String> = ["service", "app", "job"].iter().map(|s| s.to_string()).collect();
        let mut labels = LabelSet::from_pairs([("job", "j"), ("app", "a")]);
        add_service_name(&mut labels, &candidates);
        assert_eq!(labels.get("service_name"), Some("a"));
        let mut labels = LabelSet::from_pairs([("x", "y")]);
        add_service_name(&mut labels, &candidates);
        assert_eq!(labels.get("service_name"), Some("unknown_service"));
        let mut labels = LabelSet::from_pairs([("x", "y")]);
        add_service_name(&mut labels, &[]);
        assert_eq!(labels.get("service_name"), None);
    }

    #[test]
    fn levels() {
        let stream = LabelSet::from_pairs([("job", "x")]);
        let level = |line: &str| detect_level(&stream, &mut [], line).unwrap().value;
        assert_eq!(level(r#"{"level":"WARN","msg":"x"}"#), "warn");
        assert_eq!(level(r#"{"a":{"lvl":"err"}}"#), "error");
        assert_eq!(level("ts=1 level=debug msg=hi"), "debug");
        assert_eq!(level("something [ERROR] broke"), "error");
        assert_eq!(level("nothing here"), "unknown");
        assert_eq!(level("a warning and [ERROR] both"), "error");
        assert_eq!(level("DEBUG then info"), "info");
        assert_eq!(level(r#"{"msg":"x","ctx":{"a":[1,{"b":"}"}],"severity":"warn"}}"#), "warn");
        assert_eq!(level(r#"{"msg":"broken"#), "unknown");
        let mut metadata = vec![Label::new("detected_level", "WARNING")];
        assert!(detect_level(&stream, &mut metadata, "x").is_none());
        assert_eq!(metadata[0].value, "warn");
        let stream = LabelSet::from_pairs([("level", "Info")]);
        assert_eq!(detect_level(&stream, &mut [], "x").unwrap().value, "info");
    }
}
