//! JSON parsing as Loki does it: a port of the streaming scanner of
//! `github.com/buger/jsonparser` (so that broken lines yield the labels found before
//! the break and the same error messages), the `json` parser (flattening nested
//! objects with `_`), `json name="path"` extraction and `unpack`.

use super::labels::{DUPLICATE_SUFFIX, LabelsBuilder, sanitize_key_into};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum JsonError {
    KeyPathNotFound,
    UnknownValueType,
    MalformedJson,
    MalformedString,
    MalformedArray,
    MalformedObject,
    MalformedValue,
    MalformedStringEscape,
    /// Not an error: stop iterating.
    Stop,
}

impl JsonError {
    pub fn message(self) -> &'static str {
        match self {
            JsonError::KeyPathNotFound => "Key path not found",
            JsonError::UnknownValueType => "Unknown value type",
            JsonError::MalformedJson => "Malformed JSON error",
            JsonError::MalformedString => "Value is string, but can't find closing '\"' symbol",
            JsonError::MalformedArray => "Value is array, but can't find closing ']' symbol",
            JsonError::MalformedObject => "Value looks like object, but can't find closing '}' symbol",
            JsonError::MalformedValue => "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol",
            JsonError::MalformedStringEscape => "Encountered an invalid escape sequence in a string",
            JsonError::Stop => "stop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Number,
    Object,
    Array,
    Boolean,
    Null,
}

fn next_token(data: &[u8]) -> Option<usize> {
    data.iter().position(|c| !matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
}

fn token_end(data: &[u8]) -> usize {
    data.iter().position(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']')).unwrap_or(data.len())
}

/// End of a string (index after the closing quote) and whether it had escapes (a
/// backslash before the closing quote). A quote ends the string when an even number
/// of backslashes precedes it.
fn string_end(data: &[u8]) -> (Option<usize>, bool) {
    match memchr::memchr2(b'"', b'\\', data) {
        None => return (None, false),
        Some(i) if data[i] == b'"' => return (Some(i + 1), false),
        Some(_) => {}
    }
    let mut from = 0;
    while let Some(k) = memchr::memchr(b'"', &data[from..]) {
        let i = from + k;
        let backslashes = data[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 0 {
            return (Some(i + 1), true);
        }
        from = i + 1;
    }
    (None, true)
}

fn block_end(data: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut level = 0i32;
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if c == b'"' {
            let (se, _) = string_end(&data[i + 1..]);
            i += se?;
        } else if c == open {
            level += 1;
        } else if c == close {
            level -= 1;
            if level == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// jsonparser's `Get(data)` without keys: the first value in `data`, its type and the
/// offset just past it.
pub fn get(data: &[u8]) -> Result<(&[u8], ValueType, usize), JsonError> {
    let offset = next_token(data).ok_or(JsonError::MalformedJson)?;
    let c = data[offset];
    let (ty, end) = match c {
        b'"' => {
            let (idx, _) = string_end(&data[offset + 1..]);
            let idx = idx.ok_or(JsonError::MalformedString)?;
            (ValueType::String, offset + idx + 1)
        }
        b'[' => (ValueType::Array, offset + block_end(&data[offset..], b'[', b']').ok_or(JsonError::MalformedArray)?),
        b'{' => (ValueType::Object, offset + block_end(&data[offset..], b'{', b'}').ok_or(JsonError::MalformedObject)?),
        _ => {
            let end = token_end(&data[offset..]);
            let value = &data[offset..offset + end];
            let ty = match c {
                b't' | b'f' if value == b"true" || value == b"false" => ValueType::Boolean,
                b'u' | b'n' if value == b"null" => ValueType::Null,
                b'0'..=b'9' | b'-' => ValueType::Number,
                _ => return Err(JsonError::UnknownValueType),
            };
            (ty, offset + end)
        }
    };
    let value = match ty {
        ValueType::String => &data[offset + 1..end - 1],
        ValueType::Null => &data[offset..offset],
        _ => &data[offset..end],
    };
    Ok((value, ty, end))
}

type ObjectCallback<'c, 'd> = dyn FnMut(&[u8], Result<(&'d [u8], ValueType), JsonError>) -> Result<(), JsonError> + 'c;

/// jsonparser's `ObjectEach`. The callback also sees a value that failed to parse
/// (its error is returned afterwards whatever the callback says).
pub fn object_each<'d>(data: &'d [u8], cb: &mut ObjectCallback<'_, 'd>) -> Result<(), JsonError> {
    let mut offset = match next_token(data) {
        None => return Err(JsonError::MalformedObject),
        Some(off) => off,
    };
    if data[offset] != b'{' {
        return Err(JsonError::MalformedObject);
    }
    offset += 1;
    match next_token(&data[offset..]) {
        None => return Err(JsonError::MalformedJson),
        Some(off) => {
            offset += off;
            if data[offset] == b'}' {
                return Ok(());
            }
        }
    }
    let mut key_buf = Vec::new();
    while offset < data.len() {
        match data[offset] {
            b'"' => offset += 1,
            b'}' => return Ok(()),
            _ => return Err(JsonError::MalformedObject),
        }
        let (off, esc) = string_end(&data[offset..]);
        let off = off.ok_or(JsonError::MalformedJson)?;
        let raw_key = &data[offset..offset + off - 1];
        offset += off;
        let key: &[u8] = if esc {
            key_buf.clear();
            unescape(raw_key, &mut key_buf).map_err(|_| JsonError::MalformedStringEscape)?;
            &key_buf
        } else {
            raw_key
        };
        match next_token(&data[offset..]) {
            None => return Err(JsonError::MalformedJson),
            Some(off) => {
                offset += off;
                if data[offset] != b':' {
                    return Err(JsonError::MalformedJson);
                }
                offset += 1;
            }
        }
        match get(&data[offset..]) {
            Err(e) => {
                cb(key, Err(e))?;
                return Err(e);
            }
            Ok((value, ty, off)) => {
                cb(key, Ok((value, ty)))?;
                offset += off;
            }
        }
        match next_token(&data[offset..]) {
            None => return Err(JsonError::MalformedArray),
            Some(off) => {
                offset += off;
                match data[offset] {
                    b'}' => return Ok(()),
                    b',' => offset += 1,
                    _ => return Err(JsonError::MalformedObject),
                }
            }
        }
        match next_token(&data[offset..]) {
            None => return Err(JsonError::MalformedArray),
            Some(off) => offset += off,
        }
    }
    Err(JsonError::MalformedObject)
}

/// jsonparser's `ArrayEach` (data starts at `[`): calls `cb` per element; stops when
/// `cb` returns false.
pub fn array_each<'d>(data: &'d [u8], mut cb: impl FnMut(&'d [u8], ValueType) -> bool) -> Result<(), JsonError> {
    if data.is_empty() {
        return Err(JsonError::MalformedObject);
    }
    let mut offset = 1;
    let off = next_token(&data[offset..]).ok_or(JsonError::MalformedJson)?;
    offset += off;
    if data[offset] == b']' {
        return Ok(());
    }
    loop {
        let (v, t, o) = get(&data[offset..])?;
        if o == 0 {
            break;
        }
        if !cb(v, t) {
            return Ok(());
        }
        offset += o;
        let skip = next_token(&data[offset..]).ok_or(JsonError::MalformedArray)?;
        offset += skip;
        if data[offset] == b']' {
            break;
        }
        if data[offset] != b',' {
            return Err(JsonError::MalformedArray);
        }
        offset += 1;
    }
    Ok(())
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let s = std::str::from_utf8(&b[..4]).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// jsonparser's `Unescape` into `out`.
pub fn unescape(input: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let n = *input.get(i + 1).ok_or(())?;
        i += 2;
        let simple = match n {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return Err(()),
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let mut cp = hex4(&input[i..]).ok_or(())?;
        i += 4;
        if (0xD800..0xDC00).contains(&cp) {
            // surrogate pair
            if input.get(i) == Some(&b'\\')
                && input.get(i + 1) == Some(&b'u')
                && let Some(lo) = hex4(&input[i + 2..])
                && (0xDC00..0xE000).contains(&lo)
            {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else {
                cp = 0xFFFD;
            }
        } else if (0xDC00..0xE000).contains(&cp) {
            cp = 0xFFFD;
        }
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Ok(())
}

/// Loki's `unescapeJSONString`: unescapes, "" on failure, U+FFFD becomes a space.
pub fn unescape_string(raw: &[u8], scratch: &mut Vec<u8>, out: &mut String) {
    out.clear();
    if raw.is_ascii() && !raw.contains(&b'\\') {
        // ASCII: valid UTF-8, nothing to unescape, no U+FFFD.
        out.push_str(std::str::from_utf8(raw).unwrap_or_default());
        return;
    }
    let bytes: &[u8] = if raw.contains(&b'\\') {
        scratch.clear();
        if unescape(raw, scratch).is_err() {
            return;
        }
        scratch
    } else {
        raw
    };
    let s = String::from_utf8_lossy(bytes);
    if s.contains('\u{FFFD}') {
        out.extend(s.chars().map(|c| if c == '\u{FFFD}' { ' ' } else { c }));
    } else {
        out.push_str(&s);
    }
}

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
        if self.b.base_has(&s.key) {
            s.key.push_str(DUPLICATE_SUFFIX);
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
        self.b.set_parsed(&s.key, &s.value);
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

#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Parses a `json` parameter path: `a.b[0]["c d"]`, `.a`, `a[1].b`.
pub fn parse_path(expr: &str) -> Result<Vec<PathSeg>, String> {
    let err = || format!("cannot parse expression [{expr}]: syntax error");
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut expect_field = true;
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                expect_field = true;
            }
            b'[' => {
                i += 1;
                if i < b.len() && b[i] == b'"' {
                    let mut s = Vec::new();
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => return Err(err()),
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                if let Some(&n) = b.get(i + 1) {
                                    s.push(n);
                                }
                                i += 2;
                            }
                            Some(&c) => {
                                s.push(c);
                                i += 1;
                            }
                        }
                    }
                    out.push(PathSeg::Key(String::from_utf8_lossy(&s).into_owned()));
                } else {
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if start == i {
                        return Err(err());
                    }
                    out.push(PathSeg::Index(expr[start..i].parse().map_err(|_| err())?));
                }
                if b.get(i) != Some(&b']') {
                    return Err(err());
                }
                i += 1;
                expect_field = false;
            }
            _ => {
                if !expect_field && !out.is_empty() {
                    return Err(err());
                }
                let start = i;
                while i < b.len() && !matches!(b[i], b'.' | b'[' | b']' | b'"') {
                    i += 1;
                }
                if start == i {
                    return Err(err());
                }
                out.push(PathSeg::Key(expr[start..i].to_string()));
                expect_field = false;
            }
        }
    }
    if out.is_empty() {
        return Err(err());
    }
    Ok(out)
}

enum Lookup<'d> {
    Found(&'d [u8], ValueType),
    Missing,
    Error(JsonError),
}

fn lookup<'d>(data: &'d [u8], path: &[PathSeg]) -> Lookup<'d> {
    let mut cur = data;
    let mut cur_ty = None;
    for (n, seg) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        match seg {
            PathSeg::Key(k) => {
                let mut found = None;
                let mut err = None;
                let _ = object_each(cur, &mut |key, value| {
                    if key == k.as_bytes() {
                        match value {
                            Ok((v, t)) => found = Some((v, t)),
                            Err(e) => {
                                if last {
                                    err = Some(e)
                                }
                            }
                        }
                        return Err(JsonError::Stop);
                    }
                    Ok(())
                });
                if let Some(e) = err {
                    return Lookup::Error(e);
                }
                match found {
                    Some((v, t)) => {
                        cur = v;
                        cur_ty = Some(t);
                    }
                    None => return Lookup::Missing,
                }
            }
            PathSeg::Index(idx) => {
                if cur.first() != Some(&b'[') {
                    return Lookup::Missing;
                }
                let mut found = None;
                let mut i = 0;
                let _ = array_each(cur, |v, t| {
                    if i == *idx {
                        found = Some((v, t));
                        return false;
                    }
                    i += 1;
                    true
                });
                match found {
                    Some((v, t)) => {
                        cur = v;
                        cur_ty = Some(t);
                    }
                    None => return Lookup::Missing,
                }
            }
        }
    }
    match cur_ty {
        Some(t) => Lookup::Found(cur, t),
        None => Lookup::Missing,
    }
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
            if b.base_has(id) {
                s.key.push_str(DUPLICATE_SUFFIX);
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
                    b.set_parsed(&s.key, &s.value);
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
        if b.base_has(&field) {
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
                b.set_parsed(n, v);
            }
            out.clear();
            out.push_str(&e);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::LabelSet;

    /// jsonparser's `stringEnd`, byte by byte: the reference for `string_end`.
    fn string_end_reference(data: &[u8]) -> (Option<usize>, bool) {
        let mut escaped = false;
        for (i, &c) in data.iter().enumerate() {
            if c == b'"' {
                if !escaped {
                    return (Some(i + 1), false);
                }
                let mut j = i as isize - 1;
                loop {
                    if j < 0 || data[j as usize] != b'\\' {
                        return (Some(i + 1), true);
                    }
                    j -= 1;
                    if j < 0 || data[j as usize] != b'\\' {
                        break;
                    }
                    j -= 1;
                }
            } else if c == b'\\' {
                escaped = true;
            }
        }
        (None, escaped)
    }

    #[test]
    fn string_end_matches_reference() {
        // every string of length <= 7 over {a, ", \\}
        let alphabet = [b'a', b'"', b'\\'];
        for len in 0..=7u32 {
            for mut n in 0..3usize.pow(len) {
                let mut data = Vec::new();
                for _ in 0..len {
                    data.push(alphabet[n % 3]);
                    n /= 3;
                }
                assert_eq!(string_end(&data), string_end_reference(&data), "{:?}", String::from_utf8_lossy(&data));
            }
        }
    }

    fn parsed(b: &LabelsBuilder) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = b.parsed.as_slice().iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        v.sort();
        v
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        v.sort();
        v
    }

    #[test]
    fn flatten() {
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments"), ("level", "x")]));
        let mut s = JsonScratch::default();
        let line = br#"{"level":"info","msg":"refund issued","latency_ms":101,"size":"70MB","user":{"id":10,"name":"erin"},"region":"ap-south","tags":["retry","slow"],"ok":true,"n":null,"e":"a\"b\u00e9","1x":{"a-b":1}}"#;
        parse_json(line, &mut b, &mut s, None);
        assert_eq!(
            parsed(&b),
            pairs(&[
                ("level_extracted", "info"),
                ("msg", "refund issued"),
                ("latency_ms", "101"),
                ("size", "70MB"),
                ("user_id", "10"),
                ("user_name", "erin"),
                ("region", "ap-south"),
                ("ok", "true"),
                ("e", "a\"bé"),
                ("_1x_a_b", "1"),
            ])
        );
        assert!(!b.has_err());
    }

    #[test]
    fn broken() {
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments")]));
        let mut s = JsonScratch::default();
        parse_json(br#"{"level":"info","msg":"truncated"#, &mut b, &mut s, None);
        assert_eq!(parsed(&b), pairs(&[("level", "info")]));
        assert_eq!(b.err, "JSONParserErr");
        assert_eq!(b.err_details, "Value is string, but can't find closing '\"' symbol");
        b.reset();
        parse_json(b"not json", &mut b, &mut s, None);
        assert_eq!(b.err_details, "Value looks like object, but can't find closing '}' symbol");
    }

    #[test]
    fn expressions() {
        let p = JsonExprParser::new(&[
            ("lvl".into(), "level".into()),
            ("uid".into(), "user.id".into()),
            ("t".into(), "tags[1]".into()),
            ("u".into(), "user".into()),
            ("missing".into(), "nope.x".into()),
            ("q".into(), r#"["a b"]"#.into()),
        ])
        .unwrap();
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "payments")]));
        let mut s = JsonScratch::default();
        p.process(br#"{"level":"debug","user":{"id":10,"name":"erin"},"tags":["retry","slow"],"a b":"sp"}"#, &mut b, &mut s);
        assert_eq!(
            parsed(&b),
            pairs(&[("lvl", "debug"), ("uid", "10"), ("t", "slow"), ("u", r#"{"id":10,"name":"erin"}"#), ("missing", ""), ("q", "sp")])
        );
        assert_eq!(
            parse_path("a.b[0][\"c d\"]").unwrap(),
            vec![PathSeg::Key("a".into()), PathSeg::Key("b".into()), PathSeg::Index(0), PathSeg::Key("c d".into())]
        );
        assert!(parse_path("a[").is_err());
    }

    #[test]
    fn unpack_entry() {
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "x")]));
        let mut s = JsonScratch::default();
        let mut pending = Vec::new();
        let mut out = String::new();
        assert!(unpack(br#"{"_entry":"hello \"w\"","app":"y","k":"v","n":1}"#, &mut b, &mut s, &mut pending, &mut out));
        assert_eq!(out, "hello \"w\"");
        assert_eq!(parsed(&b), pairs(&[("app_extracted", "y"), ("k", "v")]));
        b.reset();
        assert!(!unpack(b"[1]", &mut b, &mut s, &mut pending, &mut out));
        assert_eq!(b.err, "JSONParserErr");
    }
}
