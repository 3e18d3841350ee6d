//! The `StorageClass` kind: upstream's storage validation (`pkg/apis/storage/validation`):
//! a required provisioner, and provisioner, parameters and policies fixed after creation.

use serde_json::{json, Value};

use super::validation::fields::{map_at, object_mut, str_at};
use super::validation::{
    is_qualified_name, validate_immutable, validate_object_meta, validate_object_meta_update,
    NameRule,
};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `storageclasses` in `storage.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "storage.k8s.io",
    version: "v1",
    kind: "StorageClass",
    plural: "storageclasses",
    singular: "storageclass",
    short_names: &["sc"],
    namespaced: false,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &StorageClassStrategy,
    printer: &printers::storageclass::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `StorageClass`.
pub struct StorageClassStrategy;

/// Upstream `maxProvisionerParameterSize` and `maxProvisionerParameterLen`.
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;
const MAX_PARAMETERS: usize = 512;

impl Strategy for StorageClassStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::storage::v1::StorageClass>(obj)
    }

    /// Upstream `SetDefaults_StorageClass`.
    fn default(&self, obj: &mut Value) {
        if let Some(m) = object_mut(obj, &[]) {
            super::validation::fields::default_field(m, "reclaimPolicy", json!("Delete"));
            super::validation::fields::default_field(m, "volumeBindingMode", json!("Immediate"));
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, false, NameRule::Dns1123Subdomain);
        let provisioner = str_at(obj, &["provisioner"]);
        if provisioner.is_empty() {
            errs.push(FieldError::required("provisioner", ""));
        } else {
            let lower = provisioner.to_lowercase();
            for m in is_qualified_name(&lower) {
                errs.push(FieldError::invalid("provisioner", &json!(lower), &m));
            }
        }
        let params = map_at(obj, &["parameters"]);
        if params.len() > MAX_PARAMETERS {
            errs.push(FieldError::too_long("parameters", MAX_PARAMETERS));
        } else {
            let size: usize = params
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum();
            if params.keys().any(String::is_empty) {
                errs.push(FieldError::invalid(
                    "parameters",
                    &json!(""),
                    "field can not be empty.",
                ));
            }
            if size > MAX_PARAMETERS_SIZE {
                errs.push(FieldError::too_long("parameters", MAX_PARAMETERS_SIZE));
            }
        }
        let reclaim = str_at(obj, &["reclaimPolicy"]);
        if !reclaim.is_empty() && !["Delete", "Retain"].contains(&reclaim) {
            errs.push(FieldError::not_supported(
                "reclaimPolicy",
                &json!(reclaim),
                &["Delete", "Retain"],
            ));
        }
        let mode = str_at(obj, &["volumeBindingMode"]);
        if mode.is_empty() {
            errs.push(FieldError::required("volumeBindingMode", ""));
        } else if !["Immediate", "WaitForFirstConsumer"].contains(&mode) {
            errs.push(FieldError::not_supported(
                "volumeBindingMode",
                &json!(mode),
                &["Immediate", "WaitForFirstConsumer"],
            ));
        }
        errs
    }

    /// Upstream `ValidateStorageClassUpdate`.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        if map_at(new, &["parameters"]) != map_at(old, &["parameters"]) {
            errs.push(FieldError::forbidden(
                "parameters",
                "updates to parameters are forbidden.",
            ));
        }
        for f in ["provisioner", "reclaimPolicy"] {
            if str_at(new, &[f]) != str_at(old, &[f]) {
                errs.push(FieldError::forbidden(
                    f,
                    &format!("updates to {f} are forbidden."),
                ));
            }
        }
        errs.extend(validate_immutable(
            new.get("volumeBindingMode"),
            old.get("volumeBindingMode"),
            "volumeBindingMode",
        ));
        errs.extend(self.validate(new));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc() -> Value {
        let mut s = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local-path"}, "provisioner": "bramble.io/local-path"});
        StorageClassStrategy.default(&mut s);
        s
    }

    #[test]
    fn defaults_and_required_provisioner() {
        let s = sc();
        assert_eq!(s["reclaimPolicy"], "Delete");
        assert_eq!(s["volumeBindingMode"], "Immediate");
        assert!(StorageClassStrategy.validate(&s).is_empty());
        let mut bad = s.clone();
        bad["provisioner"] = json!("");
        bad["reclaimPolicy"] = json!("Recycle");
        let errs: Vec<String> = StorageClassStrategy
            .validate(&bad)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["provisioner: Required value", "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\""]);
    }

    #[test]
    fn provisioner_and_parameters_are_fixed() {
        let old = sc();
        let mut new = sc();
        new["provisioner"] = json!("other.io/x");
        new["parameters"] = json!({"a": "b"});
        let errs: Vec<String> = StorageClassStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden."
            ]
        );
    }
}
