//! JSON parsing as Loki does it: a port of the streaming scanner of
//! `github.com/buger/jsonparser` (so that broken lines yield the labels found before
//! the break and the same error messages), the `json` parser (flattening nested
//! objects with `_`), `json name="path"` extraction and `unpack`.

mod path;
mod scanner;
#[cfg(test)]
mod tests;

use super::labels::{DUPLICATE_SUFFIX, LabelsBuilder, sanitize_key_into};
use path::{Lookup, PathSeg, lookup, parse_path};
use scanner::{JsonError, ValueType, object_each, unescape_string};
use std::borrow::Cow;

pub(super) use scanner::unescape;

/// Reusable buffers for the JSON parsers.
#[derive(Default)]
pub struct JsonScratch {
    prefix: String,
    key: String,
    value: String,
    unesc: Vec<u8>,
}

pub const ERR_JSON: &str = "JSONParserErr";

struct Walk<'s> {
    b: &'s mut LabelsBuilder,
    s: &'s mut JsonScratch,
    hints: Option<&'s [String]>,
}

fn walk_object(data: &[u8], w: &mut Walk<'_>) -> Result<(), JsonError> {
    object_each(data, &mut |key, value| {
        let (value, ty) = value?;
        match ty {
            ValueType::String | ValueType::Number | ValueType::Boolean => {
                w.set_value(key, value, ty);
                Ok(())
            }
            ValueType::Object => {
                let plen = w.s.prefix.len();
                if !w.s.prefix.is_empty() {
                    w.s.prefix.push('_');
                }
                append_sanitized(&mut w.s.prefix, key);
                let r = walk_object(value, w);
                w.s.prefix.truncate(plen);
                r
            }
            _ => Ok(()),
        }
    })
}

/// Loki's `appendSanitized`: `_` before a leading digit only at the very start.
fn append_sanitized(to: &mut String, key: &[u8]) {
    let at_start = to.is_empty();
    sanitize_key_into(to, key, at_start);
}

impl Walk<'_> {
    fn set_value(&mut self, key: &[u8], value: &[u8], ty: ValueType) {
        let s = &mut *self.s;
        s.key.clear();
        if s.prefix.is_empty() {
            sanitize_key_into(&mut s.key, key, true);
        } else {
            s.key.push_str(&s.prefix);
            s.key.push('_');
            sanitize_key_into(&mut s.key, key, false);
        }
        if self.b.collides(&s.key) {
            s.key.push_str(DUPLICATE_SUFFIX);
        }
        if self.b.is_extracted(&s.key) {
            return;
        }
        if let Some(h) = self.hints
            && !h.iter().any(|n| n.len() == s.key.len() && *n == s.key)
        {
            return;
        }
        match ty {
            ValueType::String => unescape_string(value, &mut s.unesc, &mut s.value),
            ValueType::Boolean => {
                s.value.clear();
                s.value.push_str(if value == b"true" { "true" } else { "false" });
            }
            _ => {
                s.value.clear();
                match std::str::from_utf8(value) {
                    Ok(v) => s.value.push_str(v),
                    Err(_) => s.value.push_str(&String::from_utf8_lossy(value)),
                }
            }
        }
        self.b.set_parsed_new(&s.key, &s.value);
    }
}

/// `| json`: every scalar becomes a label (nested objects flattened with `_`, arrays
/// skipped); a malformed line sets `__error__="JSONParserErr"` and keeps what was found.
///
/// `hints`: when set, only labels with these names are built (the whole line is still
/// scanned, so a malformed line gets the same error).
pub fn parse_json(line: &[u8], b: &mut LabelsBuilder, s: &mut JsonScratch, hints: Option<&[String]>) {
    s.prefix.clear();
    let mut w = Walk { b, s, hints };
    if let Err(e) = walk_object(line, &mut w) {
        b_set_json_err(w.b, Some(e.message()));
    }
}

fn b_set_json_err(b: &mut LabelsBuilder, details: Option<&str>) {
    b.set_err(ERR_JSON, details);
}

/// `| json a="x.y", b`.
#[derive(Debug, Clone)]
pub struct JsonExprParser {
    ids: Vec<String>,
    paths: Vec<Vec<PathSeg>>,
}

impl JsonExprParser {
    pub fn new(params: &[(String, String)]) -> Result<JsonExprParser, String> {
        let mut ids = Vec::new();
        let mut paths = Vec::new();
        for (id, expr) in params {
            if !skald_common::is_valid_label_name(id) {
                return Err(format!("invalid extracted label name '{id}'"));
            }
            ids.push(id.clone());
            paths.push(parse_path(expr)?);
        }
        Ok(JsonExprParser { ids, paths })
    }

    pub fn process(&self, line: &[u8], b: &mut LabelsBuilder, s: &mut JsonScratch) {
        if line.is_empty() {
            return;
        }
        if !matches!(line[0], b'"' | b'{' | b'[') {
            b_set_json_err(b, None);
            return;
        }
        for (id, path) in self.ids.iter().zip(&self.paths) {
            s.key.clear();
            s.key.push_str(id);
            if b.collides(id) {
                s.key.push_str(DUPLICATE_SUFFIX);
            }
            if b.is_extracted(&s.key) {
                continue;
            }
            match lookup(line, path) {
                Lookup::Found(v, t) => {
                    match t {
                        ValueType::Null => s.value.clear(),
                        ValueType::Object => {
                            s.value.clear();
                            s.value.push_str(&String::from_utf8_lossy(v));
                        }
                        _ => unescape_string(v, &mut s.unesc, &mut s.value),
                    }
                    b.set_parsed_new(&s.key, &s.value);
                }
                Lookup::Error(e) => b_set_json_err(b, Some(e.message())),
                Lookup::Missing => {
                    if b.get(id).is_none() {
                        b.set_parsed(id, "");
                    }
                }
            }
        }
    }
}

pub const PACKED_ENTRY_KEY: &str = "_entry";

/// `| unpack`: returns the new line when the object has an `_entry` key.
pub fn unpack(line: &[u8], b: &mut LabelsBuilder, s: &mut JsonScratch, pending: &mut Vec<(String, String)>, out: &mut String) -> bool {
    if line.is_empty() {
        return false;
    }
    if line[0] != b'{' {
        b.set_err(ERR_JSON, Some("expecting json object(6), but it is not"));
        return false;
    }
    pending.clear();
    let mut entry: Option<String> = None;
    let r = object_each(line, &mut |key, value| {
        let (value, ty) = value?;
        if ty != ValueType::String {
            return Ok(());
        }
        if key == PACKED_ENTRY_KEY.as_bytes() {
            let mut e = Vec::new();
            unescape(value, &mut e).map_err(|_| JsonError::MalformedStringEscape)?;
            entry = Some(String::from_utf8_lossy(&e).into_owned());
            return Ok(());
        }
        let mut field: Cow<'_, str> = String::from_utf8_lossy(key);
        if b.collides(&field) {
            field = Cow::Owned(format!("{field}{DUPLICATE_SUFFIX}"));
        }
        let mut name = String::new();
        sanitize_key_into(&mut name, field.as_bytes(), true);
        let mut v = String::new();
        unescape_string(value, &mut s.unesc, &mut v);
        pending.push((name, v));
        Ok(())
    });
    if let Err(e) = r {
        b.set_err(ERR_JSON, Some(e.message()));
        return false;
    }
    match entry {
        Some(e) => {
            for (n, v) in pending.iter() {
                if !b.is_extracted(n) {
                    b.set_parsed_new(n, v);
                }
            }
            out.clear();
            out.push_str(&e);
            true
        }
        None => false,
    }
}
