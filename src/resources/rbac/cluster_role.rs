//! The cluster-wide `ClusterRole`: policy rules, non-resource URLs allowed, and an optional
//! `aggregationRule` whose label selectors pick the ClusterRoles the aggregation controller
//! (`controllers::clusterrole_aggregation`) copies rules from. Upstream's
//! `ValidateClusterRole` plus the selectors' `ValidateLabelSelector`.

use serde_json::Value;

use super::super::selector;
use super::super::validation::fields::{at, list_at};
use super::super::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use super::super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};
use super::validate_rules;

/// `clusterroles` in `rbac.authorization.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: super::GROUP,
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    singular: "clusterrole",
    short_names: &[],
    namespaced: false,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &ClusterRoleStrategy,
    printer: &printers::rbac::ROLE_PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `ClusterRole`.
pub struct ClusterRoleStrategy;

impl Strategy for ClusterRoleStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::rbac::v1::ClusterRole>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, false, NameRule::PathSegment);
        errs.extend(validate_rules(obj, false));
        if at(obj, &["aggregationRule"]).is_some_and(|r| !r.is_null()) {
            let selectors = list_at(obj, &["aggregationRule", "clusterRoleSelectors"]);
            if selectors.is_empty() {
                errs.push(FieldError::required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, s) in selectors.iter().enumerate() {
                errs.extend(selector::object::validate(
                    s,
                    &format!("aggregationRule.clusterRoleSelectors[{i}]"),
                ));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        errs.extend(validate_object_meta_update(new, old));
        errs
    }
}
