//! A typed `metav1.LabelSelector` tested against a typed object's labels, as upstream's
//! `LabelSelectorAsSelector(...).Matches(...)`: the requirements of `matchLabels` and
//! `matchExpressions` must all hold; an empty selector matches everything, and an invalid
//! one (an unknown operator, `In` without values) matches nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector`.
pub fn matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_label
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => !values.is_empty() && value.is_some_and(|v| values.contains(v)),
                "NotIn" => !values.is_empty() && value.map_or(true, |v| !values.contains(v)),
                "Exists" => values.is_empty() && value.is_some(),
                "DoesNotExist" => values.is_empty() && value.is_none(),
                _ => false,
            }
        })
}

/// Whether the selector is empty (selects everything).
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .map_or(true, BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .map_or(true, Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect())
                .filter(|v: &Vec<_>| !v.is_empty()),
        }
    }

    #[test]
    fn labels_and_expressions_must_all_hold() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["front", "edge"]),
                expr("canary", "DoesNotExist", &[]),
            ]),
        };
        let l = labels(&[("app", "web"), ("tier", "edge")]);
        assert!(matches(&sel, Some(&l)));
        let l = labels(&[("app", "web"), ("tier", "edge"), ("canary", "1")]);
        assert!(!matches(&sel, Some(&l)));
        let l = labels(&[("app", "db"), ("tier", "edge")]);
        assert!(!matches(&sel, Some(&l)));
        assert!(!matches(&sel, None));
    }

    #[test]
    fn empty_selects_all_and_invalid_selects_nothing() {
        let all = LabelSelector::default();
        assert!(is_empty(&all) && matches(&all, None));
        let bad = LabelSelector {
            match_expressions: Some(vec![expr("a", "In", &[]), expr("b", "Near", &["x"])]),
            ..Default::default()
        };
        assert!(!is_empty(&bad));
        assert!(!matches(&bad, Some(&labels(&[("a", "x"), ("b", "x")]))));
        let not_in = LabelSelector {
            match_expressions: Some(vec![expr("a", "NotIn", &["x"])]),
            ..Default::default()
        };
        assert!(matches(&not_in, None));
        assert!(!matches(&not_in, Some(&labels(&[("a", "x")]))));
    }
}
