//! The `ConfigMap` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `configmaps` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    short_names: &["cm"],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &ConfigMapStrategy,
    printer: &printers::configmap::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `ConfigMap`.
pub struct ConfigMapStrategy;

impl Strategy for ConfigMapStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::ConfigMap>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
