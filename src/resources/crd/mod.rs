//! The `CustomResourceDefinition` kind (`apiextensions.k8s.io/v1`): upstream's strategy for
//! CRDs. A new CRD gets the cleanup finalizer (its custom resources go before it does) and
//! no status; the conditions and accepted names are the CRD controller's to write.

mod validation;

use serde_json::{json, Value};

use super::validation::fields::object_mut;
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `customresourcedefinitions` in `apiextensions.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    short_names: &["crd", "crds"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status"],
    categories: &["api-extensions"],
    strategy: &CrdStrategy,
    printer: &printers::crd::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// The finalizer that holds a deleted CRD until its custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Write behaviour of `CustomResourceDefinition`.
pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(obj)
    }

    /// Upstream `SetDefaults_CustomResourceDefinitionSpec`.
    fn default(&self, obj: &mut Value) {
        let kind = obj
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(names) = object_mut(obj, &["spec", "names"]) {
            if !kind.is_empty() {
                names
                    .entry("singular")
                    .or_insert_with(|| json!(kind.to_lowercase()));
                names
                    .entry("listKind")
                    .or_insert_with(|| json!(format!("{kind}List")));
            }
        }
        if let Some(spec) = object_mut(obj, &["spec"]) {
            spec.entry("conversion")
                .or_insert_with(|| json!({"strategy": "None"}));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "status".into(),
                json!({"conditions": [], "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []}),
            );
        }
        let meta = super::meta::meta_mut(obj);
        let finalizers = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = finalizers.as_array_mut() {
            if !list.iter().any(|f| f == CLEANUP_FINALIZER) {
                list.push(json!(CLEANUP_FINALIZER));
            }
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        super::validation::fields::keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validation::validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validation::validate_update(new, old)
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}
