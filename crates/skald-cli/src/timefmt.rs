//! Timestamps as logcli prints them: Go's `time.RFC3339` (seconds) in the default output,
//! `RFC3339Nano` in JSON lines, both in the zone chosen with `--timezone` (`Local` or
//! `UTC`), and the `2006/01/02 15:04:05 ` prefix Go's `log` package puts on stderr lines.
//!
//! The local zone's offset comes from the C library (`localtime_r`), so `TZ` is honoured
//! as it is for Go programs.

use skald_common::civil_from_days;

/// The zone timestamps are printed in (`--timezone`/`-z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Zone {
    #[value(name = "Local")]
    Local,
    #[value(name = "UTC")]
    Utc,
}

/// Seconds east of UTC of the zone at this instant.
pub fn offset_seconds(zone: Zone, unix_seconds: i64) -> i64 {
    match zone {
        Zone::Utc => 0,
        Zone::Local => local_offset(unix_seconds),
    }
}

fn local_offset(unix_seconds: i64) -> i64 {
    let time = unix_seconds as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value, and
    // `localtime_r` only writes into the struct we pass.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// `2006-01-02T15:04:05` of a Unix time shifted by an offset, and the nanoseconds.
fn civil(ts: i64, offset: i64) -> (String, i64) {
    let seconds = ts.div_euclid(1_000_000_000) + offset;
    let nanos = ts.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let text = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    (text, nanos)
}

/// Go's `Z07:00`: `Z` for a zero offset, `+hh:mm`/`-hh:mm` otherwise.
fn zone_suffix(offset: i64) -> String {
    if offset == 0 {
        return "Z".to_string();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.abs();
    format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

/// Go's `time.RFC3339`: whole seconds (`2024-06-01T12:00:00Z`, `...+02:00`).
pub fn rfc3339(ts: i64, zone: Zone) -> String {
    let offset = offset_seconds(zone, ts.div_euclid(1_000_000_000));
    let (text, _) = civil(ts, offset);
    format!("{text}{}", zone_suffix(offset))
}

/// Go's `time.RFC3339Nano` (how `time.Time` marshals to JSON): the fraction with its
/// trailing zeros removed, none when zero.
pub fn rfc3339_nano(ts: i64, zone: Zone) -> String {
    let offset = offset_seconds(zone, ts.div_euclid(1_000_000_000));
    let (mut text, nanos) = civil(ts, offset);
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push_str(&zone_suffix(offset));
    text
}

/// The `2006/01/02 15:04:05 ` prefix of Go's standard logger, in local time.
pub fn log_prefix() -> String {
    let now = skald_common::unix_nanos_now();
    let offset = local_offset(now.div_euclid(1_000_000_000));
    let (text, _) = civil(now, offset);
    // text is `YYYY-MM-DDTHH:MM:SS`.
    format!("{} {} ", text[..10].replace('-', "/"), &text[11..])
}

/// Parses `--from`/`--to` (Go's `time.RFC3339Nano`, e.g. `2024-06-01T10:00:00Z` or
/// `2024-06-01T10:00:00.5+02:00`) to Unix nanoseconds; used as a clap value parser so a
/// bad value names its flag and exits with status 2.
pub fn parse_rfc3339_flag(value: &str) -> Result<i64, String> {
    skald_common::parse_rfc3339(value).ok_or_else(|| format!("cannot parse \"{value}\" as RFC3339 (for example 2024-06-01T10:00:00Z)"))
}

/// Parses a duration flag (`--since 1h`, `--step 30s`; Go syntax, plus `d`/`w`/`y`) to
/// nanoseconds.
pub fn parse_duration_flag(value: &str) -> Result<i64, String> {
    skald_common::parse_duration(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: i64 = 1_717_243_200_000_000_000; // 2024-06-01T12:00:00Z

    #[test]
    fn utc_formats_like_go() {
        assert_eq!(rfc3339(TS, Zone::Utc), "2024-06-01T12:00:00Z");
        assert_eq!(rfc3339(TS + 500_000_000, Zone::Utc), "2024-06-01T12:00:00Z");
        assert_eq!(rfc3339_nano(TS, Zone::Utc), "2024-06-01T12:00:00Z");
        assert_eq!(rfc3339_nano(TS + 500_000_000, Zone::Utc), "2024-06-01T12:00:00.5Z");
        assert_eq!(rfc3339_nano(TS + 1, Zone::Utc), "2024-06-01T12:00:00.000000001Z");
    }

    #[test]
    fn zone_suffix_is_go_z07_00() {
        assert_eq!(zone_suffix(0), "Z");
        assert_eq!(zone_suffix(7200), "+02:00");
        assert_eq!(zone_suffix(-(5 * 3600 + 30 * 60)), "-05:30");
    }

    #[test]
    fn flags_parse_or_explain() {
        assert_eq!(parse_rfc3339_flag("2024-06-01T12:00:00Z"), Ok(TS));
        assert!(parse_rfc3339_flag("yesterday").unwrap_err().contains("yesterday"));
        assert_eq!(parse_duration_flag("1h"), Ok(3_600_000_000_000));
        assert!(parse_duration_flag("soon").is_err());
    }

    #[test]
    fn log_prefix_has_go_shape() {
        let prefix = log_prefix();
        assert_eq!(prefix.len(), "2006/01/02 15:04:05 ".len(), "{prefix}");
        assert_eq!(&prefix[4..5], "/");
        assert_eq!(&prefix[10..11], " ");
    }
}
