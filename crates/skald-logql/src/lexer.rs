//! The LogQL lexer, modelled on Loki's `pkg/logql/syntax/lex.go` (which wraps Go's
//! `text/scanner`).
//!
//! The whole input is turned into a token vector up front. Lexing is context free:
//! - identifiers are `[a-zA-Z_][a-zA-Z0-9_]*`; whether one is a keyword is decided by
//!   the parser (case-insensitively, as Loki lower-cases tokens before the lookup);
//! - a number directly followed by duration units (`5m`, `1h30m`, `250ms`) is a
//!   [`TokKind::Duration`], by byte units (`100KB`, `1.5GiB`) a [`TokKind::Bytes`];
//! - `-` directly followed by a duration is a negative duration, `--strict` and
//!   `--keep-empty` are parser flags;
//! - `[...]` is always a range, parsed as a Prometheus duration;
//! - comments are skipped as whitespace: `#` and `//` run to the end of the line (Loki
//!   handles `#`, Go's scanner `//`), `/* ... */` to its end (unterminated: an error).
//!   Inside strings and `[...]` ranges they are plain text.
//!
//! A lexical error ends the vector with a [`TokKind::Error`] token (then `Eof`): the
//! parser reports it when it reaches that position, so an earlier syntax error wins,
//! as in Loki.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokKind {
    /// Identifier or keyword (keywords are recognised by the parser).
    Ident(String),
    /// Unquoted string literal.
    Str(String),
    /// Number literal, as written (`1`, `0.5`, `1e3`, `.5`).
    Number(String),
    /// Duration literal in nanoseconds (`250ms`, `-5s`).
    Duration(i64),
    /// Bytes literal (`100KB`).
    Bytes(u64),
    /// `[5m]`, in nanoseconds.
    Range(i64),
    /// `--strict`, `--keep-empty`.
    Flag(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Dot,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `!>`
    Npa,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `|`
    Pipe,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    /// A character that starts no token.
    Other(char),
    /// A lexical error (message); always followed by `Eof`.
    Error(String),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokKind,
    /// Byte offset of the token's first character.
    pub pos: usize,
}

/// Lexes the whole input. The result always ends with an `Eof` token.
pub(crate) fn lex(input: &str) -> Vec<Token> {
    let mut lexer = Lexer { src: input, bytes: input.as_bytes(), pos: 0, tokens: Vec::new() };
    lexer.run();
    lexer.tokens
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn push(&mut self, kind: TokKind, pos: usize) {
        self.tokens.push(Token { kind, pos });
    }

    fn run(&mut self) {
        loop {
            // Whitespace and comments.
            while let Some(b) = self.peek_at(0) {
                if is_space(b) {
                    self.pos += 1;
                } else if b == b'#' || (b == b'/' && self.peek_at(1) == Some(b'/')) {
                    match memchr::memchr(b'\n', &self.bytes[self.pos..]) {
                        Some(n) => self.pos += n,
                        None => self.pos = self.bytes.len(),
                    }
                } else if b == b'/' && self.peek_at(1) == Some(b'*') {
                    match memchr::memmem::find(&self.bytes[self.pos + 2..], b"*/") {
                        Some(n) => self.pos += n + 4,
                        None => {
                            // Go's text/scanner reports it at the comment's start.
                            self.push(TokKind::Error("comment not terminated".into()), self.pos);
                            self.push(TokKind::Eof, self.bytes.len());
                            return;
                        }
                    }
                } else {
                    break;
                }
            }
            let start = self.pos;
            let Some(b) = self.peek_at(0) else {
                self.push(TokKind::Eof, start);
                return;
            };
            let result = match b {
                b'"' => self.string(),
                b'`' => self.raw_string(),
                b'[' => self.range(),
                b'0'..=b'9' => self.number(),
                b'.' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
                b'-' => Ok(self.minus()),
                b if is_ident_start(b) => {
                    let mut end = self.pos + 1;
                    while end < self.bytes.len() && is_ident_char(self.bytes[end]) {
                        end += 1;
                    }
                    let word = self.src[self.pos..end].to_string();
                    self.pos = end;
                    Ok(TokKind::Ident(word))
                }
                _ => Ok(self.operator()),
            };
            match result {
                Ok(kind) => self.push(kind, start),
                Err((msg, at)) => {
                    self.push(TokKind::Error(msg), at);
                    self.push(TokKind::Eof, self.bytes.len());
                    return;
                }
            }
        }
    }

    fn operator(&mut self) -> TokKind {
        let b = self.bytes[self.pos];
        let next = self.peek_at(1);
        let (kind, len) = match (b, next) {
            (b'=', Some(b'~')) => (TokKind::Re, 2),
            (b'=', Some(b'=')) => (TokKind::CmpEq, 2),
            (b'=', _) => (TokKind::Eq, 1),
            (b'!', Some(b'=')) => (TokKind::Neq, 2),
            (b'!', Some(b'~')) => (TokKind::Nre, 2),
            (b'!', Some(b'>')) => (TokKind::Npa, 2),
            (b'|', Some(b'=')) => (TokKind::PipeExact, 2),
            (b'|', Some(b'~')) => (TokKind::PipeMatch, 2),
            (b'|', Some(b'>')) => (TokKind::PipePattern, 2),
            (b'|', _) => (TokKind::Pipe, 1),
            (b'>', Some(b'=')) => (TokKind::Gte, 2),
            (b'>', _) => (TokKind::Gt, 1),
            (b'<', Some(b'=')) => (TokKind::Lte, 2),
            (b'<', _) => (TokKind::Lt, 1),
            (b'{', _) => (TokKind::LBrace, 1),
            (b'}', _) => (TokKind::RBrace, 1),
            (b'(', _) => (TokKind::LParen, 1),
            (b')', _) => (TokKind::RParen, 1),
            (b',', _) => (TokKind::Comma, 1),
            (b'.', _) => (TokKind::Dot, 1),
            (b'+', _) => (TokKind::Add, 1),
            (b'*', _) => (TokKind::Mul, 1),
            (b'/', _) => (TokKind::Div, 1),
            (b'%', _) => (TokKind::Mod, 1),
            (b'^', _) => (TokKind::Pow, 1),
            _ => {
                let c = self.src[self.pos..].chars().next().unwrap_or('\u{fffd}');
                self.pos += c.len_utf8();
                return TokKind::Other(c);
            }
        };
        self.pos += len;
        kind
    }

    /// `-`: a parser flag (`--strict`), a negative duration (`-5m`) or a minus sign.
    fn minus(&mut self) -> TokKind {
        if self.peek_at(1) == Some(b'-') {
            // Flags are short: scanning at most a few bytes keeps `------...` linear.
            let mut end = self.pos + 2;
            let limit = (self.pos + 16).min(self.bytes.len());
            while end < limit && (self.bytes[end].is_ascii_alphabetic() || self.bytes[end] == b'-') {
                end += 1;
            }
            let flag = &self.src[self.pos..end];
            if flag == "--strict" || flag == "--keep-empty" {
                self.pos = end;
                return TokKind::Flag(flag.to_string());
            }
        }
        let end = self.scan_unit_run(self.pos + 1, is_duration_char);
        if end > self.pos + 1
            && let Some(d) = parse_duration_literal(&self.src[self.pos..end])
        {
            self.pos = end;
            return TokKind::Duration(d);
        }
        self.pos += 1;
        TokKind::Sub
    }

    /// Scans from `from` while `accept` holds (stopping at whitespace), returns the end.
    /// Runs longer than [`MAX_UNIT_RUN`] characters are never valid units, so they are
    /// rejected (returning `from`) instead of being rescanned at every token, which
    /// would make inputs like `1.1.1.1...` quadratic.
    fn scan_unit_run(&self, from: usize, accept: fn(char) -> bool) -> usize {
        let mut end = from;
        for (n, c) in self.src[from..].chars().enumerate() {
            if !accept(c) {
                break;
            }
            if n >= MAX_UNIT_RUN {
                return from;
            }
            end += c.len_utf8();
        }
        end
    }

    fn number(&mut self) -> Result<TokKind, (String, usize)> {
        let start = self.pos;
        let mut end = start;
        let n = self.bytes.len();
        while end < n && self.bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end < n && self.bytes[end] == b'.' {
            end += 1;
            while end < n && self.bytes[end].is_ascii_digit() {
                end += 1;
            }
        }
        if end < n && (self.bytes[end] == b'e' || self.bytes[end] == b'E') {
            let mut e = end + 1;
            if e < n && (self.bytes[e] == b'+' || self.bytes[e] == b'-') {
                e += 1;
            }
            let digits = e;
            while e < n && self.bytes[e].is_ascii_digit() {
                e += 1;
            }
            if e == digits {
                return Err(("exponent has no digits".to_string(), start));
            }
            end = e;
        }
        let text = &self.src[start..end];
        // A duration (`5m`, `1h30m`, `1.5s`)?
        let dur_end = self.scan_unit_run(end, is_duration_char);
        if dur_end > end
            && let Some(d) = parse_duration_literal(&self.src[start..dur_end])
        {
            self.pos = dur_end;
            return Ok(TokKind::Duration(d));
        }
        // A byte size (`100KB`, `1.5GiB`)?
        let bytes_end = self.scan_unit_run(end, is_bytes_char);
        if bytes_end > end
            && let Some(b) = parse_bytes_literal(&self.src[start..bytes_end])
        {
            self.pos = bytes_end;
            return Ok(TokKind::Bytes(b));
        }
        self.pos = end;
        Ok(TokKind::Number(text.to_string()))
    }

    fn range(&mut self) -> Result<TokKind, (String, usize)> {
        let start = self.pos;
        match memchr::memchr(b']', &self.bytes[start + 1..]) {
            Some(n) => {
                let inner = &self.src[start + 1..start + 1 + n];
                self.pos = start + n + 2;
                parse_prometheus_duration(inner).map(TokKind::Range).map_err(|e| (e, start))
            }
            None => Err(("missing closing ']' in duration".to_string(), start)),
        }
    }

    fn raw_string(&mut self) -> Result<TokKind, (String, usize)> {
        let start = self.pos;
        match memchr::memchr(b'`', &self.bytes[start + 1..]) {
            Some(n) => {
                let inner = &self.src[start + 1..start + 1 + n];
                self.pos = start + n + 2;
                Ok(TokKind::Str(inner.to_string()))
            }
            None => Err(("literal not terminated".to_string(), start)),
        }
    }

    fn string(&mut self) -> Result<TokKind, (String, usize)> {
        let start = self.pos;
        let mut out: Vec<u8> = Vec::new();
        let mut i = start + 1;
        let n = self.bytes.len();
        loop {
            if i >= n {
                return Err(("literal not terminated".to_string(), start));
            }
            let b = self.bytes[i];
            match b {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\n' => return Err(("literal not terminated".to_string(), start)),
                b'\\' => {
                    let esc_pos = i;
                    let bad = || ("invalid char escape".to_string(), esc_pos);
                    let Some(&e) = self.bytes.get(i + 1) else {
                        return Err(("literal not terminated".to_string(), start));
                    };
                    i += 2;
                    match e {
                        b'a' => out.push(0x07),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(0x0b),
                        b'\\' => out.push(b'\\'),
                        b'"' => out.push(b'"'),
                        b'0'..=b'7' => {
                            let digits = self.bytes.get(i - 1..i + 2).ok_or_else(bad)?;
                            if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                                return Err(bad());
                            }
                            let v = digits.iter().fold(0u32, |acc, d| acc * 8 + (d - b'0') as u32);
                            if v > 255 {
                                return Err(("octal escape value > 255".to_string(), esc_pos));
                            }
                            out.push(v as u8);
                            i += 2;
                        }
                        b'x' | b'u' | b'U' => {
                            let len = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let digits = self.bytes.get(i..i + len).ok_or_else(bad)?;
                            if !digits.iter().all(|d| d.is_ascii_hexdigit()) {
                                return Err(bad());
                            }
                            let text = std::str::from_utf8(digits).map_err(|_| bad())?;
                            let v = u32::from_str_radix(text, 16).map_err(|_| bad())?;
                            i += len;
                            if e == b'x' {
                                out.push(v as u8);
                            } else {
                                let c = char::from_u32(v)
                                    .ok_or_else(|| ("escape sequence is invalid Unicode code point".to_string(), esc_pos))?;
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                        _ => return Err(bad()),
                    }
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.pos = i;
        String::from_utf8(out).map(TokKind::Str).map_err(|_| ("invalid UTF-8 rune".to_string(), start))
    }
}

/// Longest run of duration/bytes characters considered after a number.
const MAX_UNIT_RUN: usize = 64;

fn is_duration_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || matches!(c, 'n' | 'u' | 'µ' | 'μ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

/// Parses a duration literal as Loki's lexer does (Prometheus or Go syntax: `5m`,
/// `1h30m`, `1.5s`, `250ms`, `2d`, `-5s`) into nanoseconds, exactly (integer maths).
pub(crate) fn parse_duration_literal(s: &str) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut pos = 0;
    let mut total: i128 = 0;
    while pos < bytes.len() {
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_part = &rest[int_start..pos];
        let mut frac_part = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_part = &rest[frac_start..pos];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_start = pos;
        while pos < bytes.len() && !(bytes[pos].is_ascii_digit() || bytes[pos] == b'.') {
            pos += 1;
        }
        let unit: i128 = match &rest[unit_start..pos] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 7 * 86_400_000_000_000,
            "y" => 365 * 86_400_000_000_000,
            _ => return None,
        };
        let int_value: i128 = if int_part.is_empty() {
            0
        } else {
            if int_part.len() > 30 {
                return None;
            }
            int_part.parse().ok()?
        };
        total = total.checked_add(int_value.checked_mul(unit)?)?;
        // Fraction: digits beyond nanosecond precision are truncated (as Go does).
        let mut scale = unit;
        for d in frac_part.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            total += (d - b'0') as i128 * scale;
        }
        if total > i64::MAX as i128 {
            return None;
        }
    }
    let total = if negative { -total } else { total };
    i64::try_from(total).ok()
}

/// Prometheus' `model.ParseDuration`, used for ranges: `[5m]`, `[1h30m]`, `[1d]`.
pub(crate) fn parse_prometheus_duration(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err("empty duration string".to_string());
    }
    if s == "0" {
        return Ok(0);
    }
    let invalid = || format!("not a valid duration string: {}", skald_common::go_quote(s));
    const UNITS: [(&str, i128); 7] =
        [("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total_ms: i128 = 0;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if start == pos || pos - start > 20 {
            return Err(invalid());
        }
        let value: i128 = s[start..pos].parse().map_err(|_| invalid())?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[unit_start..pos];
        let idx = UNITS[next_unit..].iter().position(|(u, _)| *u == unit).ok_or_else(invalid)? + next_unit;
        next_unit = idx + 1;
        total_ms += value * UNITS[idx].1;
        if total_ms * 1_000_000 > i64::MAX as i128 {
            return Err("duration out of range".to_string());
        }
    }
    Ok((total_ms * 1_000_000) as i64)
}

/// `humanize.ParseBytes` as Loki's lexer uses it: `100KB` (1000s), `1KiB` (1024s),
/// `5M`, `1.5GB`; units are case-insensitive.
pub(crate) fn parse_bytes_literal(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let number: f64 = s[..split].parse().ok()?;
    let unit = s[split..].to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let value = number * mult;
    if !value.is_finite() || value >= u64::MAX as f64 {
        return None;
    }
    Some(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokKind> {
        lex(input).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn selector_tokens() {
        use TokKind::*;
        assert_eq!(
            kinds(r#"{foo="bar", x=~`a\d`}"#),
            vec![LBrace, Ident("foo".into()), Eq, Str("bar".into()), Comma, Ident("x".into()), Re, Str("a\\d".into()), RBrace, Eof]
        );
    }

    #[test]
    fn numbers_durations_bytes() {
        use TokKind::*;
        assert_eq!(kinds("123"), vec![Number("123".into()), Eof]);
        assert_eq!(kinds("-123"), vec![Sub, Number("123".into()), Eof]);
        assert_eq!(kinds(".5 1e3 1.5"), vec![Number(".5".into()), Number("1e3".into()), Number("1.5".into()), Eof]);
        assert_eq!(kinds("123ms"), vec![Duration(123_000_000), Eof]);
        assert_eq!(kinds("-123ms"), vec![Duration(-123_000_000), Eof]);
        assert_eq!(kinds("1h15m30.918273645s"), vec![Duration(4_530_918_273_645), Eof]);
        assert_eq!(kinds("123KB"), vec![Bytes(123_000), Eof]);
        assert_eq!(kinds("1KiB"), vec![Bytes(1024), Eof]);
        assert_eq!(kinds("250kB"), vec![Bytes(250_000), Eof]);
        assert_eq!(kinds("34+-123"), vec![Number("34".into()), Add, Sub, Number("123".into()), Eof]);
        assert_eq!(kinds("34-123"), vec![Number("34".into()), Sub, Number("123".into()), Eof]);
        assert_eq!(kinds("[5m]"), vec![Range(300_000_000_000), Eof]);
        assert_eq!(kinds("[1h30m]"), vec![Range(5_400_000_000_000), Eof]);
        assert!(matches!(kinds("[5x]")[0], Error(_)));
        assert!(matches!(kinds("[5m")[0], Error(_)));
    }

    #[test]
    fn flags_comments_strings() {
        use TokKind::*;
        assert_eq!(
            kinds("logfmt --strict --keep-empty # comment\n|"),
            vec![Ident("logfmt".into()), Flag("--strict".into()), Flag("--keep-empty".into()), Pipe, Eof]
        );
        assert_eq!(kinds(r#""a\"b\n\x41\u00e9""#), vec![Str("a\"b\nAé".into()), Eof]);
        assert!(matches!(kinds("\"abc")[0], Error(_)));
        assert!(matches!(kinds("\"a\\qb\"")[0], Error(_)));
        assert!(matches!(kinds("\"\\xff\"")[0], Error(_)));
        assert_eq!(kinds("{foo=\"#\"}")[3], Str("#".into()));
    }

    #[test]
    fn go_comments() {
        use TokKind::*;
        assert_eq!(kinds("a // comment\n| b"), vec![Ident("a".into()), Pipe, Ident("b".into()), Eof]);
        assert_eq!(kinds("a // comment"), vec![Ident("a".into()), Eof]);
        assert_eq!(kinds("a /* x\n y */ | /**/b"), vec![Ident("a".into()), Pipe, Ident("b".into()), Eof]);
        assert_eq!(kinds("a/*x*/b"), vec![Ident("a".into()), Ident("b".into()), Eof]);
        assert_eq!(kinds("1 / 2"), vec![Number("1".into()), Div, Number("2".into()), Eof]);
        assert_eq!(kinds("1 /2"), vec![Number("1".into()), Div, Number("2".into()), Eof]);
        // Not comments inside strings, raw strings and regexes.
        assert_eq!(kinds(r#""http://x/*y*/""#), vec![Str("http://x/*y*/".into()), Eof]);
        assert_eq!(kinds("`a//b /* c`"), vec![Str("a//b /* c".into()), Eof]);
        // Unterminated block comment: an error at its start.
        let toks = lex("a /* never closed");
        assert_eq!(toks[1], Token { kind: Error("comment not terminated".into()), pos: 2 });
        assert_eq!(toks[2].kind, Eof);
        assert!(matches!(kinds("/*")[0], Error(_)));
        assert!(matches!(kinds("/*/")[0], Error(_)));
        assert_eq!(kinds("/**/"), vec![Eof]);
    }

    #[test]
    fn duration_parsing() {
        assert_eq!(parse_duration_literal("0"), Some(0));
        assert_eq!(parse_duration_literal("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_literal("1y"), Some(365 * 86_400_000_000_000));
        assert_eq!(parse_duration_literal("5"), None);
        assert_eq!(parse_duration_literal("99999999999999999999999y"), None);
        assert_eq!(parse_prometheus_duration("1d2h"), Ok(93_600_000_000_000));
        assert!(parse_prometheus_duration("2h1d").is_err());
        assert!(parse_prometheus_duration("1.5m").is_err());
        assert!(parse_prometheus_duration("").is_err());
    }
    /// Every short input made of comment, string and operator characters lexes, parses
    /// (or fails) and formats without panicking.
    #[test]
    fn comment_soup_never_panics() {
        const ALPHABET: &[char] = &['/', '*', '#', '"', '`', '\n', '{', '}', 'a', '=', '|', '[', ']', '1', '-'];
        let mut input = String::new();
        for n in 0..ALPHABET.len().pow(4) {
            input.clear();
            let mut k = n;
            for _ in 0..4 {
                input.push(ALPHABET[k % ALPHABET.len()]);
                k /= ALPHABET.len();
            }
            for query in [input.clone(), format!(r#"{{a="b"}} {input} |= "x""#), format!("sum(rate({{a=\"b\"}}{input}[1m]))")] {
                let _ = lex(&query);
                if let Ok(e) = crate::parser::parse_expr(&query) {
                    let _ = crate::prettify(&e);
                }
            }
        }
        assert!(crate::parser::parse_expr(r#"{a="b"} /* c */ |= "x" // d"#).is_ok());
        let err = crate::parser::parse_expr(r#"{a="b"} /* c"#).unwrap_err().to_string();
        assert!(err.contains("comment not terminated"), "{err}");
    }
}
