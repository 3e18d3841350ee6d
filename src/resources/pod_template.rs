//! What every workload kind (Deployment, ReplicaSet, DaemonSet, StatefulSet,
//! ReplicationController) shares: its pod template's defaults and validation
//! (upstream's `ValidatePodTemplateSpec` and `ValidatePodTemplateSpecForReplicaSet`, with the
//! pod's own spec rules), the selector checks of `pkg/apis/apps/validation`, int-or-percent
//! fields and the non-negative status counters.

use serde_json::{json, Value};

use super::pod::{set_pod_template_spec_defaults, validate_pod_spec};
use super::selector::object as label_selector;
use super::selector::{go_label_selector, go_string_map, invalid_shown};
use super::validation::fields::{at, int_at, is_set, map_at, object_mut, str_at};
use super::validation::{validate_annotations, validate_labels, validate_nonnegative};
use super::FieldError;

/// Upstream's message when a selector does not select its own template.
pub const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// Applies the pod defaults a template gets to `spec.template.spec` (creating it if absent,
/// as the typed decode does).
pub fn default_template(obj: &mut Value) {
    if let Some(spec) = object_mut(obj, &["spec", "template", "spec"]) {
        set_pod_template_spec_defaults(spec);
    }
}

/// Upstream `ValidatePodTemplateSpec` of the template at `obj.spec.template`: its labels and
/// annotations, then its pod spec under `spec.template.spec`.
pub fn validate_template(obj: &Value) -> Vec<FieldError> {
    let path = "spec.template";
    let null = Value::Null;
    let template = at(obj, &["spec", "template"]).unwrap_or(&null);
    let mut errs = validate_labels(
        map_at(template, &["metadata", "labels"]),
        &format!("{path}.labels"),
    );
    errs.extend(validate_annotations(
        map_at(template, &["metadata", "annotations"]),
        &format!("{path}.annotations"),
    ));
    // The pod rules name fields from `spec.`; a template's spec sits below `spec.template`.
    let as_pod = json!({"spec": template.get("spec").cloned().unwrap_or(Value::Null)});
    errs.extend(validate_pod_spec(&as_pod).into_iter().map(|mut e| {
        e.field = format!("{path}.{}", e.field);
        e
    }));
    if !super::validation::fields::list_at(template, &["spec", "ephemeralContainers"]).is_empty() {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// The template checks of a controller that keeps pods running: the selector (when it
/// selects something) matches the template's labels, the template is a valid pod template,
/// restarts are `Always` and there is no active deadline. `kind` names the controller in
/// upstream's message (`activeDeadlineSeconds in ReplicaSet is not Supported`).
pub fn validate_running_template(
    obj: &Value,
    selects: Option<bool>,
    kind: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if selects == Some(false) {
        let labels = map_at(obj, &["spec", "template", "metadata", "labels"]);
        errs.push(invalid_shown(
            "spec.template.metadata.labels",
            &go_string_map(labels),
            SELECTOR_MISMATCH,
        ));
    }
    errs.extend(validate_template(obj));
    let policy = str_at(obj, &["spec", "template", "spec", "restartPolicy"]);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            &json!(policy),
            &["Always"],
        ));
    }
    if is_set(obj, &["spec", "template", "spec", "activeDeadlineSeconds"]) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// The `spec.selector` checks of upstream's `ValidateDeploymentSpec` and
/// `ValidateReplicaSetSpec`/`ValidateStatefulSetSpec`: required, valid, not empty (`what`
/// names the kind in the message, as upstream's text does). Returns the errors and whether
/// the selector selects the template's labels (`None` when it selects everything or is
/// invalid, so no mismatch is reported).
pub fn validate_required_selector(obj: &Value, what: &str) -> (Vec<FieldError>, Option<bool>) {
    let Some(selector) = at(obj, &["spec", "selector"]).filter(|s| !s.is_null()) else {
        return (vec![FieldError::required("spec.selector", "")], None);
    };
    let mut errs = label_selector::validate(selector, "spec.selector");
    let valid = errs.is_empty();
    if label_selector::is_empty(selector) {
        errs.push(invalid_shown(
            "spec.selector",
            &go_label_selector(selector),
            &format!("empty selector is invalid for {what}"),
        ));
    }
    if !valid {
        errs.push(invalid_shown(
            "spec.selector",
            &go_label_selector(selector),
            "invalid label selector",
        ));
        return (errs, None);
    }
    // A valid selector always gives an answer.
    let selects = (!label_selector::is_empty(selector))
        .then(|| {
            let labels = map_at(obj, &["spec", "template", "metadata", "labels"]);
            label_selector::matches(selector, labels)
        })
        .flatten();
    (errs, selects)
}

/// apps/v1's rule that `spec.selector` never changes after creation.
pub fn validate_selector_unchanged(new: &Value, old: &Value) -> Vec<FieldError> {
    let (n, o) = (
        at(new, &["spec", "selector"]),
        at(old, &["spec", "selector"]),
    );
    if super::validation::fields::same(n, o) {
        return Vec::new();
    }
    let shown = n.map_or_else(|| "null".to_string(), go_label_selector);
    vec![invalid_shown(
        "spec.selector",
        &shown,
        super::validation::FIELD_IMMUTABLE,
    )]
}

/// Non-negative integer fields at `paths` (dotted, from the top of `obj`), each reported
/// as upstream's `ValidateNonnegativeField`.
pub fn nonnegative(obj: &Value, paths: &[&str]) -> Vec<FieldError> {
    paths
        .iter()
        .flat_map(|p| {
            let keys: Vec<&str> = p.split('.').collect();
            int_at(obj, &keys).map_or_else(Vec::new, |v| validate_nonnegative(v, p))
        })
        .collect()
}

/// Go's `%#v` of an `intstr.IntOrString`, as upstream's messages print one.
fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            json!(s)
        ),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.as_i64().unwrap_or(0)
        ),
    }
}

/// The value an int-or-percent stands for in upstream's `getIntOrPercentValue`: the number,
/// or the percentage's number; 0 for a malformed percentage.
pub fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => s
            .strip_suffix('%')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        Some(other) => other.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// Upstream `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent` (`limit_percent`).
pub fn validate_int_or_percent(
    v: Option<&Value>,
    path: &str,
    limit_percent: bool,
) -> Vec<FieldError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    match v {
        Value::String(s) => {
            let valid = s
                .strip_suffix('%')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !valid {
                errs.push(invalid_shown(path, &go_int_or_string(v), "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%' or '93%', regex used for validation is '[0-9]+%')"));
            } else if limit_percent && int_or_percent_value(Some(v)) > 100 {
                errs.push(invalid_shown(
                    path,
                    &go_int_or_string(v),
                    "must not be greater than 100%",
                ));
            }
        }
        other => errs.extend(validate_nonnegative(other.as_i64().unwrap_or(0), path)),
    }
    errs
}

/// Shown form of an int-or-percent for errors that print the whole value.
pub fn shown_int_or_percent(v: Option<&Value>) -> String {
    v.map_or_else(|| go_int_or_string(&json!(0)), go_int_or_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    #[test]
    fn template_defaults_leave_pod_only_fields_alone() {
        let mut obj = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}]}}}});
        default_template(&mut obj);
        let spec = &obj["spec"]["template"]["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        // Pods alone get these (from SetDefaults_Pod and admission).
        for absent in [
            "serviceAccountName",
            "tolerations",
            "priority",
            "enableServiceLinks",
        ] {
            assert!(spec.get(absent).is_none(), "{absent}");
        }
        assert!(spec["containers"][0]["resources"].get("requests").is_none());
    }

    #[test]
    fn template_errors_are_placed_under_the_template() {
        let mut obj = json!({"spec": {"template": {"metadata": {"labels": {"app": "x y"}},
            "spec": {"containers": [{"name": "a", "image": ""}], "restartPolicy": "Never",
                     "activeDeadlineSeconds": 5}}}});
        default_template(&mut obj);
        let errs = messages(&validate_running_template(&obj, Some(false), "ReplicaSet"));
        assert!(errs[0].starts_with("spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x y\"}: `selector` does not match template `labels`"), "{errs:#?}");
        for want in [
            "spec.template.spec.containers[0].image: Required value",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
        }
        assert!(errs
            .iter()
            .any(|e| e.starts_with("spec.template.labels: Invalid value: \"x y\"")));
    }

    #[test]
    fn int_or_percent_rules() {
        assert_eq!(int_or_percent_value(Some(&json!("25%"))), 25);
        assert_eq!(int_or_percent_value(Some(&json!(3))), 3);
        assert_eq!(
            messages(&validate_int_or_percent(Some(&json!("150%")), "x", true)),
            vec!["x: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"]
        );
        assert_eq!(
            messages(&validate_int_or_percent(Some(&json!(-1)), "x", true)),
            vec!["x: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert!(validate_int_or_percent(Some(&json!("abc")), "x", false)[0]
            .detail
            .contains("a valid percent string"));
    }
}
