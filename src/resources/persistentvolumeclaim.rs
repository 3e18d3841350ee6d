//! The `PersistentVolumeClaim` kind: upstream's PVC validation, with the spec frozen after
//! creation except a bound claim's storage request (volume expansion).

use serde_json::{json, Value};

use super::persistentvolume::{
    positive_quantity, validate_access_modes, validate_class_name, VOLUME_MODES,
};
use super::quantity::Quantity;
use super::validation::fields::{at, default_field, keep_old, list_at, object_mut, str_at};
use super::validation::{validate_object_meta, validate_object_meta_update, NameRule};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `persistentvolumeclaims` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    short_names: &["pvc"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &[],
    strategy: &PersistentVolumeClaimStrategy,
    printer: &printers::persistentvolumeclaim::PRINTER,
    patch_schema: &patch_schema::PERSISTENT_VOLUME_CLAIM,
};

/// Write behaviour of `PersistentVolumeClaim`.
pub struct PersistentVolumeClaimStrategy;

fn storage_request(pvc: &Value) -> Option<Quantity> {
    let v = at(pvc, &["spec", "resources", "requests", "storage"])?;
    Quantity::parse(
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
            .as_str(),
    )
    .ok()
}

/// Upstream `ValidatePersistentVolumeClaimSpec`.
fn validate_pvc_spec(pvc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes = list_at(pvc, &["spec", "accessModes"]);
    if modes.is_empty() {
        errs.push(FieldError::required(
            "spec.accessModes",
            "at least 1 access mode is required",
        ));
    }
    errs.extend(validate_access_modes(modes, "spec.accessModes"));
    // Upstream names this path `spec.resources[storage]`.
    match at(pvc, &["spec", "resources", "requests", "storage"]) {
        None | Some(Value::Null) => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(q) => errs.extend(positive_quantity(q, "spec.resources[storage]")),
    }
    errs.extend(validate_class_name(
        str_at(pvc, &["spec", "storageClassName"]),
        "spec.storageClassName",
    ));
    let mode = str_at(pvc, &["spec", "volumeMode"]);
    if !mode.is_empty() && !VOLUME_MODES.contains(&mode) {
        errs.push(FieldError::not_supported(
            "spec.volumeMode",
            &json!(mode),
            VOLUME_MODES,
        ));
    }
    errs
}

impl Strategy for PersistentVolumeClaimStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::PersistentVolumeClaim>(obj)
    }

    /// Upstream `SetDefaults_PersistentVolumeClaim(Spec)`.
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "volumeMode", json!("Filesystem"));
        }
        if let Some(status) = object_mut(obj, &["status"]) {
            default_field(status, "phase", json!("Pending"));
        }
    }

    /// Upstream `PrepareForCreate` clears the status; defaulting makes it Pending.
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Pending"}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_pvc_spec(obj));
        errs
    }

    /// Upstream `ValidatePersistentVolumeClaimUpdate`.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_pvc_spec(new));
        let mut new_spec = at(new, &["spec"]).cloned().unwrap_or(json!({}));
        let mut old_spec = at(old, &["spec"]).cloned().unwrap_or(json!({}));
        // The binder sets volumeName once, and a class may be set on a claim that had none.
        for key in ["volumeName", "storageClassName"] {
            if str_at(&old_spec, &[key]).is_empty() {
                if let (Some(o), Some(v)) = (old_spec.as_object_mut(), new_spec.get(key)) {
                    o.insert(key.into(), v.clone());
                }
            }
        }
        // A bound claim may change its storage request: volume expansion.
        let bound = str_at(new, &["status", "phase"]) == "Bound";
        if bound {
            if let (Some(req), Some(old_req)) = (
                new_spec
                    .pointer_mut("/resources/requests")
                    .and_then(Value::as_object_mut),
                old_spec.pointer("/resources/requests/storage"),
            ) {
                req.insert("storage".into(), old_req.clone());
            }
        }
        if !same_spec(&new_spec, &old_spec) {
            errs.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests for bound claims",
            ));
        }
        // Shrinking is allowed only down to what is actually provisioned
        // (RecoverVolumeExpansionFailure).
        if let (Some(n), Some(o)) = (storage_request(new), storage_request(old)) {
            let capacity = at(old, &["status", "capacity", "storage"])
                .and_then(Value::as_str)
                .and_then(|s| Quantity::parse(s).ok());
            if n < o && n <= capacity.unwrap_or_default() {
                errs.push(FieldError::forbidden(
                    "spec.resources.requests.storage",
                    "field can not be less than status.capacity",
                ));
            }
        }
        errs
    }

    /// Upstream `PersistentVolumeClaimToSelectableFields` (the legacy `name`).
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "name").then(|| str_at(obj, &["metadata", "name"]).to_string())
    }
}

/// Semantic spec equality: quantities compare by value (`1Gi` equals `1024Mi`).
fn same_spec(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .all(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => same_spec(p, q),
                    (p, q) => super::validation::fields::same(p, q),
                })
        }
        (Value::String(x), Value::String(y)) if x != y => {
            matches!((Quantity::parse(x), Quantity::parse(y)), (Ok(p), Ok(q)) if p == q)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn pvc(size: &str) -> Value {
        let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}});
        PersistentVolumeClaimStrategy.default(&mut c);
        PersistentVolumeClaimStrategy.prepare_for_create(&mut c);
        c
    }

    #[test]
    fn defaults_and_required_fields() {
        let c = pvc("1Gi");
        assert_eq!(c["spec"]["volumeMode"], "Filesystem");
        assert_eq!(c["status"]["phase"], "Pending");
        assert!(PersistentVolumeClaimStrategy.validate(&c).is_empty());
        let mut bad = c.clone();
        bad["spec"] = json!({});
        assert_eq!(
            messages(&PersistentVolumeClaimStrategy.validate(&bad)),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
    }

    #[test]
    fn bound_claims_may_only_grow() {
        let mut old = pvc("1Gi");
        old["spec"]["volumeName"] = json!("pv1");
        old["status"] = json!({"phase": "Bound", "capacity": {"storage": "1Gi"}});
        let mut grown = old.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(PersistentVolumeClaimStrategy
            .validate_update(&grown, &old)
            .is_empty());
        let mut same = old.clone();
        same["spec"]["resources"]["requests"]["storage"] = json!("1024Mi");
        assert!(PersistentVolumeClaimStrategy
            .validate_update(&same, &old)
            .is_empty());
        let mut shrunk = old.clone();
        shrunk["spec"]["resources"]["requests"]["storage"] = json!("512Mi");
        assert_eq!(messages(&PersistentVolumeClaimStrategy.validate_update(&shrunk, &old)), vec!["spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"]);
        let mut modes = old.clone();
        modes["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert_eq!(messages(&PersistentVolumeClaimStrategy.validate_update(&modes, &old)), vec!["spec: Forbidden: spec is immutable after creation except resources.requests for bound claims"]);
    }

    #[test]
    fn pending_claims_get_volume_name_once() {
        let old = pvc("1Gi");
        let mut bound = old.clone();
        bound["spec"]["volumeName"] = json!("pv1");
        assert!(PersistentVolumeClaimStrategy
            .validate_update(&bound, &old)
            .is_empty());
        let mut resized = old.clone();
        resized["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert_eq!(
            PersistentVolumeClaimStrategy.validate_update(&resized, &old)[0].field,
            "spec"
        );
    }
}
