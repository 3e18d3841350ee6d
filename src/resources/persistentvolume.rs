//! The `PersistentVolume` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `persistentvolumes` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    short_names: &["pv"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status"],
    categories: &[],
    strategy: &PersistentVolumeStrategy,
    printer: &printers::persistentvolume::PRINTER,
    patch_schema: &patch_schema::PERSISTENT_VOLUME,
};

/// Write behaviour of `PersistentVolume`.
pub struct PersistentVolumeStrategy;

impl Strategy for PersistentVolumeStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::PersistentVolume>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
