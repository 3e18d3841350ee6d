//! The `ControllerRevision` kind (`apps/v1`): the immutable snapshots DaemonSet and
//! StatefulSet controllers keep of their templates. Upstream's
//! `ValidateControllerRevision`/`ValidateControllerRevisionUpdate`: `data` is mandatory and
//! fixed, `revision` non-negative; no status and no generation.

use serde_json::Value;

use super::validation::fields::{at, int_at, is_set};
use super::validation::{
    validate_immutable, validate_nonnegative, validate_object_meta, validate_object_meta_update,
    NameRule,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `controllerrevisions` in `apps/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "ControllerRevision",
    plural: "controllerrevisions",
    singular: "controllerrevision",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &ControllerRevisionStrategy,
    printer: &printers::controllerrevision::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `ControllerRevision`.
pub struct ControllerRevisionStrategy;

impl Strategy for ControllerRevisionStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::apps::v1::ControllerRevision>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        if !is_set(obj, &["data"]) {
            errs.push(FieldError::required("data", "data is mandatory"));
        }
        errs.extend(validate_nonnegative(
            int_at(obj, &["revision"]).unwrap_or(0),
            "revision",
        ));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(self.validate(new));
        errs.extend(validate_immutable(
            at(new, &["data"]),
            at(old, &["data"]),
            "data",
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;
    use serde_json::json;

    #[test]
    fn data_is_mandatory_and_fixed() {
        let base = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "agent-5d8f", "namespace": "default"}, "revision": 1,
            "data": {"spec": {"template": {"metadata": {"labels": {"app": "agent"}}}}}});
        let rev = ControllerRevisionStrategy.decode(base).unwrap().object;
        assert_eq!(
            messages(&ControllerRevisionStrategy.validate(&rev)),
            Vec::<String>::new()
        );
        let mut bad = rev.clone();
        bad.as_object_mut().unwrap().remove("data");
        bad["revision"] = json!(-2);
        assert_eq!(
            messages(&ControllerRevisionStrategy.validate(&bad)),
            vec![
                "data: Required value: data is mandatory",
                "revision: Invalid value: -2: must be greater than or equal to 0"
            ]
        );
        let mut changed = rev.clone();
        changed["data"] = json!({"spec": {}});
        let errs = messages(&ControllerRevisionStrategy.validate_update(&changed, &rev));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("data: Invalid value:") && errs[0].ends_with("field is immutable")
        );
        assert!(!ControllerRevisionStrategy.tracks_generation());
    }
}
