//! The `Service` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `services` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    singular: "service",
    short_names: &["svc"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &["all"],
    strategy: &ServiceStrategy,
    printer: &printers::service::PRINTER,
    patch_schema: &patch_schema::SERVICE,
};

/// Write behaviour of `Service`.
pub struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Service>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
