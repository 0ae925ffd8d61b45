//! Go's `regexp/syntax` errors, worded as Go words them (`error parsing regexp: missing
//! closing ): `(``), for the patterns Loki compiles with Go's `regexp` (template regex
//! functions, line filters). The Rust `regex` crate finds the same mistakes but words
//! them its own way, so this walks the pattern as Go's parser does (`parse` in
//! `regexp/syntax/parse.go`: the same left-to-right order, so the first error is Go's
//! first error) and tracks only what decides an error: open groups, whether the top
//! of Go's parse stack is an operand, and the last repetition.
//!
//! Not covered (the Rust message is kept): nesting deeper than 1,000 and programs too
//! large, and nested repetitions whose product exceeds 1,000.

const MISSING_PAREN: &str = "missing closing )";
const UNEXPECTED_PAREN: &str = "unexpected )";
const MISSING_BRACKET: &str = "missing closing ]";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_RANGE: &str = "invalid character class range";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";

fn error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// Go's error for `pattern` (parsed with Go's `syntax.Perl` flags), if it has one.
pub fn check(pattern: &str) -> Result<(), String> {
    let mut open = 0usize;
    // Whether the top of Go's stack is a regexp (not empty, not `(` or `|`).
    let mut operand = false;
    let mut last_repeat: Option<&str> = None;
    let mut t = pattern;
    while let Some(c) = t.chars().next() {
        let mut repeat = None;
        match c {
            '(' if t.as_bytes().get(1) == Some(&b'?') => {
                let (rest, opens) = perl_flags(t)?;
                if opens {
                    open += 1;
                    operand = false;
                }
                t = rest;
            }
            '(' => {
                open += 1;
                operand = false;
                t = &t[1..];
            }
            '|' => {
                operand = false;
                t = &t[1..];
            }
            ')' => {
                if open == 0 {
                    return Err(error(UNEXPECTED_PAREN, pattern));
                }
                open -= 1;
                operand = true;
                t = &t[1..];
            }
            '[' => {
                t = class(t)?;
                operand = true;
            }
            '*' | '+' | '?' | '{' => {
                let before = t;
                let after = if c == '{' {
                    match parse_repeat(t) {
                        None => {
                            operand = true;
                            t = &t[1..];
                            last_repeat = None;
                            continue;
                        }
                        Some((min, max, after)) => {
                            if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
                                return Err(error(INVALID_REPEAT_SIZE, &before[..before.len() - after.len()]));
                            }
                            after
                        }
                    }
                } else {
                    &t[1..]
                };
                let after = after.strip_prefix('?').unwrap_or(after);
                if let Some(last) = last_repeat {
                    return Err(error(INVALID_REPEAT_OP, &last[..last.len() - after.len()]));
                }
                if !operand {
                    return Err(error(MISSING_REPEAT_ARGUMENT, &before[..before.len() - after.len()]));
                }
                repeat = Some(before);
                t = after;
            }
            '\\' => {
                t = escape_outside_class(t, &mut operand)?;
            }
            _ => {
                operand = true;
                t = &t[c.len_utf8()..];
            }
        }
        last_repeat = repeat;
    }
    if open > 0 {
        return Err(error(MISSING_PAREN, pattern));
    }
    Ok(())
}

/// `(?P<name>`, `(?<name>`, `(?flags)`, `(?flags:`: the rest, and whether a group opens.
fn perl_flags(s: &str) -> Result<(&str, bool), String> {
    let b = s.as_bytes();
    let named_p = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
    let named = b.len() > 3 && b[2] == b'<';
    if named_p || named {
        let start = if named_p { 4 } else { 3 };
        let Some(end) = s.find('>') else {
            return Err(error(INVALID_NAMED_CAPTURE, s));
        };
        let name = s.get(start..end).unwrap_or("");
        if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
            return Err(error(INVALID_NAMED_CAPTURE, &s[..end + 1]));
        }
        return Ok((&s[end + 1..], true));
    }
    let mut t = &s[2..];
    let mut negated = false;
    let mut saw_flag = false;
    while let Some(c) = t.chars().next() {
        t = &t[c.len_utf8()..];
        match c {
            'i' | 'm' | 's' | 'U' => saw_flag = true,
            '-' if !negated => {
                negated = true;
                saw_flag = false;
            }
            ':' | ')' if !negated || saw_flag => return Ok((t, c == ':')),
            _ => break,
        }
    }
    Err(error(INVALID_PERL_OP, &s[..s.len() - t.len()]))
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` (min, max (-1: none), rest), or not a repeat.
pub(super) fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (min, s) = parse_int(s)?;
    let (max, s) = match s.strip_prefix(',') {
        None => (min, s),
        Some(s) if s.starts_with('}') => (-1, s),
        Some(s) => parse_int(s)?,
    };
    let min = if max < -1 { -1 } else { min };
    Some((min, max, s.strip_prefix('}')?))
}

/// Go's `parseInt`: digits without a leading zero; -2 when too large (Go's -1, kept
/// apart from "no maximum").
fn parse_int(s: &str) -> Option<(i64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits >= 2 && s.starts_with('0')) {
        return None;
    }
    let mut n: i64 = 0;
    for d in s[..digits].bytes() {
        if n >= 100_000_000 {
            n = -2;
            break;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some((n, &s[digits..]))
}

fn escape_outside_class<'a>(t: &'a str, operand: &mut bool) -> Result<&'a str, String> {
    match t.as_bytes().get(1) {
        Some(b'A' | b'b' | b'B' | b'z') => {
            *operand = true;
            return Ok(&t[2..]);
        }
        Some(b'C') => return Err(error(INVALID_ESCAPE, &t[..2])),
        Some(b'Q') => {
            let body = &t[2..];
            let (lit, rest) = body.split_once("\\E").unwrap_or((body, ""));
            if !lit.is_empty() {
                *operand = true;
            }
            return Ok(rest);
        }
        _ => {}
    }
    *operand = true;
    if let Some(rest) = class_escape(t)? {
        return Ok(rest);
    }
    escape(t)
}

/// `\pN`, `\p{Name}`, `\d`, `\s`, `\w` and their negations: the rest, or not one of them.
fn class_escape(t: &str) -> Result<Option<&str>, String> {
    let b = t.as_bytes();
    if b.len() >= 2 && b[0] == b'\\' && matches!(b[1], b'd' | b'D' | b's' | b'S' | b'w' | b'W') {
        return Ok(Some(&t[2..]));
    }
    if b.len() < 2 || b[0] != b'\\' || (b[1] != b'p' && b[1] != b'P') {
        return Ok(None);
    }
    let Some(c) = t[2..].chars().next() else {
        return Err(error(INVALID_RANGE, t));
    };
    let (seq, name, rest) = if c == '{' {
        let Some(end) = t.find('}') else {
            return Err(error(INVALID_RANGE, t));
        };
        (&t[..end + 1], &t[3..end], &t[end + 1..])
    } else {
        let n = 2 + c.len_utf8();
        (&t[..n], &t[2..n], &t[n..])
    };
    let name = name.strip_prefix('^').unwrap_or(name);
    // Go's table of class names is Unicode's, as the regex crate's is.
    if name.is_empty() || regex::Regex::new(&format!(r"\p{{{name}}}")).is_err() {
        return Err(error(INVALID_RANGE, seq));
    }
    Ok(Some(rest))
}

/// Go's `parseEscape`: a single escaped character; the rest.
fn escape(s: &str) -> Result<&str, String> {
    let mut t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err(error(TRAILING_BACKSLASH, ""));
    };
    t = &t[c.len_utf8()..];
    let octal = |t: &str| t.as_bytes().first().is_some_and(|d| (b'0'..=b'7').contains(d));
    let valid = match c {
        '1'..='7' | '0' if c == '0' || octal(t) => {
            for _ in 1..3 {
                if !octal(t) {
                    break;
                }
                t = &t[1..];
            }
            true
        }
        'x' => match t.chars().next() {
            None => false,
            Some('{') => {
                t = &t[1..];
                let mut digits = 0;
                let mut value: u32 = 0;
                loop {
                    let Some(h) = t.chars().next() else { break false };
                    t = &t[h.len_utf8()..];
                    if h == '}' {
                        break digits > 0;
                    }
                    let Some(v) = h.to_digit(16) else { break false };
                    value = value.saturating_mul(16).saturating_add(v);
                    if value > 0x10FFFF {
                        break false;
                    }
                    digits += 1;
                }
            }
            Some(x) => {
                t = &t[x.len_utf8()..];
                match t.chars().next() {
                    Some(y) => {
                        t = &t[y.len_utf8()..];
                        x.is_ascii_hexdigit() && y.is_ascii_hexdigit()
                    }
                    None => false,
                }
            }
        },
        'a' | 'f' | 'n' | 'r' | 't' | 'v' => true,
        c => c.is_ascii() && !c.is_ascii_alphanumeric(),
    };
    if valid { Ok(t) } else { Err(error(INVALID_ESCAPE, &s[..s.len() - t.len()])) }
}

/// Go's `parseClass`: a `[...]` class; the rest.
fn class(s: &str) -> Result<&str, String> {
    let mut t = &s[1..];
    if let Some(rest) = t.strip_prefix('^') {
        t = rest;
    }
    let mut first = true;
    while t.is_empty() || !t.starts_with(']') || first {
        first = false;
        if t.len() > 2
            && t.starts_with("[:")
            && let Some(i) = t[2..].find(":]")
        {
            let name = &t[..i + 4];
            if !POSIX_CLASSES.contains(&name.trim_start_matches("[:").trim_start_matches('^').trim_end_matches(":]")) {
                return Err(error(INVALID_RANGE, name));
            }
            t = &t[i + 4..];
            continue;
        }
        if let Some(rest) = class_escape(t)? {
            t = rest;
            continue;
        }
        let range = t;
        let (lo, rest) = class_char(t, s)?;
        t = rest;
        if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
            let (hi, rest) = class_char(&t[1..], s)?;
            t = rest;
            if hi < lo {
                return Err(error(INVALID_RANGE, &range[..range.len() - t.len()]));
            }
        }
    }
    Ok(&t[1..])
}

const POSIX_CLASSES: &[&str] =
    &["alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word", "xdigit"];

/// One class character (escaped or not) and the rest.
fn class_char<'a>(s: &'a str, whole: &str) -> Result<(char, &'a str), String> {
    let Some(c) = s.chars().next() else {
        return Err(error(MISSING_BRACKET, whole));
    };
    if c != '\\' {
        return Ok((c, &s[c.len_utf8()..]));
    }
    let rest = escape(s)?;
    Ok((escaped_value(&s[..s.len() - rest.len()]), rest))
}

/// The character an escape stands for (for range order checks).
fn escaped_value(e: &str) -> char {
    let body = &e[1..];
    let number = |digits: &str, radix| u32::from_str_radix(digits, radix).ok().and_then(char::from_u32);
    match body.chars().next() {
        Some('x') => number(body[1..].trim_start_matches('{').trim_end_matches('}'), 16),
        Some('0'..='7') => number(body, 8),
        Some('a') => Some('\x07'),
        Some('f') => Some('\x0c'),
        Some('n') => Some('\n'),
        Some('r') => Some('\r'),
        Some('t') => Some('\t'),
        Some('v') => Some('\x0b'),
        other => other,
    }
    .unwrap_or('\0')
}

#[cfg(test)]
mod tests {
    /// Each pattern with what Go 1.26's `regexp.Compile` answered.
    #[test]
    fn errors_as_go_answers_them() {
        for line in include_str!("goregex_syntax_cases.tsv").lines().filter(|l| !l.starts_with('#')) {
            let (pattern, want) = line.split_once('\t').expect("pattern<TAB>answer");
            let got = super::check(pattern).err().unwrap_or_else(|| "OK".to_string());
            assert_eq!(got, want, "{pattern}");
            if want == "OK" {
                assert!(super::super::goregex::compile(pattern).is_ok(), "{pattern}");
            }
        }
    }
}
