//! `metav1.LabelSelector` objects inside workload specs (`spec.selector` of Deployments,
//! ReplicaSets, DaemonSets, StatefulSets) and the map selectors of ReplicationControllers:
//! upstream's `ValidateLabelSelector`, `LabelSelectorAsSelector` (matching a pod template's
//! labels) and `Selector.String` (the text `kubectl get -o wide` and a Scale's
//! `status.selector` show), plus the Go `%#v` renderings upstream's error messages print.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::validation::fields::{list_at, map_at, str_at};
use super::validation::{is_qualified_name, is_valid_label_value, validate_labels};
use super::{FieldError, FieldErrorKind};

/// Upstream `ValidateLabelSelector` with invalid label values refused (apps/v1 workloads
/// validate their selectors strictly).
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

/// Whether `labels` satisfy every requirement of a valid selector (`LabelSelectorAsSelector`
/// then `Matches`).
pub fn matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let has = |k: &str| labels.contains_key(k);
    let value = |k: &str| labels.get(k).and_then(Value::as_str);
    map_at(selector, &["matchLabels"])
        .iter()
        .all(|(k, v)| value(k) == v.as_str())
        && list_at(selector, &["matchExpressions"]).iter().all(|e| {
            let key = str_at(e, &["key"]);
            let values = list_at(e, &["values"]);
            let listed =
                || value(key).is_some_and(|v| values.iter().any(|x| x.as_str() == Some(v)));
            match str_at(e, &["operator"]) {
                "In" => listed(),
                "NotIn" => !listed(),
                "Exists" => has(key),
                "DoesNotExist" => !has(key),
                _ => false,
            }
        })
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

/// A Go-quoted string, as `%q` and `%#v` print one.
fn go_quote(s: &str) -> String {
    // JSON string escaping matches Go's for the printable text labels allow.
    Value::String(s.to_string()).to_string()
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
                let values = list_at(e, &["values"]);
                let values = if values.is_empty() {
                    "[]string(nil)".to_string()
                } else {
                    let v: Vec<String> = values
                        .iter()
                        .map(|v| go_quote(v.as_str().unwrap_or("")))
                        .collect();
                    format!("[]string{{{}}}", v.join(", "))
                };
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                    go_quote(str_at(e, &["key"])),
                    go_quote(str_at(e, &["operator"]))
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
        assert!(matches(&sel, labels.as_object().unwrap()));
        let labels = json!({"app": "web", "tier": "fe", "env": "c"});
        assert!(!matches(&sel, labels.as_object().unwrap()));
        assert_eq!(
            set_to_text(json!({"b": "2", "a": "1"}).as_object().unwrap()),
            "a=1,b=2"
        );
    }

    #[test]
    fn requirement_errors_match_upstream() {
        let sel = json!({"matchExpressions": [{"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Near"}]});
        let errs: Vec<String> = validate(&sel, "spec.selector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator",
            ]
        );
    }

    #[test]
    fn go_renderings() {
        let sel = json!({"matchLabels": {"app": "web"}});
        assert_eq!(
            go_label_selector(&sel),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        assert_eq!(go_string_map(&Map::new()), "map[string]string(nil)");
    }
}
