//! The per-entry label builder (Loki's `LabelsBuilder`): stream labels as the base,
//! structured metadata and parsed labels added on top, deletions, and the error labels.
//! Buffers are reused across entries so that steady-state processing does not allocate.

use skald_common::{Label, LabelSet};

pub const ERROR_LABEL: &str = "__error__";
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
pub const DUPLICATE_SUFFIX: &str = "_extracted";

/// A list of labels whose string buffers survive `clear`.
#[derive(Debug, Default, Clone)]
pub struct LabelBuf {
    items: Vec<Label>,
    len: usize,
}

impl LabelBuf {
    pub fn clear(&mut self) {
        self.len = 0;
    }
    pub fn as_slice(&self) -> &[Label] {
        &self.items[..self.len]
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn find(&self, name: &str) -> Option<usize> {
        self.as_slice().iter().position(|l| l.name == name)
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|i| self.items[i].value.as_str())
    }
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }
    pub fn set(&mut self, name: &str, value: &str) {
        if let Some(i) = self.find(name) {
            let v = &mut self.items[i].value;
            v.clear();
            v.push_str(value);
            return;
        }
        self.push(name, value);
    }
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        if self.len < self.items.len() {
            let l = &mut self.items[self.len];
            l.name.clear();
            l.name.push_str(name);
            l.value.clear();
            l.value.push_str(value);
        } else {
            self.items.push(Label::new(name, value));
        }
        self.len += 1;
    }
    pub fn remove(&mut self, name: &str) -> bool {
        if let Some(i) = self.find(name) {
            self.items[i..self.len].rotate_left(1);
            self.len -= 1;
            true
        } else {
            false
        }
    }
}

/// Copies `src` into `dst`, reusing `dst`'s strings.
/// Writes `name`/`value` at position `n` of `key` (or appends it), reusing the strings
/// already there.
pub(crate) fn set_label(key: &mut Vec<Label>, n: usize, name: &str, value: &str) {
    if n < key.len() {
        let l = &mut key[n];
        if l.name != name {
            l.name.clear();
            l.name.push_str(name);
        }
        if l.value != value {
            l.value.clear();
            l.value.push_str(value);
        }
    } else {
        key.push(Label::new(name, value));
    }
}

pub fn assign_labels<'s>(dst: &mut Vec<Label>, src: impl Iterator<Item = (&'s str, &'s str)>) {
    let mut n = 0;
    for (name, value) in src {
        set_label(dst, n, name, value);
        n += 1;
    }
    dst.truncate(n);
}

/// Appends `name` to the first `len` entries of `list`, reusing the string left in the
/// next slot by an earlier line (these lists are reset for every entry).
fn push_reusing(list: &mut Vec<String>, len: &mut usize, name: &str) {
    if *len < list.len() {
        let slot = &mut list[*len];
        slot.clear();
        slot.push_str(name);
    } else {
        list.push(name.to_string());
    }
    *len += 1;
}

#[derive(Debug, Default)]
pub struct LabelsBuilder {
    pub base: LabelSet,
    pub meta: LabelBuf,
    pub parsed: LabelBuf,
    del: Vec<String>,
    del_len: usize,
    /// Parsed labels removed since the last reset (`drop`, a `label_format` rename):
    /// with the parsed ones, the names Loki's parser hints count as `extracted` (a
    /// parser never overwrites them).
    dropped_parsed: Vec<String>,
    dropped_parsed_len: usize,
    pub err: String,
    pub err_details: String,
}

impl LabelsBuilder {
    pub fn new(base: LabelSet) -> LabelsBuilder {
        LabelsBuilder { base, ..Default::default() }
    }

    pub fn reset(&mut self) {
        self.meta.clear();
        self.parsed.clear();
        self.del_len = 0;
        self.dropped_parsed_len = 0;
        self.err.clear();
        self.err_details.clear();
    }

    pub fn dels(&self) -> &[String] {
        &self.del[..self.del_len]
    }

    pub fn base_has(&self, name: &str) -> bool {
        self.base_get(name).is_some()
    }

    /// A stream label's value. Stream label sets are small, and most names asked
    /// about differ in length: a linear scan comparing lengths first beats a binary
    /// search of string comparisons (this runs for every parsed key).
    fn base_get(&self, name: &str) -> Option<&str> {
        self.base.iter().find(|l| l.name.len() == name.len() && l.name == name).map(|l| l.value.as_str())
    }

    pub fn has_err(&self) -> bool {
        !self.err.is_empty()
    }

    pub fn set_err(&mut self, err: &str, details: Option<&str>) {
        self.err.clear();
        self.err.push_str(err);
        if let Some(d) = details {
            self.err_details.clear();
            self.err_details.push_str(d);
        }
    }

    /// Loki's `Get`: parsed, then metadata, then (unless deleted) stream labels.
    /// The error labels are not visible here.
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = self.parsed.get(name) {
            return Some(v);
        }
        if let Some(v) = self.meta.get(name) {
            return Some(v);
        }
        if self.del_len > 0 && self.dels().iter().any(|d| d == name) {
            return None;
        }
        self.base_get(name)
    }

    pub fn set_parsed(&mut self, name: &str, value: &str) {
        self.meta.remove(name);
        self.parsed.set(name, value);
    }

    /// A parser's label, known not to be set yet (checked with [`is_extracted`]):
    /// appended without looking for it again.
    ///
    /// [`is_extracted`]: LabelsBuilder::is_extracted
    pub fn set_parsed_new(&mut self, name: &str, value: &str) {
        if !self.meta.is_empty() {
            self.meta.remove(name);
        }
        self.parsed.push(name, value);
    }

    /// Whether a parsed label of this name was set since the last reset (by a parser
    /// or `label_format`, even if removed since); parsers then leave it alone, as Loki's do.
    pub fn is_extracted(&self, name: &str) -> bool {
        self.parsed.contains(name) || self.dropped_parsed[..self.dropped_parsed_len].iter().any(|n| n.len() == name.len() && n == name)
    }

    /// How many parsed labels there are: a parser adds its labels after this position.
    pub fn parsed_len(&self) -> usize {
        self.parsed.as_slice().len()
    }

    /// Whether a parser writing `name` must write `name_extracted` instead: the name
    /// is a stream label or structured metadata of the entry.
    pub fn collides(&self, name: &str) -> bool {
        self.base_has(name) || self.meta.contains(name)
    }

    pub fn set_meta(&mut self, name: &str, value: &str) {
        if self.parsed.contains(name) {
            return;
        }
        self.meta.set(name, value);
    }

    /// Adds the entry's structured metadata (names colliding with stream labels get
    /// the `_extracted` suffix, as Loki's `LabelsBuilder.Add` does).
    pub fn add_metadata(&mut self, md: &[Label]) {
        for l in md {
            if self.base_has(&l.name) {
                let name = format!("{}{}", l.name, DUPLICATE_SUFFIX);
                self.add_meta_one(&name, &l.value);
            } else {
                self.add_meta_one(&l.name, &l.value);
            }
        }
    }

    fn add_meta_one(&mut self, name: &str, value: &str) {
        if name == ERROR_LABEL {
            self.err.clear();
            self.err.push_str(value);
        } else if name == ERROR_DETAILS_LABEL {
            self.err_details.clear();
            self.err_details.push_str(value);
        } else {
            self.set_meta(name, value);
        }
    }

    pub fn del(&mut self, name: &str) {
        self.meta.remove(name);
        if self.parsed.remove(name) {
            push_reusing(&mut self.dropped_parsed, &mut self.dropped_parsed_len, name);
        }
        push_reusing(&mut self.del, &mut self.del_len, name);
    }

    /// True when a stream label is hidden (deleted or shadowed by metadata/parsed).
    pub fn stream_changed(&self) -> bool {
        if self.del_len > 0 && self.dels().iter().any(|d| self.base_has(d)) {
            return true;
        }
        self.meta.as_slice().iter().chain(self.parsed.as_slice()).any(|l| self.base_has(&l.name))
    }

    pub fn stream_visible(&self, name: &str) -> bool {
        !self.dels().iter().any(|d| d == name) && !self.meta.contains(name) && !self.parsed.contains(name)
    }

    /// Every label (stream, metadata, parsed, then the error labels), unsorted.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str)) {
        let changed = self.del_len > 0 || !self.meta.is_empty() || !self.parsed.is_empty();
        for l in self.base.iter() {
            if !changed || self.stream_visible(&l.name) {
                f(&l.name, &l.value);
            }
        }
        for l in self.meta.as_slice() {
            f(&l.name, &l.value);
        }
        for l in self.parsed.as_slice() {
            f(&l.name, &l.value);
        }
        if !self.err.is_empty() {
            f(ERROR_LABEL, &self.err);
        }
        if !self.err_details.is_empty() {
            f(ERROR_DETAILS_LABEL, &self.err_details);
        }
    }
}

/// Loki's `sanitizeLabelKey`: trims spaces, replaces every byte outside
/// `[A-Za-z0-9_]` with `_` (one per character), and (prefix form) prepends `_` to a
/// leading digit.
pub fn sanitize_key_into(out: &mut String, key: &[u8], is_prefix: bool) {
    let key = trim_ascii_space(key);
    if key.is_empty() {
        return;
    }
    if is_prefix && key[0].is_ascii_digit() {
        out.push('_');
    }
    let valid = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    if key.iter().all(|&c| valid(c)) {
        // The common case: nothing to replace (and all ASCII).
        out.push_str(std::str::from_utf8(key).unwrap_or_default());
        return;
    }
    if key.is_ascii() {
        out.extend(key.iter().map(|&c| if valid(c) { c as char } else { '_' }));
        return;
    }
    let s = String::from_utf8_lossy(key);
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

fn trim_ascii_space(b: &[u8]) -> &[u8] {
    // Go's strings.TrimSpace trims Unicode spaces; ASCII covers what logs contain.
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = b.iter().position(|c| !is_space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_space(c)).map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

#[cfg(test)]
pub fn sanitize_key(key: &str) -> String {
    let mut s = String::new();
    sanitize_key_into(&mut s, key.as_bytes(), true);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_key("a.b-c"), "a_b_c");
        assert_eq!(sanitize_key("1abc"), "_1abc");
        assert_eq!(sanitize_key(" x y "), "x_y");
        assert_eq!(sanitize_key("é"), "_");
    }

    #[test]
    fn precedence_and_delete() {
        let mut b = LabelsBuilder::new(LabelSet::from_pairs([("app", "a"), ("env", "prod")]));
        b.add_metadata(&[Label::new("trace_id", "t1"), Label::new("env", "x")]);
        assert_eq!(b.get("env"), Some("prod"));
        assert_eq!(b.get("env_extracted"), Some("x"));
        b.set_parsed("trace_id", "p");
        assert_eq!(b.get("trace_id"), Some("p"));
        assert!(!b.meta.contains("trace_id"));
        b.del("app");
        assert_eq!(b.get("app"), None);
        assert!(b.stream_changed());
        b.set_parsed("app", "new");
        assert_eq!(b.get("app"), Some("new"));
        b.reset();
        assert_eq!(b.get("app"), Some("a"));
        assert!(!b.stream_changed());
    }
}
