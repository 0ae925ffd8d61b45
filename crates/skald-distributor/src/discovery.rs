//! `service_name` and `detected_level` discovery, as Loki's distributor does it
//! (`pkg/distributor/field_detection.go`).

use skald_common::{Label, LabelSet};

const SERVICE_NAME: &str = "service_name";
const LEVEL_LABEL: &str = "detected_level";
const LEVEL_FIELDS: &[&str] = &[
    "level", "LEVEL", "Level", "log.level", "severity", "SEVERITY", "Severity", "SeverityText", "lvl", "LVL", "Lvl",
    "severity_text", "Severity_Text", "SEVERITY_TEXT",
];

/// Adds `service_name` from the first present of `candidates`, else `unknown_service`.
pub fn add_service_name(labels: &mut LabelSet, candidates: &[String]) {
    if candidates.is_empty() || labels.get(SERVICE_NAME).is_some() {
        return;
    }
    let value = candidates
        .iter()
        .find_map(|name| labels.get(name).map(str::to_string))
        .unwrap_or_else(|| "unknown_service".to_string());
    labels.insert(SERVICE_NAME.to_string(), value);
}

/// The `detected_level` metadata to add to an entry, if any.
pub fn detect_level(stream: &LabelSet, metadata: &mut [Label], line: &str) -> Option<Label> {
    if let Some(existing) = metadata.iter_mut().find(|l| l.name == LEVEL_LABEL) {
        existing.value = normalize(&existing.value);
        return None;
    }
    let level = if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| stream.get(f)) {
        normalize(v)
    } else if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| metadata.iter().find(|l| l.name == *f)) {
        normalize(&v.value)
    } else {
        from_line(line)
    };
    (!level.is_empty()).then(|| Label::new(LEVEL_LABEL, level))
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

/// The first string value of an allowed level key, searching nested objects.
fn json_level(line: &str) -> Option<String> {
    fn search(value: &serde_json::Value) -> Option<String> {
        let object = value.as_object()?;
        for (key, value) in object {
            match value {
                serde_json::Value::String(s) if LEVEL_FIELDS.contains(&key.as_str()) => return Some(s.clone()),
                serde_json::Value::Object(_) => {
                    if let Some(found) = search(value) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        None
    }
    search(&serde_json::from_str(line).ok()?)
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
        if let Some(rank) = LEVEL_FIELDS.iter().position(|f| f.eq_ignore_ascii_case(key)) {
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, value));
                if rank == 0 {
                    break;
                }
            }
        }
    }
    best.map(|(_, v)| v)
}

fn keyword_level(line: &str) -> &'static str {
    let has = |words: &[&str]| words.iter().any(|w| line.contains(w));
    if has(&["info:", "INFO:", "[info]", "[INFO]", "info", "INFO"]) {
        "info"
    } else if has(&["err:", "ERR:", "[err]", "[ERR]", "[error]", "[ERROR]"]) {
        "error"
    } else if has(&["warn:", "WARN:", "[warn]", "[WARN]", "[warning]", "[WARNING]", "warning", "WARNING"]) {
        "warn"
    } else if has(&["critical:", "CRITICAL:", "[critical]", "[CRITICAL]"]) {
        "critical"
    } else if has(&["debug:", "DEBUG:", "[debug]", "[DEBUG]", "debug", "DEBUG"]) {
        "debug"
    } else {
        "unknown"
    }
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
        let mut metadata = vec![Label::new("detected_level", "WARNING")];
        assert!(detect_level(&stream, &mut metadata, "x").is_none());
        assert_eq!(metadata[0].value, "warn");
        let stream = LabelSet::from_pairs([("level", "Info")]);
        assert_eq!(detect_level(&stream, &mut [], "x").unwrap().value, "info");
    }
}
