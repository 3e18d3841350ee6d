//! The `scale` subresource, as upstream's `ScaleREST` for deployments, replicasets,
//! statefulsets and replicationcontrollers: an `autoscaling/v1` Scale read from the parent
//! (`spec.replicas`, `status.replicas`, `status.selector` as label selector text), and
//! writes (PUT, or a patch applied to that Scale) that change only the parent's
//! `spec.replicas` through the parent's own update path, with the Scale's `resourceVersion`
//! and `uid` as preconditions.

use serde_json::{json, Map, Value};

use super::{meta, FieldValidation, Registry, WriteOptions};
use crate::api::patch::{self, PatchType};
use crate::api::status::{qualified, ApiError};
use crate::resources::{patch_schema, scale, ResourceType};

/// A Scale and the warnings its write produced.
pub struct ScaleAnswer {
    /// The `autoscaling/v1` Scale.
    pub scale: Value,
    /// `Warning` headers (unknown fields of the request).
    pub warnings: Vec<String>,
}

/// The Scale of `obj`, a stored object of a scalable kind.
pub fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or_default();
    let mut metadata = Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(key) {
            metadata.insert(key.into(), v.clone());
        }
    }
    let (spec_at, status_at) = rt.strategy.replicas_pointers();
    let replicas = obj.pointer(spec_at).and_then(Value::as_i64).unwrap_or(0);
    // `ScaleSpec.replicas` is omitted when zero, `ScaleStatus.replicas` never.
    let spec = if replicas == 0 {
        json!({})
    } else {
        json!({"replicas": replicas})
    };
    let mut status =
        json!({"replicas": obj.pointer(status_at).and_then(Value::as_i64).unwrap_or(0)});
    let selector = rt.strategy.scale_selector(obj).unwrap_or_default();
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata, "spec": spec, "status": status})
}

/// Writes `value` at `pointer` (member steps only), making the objects on the way.
fn set_at(obj: &mut Value, pointer: &str, value: Value) {
    let mut steps: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some(last) = steps.pop() else { return };
    let mut at = obj;
    for s in steps {
        let Some(m) = at.as_object_mut() else { return };
        at = m.entry(s).or_insert_with(|| json!({}));
    }
    if let Some(m) = at.as_object_mut() {
        m.insert(last, value);
    }
}

/// Normalises a Scale through its typed form, as a request body or a patch result.
fn decode_scale(
    body: Value,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    for (field, want) in [("apiVersion", "autoscaling/v1"), ("kind", "Scale")] {
        match body.get(field).and_then(Value::as_str) {
            Some(v) if v != want => {
                return Err(ApiError::bad_request(format!(
                    "the {field} in the data ({v}) does not match the expected {field} ({want})"
                )))
            }
            _ => {}
        }
    }
    let decoded = scale::RESOURCE
        .strategy
        .decode(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let unknown: Vec<String> = decoded
        .unknown_fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match validation {
        FieldValidation::Strict if !unknown.is_empty() => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            unknown.join(", ")
        ))),
        FieldValidation::Warn => Ok((decoded.object, unknown)),
        _ => Ok((decoded.object, Vec::new())),
    }
}

/// The parent as the Scale `scale` makes it: upstream's `scaleUpdatedObjectInfo`.
fn apply_scale(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    scale: &Value,
) -> Result<Value, ApiError> {
    let scale_name = meta::name_of(scale);
    if scale_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({scale_name}) does not match the name on the URL ({name})"
        )));
    }
    let errs = scale::RESOURCE.strategy.validate(scale);
    if !errs.is_empty() {
        return Err(ApiError::invalid(&scale::RESOURCE, name, &errs));
    }
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let uid = meta::meta_str(scale, "uid").unwrap_or("");
    let current_uid = meta::meta_str(current, "uid").unwrap_or("");
    if !uid.is_empty() && uid != current_uid {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {}/scale \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {current_uid}",
                qualified(rt)
            ),
        ));
    }
    let mut parent = current.clone();
    set_at(
        &mut parent,
        rt.strategy.replicas_pointers().0,
        json!(replicas),
    );
    // The Scale's resourceVersion (if any) becomes the update's precondition.
    if let Some(rv) = meta::meta_str(scale, "resourceVersion").filter(|rv| !rv.is_empty()) {
        let rv = rv.to_string();
        meta::meta_mut(&mut parent).insert("resourceVersion".into(), json!(rv));
    }
    Ok(parent)
}

impl Registry {
    /// GET `.../{name}/scale`.
    pub fn get_scale(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.get(rt, namespace, name).map(|obj| scale_of(rt, &obj))
    }

    /// PUT `.../{name}/scale`.
    pub async fn update_scale(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<ScaleAnswer, ApiError> {
        let (scale, warnings) = decode_scale(body, opts.field_validation)?;
        if let Some(ns) = meta::meta_str(&scale, "namespace").filter(|ns| !ns.is_empty()) {
            if ns != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let written = self
            .write_update(
                rt,
                namespace,
                name,
                super::Subresource::Main,
                opts,
                |current| apply_scale(rt, name, current, &scale),
            )
            .await?;
        Ok(ScaleAnswer {
            scale: scale_of(rt, &written.object.into_value()),
            warnings,
        })
    }

    /// PATCH `.../{name}/scale`: the patch applies to the current Scale.
    pub async fn patch_scale(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<ScaleAnswer, ApiError> {
        let mut warnings = Vec::new();
        let written = self
            .write_update(
                rt,
                namespace,
                name,
                super::Subresource::Main,
                opts,
                |current| {
                    let scale = scale_of(rt, current);
                    let patched = patch::apply(patch_type, &patch_schema::NONE, &scale, body)
                        .map_err(|e| e.to_api_error())?;
                    let (scale, w) = decode_scale(patched, opts.field_validation)?;
                    warnings = w;
                    apply_scale(rt, name, current, &scale)
                },
            )
            .await?;
        Ok(ScaleAnswer {
            scale: scale_of(rt, &written.object.into_value()),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::deployment;

    fn web() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                         "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 1}})
    }

    #[test]
    fn scale_reads_the_parent() {
        let s = scale_of(&deployment::RESOURCE, &web());
        assert_eq!(
            s,
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                             "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "app=web"}})
        );
    }

    #[test]
    fn scale_writes_replicas_with_preconditions() {
        let rt = &deployment::RESOURCE;
        let scale =
            json!({"metadata": {"name": "web", "resourceVersion": "3"}, "spec": {"replicas": 5}});
        let parent = apply_scale(rt, "web", &web(), &scale).unwrap();
        assert_eq!(parent["spec"]["replicas"], 5);
        assert_eq!(parent["metadata"]["resourceVersion"], "3");
        assert_eq!(parent["status"], web()["status"]);
        let negative = json!({"metadata": {"name": "web"}, "spec": {"replicas": -1}});
        let e = apply_scale(rt, "web", &web(), &negative).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let other_uid = json!({"metadata": {"name": "web", "uid": "u2"}, "spec": {"replicas": 1}});
        assert_eq!(
            apply_scale(rt, "web", &web(), &other_uid).unwrap_err().code,
            409
        );
        let other_name = json!({"metadata": {"name": "api"}, "spec": {"replicas": 1}});
        assert_eq!(
            apply_scale(rt, "web", &web(), &other_name)
                .unwrap_err()
                .code,
            400
        );
    }
}
