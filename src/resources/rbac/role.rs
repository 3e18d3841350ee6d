//! The namespaced `Role`: policy rules that a RoleBinding grants within its namespace.
//! Upstream's `ValidateRole`: a path-segment name and rules that apply to resources only.

use serde_json::Value;

use super::super::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use super::super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};
use super::validate_rules;

/// `roles` in `rbac.authorization.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: super::GROUP,
    version: "v1",
    kind: "Role",
    plural: "roles",
    singular: "role",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &RoleStrategy,
    printer: &printers::rbac::ROLE_PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `Role`.
pub struct RoleStrategy;

impl Strategy for RoleStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::rbac::v1::Role>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::PathSegment);
        errs.extend(validate_rules(obj, true));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        errs.extend(validate_object_meta_update(new, old));
        errs
    }
}
