//! The `PodDisruptionBudget` kind (`policy/v1`): upstream's registry strategy
//! (`pkg/registry/policy/poddisruptionbudget/strategy.go`) — status kept by main updates,
//! generation bumped by spec changes — and `ValidatePodDisruptionBudgetSpec` /
//! `ValidatePodDisruptionBudgetStatusUpdate` (`pkg/apis/policy/validation/validation.go`).
//! The eviction subresource (`api/registry/eviction.rs`) reads and decrements its status.

use serde_json::{json, Value};

use super::selector::object as label_selector;
use super::validation::fields::{at, keep_old};
use super::validation::{validate_nonnegative, NameRule};
use super::workload_strategy::{reset_status, validate_created, validate_updated};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `poddisruptionbudgets` in `policy/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    short_names: &["pdb"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &[],
    strategy: &PodDisruptionBudgetStrategy,
    printer: &printers::poddisruptionbudget::PRINTER,
    patch_schema: &patch_schema::POD_DISRUPTION_BUDGET,
};

/// Upstream `supportedUnhealthyPodEvictionPolicies`, sorted.
const UNHEALTHY_POD_EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];
/// Upstream `IsValidPercent`'s message (`validation.RegexError` with its examples).
const PERCENT_ERROR: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Status counters upstream's `ValidatePodDisruptionBudgetStatusUpdate` keeps non-negative.
const STATUS_COUNTS: &[&str] = &[
    "status.disruptionsAllowed",
    "status.currentHealthy",
    "status.desiredHealthy",
    "status.expectedPods",
];

/// Write behaviour of `PodDisruptionBudget`.
pub struct PodDisruptionBudgetStrategy;

impl Strategy for PodDisruptionBudgetStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(obj)
    }

    /// Upstream `PrepareForCreate`: an empty status, whose counts Go always writes.
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(
            obj,
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        );
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_created(obj, NameRule::Dns1123Subdomain, validate_spec)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_updated(new, old, validate_spec, STATUS_COUNTS)
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

/// Upstream `ValidatePodDisruptionBudgetSpec`.
fn validate_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let min = at(obj, &["spec", "minAvailable"]).filter(|v| !v.is_null());
    let max = at(obj, &["spec", "maxUnavailable"]).filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        errs.push(FieldError::invalid(
            "spec",
            at(obj, &["spec"]).unwrap_or(&Value::Null),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (value, path) in [(min, "spec.minAvailable"), (max, "spec.maxUnavailable")] {
        if let Some(v) = value {
            errs.extend(validate_int_or_percent(v, path));
        }
    }
    if let Some(selector) = at(obj, &["spec", "selector"]).filter(|s| !s.is_null()) {
        errs.extend(label_selector::validate(selector, "spec.selector"));
    }
    if let Some(policy) = at(obj, &["spec", "unhealthyPodEvictionPolicy"]).and_then(Value::as_str) {
        if !UNHEALTHY_POD_EVICTION_POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(
                "spec.unhealthyPodEvictionPolicy",
                &json!(policy),
                UNHEALTHY_POD_EVICTION_POLICIES,
            ));
        }
    }
    errs
}

/// Upstream `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn validate_int_or_percent(v: &Value, path: &str) -> Vec<FieldError> {
    match v {
        Value::Number(n) => validate_nonnegative(n.as_i64().unwrap_or(-1), path),
        Value::String(s) => {
            let digits = s
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            match digits {
                None => vec![FieldError::invalid(path, v, PERCENT_ERROR)],
                // Digits only: an overflowing number is certainly more than 100.
                Some(d) if d.parse::<u64>().map_or(true, |p| p > 100) => {
                    vec![FieldError::invalid(
                        path,
                        v,
                        "must not be greater than 100%",
                    )]
                }
                Some(_) => Vec::new(),
            }
        }
        _ => vec![FieldError::invalid(
            path,
            v,
            "must be an integer or percentage (e.g '5%')",
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn created(spec: Value) -> Value {
        let obj = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        let mut obj = PodDisruptionBudgetStrategy.decode(obj).unwrap().object;
        PodDisruptionBudgetStrategy.prepare_for_create(&mut obj);
        obj
    }

    #[test]
    fn budgets_and_selectors_are_checked() {
        let ok =
            created(json!({"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}));
        assert_eq!(ok["status"]["disruptionsAllowed"], 0);
        assert_eq!(
            messages(&PodDisruptionBudgetStrategy.validate(&ok)),
            Vec::<String>::new()
        );
        let both = created(json!({"minAvailable": 1, "maxUnavailable": "101%"}));
        let errs = messages(&PodDisruptionBudgetStrategy.validate(&both));
        assert!(
            errs[0].starts_with("spec: Invalid value:")
                && errs[0].ends_with("minAvailable and maxUnavailable cannot be both set")
        );
        assert_eq!(
            errs[1],
            "spec.maxUnavailable: Invalid value: \"101%\": must not be greater than 100%"
        );
        let bad = created(
            json!({"maxUnavailable": "half", "unhealthyPodEvictionPolicy": "Never",
            "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}),
        );
        assert_eq!(
            messages(&PodDisruptionBudgetStrategy.validate(&bad)),
            vec![
                format!("spec.maxUnavailable: Invalid value: \"half\": {PERCENT_ERROR}"),
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string(),
                "spec.unhealthyPodEvictionPolicy: Unsupported value: \"Never\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\"".to_string(),
            ]
        );
        let negative = created(json!({"minAvailable": -1}));
        assert_eq!(
            messages(&PodDisruptionBudgetStrategy.validate(&negative)),
            vec!["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn status_is_its_own_and_never_negative() {
        let old = created(json!({"minAvailable": 1}));
        let mut new = old.clone();
        new["status"]["disruptionsAllowed"] = json!(3);
        PodDisruptionBudgetStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["disruptionsAllowed"], 0);
        let mut status = old.clone();
        status["status"]["disruptionsAllowed"] = json!(-1);
        assert_eq!(
            messages(&PodDisruptionBudgetStrategy.validate_update(&status, &old)),
            vec![
                "status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
    }
}
