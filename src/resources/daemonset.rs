//! The `DaemonSet` kind (`apps/v1`): upstream's `SetDefaults_DaemonSet`,
//! `ValidateDaemonSet`/`ValidateDaemonSetUpdate` and the registry strategy
//! (`pkg/registry/apps/daemonset`): status reset on create and kept on update, generation
//! bumped by spec changes, the selector fixed after creation, and the template generation
//! kept in the `deprecated.daemonset.template.generation` annotation as apps/v1 shows it.

use serde_json::{json, Value};

use super::pod_template::{
    default_template, int_or_percent_value, nonnegative, shown_int_or_percent,
    validate_int_or_percent, validate_running_template, validate_selector_unchanged,
};
use super::selector::object as label_selector;
use super::selector::{go_label_selector, invalid_shown};
use super::validation::fields::{at, default_field, object_mut, same, str_at};
use super::validation::NameRule;
use super::workload_strategy::{
    decode_keeping_selector, redefault_keeping_status, reset_status, validate_created,
    validate_updated,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `daemonsets` in `apps/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    singular: "daemonset",
    short_names: &["ds"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &["all"],
    strategy: &DaemonSetStrategy,
    printer: &printers::daemonset::PRINTER,
    patch_schema: &patch_schema::WORKLOAD,
};

/// Write behaviour of `DaemonSet`.
pub struct DaemonSetStrategy;

/// Where apps/v1 keeps the internal `spec.templateGeneration`.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Status counters upstream's `validateDaemonSetStatus` keeps non-negative.
const STATUS_COUNTS: &[&str] = &[
    "status.currentNumberScheduled",
    "status.numberMisscheduled",
    "status.desiredNumberScheduled",
    "status.numberReady",
    "status.observedGeneration",
    "status.updatedNumberScheduled",
    "status.numberAvailable",
    "status.numberUnavailable",
    "status.collisionCount",
];

fn template_generation(obj: &Value) -> i64 {
    str_at(obj, &["metadata", "annotations", TEMPLATE_GENERATION])
        .parse()
        .unwrap_or(0)
}

fn set_template_generation(obj: &mut Value, generation: i64) {
    if let Some(a) = object_mut(obj, &["metadata", "annotations"]) {
        a.insert(TEMPLATE_GENERATION.into(), json!(generation.to_string()));
    }
}

impl Strategy for DaemonSetStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        decode_keeping_selector::<k8s_openapi::api::apps::v1::DaemonSet>(obj)
    }

    /// Upstream `SetDefaults_DaemonSet`, then the template's pod defaults.
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "revisionHistoryLimit", json!(10));
        }
        if let Some(strategy) = object_mut(obj, &["spec", "updateStrategy"]) {
            default_field(strategy, "type", json!("RollingUpdate"));
        }
        if str_at(obj, &["spec", "updateStrategy", "type"]) == "RollingUpdate" {
            if let Some(ru) = object_mut(obj, &["spec", "updateStrategy", "rollingUpdate"]) {
                default_field(ru, "maxUnavailable", json!(1));
                default_field(ru, "maxSurge", json!(0));
            }
        }
        default_template(obj);
    }

    /// Upstream `daemonSetStrategy.PrepareForCreate`: no status, template generation 1.
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(
            obj,
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
                   "desiredNumberScheduled": 0, "numberReady": 0}),
        );
        if template_generation(obj) < 1 {
            set_template_generation(obj, 1);
        }
    }

    /// Upstream `daemonSetStrategy.PrepareForUpdate`: status kept, template generation
    /// bumped when the template changes. Upstream defaults every decoded object, so a patch
    /// that drops a defaulted field gets it back before validation.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        redefault_keeping_status(new, old, |o| self.default(o));
        let old_generation = template_generation(old);
        let changed = !same(
            at(new, &["spec", "template"]),
            at(old, &["spec", "template"]),
        );
        let generation = if changed {
            old_generation.saturating_add(1)
        } else {
            old_generation
        };
        set_template_generation(new, generation);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_created(obj, NameRule::Dns1123Subdomain, validate_spec)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_updated(new, old, validate_spec, STATUS_COUNTS);
        errs.extend(validate_selector_unchanged(new, old));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

/// Upstream `ValidateDaemonSetSpec`.
fn validate_spec(obj: &Value) -> Vec<FieldError> {
    let selector = at(obj, &["spec", "selector"]).filter(|s| !s.is_null());
    let mut errs = selector.map_or_else(Vec::new, |s| label_selector::validate(s, "spec.selector"));
    let labels =
        super::validation::fields::map_at(obj, &["spec", "template", "metadata", "labels"]);
    let selects = match selector {
        None => Some(false),
        Some(_) if !errs.is_empty() => None,
        // A valid selector always gives an answer.
        Some(s) => label_selector::matches(s, labels),
    };
    if let Some(s) = selector.filter(|s| label_selector::is_empty(s)) {
        errs.push(invalid_shown(
            "spec.selector",
            &go_label_selector(s),
            "empty selector is invalid for daemonset",
        ));
    }
    errs.extend(validate_running_template(obj, selects, "DaemonSet"));
    errs.extend(nonnegative(obj, &["spec.minReadySeconds"]));
    errs.extend(validate_update_strategy(obj));
    errs.extend(nonnegative(obj, &["spec.revisionHistoryLimit"]));
    errs
}

/// Upstream `ValidateDaemonSetUpdateStrategy` and `ValidateRollingUpdateDaemonSet`.
fn validate_update_strategy(obj: &Value) -> Vec<FieldError> {
    let path = "spec.updateStrategy";
    let mut errs = Vec::new();
    match str_at(obj, &["spec", "updateStrategy", "type"]) {
        "OnDelete" => {}
        "RollingUpdate" => {
            let Some(ru) = at(obj, &["spec", "updateStrategy", "rollingUpdate"])
                .filter(|v| !v.is_null())
            else {
                errs.push(FieldError::required(format!("{path}.rollingUpdate"), ""));
                return errs;
            };
            let rp = format!("{path}.rollingUpdate");
            let unavailable = ru.get("maxUnavailable");
            let surge = ru.get("maxSurge");
            errs.extend(validate_int_or_percent(unavailable, &format!("{rp}.maxUnavailable"), true));
            errs.extend(validate_int_or_percent(surge, &format!("{rp}.maxSurge"), true));
            let has_unavailable = int_or_percent_value(unavailable) != 0;
            let has_surge = int_or_percent_value(surge) != 0;
            if has_unavailable && has_surge {
                errs.push(invalid_shown(
                    format!("{rp}.maxSurge"),
                    &shown_int_or_percent(surge),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errs.push(FieldError::required(
                    format!("{rp}.maxUnavailable"),
                    "cannot be 0 when maxSurge is 0",
                ));
            }
        }
        other => errs.push(FieldError {
            kind: super::FieldErrorKind::NotSupported,
            field: path.into(),
            detail: format!(
                "Unsupported value: apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}: supported values: \"RollingUpdate\", \"OnDelete\"",
                json!(other)
            ),
        }),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn created() -> Value {
        let body = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}},
                    "spec": {"nodeSelector": {"disk": "ssd"},
                             "containers": [{"name": "a", "image": "busybox:1.36"}]}}}});
        let mut ds = DaemonSetStrategy.decode(body).unwrap().object;
        DaemonSetStrategy.default(&mut ds);
        DaemonSetStrategy.prepare_for_create(&mut ds);
        ds
    }

    #[test]
    fn defaults_and_template_generation() {
        let ds = created();
        assert_eq!(
            messages(&DaemonSetStrategy.validate(&ds)),
            Vec::<String>::new()
        );
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(ds["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut new = ds.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:1.37");
        DaemonSetStrategy.prepare_for_update(&mut new, &ds);
        assert_eq!(new["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
        let mut same_template = ds.clone();
        DaemonSetStrategy.prepare_for_update(&mut same_template, &ds);
        assert_eq!(
            same_template["metadata"]["annotations"][TEMPLATE_GENERATION],
            "1"
        );
    }

    #[test]
    fn missing_selector_selects_nothing_and_surge_rules() {
        let mut ds = created();
        ds["spec"].as_object_mut().unwrap().remove("selector");
        ds["spec"]["updateStrategy"]["rollingUpdate"] =
            json!({"maxUnavailable": 1, "maxSurge": "10%"});
        let ds = DaemonSetStrategy.decode(ds).unwrap().object;
        assert_eq!(
            messages(&DaemonSetStrategy.validate(&ds)),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"agent\"}: `selector` does not match template `labels`",
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"10%\"}: may not be set when maxUnavailable is non-zero",
            ]
        );
    }
}
