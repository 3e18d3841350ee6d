//! The `PersistentVolumeClaim` kind.

use serde_json::Value;

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

impl Strategy for PersistentVolumeClaimStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::PersistentVolumeClaim>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
