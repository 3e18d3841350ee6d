//! The cluster-wide `ClusterRoleBinding`: grants a ClusterRole everywhere. Upstream's
//! `ValidateClusterRoleBinding`: only ClusterRoles, and ServiceAccount subjects name their
//! namespace; the role reference is immutable.

use serde_json::Value;

use super::super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};
use super::{default_binding, validate_binding, validate_binding_update, Scope};

/// `clusterrolebindings` in `rbac.authorization.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: super::GROUP,
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    singular: "clusterrolebinding",
    short_names: &[],
    namespaced: false,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &ClusterRoleBindingStrategy,
    printer: &printers::rbac::CLUSTER_ROLE_BINDING_PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `ClusterRoleBinding`.
pub struct ClusterRoleBindingStrategy;

impl Strategy for ClusterRoleBindingStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(obj)
    }

    fn default(&self, obj: &mut Value) {
        default_binding(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_binding(obj, Scope::Cluster)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_binding_update(new, old, Scope::Cluster)
    }
}
