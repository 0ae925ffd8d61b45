//! Time in templates: Go's layouts (`2006-01-02 15:04:05`) for formatting and parsing,
//! over UTC nanoseconds.

use super::convert::vstr;
use gotmpl::Value;

/// Times are carried as Go's `time.Time.String()` text in UTC,
/// `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(super) fn time_value(ns: i64) -> Value {
    time_value_in(ns, &Zone::utc())
}

/// A time as Go's `time.Time.String()` prints it in a zone (`... +0100 CET`).
pub(super) fn time_value_in(ns: i64, zone: &Zone) -> Value {
    vstr(format_go_time_in(ns, TIME_STRING, zone))
}

/// A zone in effect at some instant: its offset east of UTC and its abbreviation.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Zone {
    pub offset_secs: i64,
    pub name: String,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone { offset_secs: 0, name: "UTC".into() }
    }
}

/// Go's `time.ParseInLocation(layout, value, LoadLocation(zone))`: an unknown zone is
/// UTC (as Loki falls back); a value with its own offset keeps it, else the wall time
/// is read in the zone. Returns the instant and the zone to print it in.
pub(super) fn parse_go_time_in_zone(layout: &str, value: &str, zone: &str) -> Option<(i64, Zone)> {
    use chrono::{Offset, TimeZone};
    use chrono_tz::OffsetName;
    let (ns, had_offset) = parse_go_time_parts(layout, value)?;
    let tz: Option<chrono_tz::Tz> = match zone {
        "" | "UTC" | "Local" => None,
        name => name.parse().ok(),
    };
    let Some(tz) = tz else { return Some((ns, Zone::utc())) };
    let instant = if had_offset {
        ns
    } else {
        let naive = chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0)?.naive_utc();
        // A wall time skipped by a change (spring forward) takes the offset before it, as Go.
        let local = tz
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())?;
        let offset = i64::from(local.offset().fix().local_minus_utc());
        ns - offset * 1_000_000_000
    };
    let at = chrono::DateTime::from_timestamp(instant.div_euclid(1_000_000_000), 0)?.naive_utc();
    let offset = tz.offset_from_utc_datetime(&at);
    let name = offset.abbreviation().unwrap_or("").to_string();
    Some((instant, Zone { offset_secs: i64::from(offset.fix().local_minus_utc()), name }))
}

/// Go's `time.Time.String()` layout: how a time value is held as a string here.
pub(super) const TIME_STRING: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

pub(super) fn value_to_ns(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i.saturating_mul(1_000_000_000)),
        Value::Uint(u) => Some((*u as i64).saturating_mul(1_000_000_000)),
        Value::String(s) => parse_go_time(TIME_STRING, s),
        _ => None,
    }
}

use skald_common::{civil_from_days, days_from_civil};

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Year4,
    Year2,
    MonthLong,
    Month3,
    Month2,
    Month1,
    Day2,
    DaySp,
    Day1,
    Weekday,
    Wday3,
    Hour24,
    Hour12x2,
    Hour12,
    Min2,
    Min1,
    Sec2,
    Sec1,
    PmUpper,
    PmLower,
    ZoneName,
    TzZColon,
    TzZ,
    TzColon,
    Tz,
    TzHour,
    /// fractional seconds: digits, trim zeros (`.999`) or not (`.000`)
    Frac(usize, bool),
}

fn layout_tokens(layout: &str) -> Vec<Result<Tok, String>> {
    const TABLE: &[(&str, Tok)] = &[
        ("January", Tok::MonthLong),
        ("Jan", Tok::Month3),
        ("Monday", Tok::Weekday),
        ("Mon", Tok::Wday3),
        ("MST", Tok::ZoneName),
        ("2006", Tok::Year4),
        ("Z07:00", Tok::TzZColon),
        ("Z0700", Tok::TzZ),
        ("-07:00", Tok::TzColon),
        ("-0700", Tok::Tz),
        ("-07", Tok::TzHour),
        ("01", Tok::Month2),
        ("02", Tok::Day2),
        ("_2", Tok::DaySp),
        ("03", Tok::Hour12x2),
        ("04", Tok::Min2),
        ("05", Tok::Sec2),
        ("06", Tok::Year2),
        ("15", Tok::Hour24),
        ("PM", Tok::PmUpper),
        ("pm", Tok::PmLower),
        ("1", Tok::Month1),
        ("2", Tok::Day1),
        ("3", Tok::Hour12),
        ("4", Tok::Min1),
        ("5", Tok::Sec1),
    ];
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        if (rest.starts_with(".0") || rest.starts_with(".9") || rest.starts_with(",0") || rest.starts_with(",9"))
            && let Some(d) = rest.as_bytes().get(1).copied()
        {
            let n = rest[1..].bytes().take_while(|&c| c == d).count();
            let after = rest.as_bytes().get(1 + n);
            if !after.is_some_and(|c| c.is_ascii_digit()) {
                if !lit.is_empty() {
                    out.push(Err(std::mem::take(&mut lit)));
                }
                out.push(Ok(Tok::Frac(n, d == b'9')));
                rest = &rest[1 + n..];
                continue;
            }
        }
        for (pat, tok) in TABLE {
            if rest.starts_with(pat) {
                if !lit.is_empty() {
                    out.push(Err(std::mem::take(&mut lit)));
                }
                out.push(Ok(*tok));
                rest = &rest[pat.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        out.push(Err(lit));
    }
    out
}

/// Formats UTC nanoseconds with a Go layout.
pub(super) fn format_go_time(ns: i64, layout: &str) -> String {
    format_go_time_in(ns, layout, &Zone::utc())
}

/// `+hh:mm`-style text of an offset, with or without the colon and the minutes.
fn offset_text(offset: i64, colon: bool, minutes: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (offset.abs() / 3600, offset.abs() / 60 % 60);
    match (minutes, colon) {
        (false, _) => format!("{sign}{h:02}"),
        (true, true) => format!("{sign}{h:02}:{m:02}"),
        (true, false) => format!("{sign}{h:02}{m:02}"),
    }
}

/// Formats nanoseconds with a Go layout, in a zone.
pub(super) fn format_go_time_in(ns: i64, layout: &str, zone: &Zone) -> String {
    let ns = ns.saturating_add(zone.offset_secs * 1_000_000_000);
    let off = zone.offset_secs;
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, se) = (sod / 3600, (sod / 60) % 60, sod % 60);
    let wd = (days + 4).rem_euclid(7) as usize;
    let mut out = String::new();
    for t in layout_tokens(layout) {
        match t {
            Err(lit) => out.push_str(&lit),
            Ok(tok) => match tok {
                Tok::Year4 => out.push_str(&format!("{y:04}")),
                Tok::Year2 => out.push_str(&format!("{:02}", y.rem_euclid(100))),
                Tok::MonthLong => out.push_str(MONTHS[(mo - 1) as usize]),
                Tok::Month3 => out.push_str(&MONTHS[(mo - 1) as usize][..3]),
                Tok::Month2 => out.push_str(&format!("{mo:02}")),
                Tok::Month1 => out.push_str(&format!("{mo}")),
                Tok::Day2 => out.push_str(&format!("{d:02}")),
                Tok::DaySp => out.push_str(&format!("{d:>2}")),
                Tok::Day1 => out.push_str(&format!("{d}")),
                Tok::Weekday => out.push_str(DAYS[wd]),
                Tok::Wday3 => out.push_str(&DAYS[wd][..3]),
                Tok::Hour24 => out.push_str(&format!("{h:02}")),
                Tok::Hour12x2 => out.push_str(&format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 })),
                Tok::Hour12 => out.push_str(&format!("{}", if h % 12 == 0 { 12 } else { h % 12 })),
                Tok::Min2 => out.push_str(&format!("{mi:02}")),
                Tok::Min1 => out.push_str(&format!("{mi}")),
                Tok::Sec2 => out.push_str(&format!("{se:02}")),
                Tok::Sec1 => out.push_str(&format!("{se}")),
                Tok::PmUpper => out.push_str(if h >= 12 { "PM" } else { "AM" }),
                Tok::PmLower => out.push_str(if h >= 12 { "pm" } else { "am" }),
                Tok::ZoneName if zone.name.is_empty() => out.push_str(&offset_text(off, false, true)),
                Tok::ZoneName => out.push_str(&zone.name),
                Tok::TzZColon | Tok::TzZ if off == 0 => out.push('Z'),
                Tok::TzZColon | Tok::TzColon => out.push_str(&offset_text(off, true, true)),
                Tok::TzZ | Tok::Tz => out.push_str(&offset_text(off, false, true)),
                Tok::TzHour => out.push_str(&offset_text(off, false, false)),
                Tok::Frac(n, trim) => {
                    let digits = format!("{nanos:09}");
                    let mut f: String = digits.chars().take(n.min(9)).collect();
                    if trim {
                        while f.ends_with('0') {
                            f.pop();
                        }
                        if !f.is_empty() {
                            out.push('.');
                            out.push_str(&f);
                        }
                    } else {
                        while f.len() < n {
                            f.push('0');
                        }
                        out.push('.');
                        out.push_str(&f);
                    }
                }
            },
        }
    }
    out
}

/// Parses text with a Go layout into UTC nanoseconds (numeric zone offsets applied).
pub(super) fn parse_go_time(layout: &str, value: &str) -> Option<i64> {
    parse_go_time_parts(layout, value).map(|(ns, _)| ns)
}

/// [`parse_go_time`], also telling whether the text carried a numeric offset.
fn parse_go_time_parts(layout: &str, value: &str) -> Option<(i64, bool)> {
    let mut had_offset = false;
    let mut v = value;
    let (mut y, mut mo, mut d, mut h, mut mi, mut se, mut ns, mut off) = (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    fn num(v: &mut &str, min: usize, max: usize) -> Option<i64> {
        let n = v.bytes().take(max).take_while(|c| c.is_ascii_digit()).count();
        if n < min {
            return None;
        }
        let r = v[..n].parse().ok()?;
        *v = &v[n..];
        Some(r)
    }
    fn sign_off(v: &mut &str, colon: bool, minutes: bool) -> Option<i64> {
        let sign = match v.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        *v = &v[1..];
        let hh = num(v, 2, 2)?;
        let mut mm = 0;
        if minutes {
            if colon {
                *v = v.strip_prefix(':')?;
            }
            mm = num(v, 2, 2)?;
        }
        Some(sign * (hh * 3600 + mm * 60))
    }
    for t in layout_tokens(layout) {
        match t {
            Err(lit) => v = v.strip_prefix(lit.as_str())?,
            Ok(tok) => match tok {
                Tok::Year4 => y = num(&mut v, 4, 4)?,
                Tok::Year2 => {
                    let yy = num(&mut v, 2, 2)?;
                    y = if yy >= 69 { 1900 + yy } else { 2000 + yy };
                }
                Tok::MonthLong | Tok::Month3 => {
                    let i = MONTHS.iter().position(|m| {
                        let m = if tok == Tok::Month3 { &m[..3] } else { m };
                        v.len() >= m.len() && v[..m.len()].eq_ignore_ascii_case(m)
                    })?;
                    let l = if tok == Tok::Month3 { 3 } else { MONTHS[i].len() };
                    v = &v[l..];
                    mo = i as i64 + 1;
                }
                Tok::Month2 => mo = num(&mut v, 2, 2)?,
                Tok::Month1 => mo = num(&mut v, 1, 2)?,
                Tok::Day2 => d = num(&mut v, 2, 2)?,
                Tok::DaySp => {
                    v = v.strip_prefix(' ').unwrap_or(v);
                    d = num(&mut v, 1, 2)?
                }
                Tok::Day1 => d = num(&mut v, 1, 2)?,
                Tok::Weekday | Tok::Wday3 => {
                    let i = DAYS.iter().position(|m| {
                        let m = if tok == Tok::Wday3 { &m[..3] } else { m };
                        v.len() >= m.len() && v[..m.len()].eq_ignore_ascii_case(m)
                    })?;
                    v = &v[if tok == Tok::Wday3 { 3 } else { DAYS[i].len() }..];
                }
                Tok::Hour24 => h = num(&mut v, 2, 2)?,
                Tok::Hour12x2 => h = num(&mut v, 2, 2)?,
                Tok::Hour12 => h = num(&mut v, 1, 2)?,
                Tok::Min2 => mi = num(&mut v, 2, 2)?,
                Tok::Min1 => mi = num(&mut v, 1, 2)?,
                Tok::Sec2 => {
                    se = num(&mut v, 2, 2)?;
                    // Go accepts fractional seconds after seconds even if not in the layout
                    if let Some(r) = v.strip_prefix('.')
                        && r.starts_with(|c: char| c.is_ascii_digit())
                    {
                        v = r;
                        let n = v.bytes().take_while(|c| c.is_ascii_digit()).count();
                        let digits = &v[..n];
                        let mut f: String = digits.chars().take(9).collect();
                        while f.len() < 9 {
                            f.push('0');
                        }
                        ns = f.parse().ok()?;
                        v = &v[n..];
                    }
                }
                Tok::Sec1 => se = num(&mut v, 1, 2)?,
                Tok::PmUpper | Tok::PmLower => {
                    let p = v.get(..2)?.to_ascii_uppercase();
                    pm = Some(p == "PM");
                    v = &v[2..];
                }
                Tok::ZoneName => {
                    let n = v.bytes().take_while(|c| c.is_ascii_uppercase()).count();
                    if n < 3 {
                        return None;
                    }
                    v = &v[n..];
                }
                Tok::TzZColon | Tok::TzZ => {
                    had_offset = true;
                    if let Some(r) = v.strip_prefix('Z') {
                        v = r;
                    } else {
                        off = sign_off(&mut v, tok == Tok::TzZColon, true)?;
                    }
                }
                Tok::TzColon | Tok::Tz | Tok::TzHour => {
                    had_offset = true;
                    off = sign_off(&mut v, tok == Tok::TzColon, tok != Tok::TzHour)?;
                }
                Tok::Frac(_, _) => {
                    if let Some(r) = v.strip_prefix('.').or_else(|| v.strip_prefix(',')) {
                        v = r;
                        let n = v.bytes().take_while(|c| c.is_ascii_digit()).count();
                        let mut f: String = v[..n].chars().take(9).collect();
                        while f.len() < 9 {
                            f.push('0');
                        }
                        ns = f.parse().ok()?;
                        v = &v[n..];
                    }
                }
            },
        }
    }
    if !v.is_empty() {
        return None;
    }
    if let Some(p) = pm {
        if p && h < 12 {
            h += 12;
        } else if !p && h == 12 {
            h = 0;
        }
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + se - off;
    Some((secs * 1_000_000_000 + ns, had_offset))
}

pub(super) fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}
