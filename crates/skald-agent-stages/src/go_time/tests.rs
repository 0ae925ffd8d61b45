//! Tests of Go layout parsing, zones and the missing-year rule.

use super::*;

const NOW: i64 = 1_717_200_000_000_000_000; // 2024-06-01T00:00:00Z

fn at(layout: &str, value: &str) -> Result<i64, String> {
    resolve(&parse(layout, value)?, Location::Utc, NOW)
}

fn rfc(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_nanos_opt().unwrap()
}

#[test]
fn go_layouts() {
    let cases: &[(&str, &str, &str)] = &[
        ("RFC3339", "2019-01-01T01:00:00Z", "2019-01-01T01:00:00Z"),
        ("RFC3339", "2019-01-01T01:00:00.5+02:00", "2019-01-01T01:00:00.5+02:00"),
        ("RFC3339Nano", "2019-04-30T02:12:41.8443515Z", "2019-04-30T02:12:41.8443515Z"),
        ("RFC3339Nano", "2019-04-30T02:12:41Z", "2019-04-30T02:12:41Z"),
        ("ANSIC", "Mon Jan  2 15:04:05 2006", "2006-01-02T15:04:05Z"),
        ("UnixDate", "Mon Jan  2 15:04:05 UTC 2006", "2006-01-02T15:04:05Z"),
        ("RubyDate", "Mon Jan 02 15:04:05 -0700 2006", "2006-01-02T15:04:05-07:00"),
        ("RFC822", "02 Jan 06 15:04 UTC", "2006-01-02T15:04:00Z"),
        ("RFC822Z", "02 Jan 06 15:04 +0100", "2006-01-02T15:04:00+01:00"),
        ("RFC850", "Monday, 02-Jan-06 15:04:05 GMT", "2006-01-02T15:04:05Z"),
        ("RFC1123", "Mon, 02 Jan 2006 15:04:05 UTC", "2006-01-02T15:04:05Z"),
        ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0130", "2006-01-02T15:04:05-01:30"),
        ("2006-01-02 15:04:05.000", "2024-03-04 05:06:07.123", "2024-03-04T05:06:07.123Z"),
        ("02/Jan/2006:15:04:05 -0700", "10/Oct/2000:13:55:36 -0700", "2000-10-10T13:55:36-07:00"),
        ("2006-01-02T15:04:05", "2024-03-04T05:06:07.25", "2024-03-04T05:06:07.25Z"),
        ("Jan 2, 2006 at 3:04pm (MST)", "Feb 3, 2013 at 7:54pm (UTC)", "2013-02-03T19:54:00Z"),
        ("2006-01-02 15:04:05,000", "2024-03-04 05:06:07,123", "2024-03-04T05:06:07.123Z"),
        ("20060102150405", "20240304050607", "2024-03-04T05:06:07Z"),
    ];
    for (layout, value, want) in cases {
        let layout = named_layout(layout).unwrap_or(layout);
        assert_eq!(at(layout, value), Ok(rfc(want)), "{layout} {value}");
    }
}

#[test]
fn bad_values() {
    for (layout, value) in [
        ("2006-01-02", "2024-1-02"),
        ("2006-01-02", "2024-02-30"),
        ("2006-01-02", "2024-13-01"),
        ("15:04:05", "25:00:00"),
        ("2006-01-02", "2024-01-02 extra"),
        ("2006-01-02T15:04:05.000Z07:00", "2024-01-02T00:00:00.1Z"),
        ("RFC3339", ""),
    ] {
        let layout = named_layout(layout).unwrap_or(layout);
        assert!(at(layout, value).is_err(), "{layout} {value}");
    }
}

#[test]
fn missing_year_takes_the_current_one() {
    let layout = named_layout("Stamp").unwrap();
    assert!(!layout_has_year(layout));
    assert!(layout_has_year("02 Jan 06"));
    assert_eq!(at(layout, "Mar  5 10:00:00"), Ok(rfc("2024-03-05T10:00:00Z")));
    let january = 1_704_153_600_000_000_000; // 2024-01-02
    assert_eq!(resolve(&parse(layout, "Dec 31 23:00:00").unwrap(), Location::Utc, january), Ok(rfc("2023-12-31T23:00:00Z")));
    let december = 1_735_000_000_000_000_000; // 2024-12-24
    assert_eq!(resolve(&parse(layout, "Jan  1 01:00:00").unwrap(), Location::Utc, december), Ok(rfc("2025-01-01T01:00:00Z")));
    let micro = named_layout("StampMicro").unwrap();
    assert_eq!(at(micro, "Jun  1 00:00:01.000002"), Ok(rfc("2024-06-01T00:00:01.000002Z")));
}

#[test]
fn locations() {
    let paris = Location::parse("Europe/Paris").unwrap();
    let parsed = parse("2006-01-02 15:04:05", "2024-07-01 12:00:00").unwrap();
    assert_eq!(resolve(&parsed, paris, NOW), Ok(rfc("2024-07-01T12:00:00+02:00")));
    let parsed = parse("2006-01-02 15:04:05", "2024-01-01 12:00:00").unwrap();
    assert_eq!(resolve(&parsed, paris, NOW), Ok(rfc("2024-01-01T12:00:00+01:00")));
    // an explicit offset in the text wins over the location
    let parsed = parse("2006-01-02 15:04:05 -0700", "2024-01-01 12:00:00 +0000").unwrap();
    assert_eq!(resolve(&parsed, paris, NOW), Ok(rfc("2024-01-01T12:00:00Z")));
    assert_eq!(Location::parse("+05:30"), Ok(Location::Fixed(19_800)));
    assert_eq!(Location::parse("UTC"), Ok(Location::Utc));
    assert!(Location::parse("Mars/Olympus").unwrap_err().contains("Mars/Olympus"));
    // spring-forward gap in New York: 02:30 does not exist
    let ny = Location::parse("America/New_York").unwrap();
    let parsed = parse("2006-01-02 15:04", "2024-03-10 02:30").unwrap();
    assert!(resolve(&parsed, ny, NOW).is_ok());
}

#[test]
fn kitchen_and_pm() {
    let layout = named_layout("Kitchen").unwrap();
    let parsed = parse(layout, "3:04PM").unwrap();
    assert_eq!((parsed.hour, parsed.minute), (15, 4));
    let parsed = parse(layout, "12:00AM").unwrap();
    assert_eq!(parsed.hour, 0);
    assert!(parse(layout, "13:00PM").is_err());
}
