//! The `Lease` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `leases` in `coordination.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    short_names: &[],
    namespaced: true,
    ephemeral: true,
    subresources: &[],
    categories: &[],
    strategy: &LeaseStrategy,
    printer: &printers::lease::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `Lease`.
pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::coordination::v1::Lease>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
