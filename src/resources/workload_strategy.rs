//! What the registry strategies of the workload kinds (Deployment, ReplicaSet, DaemonSet,
//! StatefulSet, ReplicationController, and PodDisruptionBudget's status handling) share,
//! as upstream's `pkg/registry/apps/*` and `pkg/registry/core/replicationcontroller`
//! strategies each write it: a typed decode that keeps a missing selector missing, status
//! reset on create and kept on update (after re-defaulting), the meta/spec/status checks
//! of an update, the Scale's selector text and the `status.replicas` field label.

use serde_json::Value;

use super::pod_template::nonnegative;
use super::selector::object as label_selector;
use super::validation::fields::{at, is_set, keep_old};
use super::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use super::{typed, FieldError};

/// Decodes a workload through its typed form, keeping a missing `spec.selector` missing:
/// the typed form would turn it into `{}` (which selects everything), but upstream reports
/// it as required, or (a DaemonSet's) treats it as `LabelSelectorAsSelector(nil)`, which
/// selects nothing.
pub fn decode_keeping_selector<T>(obj: Value) -> Result<typed::Decoded, typed::DecodeError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let had_selector = is_set(&obj, &["spec", "selector"]);
    let mut decoded = typed::decode_as::<T>(obj)?;
    if !had_selector {
        if let Some(spec) = decoded
            .object
            .get_mut("spec")
            .and_then(Value::as_object_mut)
        {
            spec.remove("selector");
        }
    }
    Ok(decoded)
}

/// Upstream's `PrepareForCreate`: whatever status the client sent is replaced by `status`.
pub fn reset_status(obj: &mut Value, status: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), status);
    }
}

/// Upstream's `PrepareForUpdate` of the main resource: the status is the old one. Upstream
/// also defaults every decoded object (`default`), so a patch that drops a defaulted field
/// (an atomic list sent whole by `kubectl apply`) gets it back before validation.
pub fn redefault_keeping_status(new: &mut Value, old: &Value, default: impl Fn(&mut Value)) {
    default(new);
    keep_old(new, old, "status");
}

/// Upstream's `Validate` of a workload: object meta under `name_rule`, then the spec.
pub fn validate_created(
    obj: &Value,
    name_rule: NameRule,
    validate_spec: fn(&Value) -> Vec<FieldError>,
) -> Vec<FieldError> {
    let mut errs = validate_object_meta(obj, true, name_rule);
    errs.extend(validate_spec(obj));
    errs
}

/// Upstream's `ValidateUpdate` of a workload: object meta update, the spec, then the
/// status counters (`status_counts`) kept non-negative.
pub fn validate_updated(
    new: &Value,
    old: &Value,
    validate_spec: fn(&Value) -> Vec<FieldError>,
    status_counts: &[&str],
) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_spec(new));
    errs.extend(nonnegative(new, status_counts));
    errs
}

/// A Scale's `status.selector`: `spec.selector` as upstream's `Selector.String` prints it.
pub fn selector_text(obj: &Value) -> String {
    at(obj, &["spec", "selector"]).map_or_else(String::new, label_selector::to_text)
}

/// The `status.replicas` field label that ReplicaSets and ReplicationControllers add to
/// their selectable fields (`0` when unset).
pub fn replicas_field_label(obj: &Value, field: &str) -> Option<String> {
    (field == "status.replicas").then(|| {
        let replicas = obj.pointer("/status/replicas").and_then(Value::as_i64);
        replicas.unwrap_or(0).to_string()
    })
}

/// Status counters upstream's `ValidateReplicaSetStatus` and
/// `ValidateReplicationControllerStatus` keep non-negative (the same fields, in order).
pub const REPLICA_STATUS_COUNTS: &[&str] = &[
    "status.replicas",
    "status.fullyLabeledReplicas",
    "status.readyReplicas",
    "status.availableReplicas",
    "status.observedGeneration",
];
