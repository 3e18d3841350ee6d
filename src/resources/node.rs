//! The `Node` kind.

use serde_json::Value;

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `nodes` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    short_names: &["no"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status"],
    categories: &[],
    strategy: &NodeStrategy,
    printer: &printers::node::PRINTER,
    patch_schema: &patch_schema::NODE,
};

/// Write behaviour of `Node`.
pub struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Node>(obj)
    }

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
