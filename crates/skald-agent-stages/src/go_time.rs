//! Parsing time with Go reference layouts (`2006-01-02T15:04:05.999999999Z07:00`), as
//! Promtail's `timestamp` stage does with Go's `time.Parse`/`time.ParseInLocation`.
//!
//! A layout is cut into Go's "std chunks" (the same longest-match rules as Go's
//! `nextStdChunk`) and literal text; the value must match them all, with Go's digit
//! rules (`01` needs two digits, `1` takes one or two, `.999` takes any number of
//! fraction digits, a fraction after `05` is accepted even if the layout has none).
//! The result keeps what the text said about the zone and whether it had a year, so the
//! caller applies `location` only when the text had no offset, and the current year only
//! when the layout had none (syslog-style `Jan _2 15:04:05`).

#[cfg(test)]
mod tests;
mod zone;

pub use zone::{Location, resolve};

/// Go's named layouts that Promtail and the brief accept by name.
pub fn named_layout(name: &str) -> Option<&'static str> {
    let layout = match name {
        "ANSIC" => "Mon Jan _2 15:04:05 2006",
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate" => "Mon Jan 02 15:04:05 -0700 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC822Z" => "02 Jan 06 15:04 -0700",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339" => "2006-01-02T15:04:05Z07:00",
        "RFC3339Nano" => "2006-01-02T15:04:05.999999999Z07:00",
        "Kitchen" => "3:04PM",
        "Stamp" => "Jan _2 15:04:05",
        "StampMilli" => "Jan _2 15:04:05.000",
        "StampMicro" => "Jan _2 15:04:05.000000",
        "StampNano" => "Jan _2 15:04:05.000000000",
        "DateTime" => "2006-01-02 15:04:05",
        "DateOnly" => "2006-01-02",
        "TimeOnly" => "15:04:05",
        _ => return None,
    };
    Some(layout)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    MonthLong,
    Month3,
    Month2,
    Month1,
    WeekdayLong,
    Weekday3,
    Year4,
    Year2,
    Day2,
    DayUnder,
    Day1,
    YearDay,
    YearDayUnder,
    Hour24,
    Hour12Zero,
    Hour12,
    Minute2,
    Minute1,
    Second2,
    Second1,
    PmUpper,
    PmLower,
    ZoneName,
    /// numeric offset: accepts `Z`, has a colon, has seconds, has minutes
    Offset {
        z: bool,
        colon: bool,
        seconds: bool,
        minutes: bool,
    },
    /// fraction digits: exact count (`.000`) or any (`.999`)
    Frac {
        digits: usize,
        exact: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Std(Chunk),
}

/// Cuts a layout into chunks and literals (Go's `nextStdChunk`).
fn chunks(layout: &str) -> Vec<Part> {
    const OFFSETS: &[(&str, bool, bool, bool, bool)] = &[
        ("Z070000", true, false, true, true),
        ("Z07:00:00", true, true, true, true),
        ("Z0700", true, false, false, true),
        ("Z07:00", true, true, false, true),
        ("Z07", true, false, false, false),
        ("-070000", false, false, true, true),
        ("-07:00:00", false, true, true, true),
        ("-0700", false, false, false, true),
        ("-07:00", false, true, false, true),
        ("-07", false, false, false, false),
    ];
    const WORDS: &[(&str, Chunk)] = &[
        ("January", Chunk::MonthLong),
        ("Jan", Chunk::Month3),
        ("Monday", Chunk::WeekdayLong),
        ("Mon", Chunk::Weekday3),
        ("MST", Chunk::ZoneName),
        ("002", Chunk::YearDay),
        ("01", Chunk::Month2),
        ("02", Chunk::Day2),
        ("03", Chunk::Hour12Zero),
        ("04", Chunk::Minute2),
        ("05", Chunk::Second2),
        ("06", Chunk::Year2),
        ("__2", Chunk::YearDayUnder),
        ("_2", Chunk::DayUnder),
        ("15", Chunk::Hour24),
        ("2006", Chunk::Year4),
        ("1", Chunk::Month1),
        ("2", Chunk::Day1),
        ("3", Chunk::Hour12),
        ("4", Chunk::Minute1),
        ("5", Chunk::Second1),
        ("PM", Chunk::PmUpper),
        ("pm", Chunk::PmLower),
    ];
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = layout;
    'scan: while let Some(c) = rest.chars().next() {
        let mut found: Option<(Chunk, usize)> = None;
        if c == '.' || c == ',' {
            let bytes = rest.as_bytes();
            if let Some(&digit) = bytes.get(1)
                && (digit == b'0' || digit == b'9')
            {
                let run = bytes[1..].iter().take_while(|&&b| b == digit).count();
                if !bytes.get(1 + run).is_some_and(u8::is_ascii_digit) {
                    found = Some((Chunk::Frac { digits: run, exact: digit == b'0' }, 1 + run));
                }
            }
        } else if c == 'Z' || c == '-' {
            for (text, z, colon, seconds, minutes) in OFFSETS {
                if rest.starts_with(text) {
                    found = Some((Chunk::Offset { z: *z, colon: *colon, seconds: *seconds, minutes: *minutes }, text.len()));
                    break;
                }
            }
        }
        if found.is_none() {
            for (text, chunk) in WORDS {
                if rest.starts_with(text) {
                    // `_2006` is a literal `_` followed by the year, as in Go.
                    if *chunk == Chunk::DayUnder && rest.starts_with("_2006") {
                        break;
                    }
                    found = Some((*chunk, text.len()));
                    break;
                }
            }
        }
        match found {
            Some((chunk, len)) => {
                if !literal.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut literal)));
                }
                parts.push(Part::Std(chunk));
                rest = &rest[len..];
                continue 'scan;
            }
            None => {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Lit(literal));
    }
    parts
}

/// True when the layout names a year (Promtail's test: it contains `06` or `2006`).
pub fn layout_has_year(layout: &str) -> bool {
    chunks(layout).iter().any(|p| matches!(p, Part::Std(Chunk::Year4 | Chunk::Year2)))
}

/// What a value said, before a zone and a default year are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
    pub year_day: Option<u32>,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// Seconds east of UTC, when the text had a numeric offset, `Z`, or `UTC`/`GMT`.
    pub offset_secs: Option<i32>,
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

struct Cursor<'a> {
    rest: &'a str,
    value: &'a str,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &str) -> String {
        format!("parsing time {:?}: cannot parse {:?} as {what}", self.value, self.rest)
    }

    /// Go's `getnum`: one or two digits, exactly two when `fixed`.
    fn num2(&mut self, fixed: bool, what: &str) -> Result<u32, String> {
        let bytes = self.rest.as_bytes();
        if !bytes.first().is_some_and(u8::is_ascii_digit) {
            return Err(self.err(what));
        }
        let two = bytes.get(1).is_some_and(u8::is_ascii_digit);
        if !two && fixed {
            return Err(self.err(what));
        }
        let len = if two { 2 } else { 1 };
        let n = self.rest[..len].parse().map_err(|_| self.err(what))?;
        self.rest = &self.rest[len..];
        Ok(n)
    }

    fn digits(&mut self, exactly: usize, what: &str) -> Result<u32, String> {
        let bytes = self.rest.as_bytes();
        if bytes.len() < exactly || !bytes[..exactly].iter().all(u8::is_ascii_digit) {
            return Err(self.err(what));
        }
        let n = self.rest[..exactly].parse().map_err(|_| self.err(what))?;
        self.rest = &self.rest[exactly..];
        Ok(n)
    }

    /// A name from `names` (case-insensitive), full or its 3-letter prefix.
    fn name(&mut self, names: &[&str], short: bool, what: &str) -> Result<u32, String> {
        for (index, name) in names.iter().enumerate() {
            let want = if short { &name[..3] } else { name };
            if let Some(head) = self.rest.get(..want.len())
                && head.eq_ignore_ascii_case(want)
            {
                self.rest = &self.rest[want.len()..];
                return Ok(index as u32);
            }
        }
        Err(self.err(what))
    }

    /// `.123` fraction: `count` digits, or all the digits there are.
    fn fraction(&mut self, count: Option<usize>) -> Result<u32, String> {
        let body = &self.rest[1..];
        let available = body.bytes().take_while(u8::is_ascii_digit).count();
        let take = match count {
            Some(n) if available < n => return Err(self.err("fractional second")),
            Some(n) => n,
            None => available,
        };
        let mut nanos: u32 = 0;
        for (i, b) in body.bytes().take(take).enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
        }
        for _ in take.min(9)..9 {
            nanos *= 10;
        }
        self.rest = &body[take..];
        Ok(nanos)
    }
}

/// Matches `value` against `layout`.
pub fn parse(layout: &str, value: &str) -> Result<Parsed, String> {
    let parts = chunks(layout);
    let mut cur = Cursor { rest: value, value };
    let mut parsed = Parsed { month: 1, day: 1, ..Parsed::default() };
    let mut pm: Option<bool> = None;
    for (index, part) in parts.iter().enumerate() {
        let chunk = match part {
            Part::Lit(text) => {
                cur.rest = cur.rest.strip_prefix(text.as_str()).ok_or_else(|| cur.err(&format!("{text:?}")))?;
                continue;
            }
            Part::Std(chunk) => *chunk,
        };
        match chunk {
            Chunk::Year4 => parsed.year = Some(cur.digits(4, "year")? as i32),
            Chunk::Year2 => {
                let yy = cur.digits(2, "year")? as i32;
                parsed.year = Some(if yy >= 69 { 1900 + yy } else { 2000 + yy });
            }
            Chunk::MonthLong => parsed.month = cur.name(&MONTHS, false, "month")? + 1,
            Chunk::Month3 => parsed.month = cur.name(&MONTHS, true, "month")? + 1,
            Chunk::Month2 | Chunk::Month1 => parsed.month = cur.num2(chunk == Chunk::Month2, "month")?,
            Chunk::WeekdayLong => {
                cur.name(&DAYS, false, "weekday")?;
            }
            Chunk::Weekday3 => {
                cur.name(&DAYS, true, "weekday")?;
            }
            Chunk::Day2 | Chunk::Day1 => parsed.day = cur.num2(chunk == Chunk::Day2, "day")?,
            Chunk::DayUnder => {
                cur.rest = cur.rest.strip_prefix(' ').unwrap_or(cur.rest);
                parsed.day = cur.num2(false, "day")?;
            }
            Chunk::YearDay => parsed.year_day = Some(cur.digits(3, "day of year")?),
            Chunk::YearDayUnder => {
                let trimmed = cur.rest.trim_start_matches(' ');
                let width = 3 - (cur.rest.len() - trimmed.len()).min(2);
                cur.rest = trimmed;
                parsed.year_day = Some(cur.digits(width, "day of year")?);
            }
            Chunk::Hour24 => parsed.hour = cur.num2(false, "hour")?,
            Chunk::Hour12Zero | Chunk::Hour12 => {
                parsed.hour = cur.num2(chunk == Chunk::Hour12Zero, "hour")?;
                if parsed.hour > 12 {
                    return Err(format!("parsing time {value:?}: hour out of range"));
                }
            }
            Chunk::Minute2 | Chunk::Minute1 => parsed.minute = cur.num2(chunk == Chunk::Minute2, "minute")?,
            Chunk::Second2 | Chunk::Second1 => {
                parsed.second = cur.num2(chunk == Chunk::Second2, "second")?;
                // Go accepts a fraction after the seconds even when the layout has none.
                let next_is_frac = matches!(parts.get(index + 1), Some(Part::Std(Chunk::Frac { .. })));
                let bytes = cur.rest.as_bytes();
                if !next_is_frac && bytes.len() >= 2 && (bytes[0] == b'.' || bytes[0] == b',') && bytes[1].is_ascii_digit() {
                    parsed.nanos = cur.fraction(None)?;
                }
            }
            Chunk::PmUpper | Chunk::PmLower => {
                let head = cur.rest.get(..2).ok_or_else(|| cur.err("AM/PM"))?;
                let (am, pm_text) = if chunk == Chunk::PmUpper { ("AM", "PM") } else { ("am", "pm") };
                pm = Some(if head == pm_text {
                    true
                } else if head == am {
                    false
                } else {
                    return Err(cur.err("AM/PM"));
                });
                cur.rest = &cur.rest[2..];
            }
            Chunk::ZoneName => parsed.offset_secs = zone_name(&mut cur)?,
            Chunk::Offset { z, colon, seconds, minutes } => {
                if z && let Some(rest) = cur.rest.strip_prefix('Z') {
                    cur.rest = rest;
                    parsed.offset_secs = Some(0);
                } else {
                    parsed.offset_secs = Some(offset(&mut cur, colon, minutes, seconds)?);
                }
            }
            Chunk::Frac { digits, exact } => {
                let bytes = cur.rest.as_bytes();
                let has = bytes.len() >= 2 && (bytes[0] == b'.' || bytes[0] == b',') && bytes[1].is_ascii_digit();
                if exact {
                    if !(bytes.first() == Some(&b'.') || bytes.first() == Some(&b',')) {
                        return Err(cur.err("fractional second"));
                    }
                    parsed.nanos = cur.fraction(Some(digits))?;
                } else if has {
                    parsed.nanos = cur.fraction(None)?;
                }
            }
        }
    }
    if !cur.rest.is_empty() {
        return Err(format!("parsing time {value:?}: extra text: {:?}", cur.rest));
    }
    if let Some(pm) = pm {
        if pm && parsed.hour < 12 {
            parsed.hour += 12;
        } else if !pm && parsed.hour == 12 {
            parsed.hour = 0;
        }
    }
    if parsed.hour > 23 || parsed.minute > 59 || parsed.second > 59 {
        return Err(format!("parsing time {value:?}: time out of range"));
    }
    if !(1..=12).contains(&parsed.month) {
        return Err(format!("parsing time {value:?}: month out of range"));
    }
    Ok(parsed)
}

/// `MST`-style zone: `UTC`/`GMT`/`Z` are UTC; other abbreviations give no offset (Go
/// records a zero offset for abbreviations it does not know; the caller then uses the
/// configured location, which is what a user naming a location expects).
fn zone_name(cur: &mut Cursor<'_>) -> Result<Option<i32>, String> {
    if let Some(rest) = cur.rest.strip_prefix("UTC") {
        cur.rest = rest;
        return Ok(Some(0));
    }
    if let Some(rest) = cur.rest.strip_prefix("GMT") {
        cur.rest = rest;
        if cur.rest.starts_with(['+', '-']) {
            let sign = if cur.rest.starts_with('-') { -1 } else { 1 };
            cur.rest = &cur.rest[1..];
            let hours = cur.num2(false, "GMT offset")? as i32;
            return Ok(Some(sign * hours * 3600));
        }
        return Ok(Some(0));
    }
    let letters = cur.rest.bytes().take_while(u8::is_ascii_alphabetic).count();
    if !(3..=5).contains(&letters) {
        return Err(cur.err("time zone name"));
    }
    cur.rest = &cur.rest[letters..];
    Ok(None)
}

fn offset(cur: &mut Cursor<'_>, colon: bool, minutes: bool, seconds: bool) -> Result<i32, String> {
    let sign = match cur.rest.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(cur.err("zone offset")),
    };
    cur.rest = &cur.rest[1..];
    let hours = cur.digits(2, "zone offset")? as i32;
    let mut total = hours * 3600;
    if minutes {
        if colon {
            cur.rest = cur.rest.strip_prefix(':').ok_or_else(|| cur.err("zone offset"))?;
        }
        total += cur.digits(2, "zone offset")? as i32 * 60;
    }
    if seconds {
        if colon {
            cur.rest = cur.rest.strip_prefix(':').ok_or_else(|| cur.err("zone offset"))?;
        }
        total += cur.digits(2, "zone offset")? as i32;
    }
    Ok(sign * total)
}
