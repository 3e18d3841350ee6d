//! The namespaced `RoleBinding`: grants a Role of its namespace, or a ClusterRole's rules
//! within its namespace, to users, groups and service accounts. Upstream's
//! `ValidateRoleBinding` and `ValidateRoleBindingUpdate` (the role reference is immutable).

use serde_json::Value;

use super::super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};
use super::{default_binding, validate_binding, validate_binding_update, Scope};

/// `rolebindings` in `rbac.authorization.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: super::GROUP,
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    singular: "rolebinding",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &RoleBindingStrategy,
    printer: &printers::rbac::ROLE_BINDING_PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `RoleBinding`.
pub struct RoleBindingStrategy;

impl Strategy for RoleBindingStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::rbac::v1::RoleBinding>(obj)
    }

    fn default(&self, obj: &mut Value) {
        default_binding(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_binding(obj, Scope::Namespace)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_binding_update(new, old, Scope::Namespace)
    }
}
