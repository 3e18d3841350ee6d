//! The `Namespace` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `namespaces` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    short_names: &["ns"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status"],
    categories: &[],
    strategy: &NamespaceStrategy,
    printer: &printers::namespace::PRINTER,
    patch_schema: &patch_schema::NAMESPACE,
};

/// Write behaviour of `Namespace`.
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Namespace>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
