//! The `Secret` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `secrets` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &SecretStrategy,
    printer: &printers::secret::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `Secret`.
pub struct SecretStrategy;

impl Strategy for SecretStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Secret>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
