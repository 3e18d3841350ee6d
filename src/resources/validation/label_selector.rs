//! `metav1.LabelSelector` objects inside specs (a Job's, a PodDisruptionBudget's):
//! upstream's `ValidateLabelSelector` (`apimachinery/pkg/apis/meta/v1/validation`) and the
//! matching of `LabelSelectorAsSelector` — `null` selects nothing, `{}` everything.

use serde_json::{json, Map, Value};

use super::fields::{list_at, map_at, str_at};
use super::{is_qualified_name, is_valid_label_value, validate_labels};
use crate::resources::FieldError;

/// Upstream `ValidateLabelSelector` for the selector at `path` (nothing to check when absent).
pub fn validate_label_selector(selector: Option<&Value>, path: &str) -> Vec<FieldError> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Vec::new();
    };
    let mut errs = validate_labels(
        map_at(selector, &["matchLabels"]),
        &format!("{path}.matchLabels"),
    );
    for (i, expr) in list_at(selector, &["matchExpressions"]).iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = list_at(expr, &["values"]);
        match str_at(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{p}.operator"),
                &json!(other),
                "not a valid selector operator",
            )),
        }
        let key = str_at(expr, &["key"]);
        for m in is_qualified_name(key) {
            errs.push(FieldError::invalid(format!("{p}.key"), &json!(key), &m));
        }
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for m in is_valid_label_value(v) {
                errs.push(FieldError::invalid(
                    format!("{p}.values[{j}]"),
                    &json!(v),
                    &m,
                ));
            }
        }
    }
    errs
}

/// Whether `selector` selects an object with `labels`; `None` when the selector is not a
/// valid one (upstream then treats it as matching nothing, or reports it).
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> Option<bool> {
    if selector.is_null() {
        return Some(false);
    }
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    for (k, v) in map_at(selector, &["matchLabels"]) {
        if label(k) != Some(v.as_str()?) {
            return Some(false);
        }
    }
    for expr in list_at(selector, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let values: Vec<&str> = list_at(expr, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let found = label(key);
        let ok = match str_at(expr, &["operator"]) {
            "In" if !values.is_empty() => found.is_some_and(|l| values.contains(&l)),
            "NotIn" if !values.is_empty() => !found.is_some_and(|l| values.contains(&l)),
            "Exists" if values.is_empty() => found.is_some(),
            "DoesNotExist" if values.is_empty() => found.is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// Whether a selector has no requirements at all (it would select everything).
pub fn selector_is_empty(selector: &Value) -> bool {
    !selector.is_null()
        && map_at(selector, &["matchLabels"]).is_empty()
        && list_at(selector, &["matchExpressions"]).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_checked_with_upstream_messages() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In"},
            {"key": "x", "operator": "Exists", "values": ["a"]},
            {"key": "bad key", "operator": "Near"}]});
        let errs: Vec<String> = validate_label_selector(Some(&sel), "spec.selector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs[0], "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
        assert_eq!(errs[1], "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        assert_eq!(errs[2], "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator");
        assert!(errs[3]
            .starts_with("spec.selector.matchExpressions[2].key: Invalid value: \"bad key\""));
    }

    #[test]
    fn matching_follows_label_selector_as_selector() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object().unwrap();
        let m = |s: Value| selector_matches(&s, labels);
        assert_eq!(m(json!({"matchLabels": {"app": "web"}})), Some(true));
        assert_eq!(m(json!({"matchLabels": {"app": "db"}})), Some(false));
        assert_eq!(
            m(
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]})
            ),
            Some(true)
        );
        assert_eq!(
            m(json!({"matchExpressions": [{"key": "gone", "operator": "Exists"}]})),
            Some(false)
        );
        assert_eq!(
            m(json!({"matchExpressions": [{"key": "x", "operator": "In"}]})),
            None
        );
        assert_eq!(m(json!({})), Some(true));
        assert_eq!(m(Value::Null), Some(false));
        assert!(selector_is_empty(&json!({})));
        assert!(!selector_is_empty(&Value::Null));
    }
}
