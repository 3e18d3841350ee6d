//! What a ControllerRevision holds for a workload, as upstream's DaemonSet and StatefulSet
//! `getPatch` and history `EqualRevision`: the strategic merge patch that puts a pod
//! template back (`{"spec": {"template": {..., "$patch": "replace"}}}`), which is what
//! `kubectl rollout history|undo` read, and whether a revision holds given data.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{json, Value};

/// The revision data restoring `template` (upstream's `getPatch`).
pub fn data_of(template: Option<&PodTemplateSpec>) -> Value {
    let mut template = template
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_else(|| json!({}));
    if let Some(t) = template.as_object_mut() {
        t.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// Whether `rev` holds exactly `data`.
pub fn holds(rev: &ControllerRevision, data: &Value) -> bool {
    rev.data.as_ref().is_some_and(|d| &d.0 == data)
}
