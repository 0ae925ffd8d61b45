//! Loki's timestamp and duration conventions (`pkg/loghttp/params.go`).

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("cannot parse \"{0}\" to a valid timestamp")]
    Timestamp(String),
    #[error("cannot parse \"{0}\" to a valid duration")]
    Duration(String),
}

/// Nanoseconds since the epoch, now.
pub fn unix_nanos_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Parses a timestamp as Loki's HTTP API does: a value containing `.` is float seconds;
/// an integer of at most 10 digits is seconds, a longer one nanoseconds; anything else
/// must be RFC3339 (with optional fractional seconds).
pub fn parse_timestamp(value: &str) -> Result<i64, TimeError> {
    let err = || TimeError::Timestamp(value.to_string());
    if value.contains('.') && !value.contains('T') {
        let seconds: f64 = value.parse().map_err(|_| err())?;
        if !seconds.is_finite() {
            return Err(err());
        }
        // Split to keep nanosecond precision for large values.
        let whole = seconds.trunc();
        let frac = ((seconds - whole) * 1e9).round();
        return Ok((whole as i64).saturating_mul(1_000_000_000).saturating_add(frac as i64));
    }
    if let Ok(int) = value.parse::<i64>() {
        let digits = value.trim_start_matches('-').len();
        return Ok(if digits <= 10 { int.saturating_mul(1_000_000_000) } else { int });
    }
    parse_rfc3339(value).ok_or_else(err)
}

/// Parses RFC3339 / RFC3339Nano (`2024-06-01T00:00:00.5Z`, `...+02:00`).
pub fn parse_rfc3339(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = value.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut nanos: i64 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let digits = &value[start..pos];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        nanos = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    let offset_seconds = match b.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let hours = num(pos + 1..pos + 3)?;
            let minutes = num(pos + 4..pos + 6)?;
            let total = hours * 3600 + minutes * 60;
            if *sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses a duration in Go or Prometheus syntax (`1h30m`, `500ms`, `1.5s`, `2d`, `1w`,
/// `1y`) into nanoseconds. Negative durations are refused.
pub fn parse_duration(value: &str) -> Result<i64, TimeError> {
    let err = || TimeError::Duration(value.to_string());
    if value == "0" {
        return Ok(0);
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(err());
    }
    let mut pos = 0;
    let mut total: f64 = 0.0;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && (bytes[pos].is_ascii_digit() || bytes[pos] == b'.') {
            pos += 1;
        }
        if start == pos {
            return Err(err());
        }
        let number: f64 = value[start..pos].parse().map_err(|_| err())?;
        let unit_start = pos;
        while pos < bytes.len() && !(bytes[pos].is_ascii_digit() || bytes[pos] == b'.') {
            pos += 1;
        }
        let unit = match &value[unit_start..pos] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            "y" => 365.0 * 86400e9,
            _ => return Err(err()),
        };
        total += number * unit;
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(err());
    }
    Ok(total.round() as i64)
}

/// Loki's `step`/`interval` parameters: a float number of seconds or a duration.
pub fn parse_duration_or_seconds(value: &str) -> Result<i64, TimeError> {
    if let Ok(seconds) = value.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 9.2e9 {
            return Err(TimeError::Duration(value.to_string()));
        }
        return Ok((seconds * 1e9).round() as i64);
    }
    parse_duration(value)
}

/// Formats nanoseconds as Prometheus prints durations (`1h30m`, `5m`, `500ms`, `2d`).
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut ms = nanos / 1_000_000;
    if nanos % 1_000_000 != 0 {
        return format!("{}ns", nanos);
    }
    let units: [(i64, &str); 7] =
        [(365 * 86_400_000, "y"), (7 * 86_400_000, "w"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")];
    for (size, name) in units {
        if ms >= size {
            out.push_str(&format!("{}{}", ms / size, name));
            ms %= size;
        }
    }
    out
}

/// RFC3339Nano, as Loki prints timestamps in messages.
pub fn format_rfc3339_nanos(ts: i64) -> String {
    let secs = ts.div_euclid(1_000_000_000);
    let nanos = ts.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The (year, month, day) of a day number since 1970-01-01 (inverse of
/// [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_loki_form() {
        assert_eq!(parse_timestamp("1717200000").unwrap(), 1_717_200_000_000_000_000);
        assert_eq!(parse_timestamp("1717200000000000000").unwrap(), 1_717_200_000_000_000_000);
        assert_eq!(parse_timestamp("1717200000.5").unwrap(), 1_717_200_000_500_000_000);
        assert_eq!(parse_timestamp("2024-06-01T00:00:00Z").unwrap(), 1_717_200_000_000_000_000);
        assert_eq!(parse_timestamp("2024-06-01T02:00:00.25+02:00").unwrap(), 1_717_200_000_250_000_000);
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2024-13-01T00:00:00Z").is_err());
        assert_eq!(format_rfc3339_nanos(1_717_200_000_250_000_000), "2024-06-01T00:00:00.25Z");
        assert_eq!(format_rfc3339_nanos(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), 300_000_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000_000_000);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-5m").is_err());
        assert_eq!(parse_duration_or_seconds("300").unwrap(), 300_000_000_000);
        assert_eq!(parse_duration_or_seconds("0.5").unwrap(), 500_000_000);
        assert_eq!(format_duration(5_400_000_000_000), "1h30m");
        assert_eq!(format_duration(300_000_000_000), "5m");
    }
}
