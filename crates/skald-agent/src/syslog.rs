//! Syslog message parsing: RFC 5424 and RFC 3164 (BSD), told apart by the version
//! digit after the priority (`<34>1 ...` is RFC 5424), and the meta labels Promtail
//! derives from them (`__syslog_message_hostname`, `__syslog_message_severity`, ...).
//!
//! Framing (octet counting or newlines over TCP, one message per UDP datagram) is the
//! listener's business (`syslog_target.rs`); this module sees one message at a time and
//! never panics on any input.

use crate::relabel::Labels;

/// One parsed message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyslogMessage {
    pub facility: u8,
    pub severity: u8,
    pub timestamp_ns: Option<i64>,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    /// `(sd-id, [(name, value)])` in message order.
    pub structured_data: Vec<(String, Vec<(String, String)>)>,
    pub message: String,
    pub rfc5424: bool,
}

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("invalid syslog message: {0}")]
pub struct ParseError(pub &'static str);

const SEVERITIES: [&str; 8] = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"];
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Parses one message (without framing; a trailing newline is ignored).
pub fn parse(input: &[u8], now_ns: i64) -> Result<SyslogMessage, ParseError> {
    let text = String::from_utf8_lossy(input);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    let rest = text.strip_prefix('<').ok_or(ParseError("missing '<PRI>'"))?;
    let close = rest.find('>').filter(|&i| (1..=3).contains(&i)).ok_or(ParseError("bad PRI"))?;
    let pri: u16 = rest[..close].parse().map_err(|_| ParseError("bad PRI"))?;
    if pri > 191 {
        return Err(ParseError("PRI out of range"));
    }
    let rest = &rest[close + 1..];
    let mut message = SyslogMessage { facility: (pri / 8) as u8, severity: (pri % 8) as u8, ..Default::default() };
    if let Some(after_version) = rest.strip_prefix("1 ") {
        message.rfc5424 = true;
        parse_5424(after_version, &mut message)?;
    } else {
        parse_3164(rest, now_ns, &mut message);
    }
    Ok(message)
}

fn nil_or(field: &str) -> Option<String> {
    (field != "-" && !field.is_empty()).then(|| field.to_string())
}

/// Splits off the next space-separated field.
fn field(input: &str) -> Result<(&str, &str), ParseError> {
    match input.split_once(' ') {
        Some((head, tail)) => Ok((head, tail)),
        None if !input.is_empty() => Ok((input, "")),
        None => Err(ParseError("missing RFC 5424 header field")),
    }
}

fn parse_5424(input: &str, message: &mut SyslogMessage) -> Result<(), ParseError> {
    let (timestamp, rest) = field(input)?;
    if timestamp != "-" {
        message.timestamp_ns = Some(skald_common::parse_timestamp(timestamp).map_err(|_| ParseError("bad RFC 5424 timestamp"))?);
    }
    let (hostname, rest) = field(rest)?;
    let (app_name, rest) = field(rest)?;
    let (proc_id, rest) = field(rest)?;
    let (msg_id, rest) = field(rest)?;
    message.hostname = nil_or(hostname);
    message.app_name = nil_or(app_name);
    message.proc_id = nil_or(proc_id);
    message.msg_id = nil_or(msg_id);
    let rest = if let Some(after) = rest.strip_prefix('-') {
        after
    } else if rest.starts_with('[') {
        parse_structured_data(rest, &mut message.structured_data)?
    } else {
        return Err(ParseError("bad STRUCTURED-DATA"));
    };
    let msg = rest.strip_prefix(' ').unwrap_or(rest);
    message.message = msg.strip_prefix('\u{feff}').unwrap_or(msg).to_string();
    Ok(())
}

/// Parses `[id k="v" ...][...]`; returns what follows.
fn parse_structured_data<'a>(mut input: &'a str, out: &mut Vec<(String, Vec<(String, String)>)>) -> Result<&'a str, ParseError> {
    let bad = ParseError("bad STRUCTURED-DATA");
    while let Some(body) = input.strip_prefix('[') {
        let id_end = body.find([' ', ']']).ok_or(bad)?;
        let id = body[..id_end].to_string();
        let mut rest = &body[id_end..];
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if let Some(after) = rest.strip_prefix(']') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or(bad)?;
            let name = rest[..eq].to_string();
            let value_part = rest[eq + 1..].strip_prefix('"').ok_or(bad)?;
            let mut value = String::new();
            let mut chars = value_part.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped @ ('"' | '\\' | ']'))) => value.push(escaped),
                        Some((_, other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => return Err(bad),
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => value.push(c),
                }
            }
            let end = end.ok_or(bad)?;
            params.push((name, value));
            rest = &value_part[end + 1..];
        }
        out.push((id, params));
        input = rest;
    }
    Ok(input)
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `Mmm dd hh:mm:ss HOST TAG[PID]: MSG`; whatever does not fit is left in MSG.
fn parse_3164(input: &str, now_ns: i64, message: &mut SyslogMessage) {
    let mut rest = input;
    if let Some(ts) = parse_3164_timestamp(input, now_ns) {
        message.timestamp_ns = Some(ts);
        rest = input.get(15..).unwrap_or("").trim_start_matches(' ');
        if let Some((host, after)) = rest.split_once(' ') {
            message.hostname = nil_or(host);
            rest = after;
        }
    }
    // TAG: alphanumerics up to '[' or ':'.
    let tag_end = rest.find(['[', ':', ' ']).unwrap_or(0);
    if tag_end > 0 && tag_end <= 48 {
        let tag = &rest[..tag_end];
        let mut after = &rest[tag_end..];
        let mut proc_id = None;
        if let Some(pid_part) = after.strip_prefix('[')
            && let Some(close) = pid_part.find(']')
        {
            proc_id = Some(pid_part[..close].to_string());
            after = &pid_part[close + 1..];
        }
        if let Some(msg) = after.strip_prefix(':') {
            message.app_name = Some(tag.to_string());
            message.proc_id = proc_id;
            rest = msg.strip_prefix(' ').unwrap_or(msg);
        }
    }
    message.message = rest.to_string();
}

fn parse_3164_timestamp(input: &str, now_ns: i64) -> Option<i64> {
    let ts = input.get(..15)?;
    let month = MONTHS.iter().position(|m| ts.starts_with(m))? as i64 + 1;
    let day: i64 = ts.get(4..6)?.trim().parse().ok()?;
    let (h, m, s) = (ts.get(7..9)?.parse::<i64>().ok()?, ts.get(10..12)?.parse::<i64>().ok()?, ts.get(13..15)?.parse::<i64>().ok()?);
    if ts.as_bytes().get(9) != Some(&b':') || ts.as_bytes().get(12) != Some(&b':') || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let (year, _, _) = skald_common::civil_from_days(now_ns.div_euclid(86_400_000_000_000));
    let days = skald_common::days_from_civil(year, month, day);
    Some(((days * 86_400 + h * 3600 + m * 60 + s) as i128 * 1_000_000_000) as i64)
}

impl SyslogMessage {
    /// The meta labels Promtail sets (`__syslog_message_*`).
    pub fn meta_labels(&self, label_structured_data: bool, labels: &mut Labels) {
        labels.insert("__syslog_message_severity".into(), SEVERITIES[usize::from(self.severity & 7)].into());
        if let Some(facility) = FACILITIES.get(usize::from(self.facility)) {
            labels.insert("__syslog_message_facility".into(), (*facility).into());
        }
        let fields = [
            ("__syslog_message_hostname", &self.hostname),
            ("__syslog_message_app_name", &self.app_name),
            ("__syslog_message_proc_id", &self.proc_id),
            ("__syslog_message_msg_id", &self.msg_id),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                labels.insert(name.into(), value.clone());
            }
        }
        if label_structured_data {
            for (id, params) in &self.structured_data {
                let id = id.replace('@', "_");
                for (name, value) in params {
                    labels.insert(format!("__syslog_message_sd_{id}_{name}"), value.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

    #[test]
    fn rfc5424_with_structured_data() {
        let input = br#"<165>1 2026-01-02T03:04:05.5Z host.example app 123 ID47 [exampleSDID@32473 iut="3" eventSource="App \"x\""][b k="v"] hello there"#;
        let m = parse(input, NOW).unwrap();
        assert!(m.rfc5424);
        assert_eq!((m.facility, m.severity), (20, 5));
        assert_eq!(m.hostname.as_deref(), Some("host.example"));
        assert_eq!(m.app_name.as_deref(), Some("app"));
        assert_eq!(m.proc_id.as_deref(), Some("123"));
        assert_eq!(m.msg_id.as_deref(), Some("ID47"));
        assert_eq!(m.message, "hello there");
        assert_eq!(m.timestamp_ns, skald_common::parse_timestamp("2026-01-02T03:04:05.5Z").ok());
        let mut labels = Labels::new();
        m.meta_labels(true, &mut labels);
        assert_eq!(labels["__syslog_message_sd_exampleSDID_32473_eventSource"], "App \"x\"");
        assert_eq!(labels["__syslog_message_sd_b_k"], "v");
        assert_eq!(labels["__syslog_message_severity"], "notice");
        assert_eq!(labels["__syslog_message_facility"], "local4");
    }

    #[test]
    fn rfc5424_nil_fields() {
        let m = parse(b"<14>1 - - - - - -\n", NOW).unwrap();
        assert_eq!(m.hostname, None);
        assert_eq!(m.message, "");
        let m = parse(b"<14>1 - h a - - - msg", NOW).unwrap();
        assert_eq!(m.message, "msg");
        assert_eq!(m.app_name.as_deref(), Some("a"));
    }

    #[test]
    fn rfc3164() {
        let m = parse(b"<34>Oct 11 22:14:15 mymachine su[42]: 'su root' failed", NOW).unwrap();
        assert!(!m.rfc5424);
        assert_eq!((m.facility, m.severity), (4, 2));
        assert_eq!(m.hostname.as_deref(), Some("mymachine"));
        assert_eq!(m.app_name.as_deref(), Some("su"));
        assert_eq!(m.proc_id.as_deref(), Some("42"));
        assert_eq!(m.message, "'su root' failed");
        assert_eq!(m.timestamp_ns, skald_common::parse_timestamp("2026-10-11T22:14:15Z").ok());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [&b""[..], b"hello", b"<>", b"<999>x", b"<1>1 ", b"<1>1 - h a p m [x", b"<1>1 - h a p m [x k=\"v", b"<\xff>"] {
            assert!(parse(input, NOW).is_err() || input.is_empty(), "{input:?}");
        }
        assert!(parse(b"<13>just text", NOW).is_ok());
    }
}
