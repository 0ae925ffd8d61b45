//! Checks of stream labels and entries against a tenant's limits, with Loki's messages
//! (`pkg/validation/validate.go`).

use skald_common::{Entry, LabelSet, Limits, format_rfc3339_nanos, is_valid_label_name};

/// Checks a stream's labels; the error has Loki's `discarded_samples` reason and a
/// message naming the stream.
pub fn validate_labels(labels: &LabelSet, limits: &Limits) -> Result<(), EntryError> {
    let refuse = |reason: &'static str, message: String| Err(EntryError { reason, message });
    if labels.is_empty() {
        return refuse("missing_labels", "error at least one label pair is required per stream".to_string());
    }
    if labels.len() > limits.max_label_names_per_series {
        return refuse(
            "max_label_names_per_series",
            format!("entry for stream '{labels}' has {} label names; limit {}", labels.len(), limits.max_label_names_per_series),
        );
    }
    for label in labels {
        if !is_valid_label_name(&label.name) {
            return refuse("invalid_labels", format!("stream '{labels}' has invalid label name: '{}'", label.name));
        }
        if label.name.len() > limits.max_label_name_length {
            return refuse("label_name_too_long", format!("stream '{labels}' has label name too long: '{}'", label.name));
        }
        if label.value.len() > limits.max_label_value_length {
            return refuse("label_value_too_long", format!("stream '{labels}' has label value too long: '{}'", label.value));
        }
    }
    Ok(())
}

/// Why an entry was refused; the reason names match Loki's `discarded_samples` reasons.
pub struct EntryError {
    pub reason: &'static str,
    pub message: String,
}

/// Checks one entry. `now` is in nanoseconds. May truncate the line when the tenant
/// asks for truncation instead of refusal.
pub fn validate_entry(entry: &mut Entry, labels: &LabelSet, limits: &Limits, now: i64) -> Result<(), EntryError> {
    if limits.reject_old_samples && entry.ts < now.saturating_sub(limits.reject_old_samples_max_age) {
        return Err(EntryError {
            reason: "greater_than_max_sample_age",
            message: format!(
                "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                format_rfc3339_nanos(entry.ts),
                format_rfc3339_nanos(now - limits.reject_old_samples_max_age)
            ),
        });
    }
    if entry.ts > now.saturating_add(limits.creation_grace_period) {
        return Err(EntryError {
            reason: "too_far_in_future",
            message: format!("entry for stream '{labels}' has timestamp too new: {}", format_rfc3339_nanos(entry.ts)),
        });
    }
    let max_line = limits.max_line_size as usize;
    if max_line > 0 && entry.line.len() > max_line {
        if limits.max_line_size_truncate {
            let mut cut = max_line;
            while !entry.line.is_char_boundary(cut) {
                cut -= 1;
            }
            entry.line.truncate(cut);
        } else {
            return Err(EntryError {
                reason: "line_too_long",
                message: format!(
                    "Max entry size '{max_line}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
                    entry.line.len()
                ),
            });
        }
    }
    if !entry.metadata.is_empty() {
        if !limits.allow_structured_metadata {
            return Err(EntryError {
                reason: "disallowed_structured_metadata",
                message: format!("stream '{labels}' includes structured metadata, but this feature is disallowed"),
            });
        }
        let size = entry.metadata_bytes();
        if size as u64 > limits.max_structured_metadata_size {
            return Err(EntryError {
                reason: "structured_metadata_too_large",
                message: format!(
                    "stream '{labels}' has structured metadata too large: '{size}' bytes, limit: '{}' bytes",
                    limits.max_structured_metadata_size
                ),
            });
        }
        if entry.metadata.len() > limits.max_structured_metadata_entries_count {
            return Err(EntryError {
                reason: "structured_metadata_too_many",
                message: format!(
                    "stream '{labels}' has too many structured metadata labels: '{}', limit: '{}'",
                    entry.metadata.len(),
                    limits.max_structured_metadata_entries_count
                ),
            });
        }
        for label in &entry.metadata {
            if !is_valid_label_name(&label.name) {
                return Err(EntryError {
                    reason: "invalid_labels",
                    message: format!("stream '{labels}' has invalid structured metadata name: '{}'", label.name),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_checks() {
        let limits = Limits::default();
        assert!(validate_labels(&LabelSet::from_pairs([("job", "x")]), &limits).is_ok());
        assert!(validate_labels(&LabelSet::new(), &limits).is_err());
        assert!(validate_labels(&LabelSet::from_pairs([("bad-name", "x")]), &limits).unwrap_err().message.contains("invalid label name"));
        let many = LabelSet::from_pairs((0..16).map(|i| (format!("l{i}"), "v")));
        let error = validate_labels(&many, &limits).unwrap_err();
        assert_eq!(error.reason, "max_label_names_per_series");
        assert!(error.message.contains("entry for stream '{") && error.message.contains("16 label names; limit 15"), "{}", error.message);
        let long = LabelSet::from_pairs([("a", "v".repeat(2049))]);
        let error = validate_labels(&long, &limits).unwrap_err();
        assert_eq!((error.reason, error.message.contains("label value too long")), ("label_value_too_long", true));
    }

    #[test]
    fn entry_checks() {
        let limits = Limits::default();
        let labels = LabelSet::from_pairs([("job", "x")]);
        let now = 1_000_000_000_000_000_000;
        let mut ok = Entry::new(now, "hi");
        assert!(validate_entry(&mut ok, &labels, &limits, now).is_ok());
        let mut old = Entry::new(now - limits.reject_old_samples_max_age - 1, "hi");
        assert_eq!(validate_entry(&mut old, &labels, &limits, now).err().unwrap().reason, "greater_than_max_sample_age");
        let mut new = Entry::new(now + limits.creation_grace_period + 1, "hi");
        assert_eq!(validate_entry(&mut new, &labels, &limits, now).err().unwrap().reason, "too_far_in_future");
        let mut long = Entry::new(now, "x".repeat(300_000));
        assert_eq!(validate_entry(&mut long, &labels, &limits, now).err().unwrap().reason, "line_too_long");
        let truncate = Limits { max_line_size_truncate: true, ..Limits::default() };
        let mut long = Entry::new(now, "x".repeat(300_000));
        assert!(validate_entry(&mut long, &labels, &truncate, now).is_ok());
        assert_eq!(long.line.len(), 262_144);
    }
}
