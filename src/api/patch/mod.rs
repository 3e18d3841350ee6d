//! Patch formats: JSON merge patch, JSON patch and strategic merge patch.
//!
//! `PATCH` requests name their format in `Content-Type`, exactly as upstream's
//! `k8s.io/apiserver/pkg/endpoints/handlers/patch.go` expects. [`apply`] turns the stored
//! object and the request body into the patched object's JSON; the caller then decodes it into
//! the kind, validates and stores it. Errors carry the HTTP status upstream answers with (see
//! [`PatchError`]). No input can make these functions panic: bodies are parsed with
//! serde_json's nesting limit, and every step returns an error instead.
//!
//! The result of a merge patch may be a list (an array body replaces the document, as
//! upstream's library does); upstream then fails decoding it into the kind with a 422
//! `Invalid` on field `patch`, which is the caller's decoding step.

mod error;
mod go_format;
mod json_patch;
mod merge_patch;
mod strategic;
mod strategic_list;
mod strategic_order;
#[cfg(test)]
mod strategic_tests;

use serde_json::Value;

pub use error::PatchError;
pub use json_patch::{MAX_COPY_BYTES, MAX_OPERATIONS};

use crate::resources::PatchSchema;

pub use crate::client::options::PatchType;

/// Applies `patch` (the request body) to `original` (the stored object's JSON). `schema`
/// tells a strategic merge patch how the kind's lists merge; the other formats ignore it.
pub fn apply(
    patch_type: PatchType,
    schema: &PatchSchema,
    original: &Value,
    patch: &[u8],
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => json_patch::apply(original, patch),
        PatchType::Merge => merge_patch::apply(original, patch),
        PatchType::StrategicMerge => strategic::apply(schema, original, patch),
        // an apply is merged by the field manager (`api::field_manager::apply`), which
        // needs the manager and the object's managed fields, not by this function
        PatchType::Apply => Err(PatchError::BadRequest(
            "an apply patch is merged by the field manager".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::patch_schema;
    use serde_json::json;

    #[test]
    fn content_types_select_the_format() {
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json"),
            Some(PatchType::StrategicMerge)
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("Application/JSON-Patch+JSON"),
            Some(PatchType::Json)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type(""), None);
    }

    #[test]
    fn formats_differ_on_merge_lists() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let body = br#"{"spec": {"containers": [{"name": "b", "image": "y"}]}}"#;
        let merged = apply(PatchType::StrategicMerge, &patch_schema::POD, &pod, body).unwrap();
        assert_eq!(
            merged["spec"]["containers"].as_array().map(Vec::len),
            Some(2)
        );
        let replaced = apply(PatchType::Merge, &patch_schema::POD, &pod, body).unwrap();
        assert_eq!(
            replaced["spec"]["containers"].as_array().map(Vec::len),
            Some(1)
        );
        let ops = br#"[{"op": "replace", "path": "/spec/containers/0/image", "value": "z"}]"#;
        let patched = apply(PatchType::Json, &patch_schema::POD, &pod, ops).unwrap();
        assert_eq!(patched["spec"]["containers"][0]["image"], "z");
    }
}
