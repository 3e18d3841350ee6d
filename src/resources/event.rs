//! The `Event` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `events` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    namespaced: true,
    ephemeral: true,
    subresources: &[],
    categories: &[],
    strategy: &EventStrategy,
    printer: &printers::event::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `Event`.
pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Event>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
