//! The `ReplicaSet` kind (`apps/v1`): upstream's `SetDefaults_ReplicaSet`,
//! `ValidateReplicaSet`/`ValidateReplicaSetUpdate` and the registry strategy
//! (`pkg/registry/apps/replicaset`): status reset on create and kept on update, generation
//! bumped by spec changes, the selector fixed after creation, and the scale subresource.

use serde_json::{json, Value};

use super::pod_template::{
    default_template, nonnegative, validate_required_selector, validate_running_template,
    validate_selector_unchanged,
};
use super::validation::fields::{default_field, object_mut};
use super::validation::NameRule;
use super::workload_strategy::{
    decode_keeping_selector, redefault_keeping_status, replicas_field_label, reset_status,
    selector_text, validate_created, validate_updated, REPLICA_STATUS_COUNTS,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `replicasets` in `apps/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    singular: "replicaset",
    short_names: &["rs"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status", "scale"],
    categories: &["all"],
    strategy: &ReplicaSetStrategy,
    printer: &printers::replicaset::PRINTER,
    patch_schema: &patch_schema::WORKLOAD,
};

/// Write behaviour of `ReplicaSet`.
pub struct ReplicaSetStrategy;

impl Strategy for ReplicaSetStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        decode_keeping_selector::<k8s_openapi::api::apps::v1::ReplicaSet>(obj)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "replicas", json!(1));
        }
        default_template(obj);
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
        let mut errs = validate_updated(new, old, validate_spec, REPLICA_STATUS_COUNTS);
        errs.extend(validate_selector_unchanged(new, old));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    /// Upstream's selectable fields add `status.replicas`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        replicas_field_label(obj, field)
    }

    fn scale_selector(&self, obj: &Value) -> Option<String> {
        Some(selector_text(obj))
    }
}

/// Upstream `ValidateReplicaSetSpec` (whose empty-selector message names deployments).
fn validate_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = nonnegative(obj, &["spec.replicas", "spec.minReadySeconds"]);
    let (selector_errs, selects) = validate_required_selector(obj, "deployment");
    errs.extend(selector_errs);
    errs.extend(validate_running_template(obj, selects, "ReplicaSet"));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn created() -> Value {
        let body = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}});
        let mut rs = ReplicaSetStrategy.decode(body).unwrap().object;
        ReplicaSetStrategy.default(&mut rs);
        ReplicaSetStrategy.prepare_for_create(&mut rs);
        rs
    }

    #[test]
    fn defaults_and_valid_expression_selector() {
        let rs = created();
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(
            rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            messages(&ReplicaSetStrategy.validate(&rs)),
            Vec::<String>::new()
        );
        assert_eq!(
            ReplicaSetStrategy.scale_selector(&rs).as_deref(),
            Some("app in (web)")
        );
    }

    #[test]
    fn restart_policy_and_immutable_selector() {
        let old = created();
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web"}});
        new["spec"]["replicas"] = json!(3);
        assert_eq!(
            messages(&ReplicaSetStrategy.validate_update(&new, &old)),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
            ]
        );
    }
}
