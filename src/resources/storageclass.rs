//! The `StorageClass` kind.

use serde_json::Value;

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

impl Strategy for StorageClassStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::storage::v1::StorageClass>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
