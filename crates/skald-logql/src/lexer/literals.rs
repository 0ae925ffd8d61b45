//! The values of duration and bytes literals (`5m`, `1h30m`, `[1d]`, `100KB`), parsed
//! exactly as Loki's lexer does.

/// Longest run of duration/bytes characters considered after a number.
pub(super) const MAX_UNIT_RUN: usize = 64;

pub(super) fn is_duration_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || matches!(c, 'n' | 'u' | 'µ' | 'μ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

pub(super) fn is_bytes_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

/// Parses a duration literal as Loki's lexer does (Prometheus or Go syntax: `5m`,
/// `1h30m`, `1.5s`, `250ms`, `2d`, `-5s`) into nanoseconds, exactly (integer maths).
pub(super) fn parse_duration_literal(s: &str) -> Option<i64> {
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
pub(super) fn parse_prometheus_duration(s: &str) -> Result<i64, String> {
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
pub(super) fn parse_bytes_literal(s: &str) -> Option<u64> {
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
