//! The three log output modes of logcli (`--output`/`-o`):
//!
//! - `default`: `<RFC3339 timestamp> <labels, padded to the widest> <line, trimmed>`,
//!   or `<timestamp> <line>` with `--no-labels`;
//! - `raw`: the line alone (one trailing newline of the line removed);
//! - `jsonl`: `{"labels":{..},"line":"..","timestamp":".."}` as Go's `json.Marshal` of a
//!   map writes it (keys sorted, RFC3339Nano timestamp; no `labels` with `--no-labels`).
//!
//! Colours follow logcli's `fatih/color`: only when stdout is a terminal (and `NO_COLOR`
//! is unset): timestamps blue, labels red, or one colour per label set with
//! `--colored-output`.

use crate::gojson;
use crate::labels::{self, Labels};
use crate::timefmt::{self, Zone};
use serde_json::{Map, Value};
use std::io::IsTerminal;

/// `--output`/`-o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Default,
    Raw,
    Jsonl,
}

/// How entries are printed.
#[derive(Clone, Debug)]
pub struct LogOutput {
    pub mode: Mode,
    pub zone: Zone,
    pub no_labels: bool,
    /// `--colored-output`: one colour per label set instead of red.
    pub colored_labels: bool,
    /// Whether escape codes are written at all (stdout is a terminal).
    pub color: bool,
}

const BLUE: &str = "34";
const RED: &str = "31";
/// fatih/color's palette for `--colored-output` (blue left out: timestamps use it).
const LABEL_COLORS: [&str; 10] = ["96", "36", "92", "32", "95", "35", "93", "33", "91", "31"];

/// Whether colours should be written to stdout: a terminal, and `NO_COLOR` unset.
pub fn stdout_wants_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// 32-bit FNV-1 (Go's `hash/fnv.New32`), which logcli uses to pick a label colour.
fn fnv1_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash = hash.wrapping_mul(0x0100_0193);
        hash ^= u32::from(*byte);
    }
    hash
}

impl LogOutput {
    /// Wraps text in an SGR colour when colours are on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    /// Red text (common labels on stderr), as logcli's `color.RedString`.
    pub fn red(&self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// One output line (without the newline) for an entry.
    pub fn format(&self, ts: i64, labels: &Labels, max_labels_len: usize, line: &str) -> String {
        match self.mode {
            Mode::Raw => line.strip_suffix('\n').unwrap_or(line).to_string(),
            Mode::Jsonl => self.format_jsonl(ts, labels, line),
            Mode::Default => self.format_default(ts, labels, max_labels_len, line),
        }
    }

    fn format_default(&self, ts: i64, labels: &Labels, max_labels_len: usize, line: &str) -> String {
        let timestamp = self.paint(BLUE, &timefmt::rfc3339(ts, self.zone));
        let line = line.trim();
        if self.no_labels {
            return format!("{timestamp} {line}");
        }
        let text = labels::to_string(labels);
        let mut padded = text.clone();
        // Go pads by byte length.
        while padded.len() < max_labels_len {
            padded.push(' ');
        }
        let color = if self.colored_labels { LABEL_COLORS[(fnv1_32(text.as_bytes()) % LABEL_COLORS.len() as u32) as usize] } else { RED };
        format!("{timestamp} {} {line}", self.paint(color, &padded))
    }

    fn format_jsonl(&self, ts: i64, labels: &Labels, line: &str) -> String {
        let mut entry = Map::new();
        entry.insert("timestamp".into(), Value::String(timefmt::rfc3339_nano(ts, self.zone)));
        entry.insert("line".into(), Value::String(line.to_string()));
        if !self.no_labels {
            let mut object = Map::new();
            for (name, value) in labels {
                object.insert(name.clone(), Value::String(value.clone()));
            }
            entry.insert("labels".into(), Value::Object(object));
        }
        gojson::compact(&Value::Object(entry), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: i64 = 1_717_243_200_123_000_000; // 2024-06-01T12:00:00.123Z

    fn output(mode: Mode) -> LogOutput {
        LogOutput { mode, zone: Zone::Utc, no_labels: false, colored_labels: false, color: false }
    }

    fn set(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn default_pads_labels_and_trims_the_line() {
        let out = output(Mode::Default);
        assert_eq!(out.format(TS, &set(&[("a", "1")]), 12, "  hi \n"), "2024-06-01T12:00:00Z {a=\"1\"}      hi");
        let no_labels = LogOutput { no_labels: true, ..out };
        assert_eq!(no_labels.format(TS, &set(&[("a", "1")]), 12, "hi"), "2024-06-01T12:00:00Z hi");
    }

    #[test]
    fn raw_and_jsonl() {
        assert_eq!(output(Mode::Raw).format(TS, &Labels::new(), 0, " x \n"), " x ");
        assert_eq!(
            output(Mode::Jsonl).format(TS, &set(&[("job", "a<b")]), 0, "l"),
            r#"{"labels":{"job":"a\u003cb"},"line":"l","timestamp":"2024-06-01T12:00:00.123Z"}"#
        );
    }

    #[test]
    fn colors_only_when_asked() {
        let mut out = output(Mode::Default);
        out.color = true;
        let line = out.format(TS, &Labels::new(), 0, "x");
        assert_eq!(line, "\x1b[34m2024-06-01T12:00:00Z\x1b[0m \x1b[31m{}\x1b[0m x");
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
    }
}
