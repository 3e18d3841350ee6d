//! The `Pod` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `pods` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status", "binding"],
    categories: &["all"],
    strategy: &PodStrategy,
    printer: &printers::pod::PRINTER,
    patch_schema: &patch_schema::POD,
};

/// Write behaviour of `Pod`.
pub struct PodStrategy;

impl Strategy for PodStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Pod>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
