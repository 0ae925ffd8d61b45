//! Prometheus' durations (`model.Duration`): `1y2w3d4h5m6s7ms`, units from the biggest
//! to the smallest, `0` alone; printed back the way Prometheus prints them (`90d`, not
//! `12w6d`), as rule files and the rules API show `for`, `interval` and `keep_firing_for`.

/// The units, biggest first, with their length in milliseconds.
const UNITS: &[(&str, u64)] = &[
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration into milliseconds, with Prometheus' messages.
pub fn parse_prom_duration(s: &str) -> Result<u64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".to_string()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", skald_common::go_quote(s));
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while i < bytes.len() {
        let digits_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            return Err(invalid());
        }
        let value: u64 = s[digits_start..i].parse().map_err(|_| invalid())?;
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == unit_start {
            return Err(invalid());
        }
        let unit = &s[unit_start..i];
        let Some(position) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit {} in duration {}", skald_common::go_quote(unit), skald_common::go_quote(s)));
        };
        if last_unit.is_some_and(|last| position <= last) {
            return Err(invalid());
        }
        last_unit = Some(position);
        let mult = UNITS[position].1 * 1_000_000;
        // Go's time.Duration (nanoseconds in an int64) bounds every duration.
        if value > (1u64 << 63) / mult {
            return Err("duration out of range".to_string());
        }
        total = total.checked_add(value * mult).filter(|t| *t < (1u64 << 63)).ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(total / 1_000_000)
}

/// Prints milliseconds as Prometheus does: years and weeks only when exact.
pub fn format_prom_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        let exact_only = i < 2;
        if exact_only && !rest.is_multiple_of(*mult) {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            rest -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_prometheus_does() {
        assert_eq!(parse_prom_duration("5m"), Ok(300_000));
        assert_eq!(parse_prom_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_prom_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_prom_duration("250ms"), Ok(250));
        assert_eq!(parse_prom_duration("0"), Ok(0));
        assert_eq!(parse_prom_duration("0s"), Ok(0));
        assert_eq!(parse_prom_duration("").unwrap_err(), "empty duration string");
        assert_eq!(parse_prom_duration("5").unwrap_err(), "not a valid duration string: \"5\"");
        assert_eq!(parse_prom_duration("m5").unwrap_err(), "not a valid duration string: \"m5\"");
        assert_eq!(parse_prom_duration("30m1h").unwrap_err(), "not a valid duration string: \"30m1h\"");
        assert_eq!(parse_prom_duration("1.5h").unwrap_err(), "unknown unit \".\" in duration \"1.5h\"");
        assert_eq!(parse_prom_duration("5x").unwrap_err(), "unknown unit \"x\" in duration \"5x\"");
        assert_eq!(parse_prom_duration("300y").unwrap_err(), "duration out of range");
    }

    #[test]
    fn prints_as_prometheus_does() {
        assert_eq!(format_prom_duration(0), "0s");
        assert_eq!(format_prom_duration(300_000), "5m");
        assert_eq!(format_prom_duration(5_400_000), "1h30m");
        assert_eq!(format_prom_duration(90 * 86_400_000), "90d");
        assert_eq!(format_prom_duration(14 * 86_400_000), "2w");
        assert_eq!(format_prom_duration(1_500), "1s500ms");
    }

    proptest::proptest! {
        #[test]
        fn printing_then_parsing_gives_the_same(ms in 0u64..(200 * 365 * 86_400_000)) {
            proptest::prop_assert_eq!(parse_prom_duration(&format_prom_duration(ms)), Ok(ms));
        }
    }
}
