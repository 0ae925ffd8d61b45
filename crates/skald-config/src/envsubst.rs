//! `-config.expand-env=true`: environment variables in the config file, expanded before
//! the YAML is read, exactly as Loki does it (it uses `github.com/drone/envsubst`):
//!
//! - `${VAR}` is the variable's value; an unset variable is the empty string (so
//!   `key: ${UNSET}` leaves the key at its default, as YAML reads an empty value as null).
//! - `${VAR:-word}`, `${VAR-word}`, `${VAR=word}`, `${VAR:=word}`, `${VAR:?word}` and
//!   `${VAR:+word}` all give `word` when the variable is unset or empty (drone/envsubst
//!   treats them alike); `word` may hold `${...}` itself.
//! - `${#VAR}` (length), `${VAR^}` `${VAR^^}` `${VAR,}` `${VAR,,}` (case),
//!   `${VAR:pos}` `${VAR:pos:len}` (substring), `${VAR#p}` `${VAR##p}` `${VAR%p}`
//!   `${VAR%%p}` (remove a prefix or suffix; `*` and `?` match as in a shell) and
//!   `${VAR/a/b}` `${VAR//a/b}` `${VAR/#a/b}` `${VAR/%a/b}` (replace).
//! - `$VAR` without braces is left as it is. Outside `${...}`, `$$` stands for `$`, and
//!   `\\` and `\/` for `\` and `/` (drone/envsubst's escapes).

/// Why a file could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("line {line}: '${{' without a closing '}}'")]
    Unclosed { line: usize },
    #[error("line {line}: bad substitution '{text}'")]
    Bad { line: usize, text: String },
}

/// Expands `text` with `lookup` (the environment, in the binary).
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let (value, end) = substitution(text, i + 2, lookup)?;
                out.push_str(&value);
                i = end;
            }
            b'$' if bytes.get(i + 1) == Some(&b'$') => {
                out.push('$');
                i += 2;
            }
            b'\\' if matches!(bytes.get(i + 1), Some(b'\\') | Some(b'/')) => {
                out.push(bytes[i + 1] as char);
                i += 2;
            }
            _ => {
                let next = text[i..].char_indices().nth(1).map(|(n, _)| i + n).unwrap_or(text.len());
                out.push_str(&text[i..next]);
                i = next;
            }
        }
    }
    Ok(out)
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// Expands the `${...}` whose body starts at `start`; returns the value and the index
/// after the closing brace.
fn substitution(text: &str, start: usize, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, usize), ExpandError> {
    let bytes = text.as_bytes();
    let line = line_of(text, start);
    let bad = |end: usize| ExpandError::Bad { line, text: text[start.saturating_sub(2)..end.min(text.len())].to_string() };
    if bytes.get(start) == Some(&b'#') {
        let (name, end) = identifier(text, start + 1);
        if name.is_empty() || bytes.get(end) != Some(&b'}') {
            return Err(bad(end + 1));
        }
        let value = lookup(name).unwrap_or_default();
        return Ok((value.len().to_string(), end + 1));
    }
    let (name, after_name) = identifier(text, start);
    if name.is_empty() {
        return Err(if text[start..].contains('}') { bad(start + 1) } else { ExpandError::Unclosed { line } });
    }
    let value = lookup(name).unwrap_or_default();
    let Some(&op) = bytes.get(after_name) else { return Err(ExpandError::Unclosed { line }) };
    if op == b'}' {
        return Ok((value, after_name + 1));
    }
    // The operator and its word (which may hold nested substitutions).
    let (word_start, operator) = operator(text, after_name);
    let (word, end) = word(text, word_start, lookup)?;
    let result = match operator {
        "=" | ":=" | ":-" | "-" | ":?" | ":+" | "+" | "?" => {
            if value.is_empty() {
                word
            } else {
                value
            }
        }
        "^" => upper_first(&value),
        "^^" => value.to_uppercase(),
        "," => lower_first(&value),
        ",," => value.to_lowercase(),
        ":" => substring(&value, &word),
        "#" => remove_prefix(&value, &word, false),
        "##" => remove_prefix(&value, &word, true),
        "%" => remove_suffix(&value, &word, false),
        "%%" => remove_suffix(&value, &word, true),
        "/" | "//" | "/#" | "/%" => replace(&value, &word, operator),
        _ => return Err(bad(end)),
    };
    Ok((result, end))
}

fn identifier(text: &str, start: usize) -> (&str, usize) {
    let end = text[start..].find(|c: char| !(c.is_alphanumeric() || c == '_')).map(|n| start + n).unwrap_or(text.len());
    (&text[start..end], end)
}

/// The operator at `at` (the longest of the known ones) and where its word starts.
fn operator(text: &str, at: usize) -> (usize, &str) {
    const OPERATORS: &[&str] =
        &[":=", ":-", ":?", ":+", "^^", ",,", "##", "%%", "//", "/#", "/%", "=", "-", "+", "?", "^", ",", ":", "#", "%", "/"];
    for op in OPERATORS {
        if text[at..].starts_with(op) {
            return (at + op.len(), op);
        }
    }
    (at, "")
}

/// The word up to the matching `}`, with nested `${...}` expanded.
fn word(text: &str, start: usize, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, usize), ExpandError> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'}' => return Ok((out, i + 1)),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let (value, end) = substitution(text, i + 2, lookup)?;
                out.push_str(&value);
                i = end;
            }
            _ => {
                let next = text[i..].char_indices().nth(1).map(|(n, _)| i + n).unwrap_or(text.len());
                out.push_str(&text[i..next]);
                i = next;
            }
        }
    }
    Err(ExpandError::Unclosed { line: line_of(text, start) })
}

fn upper_first(value: &str) -> String {
    let mut chars = value.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn lower_first(value: &str) -> String {
    let mut chars = value.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// `pos` or `pos:len` in bytes, as drone/envsubst slices; a negative position counts
/// from the end; an unparsable position leaves the value as it is.
fn substring(value: &str, spec: &str) -> String {
    let mut parts = spec.splitn(2, ':');
    let Ok(position) = parts.next().unwrap_or("").trim().parse::<i64>() else { return value.to_string() };
    let length = value.len() as i64;
    let start = if position < 0 { (length + position).max(0) } else { position.min(length) } as usize;
    let end = match parts.next().map(|l| l.trim().parse::<i64>()) {
        Some(Ok(count)) => (start as i64 + count.max(0)).min(length) as usize,
        Some(Err(_)) => return value.to_string(),
        None => length as usize,
    };
    value.get(start..end).unwrap_or(value).to_string()
}

/// Shell glob match of a whole string (`*`, `?`, anything else literally).
fn glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some(('?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

fn remove_prefix(value: &str, pattern: &str, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let mut cuts: Vec<usize> = (0..=chars.len()).filter(|&n| glob(&pattern, &chars[..n])).collect();
    if !longest {
        cuts.truncate(1);
    }
    match cuts.last() {
        Some(&n) => chars[n..].iter().collect(),
        None => value.to_string(),
    }
}

fn remove_suffix(value: &str, pattern: &str, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let mut cuts: Vec<usize> = (0..=chars.len()).rev().filter(|&n| glob(&pattern, &chars[n..])).collect();
    if !longest {
        cuts.truncate(1);
    }
    match cuts.last() {
        Some(&n) => chars[..n].iter().collect(),
        None => value.to_string(),
    }
}

fn replace(value: &str, spec: &str, operator: &str) -> String {
    let (from, to) = spec.split_once('/').unwrap_or((spec, ""));
    if from.is_empty() {
        return value.to_string();
    }
    match operator {
        "//" => value.replace(from, to),
        "/#" => match value.strip_prefix(from) {
            Some(rest) => format!("{to}{rest}"),
            None => value.to_string(),
        },
        "/%" => match value.strip_suffix(from) {
            Some(rest) => format!("{rest}{to}"),
            None => value.to_string(),
        },
        _ => value.replacen(from, to, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("minio".into()),
            "PORT" => Some("9000".into()),
            "EMPTY" => Some(String::new()),
            "PATH_X" => Some("/var/lib/loki".into()),
            _ => None,
        }
    }

    fn x(text: &str) -> String {
        expand(text, &env).unwrap()
    }

    #[test]
    fn variables_and_defaults() {
        assert_eq!(x("endpoint: ${HOST}:${PORT}"), "endpoint: minio:9000");
        assert_eq!(x("a: ${UNSET}"), "a: ");
        assert_eq!(x("a: ${UNSET:-worker}"), "a: worker");
        assert_eq!(x("a: ${EMPTY:-worker}"), "a: worker");
        assert_eq!(x("a: ${HOST:-worker}"), "a: minio");
        assert_eq!(x("a: ${UNSET-x} ${UNSET=y} ${UNSET:=z}"), "a: x y z");
        assert_eq!(x("a: ${UNSET:-${HOST}-2}"), "a: minio-2");
        assert_eq!(x("a: $HOST $$ \\\\ \\/ \\d"), "a: $HOST $ \\ / \\d");
    }

    #[test]
    fn string_functions() {
        assert_eq!(x("${#HOST} ${HOST^} ${HOST^^} ${HOST,,}"), "5 Minio MINIO minio");
        assert_eq!(x("${HOST:1} ${HOST:1:2} ${HOST:x}"), "inio in minio");
        assert_eq!(x("${PATH_X#*/} ${PATH_X##*/} ${PATH_X%/*} ${PATH_X%%/l*}"), "var/lib/loki loki /var/lib /var");
        assert_eq!(x("${HOST/i/I} ${HOST//i/I} ${HOST/#m/M} ${HOST/%o/O}"), "mInio mInIo Minio miniO");
    }

    #[test]
    fn mistakes_name_the_line() {
        assert_eq!(expand("a: 1\nb: ${HOST", &env), Err(ExpandError::Unclosed { line: 2 }));
        assert!(matches!(expand("a: ${}", &env), Err(ExpandError::Bad { line: 1, .. })));
    }
}
