//! `autoscaling/v1` `Scale`: the kind the scale subresource of Deployments, ReplicaSets,
//! StatefulSets and ReplicationControllers speaks. Not served as a resource of its own (it
//! is not in [`super::RESOURCES`]); the API uses this type to decode a Scale, validate it as
//! upstream's `ValidateScale` does, print it (`kubectl get --subresource=scale`) and name it
//! in errors.

use serde_json::{json, Value};

use super::validation::fields::int_at;
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `Scale` in `autoscaling/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    plural: "scale",
    singular: "scale",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &ScaleStrategy,
    printer: &printers::scale::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// How a Scale is decoded and validated.
pub struct ScaleStrategy;

impl Strategy for ScaleStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::autoscaling::v1::Scale>(obj)
    }

    /// Upstream `ValidateScale`: the requested replicas may not be negative (the name and
    /// namespace are the parent's, checked by the request path).
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        match int_at(obj, &["spec", "replicas"]) {
            Some(r) if r < 0 => vec![FieldError::invalid(
                "spec.replicas",
                &json!(r),
                "must be greater than or equal to 0",
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_replicas_are_refused() {
        let s = ScaleStrategy
            .decode(json!({"metadata": {"name": "web"}, "spec": {"replicas": -1}}))
            .unwrap()
            .object;
        let errs: Vec<String> = ScaleStrategy
            .validate(&s)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
        let ok = json!({"metadata": {"name": "web"}, "spec": {}});
        assert!(ScaleStrategy.validate(&ok).is_empty());
    }
}
