//! The `Lease` kind (`coordination.k8s.io/v1`): upstream's `ValidateLease`.

use serde_json::{json, Value};

use super::validation::fields::int_at;
use super::validation::{
    validate_nonnegative, validate_object_meta, validate_object_meta_update, NameRule,
};

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

/// Upstream `ValidateLeaseSpec`: a positive duration, non-negative transitions.
fn validate_lease_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(d) = int_at(obj, &["spec", "leaseDurationSeconds"]) {
        if d <= 0 {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                &json!(d),
                "must be greater than 0",
            ));
        }
    }
    if let Some(t) = int_at(obj, &["spec", "leaseTransitions"]) {
        errs.extend(validate_nonnegative(t, "spec.leaseTransitions"));
    }
    errs
}

impl Strategy for LeaseStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::coordination::v1::Lease>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_lease_spec(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_lease_spec(new));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lease_validates() {
        let lease = json!({"metadata": {"name": "pi-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "pi-1", "leaseDurationSeconds": 40}});
        assert!(LeaseStrategy.validate(&lease).is_empty());
        let bad = json!({"metadata": {"name": "pi-1", "namespace": "kube-node-lease"}, "spec": {"leaseDurationSeconds": 0}});
        assert_eq!(
            LeaseStrategy.validate(&bad)[0].to_string(),
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
        );
    }
}
