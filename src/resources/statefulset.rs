//! The `StatefulSet` kind (`apps/v1`): upstream's `SetDefaults_StatefulSet`,
//! `ValidateStatefulSet`/`ValidateStatefulSetUpdate` and the registry strategy
//! (`pkg/registry/apps/statefulset`). As upstream, the template's pod spec is not validated
//! here (its volume mounts may name `volumeClaimTemplates`, which only the pods get), and
//! only replicas, ordinals, template, update strategy, claim retention and
//! `minReadySeconds` may change after creation.

use serde_json::{json, Value};

use super::pod_template::{default_template, nonnegative, validate_required_selector};
use super::selector::{go_string_map, invalid_shown};
use super::validation::fields::{at, default_field, is_set, map_at, object_mut, same, str_at};
use super::validation::{
    validate_annotations, validate_labels, validate_object_meta_update, NameRule,
};
use super::workload_strategy::{
    decode_keeping_selector, redefault_keeping_status, reset_status, selector_text,
    validate_created,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `statefulsets` in `apps/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    singular: "statefulset",
    short_names: &["sts"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status", "scale"],
    categories: &["all"],
    strategy: &StatefulSetStrategy,
    printer: &printers::statefulset::PRINTER,
    patch_schema: &patch_schema::WORKLOAD,
};

/// Write behaviour of `StatefulSet`.
pub struct StatefulSetStrategy;

/// The spec fields an update may change (upstream's list, in its message's order).
const UPDATABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Status counters upstream's `ValidateStatefulSetStatus` keeps non-negative.
const STATUS_COUNTS: &[&str] = &[
    "status.replicas",
    "status.readyReplicas",
    "status.currentReplicas",
    "status.updatedReplicas",
    "status.availableReplicas",
    "status.observedGeneration",
    "status.collisionCount",
];

impl Strategy for StatefulSetStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        decode_keeping_selector::<k8s_openapi::api::apps::v1::StatefulSet>(obj)
    }

    /// Upstream `SetDefaults_StatefulSet` (with `StatefulSetAutoDeletePVC`, on in v1.32),
    /// the claim templates' `SetDefaults_PersistentVolumeClaim`, then the pod defaults.
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "podManagementPolicy", json!("OrderedReady"));
            default_field(spec, "replicas", json!(1));
            default_field(spec, "revisionHistoryLimit", json!(10));
        }
        if str_at(obj, &["spec", "updateStrategy", "type"]).is_empty() {
            if let Some(strategy) = object_mut(obj, &["spec", "updateStrategy"]) {
                strategy.insert("type".into(), json!("RollingUpdate"));
                default_field(strategy, "rollingUpdate", json!({}));
            }
        }
        if str_at(obj, &["spec", "updateStrategy", "type"]) == "RollingUpdate"
            && is_set(obj, &["spec", "updateStrategy", "rollingUpdate"])
        {
            if let Some(ru) = object_mut(obj, &["spec", "updateStrategy", "rollingUpdate"]) {
                default_field(ru, "partition", json!(0));
            }
        }
        if let Some(policy) = object_mut(obj, &["spec", "persistentVolumeClaimRetentionPolicy"]) {
            default_field(policy, "whenDeleted", json!("Retain"));
            default_field(policy, "whenScaled", json!("Retain"));
        }
        if let Some(Value::Array(claims)) = obj.pointer_mut("/spec/volumeClaimTemplates") {
            for claim in claims.iter_mut() {
                if let Some(spec) = object_mut(claim, &["spec"]) {
                    default_field(spec, "volumeMode", json!("Filesystem"));
                }
                if let Some(status) = object_mut(claim, &["status"]) {
                    default_field(status, "phase", json!("Pending"));
                }
            }
        }
        default_template(obj);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"replicas": 0, "availableReplicas": 0}));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        redefault_keeping_status(new, old, |o| self.default(o));
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_created(obj, NameRule::Dns1123Label, validate_spec)
    }

    /// Upstream `ValidateStatefulSetUpdate`: the name is not checked again.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_spec(new));
        let (n, o) = (map_at(new, &["spec"]), map_at(old, &["spec"]));
        let fixed_changed = n
            .keys()
            .chain(o.keys())
            .filter(|k| !UPDATABLE.contains(&k.as_str()))
            .any(|k| !same(n.get(k), o.get(k)));
        if fixed_changed {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        errs.extend(nonnegative(new, STATUS_COUNTS));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn scale_selector(&self, obj: &Value) -> Option<String> {
        Some(selector_text(obj))
    }
}

/// Upstream `ValidateStatefulSetSpec`.
fn validate_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match str_at(obj, &["spec", "podManagementPolicy"]) {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            "spec.podManagementPolicy",
            &json!(other),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let rolling = at(obj, &["spec", "updateStrategy", "rollingUpdate"]).filter(|v| !v.is_null());
    match str_at(obj, &["spec", "updateStrategy", "type"]) {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" if rolling.is_some() => errs.push(FieldError::invalid(
            "spec.updateStrategy.rollingUpdate",
            rolling.unwrap_or(&Value::Null),
            "only allowed for updateStrategy 'RollingUpdate'",
        )),
        "OnDelete" => {}
        "RollingUpdate" => errs.extend(nonnegative(
            obj,
            &["spec.updateStrategy.rollingUpdate.partition"],
        )),
        _ => errs.push(FieldError::invalid(
            "spec.updateStrategy",
            at(obj, &["spec", "updateStrategy"]).unwrap_or(&Value::Null),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    for when in ["whenDeleted", "whenScaled"] {
        let path = ["spec", "persistentVolumeClaimRetentionPolicy", when];
        if !is_set(obj, &path[..2]) {
            continue;
        }
        let v = str_at(obj, &path);
        if !["Retain", "Delete"].contains(&v) {
            errs.push(FieldError::not_supported(
                format!("spec.persistentVolumeClaimRetentionPolicy.{when}"),
                &json!(v),
                &["Retain", "Delete"],
            ));
        }
    }
    errs.extend(nonnegative(obj, &["spec.replicas", "spec.minReadySeconds"]));
    if let Some(start) = super::validation::fields::int_at(obj, &["spec", "ordinals", "start"]) {
        errs.extend(super::validation::validate_nonnegative(
            start,
            "spec.ordinals.start",
        ));
    }
    let (selector_errs, selects) = validate_required_selector(obj, "statefulset");
    errs.extend(selector_errs);
    // Upstream `ValidatePodTemplateSpecForStatefulSet`.
    let template = at(obj, &["spec", "template"]).unwrap_or(&Value::Null);
    let labels = map_at(template, &["metadata", "labels"]);
    if selects == Some(false) {
        errs.push(invalid_shown(
            "spec.template.metadata.labels",
            &go_string_map(labels),
            super::pod_template::SELECTOR_MISMATCH,
        ));
    }
    errs.extend(validate_labels(labels, "spec.template.labels"));
    errs.extend(validate_annotations(
        map_at(template, &["metadata", "annotations"]),
        "spec.template.annotations",
    ));
    let policy = str_at(template, &["spec", "restartPolicy"]);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            &json!(policy),
            &["Always"],
        ));
    }
    if is_set(template, &["spec", "activeDeadlineSeconds"]) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn created() -> Value {
        let body = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "redis:7",
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
        let mut sts = StatefulSetStrategy.decode(body).unwrap().object;
        StatefulSetStrategy.default(&mut sts);
        StatefulSetStrategy.prepare_for_create(&mut sts);
        sts
    }

    #[test]
    fn defaults_follow_upstream() {
        let sts = created();
        assert_eq!(
            messages(&StatefulSetStrategy.validate(&sts)),
            Vec::<String>::new()
        );
        let spec = &sts["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            spec["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(
            spec["volumeClaimTemplates"][0]["status"]["phase"],
            "Pending"
        );
    }

    #[test]
    fn only_some_spec_fields_may_change() {
        let old = created();
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("redis:7.2");
        assert_eq!(
            messages(&StatefulSetStrategy.validate_update(&new, &old)),
            Vec::<String>::new()
        );
        new["spec"]["serviceName"] = json!("other");
        assert_eq!(
            messages(&StatefulSetStrategy.validate_update(&new, &old)),
            vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]
        );
    }

    #[test]
    fn names_are_labels_and_policies_are_checked() {
        let mut sts = created();
        sts["metadata"]["name"] = json!("db.one");
        sts["spec"]["podManagementPolicy"] = json!("Random");
        let errs = messages(&StatefulSetStrategy.validate(&sts));
        assert_eq!(
            errs[0],
            "metadata.name: Invalid value: \"db.one\": must not contain dots"
        );
        assert_eq!(errs[1], "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'");
    }
}
