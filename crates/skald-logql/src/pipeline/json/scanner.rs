//! A port of the streaming scanner of `github.com/buger/jsonparser`: finding values,
//! walking objects and arrays, and unescaping strings, with its error kinds.

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
pub(super) fn string_end(data: &[u8]) -> (Option<usize>, bool) {
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
