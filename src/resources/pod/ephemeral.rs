//! Ephemeral containers: upstream's `validateEphemeralContainers` (part of every pod spec's
//! validation), the `ephemeralcontainers` subresource's strategy
//! (`podEphemeralContainersStrategy` in `pkg/registry/core/pod/strategy.go`: only
//! `spec.ephemeralContainers` changes there) and `ValidatePodEphemeralContainersUpdate`
//! (existing ephemeral containers are never removed or changed), plus `ValidatePodCreate`'s
//! refusal of ephemeral containers in a new pod.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::spec::validate_container;
use super::update::field_diff;
use crate::resources::validation::fields::{at, list_at, same, str_at};
use crate::resources::FieldError;

/// Upstream's message for a field `allowedEphemeralContainerFields` leaves out.
const NOT_FOR_EPHEMERAL: &str = "cannot be set for an Ephemeral Container";

/// The container fields an ephemeral container may not set, in the order of upstream's
/// `EphemeralContainerCommon` struct (its allow-list names every other field).
const FORBIDDEN_FIELDS: &[&str] = &[
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

/// Annotation of a node's mirror of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Upstream `validateEphemeralContainers`: each ephemeral container is a valid container,
/// named uniquely across every container of the pod, targeting a regular or init container,
/// without the fields that would make it part of the workload.
pub(super) fn validate_ephemeral_containers(
    spec: &Value,
    volumes: &BTreeSet<String>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ephemeral = list_at(spec, &["ephemeralContainers"]);
    if ephemeral.is_empty() {
        return errs;
    }
    let others: BTreeSet<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| list_at(spec, &[k]))
        .map(|c| str_at(c, &["name"]))
        .collect();
    let mut all = others.clone();
    for (i, c) in ephemeral.iter().enumerate() {
        let path = format!("spec.ephemeralContainers[{i}]");
        errs.extend(validate_container(c, volumes, &path));
        let image = str_at(c, &["image"]);
        if image.trim() != image {
            errs.push(FieldError::invalid(
                format!("{path}.image"),
                &json!(image),
                "must not have leading or trailing whitespace",
            ));
        }
        let name = str_at(c, &["name"]);
        if !all.insert(name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
        }
        let target = str_at(c, &["targetContainerName"]);
        if !target.is_empty() && !others.contains(target) {
            errs.push(FieldError::not_found(
                format!("{path}.targetContainerName"),
                &json!(target),
            ));
        }
        for field in FORBIDDEN_FIELDS {
            if !same(c.get(*field), None) {
                errs.push(FieldError::forbidden(
                    format!("{path}.{field}"),
                    NOT_FOR_EPHEMERAL,
                ));
            }
        }
        // Subpaths are bind mounts that outlive the container, and mark it as part of the
        // workload: upstream refuses both forms.
        for (j, m) in list_at(c, &["volumeMounts"]).iter().enumerate() {
            for field in ["subPath", "subPathExpr"] {
                if !str_at(m, &[field]).is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{path}.volumeMounts[{j}].{field}"),
                        NOT_FOR_EPHEMERAL,
                    ));
                }
            }
        }
    }
    errs
}

/// Upstream `ValidatePodCreate`: a new pod has no ephemeral containers.
pub(super) fn validate_create(pod: &Value) -> Vec<FieldError> {
    if list_at(pod, &["spec", "ephemeralContainers"]).is_empty() {
        Vec::new()
    } else {
        vec![FieldError::forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        )]
    }
}

/// Upstream `dropNonEphemeralContainerUpdates`: the stored pod with the request's
/// `spec.ephemeralContainers`, defaulted; every other change of the request is dropped.
pub(super) fn keep_only_ephemeral_containers(new: &mut Value, old: &Value) {
    let requested = at(new, &["spec", "ephemeralContainers"]).cloned();
    let mut next = old.clone();
    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
        match requested.filter(|v| !v.is_null()) {
            Some(list) => {
                spec.insert("ephemeralContainers".into(), list);
                super::defaults::set_ephemeral_container_defaults(spec);
            }
            None => {
                spec.remove("ephemeralContainers");
            }
        }
    }
    *new = next;
}

/// Upstream's refusal of ephemeral containers in a node's mirror of a static pod (the
/// only error such an update gets).
pub(super) fn mirror_refusal(old: &Value) -> Option<FieldError> {
    at(old, &["metadata", "annotations", MIRROR_ANNOTATION])
        .map(|_| FieldError::forbidden("", "static pods do not support ephemeral containers"))
}

/// Upstream `ValidatePodEphemeralContainersUpdate`'s own rule (after the pod's metadata
/// and spec validation): every existing ephemeral container is still there, unchanged.
/// They are matched by name, since a patch need not keep their order.
pub(super) fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let new_list = list_at(new, &["spec", "ephemeralContainers"]);
    let mut errs = Vec::new();
    for before in list_at(old, &["spec", "ephemeralContainers"]) {
        let name = str_at(before, &["name"]);
        let after = new_list.iter().find(|c| str_at(c, &["name"]) == name);
        match after {
            None => errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers {name:?} may not be removed\n"),
            )),
            Some(after) if !same_container(before, after) => {
                let empty = Map::new();
                let (b, a) = (
                    before.as_object().unwrap_or(&empty),
                    after.as_object().unwrap_or(&empty),
                );
                errs.push(FieldError::forbidden(
                    "spec.ephemeralContainers",
                    &format!(
                        "existing ephemeral containers {name:?} may not be changed\n{}",
                        field_diff("core.EphemeralContainer", b, a)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    errs
}

/// Semantic equality of two containers: unset, null and empty fields are the same.
fn same_container(a: &Value, b: &Value) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => a.keys().chain(b.keys()).all(|k| same(a.get(k), b.get(k))),
        _ => a == b,
    }
}

#[cfg(test)]
#[path = "ephemeral_tests.rs"]
mod tests;
