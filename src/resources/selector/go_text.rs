//! How selector errors are worded: the `field.Error` text format
//! (`<path>: Invalid value: "<value>": <detail>`), Go's `%q` and `%#v` renderings of the
//! strings, maps and `metav1.LabelSelector`s upstream's messages print, and
//! `utilerrors.Aggregate`. The label key and value rules themselves are the shared ones in
//! [`crate::resources::validation`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::resources::validation::fields::{list_at, map_at, str_at};
use crate::resources::{FieldError, FieldErrorKind};

/// A string quoted as Go's `%q` does for printable text.
pub(crate) fn go_quote(s: &str) -> String {
    // JSON string escaping matches Go's for the printable text labels allow.
    Value::String(s.to_string()).to_string()
}

/// A `[]string` rendered as Go's `%#v` (how `field.Invalid` shows a list of values).
pub(crate) fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        // Upstream passes a nil slice here (`append([]string(nil), ...)`).
        return "[]string(nil)".to_string();
    }
    let items: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// A `map[string]string` as Go's `%#v` prints it (keys sorted).
pub fn go_string_map(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "map[string]string(nil)".to_string();
    }
    let sorted: BTreeMap<&String, &str> = map
        .iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or("")))
        .collect();
    let pairs: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
        .collect();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

/// A `metav1.LabelSelector` as Go's `%#v` prints it in upstream's field errors.
pub fn go_label_selector(selector: &Value) -> String {
    let exprs = list_at(selector, &["matchExpressions"]);
    let exprs = if exprs.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    } else {
        let items: Vec<String> = exprs
            .iter()
            .map(|e| {
                let values: Vec<String> = list_at(e, &["values"])
                    .iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .collect();
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                    go_quote(str_at(e, &["key"])),
                    go_quote(str_at(e, &["operator"])),
                    go_string_slice(&values)
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{exprs}}}",
        go_string_map(map_at(selector, &["matchLabels"]))
    )
}

/// An `Invalid value` error whose value is shown as upstream's Go rendering `shown`.
pub fn invalid_shown(field: impl Into<String>, shown: &str, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: field.into(),
        detail: format!("Invalid value: {shown}: {detail}"),
    }
}

/// One `field.Error` of type Invalid, as text.
pub(crate) fn invalid(path: &str, rendered_value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {rendered_value}: {detail}")
}

/// Upstream's `utilerrors.Aggregate` text: one message alone, several as `[a, b]`, duplicates
/// dropped.
pub(crate) fn aggregate(messages: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for m in messages {
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    if seen.len() == 1 {
        return seen.remove(0);
    }
    format!("[{}]", seen.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::validation::{
        is_qualified_name as qualified_name_errors, is_valid_label_value as label_value_errors,
    };

    #[test]
    fn accepts_prefixed_keys() {
        assert!(qualified_name_errors("app").is_empty());
        assert!(qualified_name_errors("example.com/My_name.1").is_empty());
        assert!(qualified_name_errors("node-role.kubernetes.io/control-plane").is_empty());
    }

    #[test]
    fn rejects_bad_keys_with_upstream_text() {
        assert_eq!(
            qualified_name_errors("a@b"),
            vec![
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must \
                  start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  \
                  or '123-abc', regex used for validation is \
                  '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
                    .to_string()
            ]
        );
        let errs = qualified_name_errors("/x");
        assert_eq!(errs, vec!["prefix part must be non-empty".to_string()]);
        assert!(qualified_name_errors("Example.com/x")[0].starts_with("prefix part a lowercase"));
        assert_eq!(qualified_name_errors("a/b/c").len(), 1);
        assert_eq!(
            qualified_name_errors(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn label_values() {
        assert!(label_value_errors("").is_empty());
        assert!(label_value_errors("v1.2_3-x").is_empty());
        assert_eq!(label_value_errors("-x").len(), 1);
        assert_eq!(label_value_errors(&"a".repeat(64)).len(), 1);
    }

    #[test]
    fn aggregates_like_upstream() {
        assert_eq!(aggregate(vec!["a".into()]), "a");
        assert_eq!(
            aggregate(vec!["a".into(), "b".into(), "a".into()]),
            "[a, b]"
        );
        assert_eq!(
            go_string_slice(&["x".into(), "y".into()]),
            r#"[]string{"x", "y"}"#
        );
    }

    #[test]
    fn go_renderings() {
        let sel = serde_json::json!({"matchLabels": {"app": "web"}});
        assert_eq!(
            go_label_selector(&sel),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        let sel = serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Exists"},
            {"key": "b", "operator": "In", "values": ["x", "y"]}]});
        assert_eq!(
            go_label_selector(&sel),
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"a\", Operator:\"Exists\", Values:[]string(nil)}, v1.LabelSelectorRequirement{Key:\"b\", Operator:\"In\", Values:[]string{\"x\", \"y\"}}}}"
        );
        assert_eq!(go_string_map(&Map::new()), "map[string]string(nil)");
    }
}
