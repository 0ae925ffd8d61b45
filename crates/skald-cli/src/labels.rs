//! Label sets as logcli handles them in its output: a map printed sorted by name as
//! `{a="1", b="2"}` (values quoted like Go's `strconv.Quote`), the labels shared by every
//! stream of a response ("common labels", printed once), and the
//! `--include-label`/`--exclude-label` filters.

use serde_json::Value;
use skald_common::go_quote;
use std::collections::BTreeMap;

/// Label name -> value, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// `{a="1", b="2"}`, as logcli's `LabelSet.String()`.
pub fn to_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&go_quote(value));
    }
    out.push('}');
    out
}

/// A JSON object of string values (a response's `stream` or `metric`); other values are
/// taken as their JSON text so nothing is silently dropped.
pub fn from_json(value: &Value) -> Labels {
    let mut labels = Labels::new();
    if let Some(object) = value.as_object() {
        for (name, value) in object {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            labels.insert(name.clone(), text);
        }
    }
    labels
}

/// The labels (name and value) every set has.
pub fn common<'a>(sets: impl IntoIterator<Item = &'a Labels>) -> Labels {
    let mut iter = sets.into_iter();
    let Some(first) = iter.next() else { return Labels::new() };
    let mut result = first.clone();
    for set in iter {
        result.retain(|name, value| set.get(name) == Some(value));
    }
    result
}

/// `labels` without those of `remove` that have the same value.
pub fn subtract(labels: &Labels, remove: &Labels) -> Labels {
    let mut result = Labels::new();
    for (name, value) in labels {
        if remove.get(name) != Some(value) {
            result.insert(name.clone(), value.clone());
        }
    }
    result
}

/// `keep == true`: only the named labels; `keep == false`: all but the named labels.
pub fn matching(labels: &Labels, names: &[String], keep: bool) -> Labels {
    let mut result = Labels::new();
    for (name, value) in labels {
        if names.contains(name) == keep {
            result.insert(name.clone(), value.clone());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn prints_sorted_and_quoted() {
        assert_eq!(to_string(&set(&[("b", "2"), ("a", "x\"y")])), r#"{a="x\"y", b="2"}"#);
        assert_eq!(to_string(&Labels::new()), "{}");
    }

    #[test]
    fn common_and_subtract() {
        let a = set(&[("job", "x"), ("pod", "1")]);
        let b = set(&[("job", "x"), ("pod", "2")]);
        let shared = common([&a, &b]);
        assert_eq!(shared, set(&[("job", "x")]));
        assert_eq!(subtract(&a, &shared), set(&[("pod", "1")]));
        assert_eq!(common(std::iter::empty::<&Labels>()), Labels::new());
    }

    #[test]
    fn include_and_exclude() {
        let a = set(&[("job", "x"), ("pod", "1"), ("ns", "n")]);
        let names = vec!["pod".to_string()];
        assert_eq!(matching(&a, &names, true), set(&[("pod", "1")]));
        assert_eq!(matching(&a, &names, false), set(&[("job", "x"), ("ns", "n")]));
    }
}
