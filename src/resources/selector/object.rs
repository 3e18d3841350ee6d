//! `metav1.LabelSelector` objects inside specs (`spec.selector` of Deployments, ReplicaSets,
//! DaemonSets, StatefulSets, Jobs, PodDisruptionBudgets) and the map selectors of
//! ReplicationControllers, as stored JSON: upstream's `ValidateLabelSelector`
//! (`apimachinery/pkg/apis/meta/v1/validation`), the matching of `LabelSelectorAsSelector`
//! against a pod template's labels, and `Selector.String` (the text `kubectl get -o wide`
//! and a Scale's `status.selector` show).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::resources::validation::fields::{list_at, map_at, str_at};
use crate::resources::validation::{is_qualified_name, is_valid_label_value, validate_labels};
use crate::resources::FieldError;

/// Upstream `ValidateLabelSelector` with invalid label values refused (the selector at
/// `path`, present and not `null`).
pub fn validate(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(
        map_at(selector, &["matchLabels"]),
        &format!("{path}.matchLabels"),
    );
    for (i, expr) in list_at(selector, &["matchExpressions"]).iter().enumerate() {
        let ep = format!("{path}.matchExpressions[{i}]");
        let values = list_at(expr, &["values"]);
        match str_at(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{ep}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{ep}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{ep}.operator"),
                &json!(other),
                "not a valid selector operator",
            )),
        }
        let key = str_at(expr, &["key"]);
        for m in is_qualified_name(key) {
            errs.push(FieldError::invalid(format!("{ep}.key"), &json!(key), &m));
        }
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for m in is_valid_label_value(v) {
                errs.push(FieldError::invalid(
                    format!("{ep}.values[{j}]"),
                    &json!(v),
                    &m,
                ));
            }
        }
    }
    errs
}

/// Whether the selector has no requirement at all (`{}`), which apps/v1 refuses.
pub fn is_empty(selector: &Value) -> bool {
    map_at(selector, &["matchLabels"]).is_empty()
        && list_at(selector, &["matchExpressions"]).is_empty()
}

/// Whether `selector` selects an object with `labels` (`LabelSelectorAsSelector` then
/// `Matches`): `null` selects nothing, `{}` everything; `None` when the selector is not a
/// valid one (upstream then treats it as matching nothing, or reports it).
pub fn matches(selector: &Value, labels: &Map<String, Value>) -> Option<bool> {
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

/// Upstream `Selector.String` of `LabelSelectorAsSelector(selector)`: requirements sorted
/// by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by commas.
pub fn to_text(selector: &Value) -> String {
    let mut reqs: Vec<(String, String)> = map_at(selector, &["matchLabels"])
        .iter()
        .map(|(k, v)| (k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))))
        .collect();
    for e in list_at(selector, &["matchExpressions"]) {
        let key = str_at(e, &["key"]);
        let mut values: Vec<&str> = list_at(e, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        values.dedup();
        let text = match str_at(e, &["operator"]) {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// Upstream `labels.SelectorFromSet(map).String()`: `k=v` pairs sorted by key.
pub fn set_to_text(selector: &Map<String, Value>) -> String {
    let sorted: BTreeMap<&String, &str> = selector
        .iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or("")))
        .collect();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_and_print_as_upstream() {
        let sel = json!({"matchLabels": {"app": "web", "tier": "fe"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]},
                                 {"key": "zz", "operator": "DoesNotExist"}]});
        assert_eq!(to_text(&sel), "app=web,env in (a,b),tier=fe,!zz");
        let labels = json!({"app": "web", "tier": "fe", "env": "a"});
        assert_eq!(matches(&sel, labels.as_object().unwrap()), Some(true));
        let labels = json!({"app": "web", "tier": "fe", "env": "c"});
        assert_eq!(matches(&sel, labels.as_object().unwrap()), Some(false));
        assert_eq!(
            set_to_text(json!({"b": "2", "a": "1"}).as_object().unwrap()),
            "a=1,b=2"
        );
    }

    #[test]
    fn requirement_errors_match_upstream() {
        let sel = json!({"matchExpressions": [{"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Near"}, {"key": "bad key", "operator": "Exists"}]});
        let errs: Vec<String> = validate(&sel, "spec.selector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs[..3],
            [
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator",
            ]
        );
        assert!(errs[3]
            .starts_with("spec.selector.matchExpressions[3].key: Invalid value: \"bad key\""));
        assert_eq!(errs.len(), 4);
    }

    #[test]
    fn matching_follows_label_selector_as_selector() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object().unwrap();
        let m = |s: Value| matches(&s, labels);
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
        assert!(is_empty(&json!({})));
    }
}
