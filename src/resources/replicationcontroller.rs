//! The `ReplicationController` kind (`core/v1`): upstream's
//! `SetDefaults_ReplicationController` (selector and labels taken from the template),
//! `ValidateReplicationController` (`pkg/apis/core/validation`) and the registry strategy
//! (`pkg/registry/core/replicationcontroller`): a map selector that, unlike apps/v1's, may
//! change; status reset on create and kept on update; the scale subresource.

use serde_json::{json, Value};

use super::pod_template::{
    default_template, nonnegative, validate_running_template, SELECTOR_MISMATCH,
};
use super::selector::object as label_selector;
use super::selector::{go_string_map, invalid_shown};
use super::validation::fields::{default_field, is_set, map_at, object_mut};
use super::validation::NameRule;
use super::workload_strategy::{
    redefault_keeping_status, replicas_field_label, reset_status, validate_created,
    validate_updated, REPLICA_STATUS_COUNTS,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `replicationcontrollers` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ReplicationController",
    plural: "replicationcontrollers",
    singular: "replicationcontroller",
    short_names: &["rc"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status", "scale"],
    categories: &["all"],
    strategy: &ReplicationControllerStrategy,
    printer: &printers::replicationcontroller::PRINTER,
    patch_schema: &patch_schema::WORKLOAD,
};

/// Write behaviour of `ReplicationController`.
pub struct ReplicationControllerStrategy;

impl Strategy for ReplicationControllerStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::ReplicationController>(obj)
    }

    /// Upstream `SetDefaults_ReplicationController`, then the template's pod defaults.
    fn default(&self, obj: &mut Value) {
        let template_labels = obj
            .pointer("/spec/template/metadata/labels")
            .filter(|l| !l.is_null())
            .cloned();
        if let Some(labels) = template_labels {
            if map_at(obj, &["spec", "selector"]).is_empty() {
                if let Some(spec) = object_mut(obj, &["spec"]) {
                    spec.insert("selector".into(), labels.clone());
                }
            }
            if map_at(obj, &["metadata", "labels"]).is_empty() {
                if let Some(meta) = object_mut(obj, &["metadata"]) {
                    meta.insert("labels".into(), labels);
                }
            }
        }
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "replicas", json!(1));
        }
        if is_set(obj, &["spec", "template"]) {
            default_template(obj);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"replicas": 0}));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        redefault_keeping_status(new, old, |o| self.default(o));
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_created(obj, NameRule::Dns1123Subdomain, validate_spec)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_updated(new, old, validate_spec, REPLICA_STATUS_COUNTS)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    /// Upstream's selectable fields add `status.replicas`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        replicas_field_label(obj, field)
    }

    fn scale_selector(&self, obj: &Value) -> Option<String> {
        Some(label_selector::set_to_text(map_at(
            obj,
            &["spec", "selector"],
        )))
    }
}

/// Upstream `ValidateReplicationControllerSpec` and `ValidatePodTemplateSpecForRC`.
fn validate_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = nonnegative(obj, &["spec.minReadySeconds"]);
    let selector = map_at(obj, &["spec", "selector"]);
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    errs.extend(nonnegative(obj, &["spec.replicas"]));
    if !is_set(obj, &["spec", "template"]) {
        errs.push(FieldError::required("spec.template", ""));
        return errs;
    }
    let labels = map_at(obj, &["spec", "template", "metadata", "labels"]);
    let selects = selector
        .iter()
        .all(|(k, v)| labels.get(k).and_then(Value::as_str) == v.as_str());
    if !selector.is_empty() && !selects {
        errs.push(invalid_shown(
            "spec.template.metadata.labels",
            &go_string_map(labels),
            SELECTOR_MISMATCH,
        ));
    }
    errs.extend(validate_running_template(
        obj,
        None,
        "ReplicationController",
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn created(body: Value) -> Value {
        let mut rc = ReplicationControllerStrategy.decode(body).unwrap().object;
        ReplicationControllerStrategy.default(&mut rc);
        ReplicationControllerStrategy.prepare_for_create(&mut rc);
        rc
    }

    #[test]
    fn selector_and_labels_come_from_the_template() {
        let rc = created(json!({"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}));
        assert_eq!(rc["spec"]["selector"], json!({"app": "nginx"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "nginx"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["status"], json!({"replicas": 0}));
        assert_eq!(
            messages(&ReplicationControllerStrategy.validate(&rc)),
            Vec::<String>::new()
        );
        assert_eq!(
            ReplicationControllerStrategy.scale_selector(&rc).as_deref(),
            Some("app=nginx")
        );
        // Unlike apps/v1, the selector may change.
        let mut new = rc.clone();
        new["spec"]["selector"] = json!({"app": "nginx", "tier": "web"});
        new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("web");
        assert_eq!(
            messages(&ReplicationControllerStrategy.validate_update(&new, &rc)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn template_is_required_and_must_match() {
        let rc = created(
            json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"selector": {"app": "x"}}}),
        );
        assert_eq!(
            messages(&ReplicationControllerStrategy.validate(&rc)),
            vec!["spec.template: Required value"]
        );
        let rc = created(json!({"metadata": {"name": "x", "namespace": "default"},
            "spec": {"selector": {"app": "x"}, "template": {"metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}));
        assert_eq!(
            messages(&ReplicationControllerStrategy.validate(&rc)),
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"]
        );
    }
}
