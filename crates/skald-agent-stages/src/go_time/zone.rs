//! Zones: the configured `location` (IANA name, `UTC` or a fixed offset) and the step
//! from what was parsed to Unix nanoseconds.

use super::{Cursor, Parsed, offset};
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};

/// Where a time without an offset is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Location {
    Utc,
    Fixed(i32),
    Zone(chrono_tz::Tz),
}

impl Location {
    /// An IANA zone name (`Europe/Paris`), `UTC`, or a fixed offset (`+02:00`).
    pub fn parse(name: &str) -> Result<Location, String> {
        if name == "UTC" || name.is_empty() {
            return Ok(Location::Utc);
        }
        if name.starts_with(['+', '-']) {
            let mut cur = Cursor { rest: name, value: name };
            let secs = offset(&mut cur, name.contains(':'), name.len() > 3, false)?;
            if cur.rest.is_empty() {
                return Ok(Location::Fixed(secs));
            }
        }
        name.parse::<chrono_tz::Tz>().map(Location::Zone).map_err(|_| format!("unknown time zone {name:?}"))
    }

    fn to_utc(self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Location::Utc => Some(local),
            Location::Fixed(secs) => local.checked_sub_signed(chrono::Duration::seconds(i64::from(secs))),
            Location::Zone(tz) => {
                let resolved = tz.from_local_datetime(&local);
                match resolved.earliest() {
                    Some(t) => Some(t.naive_utc()),
                    // in a DST gap: use the offset in force just before it, as Go does
                    None => {
                        let before = tz.offset_from_utc_datetime(&local);
                        let secs = chrono::Offset::fix(&before).local_minus_utc();
                        local.checked_sub_signed(chrono::Duration::seconds(i64::from(secs)))
                    }
                }
            }
        }
    }
}

/// Turns what was parsed into Unix nanoseconds: the text's offset wins, else `location`;
/// a missing year is taken from `now_ns`, with Promtail's rule around New Year (a
/// December stamp read in January belongs to last year, a January stamp read in
/// December to next year).
pub fn resolve(parsed: &Parsed, location: Location, now_ns: i64) -> Result<i64, String> {
    let year = match parsed.year {
        Some(y) => y,
        None => {
            let now = chrono::DateTime::from_timestamp_nanos(now_ns).naive_utc();
            let (now_year, now_month) = (now.year(), now.month());
            if parsed.month == 12 && now_month == 1 {
                now_year - 1
            } else if parsed.month == 1 && now_month == 12 {
                now_year + 1
            } else {
                now_year
            }
        }
    };
    let date = match parsed.year_day {
        Some(day) => NaiveDate::from_yo_opt(year, day),
        None => NaiveDate::from_ymd_opt(year, parsed.month, parsed.day),
    }
    .ok_or_else(|| format!("day out of range: {year}-{:02}-{:02}", parsed.month, parsed.day))?;
    let local = date.and_hms_nano_opt(parsed.hour, parsed.minute, parsed.second, parsed.nanos).ok_or("time out of range")?;
    let utc = match parsed.offset_secs {
        Some(secs) => Location::Fixed(secs).to_utc(local),
        None => location.to_utc(local),
    }
    .ok_or("time out of range")?;
    utc.and_utc().timestamp_nanos_opt().ok_or_else(|| "time out of the representable range (1677-2262)".to_string())
}
