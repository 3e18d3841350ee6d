//! How selector errors are worded: the `field.Error` text format
//! (`<path>: Invalid value: "<value>": <detail>`), Go's quoting, and error aggregation. The
//! label key and value rules themselves are the shared ones in
//! [`crate::resources::validation`].

/// A string quoted as Go's `%q` does for printable text.
pub(crate) fn go_quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
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
}
