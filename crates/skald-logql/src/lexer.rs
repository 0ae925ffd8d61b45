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

mod literals;
#[cfg(test)]
mod tests;

use literals::{MAX_UNIT_RUN, is_bytes_char, is_duration_char, parse_bytes_literal, parse_duration_literal, parse_prometheus_duration};

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
