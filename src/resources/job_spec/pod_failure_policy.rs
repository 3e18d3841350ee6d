//! Upstream `validatePodFailurePolicy` (`pkg/apis/batch/validation/validation.go`): at most
//! 20 rules, each with a known action and exactly one of `onExitCodes` (ordered, unique exit
//! codes of named containers) and `onPodConditions`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::resources::validation::fields::{at, int_at, list_at, str_at};
use crate::resources::validation::is_qualified_name;
use crate::resources::{FieldError, FieldErrorKind};

const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
const MAX_EXIT_CODE_VALUES: usize = 255;
const MAX_POD_CONDITION_PATTERNS: usize = 20;
/// Upstream `supportedPodFailurePolicyActions`, sorted as `sets.List` returns them.
const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];

/// An `Invalid` error whose value upstream omits (`field.OmitValueType`).
fn invalid_omitted(path: String, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: path,
        detail: format!("Invalid value: {detail}"),
    }
}

/// Upstream `validatePodFailurePolicy` and its rule checks.
pub fn validate_pod_failure_policy(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules = list_at(spec, &["podFailurePolicy", "rules"]);
    if rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        errs.push(FieldError::too_many(
            format!("{path}.rules"),
            rules.len(),
            MAX_POD_FAILURE_POLICY_RULES,
        ));
    }
    let containers: BTreeSet<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| list_at(spec, &["template", "spec", k]))
        .map(|c| str_at(c, &["name"]))
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        let rp = format!("{path}.rules[{i}]");
        match str_at(rule, &["action"]) {
            "" => errs.push(FieldError::required(
                format!("{rp}.action"),
                "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            )),
            "FailIndex" if int_at(spec, &["backoffLimitPerIndex"]).is_none() => {
                errs.push(FieldError::invalid(
                    format!("{rp}.action"),
                    &json!("FailIndex"),
                    "requires the backoffLimitPerIndex to be set",
                ))
            }
            a if ACTIONS.contains(&a) => {}
            other => errs.push(FieldError::not_supported(
                format!("{rp}.action"),
                &json!(other),
                ACTIONS,
            )),
        }
        let exit_codes = at(rule, &["onExitCodes"]).filter(|v| !v.is_null());
        let conditions = list_at(rule, &["onPodConditions"]);
        if let Some(req) = exit_codes {
            errs.extend(validate_exit_codes(
                req,
                &format!("{rp}.onExitCodes"),
                &containers,
            ));
        }
        if conditions.len() > MAX_POD_CONDITION_PATTERNS {
            errs.push(FieldError::too_many(
                format!("{rp}.onPodConditions"),
                conditions.len(),
                MAX_POD_CONDITION_PATTERNS,
            ));
        }
        for (j, pattern) in conditions.iter().enumerate() {
            let pp = format!("{rp}.onPodConditions[{j}]");
            let status = str_at(pattern, &["status"]);
            if !["True", "False", "Unknown"].contains(&status) {
                errs.push(FieldError::not_supported(
                    format!("{pp}.status"),
                    &json!(status),
                    &["False", "True", "Unknown"],
                ));
            }
            let ty = str_at(pattern, &["type"]);
            for m in is_qualified_name(ty) {
                errs.push(FieldError::invalid(format!("{pp}.type"), &json!(ty), &m));
            }
        }
        match (exit_codes.is_some(), conditions.is_empty()) {
            (true, false) => errs.push(invalid_omitted(
                rp,
                "specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (false, true) => errs.push(invalid_omitted(
                rp,
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
    }
    errs
}

/// Upstream `validatePodFailurePolicyRuleOnExitCodes`.
fn validate_exit_codes(req: &Value, path: &str, containers: &BTreeSet<&str>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(name) = at(req, &["containerName"]).and_then(Value::as_str) {
        if !containers.contains(name) {
            errs.push(FieldError::invalid(
                format!("{path}.containerName"),
                &json!(name),
                "must be one of the container or initContainer names in the pod template",
            ));
        }
    }
    let operator = str_at(req, &["operator"]);
    if !["In", "NotIn"].contains(&operator) {
        errs.push(FieldError::not_supported(
            format!("{path}.operator"),
            &json!(operator),
            &["In", "NotIn"],
        ));
    }
    let values: Vec<i64> = list_at(req, &["values"])
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    if values.is_empty() {
        errs.push(FieldError::invalid(
            format!("{path}.values"),
            &json!(values),
            "at least one value is required",
        ));
    } else if values.len() > MAX_EXIT_CODE_VALUES {
        errs.push(FieldError::too_many(
            format!("{path}.values"),
            values.len(),
            MAX_EXIT_CODE_VALUES,
        ));
    }
    for (i, v) in values.iter().enumerate() {
        let vp = format!("{path}.values[{i}]");
        if operator == "In" && *v == 0 {
            errs.push(FieldError::invalid(
                &vp,
                &json!(v),
                "must not be 0 for the In operator",
            ));
        }
        if i > 0 && values[i - 1] == *v {
            errs.push(FieldError::duplicate(&vp, &json!(v)));
        } else if i > 0 && values[i - 1] > *v {
            errs.push(FieldError::invalid(&vp, &json!(v), "must be ordered"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_upstream() {
        let spec = json!({"template": {"spec": {"containers": [{"name": "main"}]}},
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": "side", "operator": "In", "values": [0, 3, 2, 2]}},
                {"action": "FailIndex", "onPodConditions": [{"type": "DisruptionTarget", "status": "Maybe"}]},
                {"action": "Retry"},
                {"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [1]},
                 "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}});
        let errs: Vec<String> = validate_pod_failure_policy(&spec, "spec.podFailurePolicy")
            .iter()
            .map(ToString::to_string)
            .collect();
        let p = "spec.podFailurePolicy.rules";
        assert_eq!(
            errs,
            vec![
                format!("{p}[0].onExitCodes.containerName: Invalid value: \"side\": must be one of the container or initContainer names in the pod template"),
                format!("{p}[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator"),
                format!("{p}[0].onExitCodes.values[2]: Invalid value: 2: must be ordered"),
                format!("{p}[0].onExitCodes.values[3]: Duplicate value: 2"),
                format!("{p}[1].action: Invalid value: \"FailIndex\": requires the backoffLimitPerIndex to be set"),
                format!("{p}[1].onPodConditions[0].status: Unsupported value: \"Maybe\": supported values: \"False\", \"True\", \"Unknown\""),
                format!("{p}[2].action: Unsupported value: \"Retry\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\""),
                format!("{p}[2]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required"),
                format!("{p}[3]: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported"),
            ]
        );
    }
}
