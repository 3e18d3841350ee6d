//! downwardAPI volumes (and the `downwardAPI` source of projected volumes): one file per
//! item, holding a field of the pod's metadata (`fieldRef`) or a container's resource
//! (`resourceFieldRef`), as upstream's `CollectData` in `pkg/volume/downwardapi` writes them.
//!
//! Only the fields upstream allows in volumes resolve here (`metadata.name`,
//! `metadata.namespace`, `metadata.uid`, `metadata.labels`, `metadata.annotations` and one
//! key of the last two); the spec and status fields are for environment variables only.
//! Each file has the item's `mode` or the volume's `defaultMode` (0644). The volume is
//! rewritten when the pod's labels or annotations change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, Pod};

use super::atomic_writer::FileProjection;
use super::projection::DEFAULT_MODE;
use super::VolumeError;
use crate::kubelet::downward_api::{self, Allocatable, DownwardApiError};

/// The files of the downward API `items` of `pod`.
pub(crate) fn payload(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    allocatable: Allocatable,
    default_mode: Option<i32>,
) -> Result<BTreeMap<String, FileProjection>, VolumeError> {
    let default_mode = default_mode.unwrap_or(DEFAULT_MODE);
    let mut out = BTreeMap::new();
    for item in items {
        let data = if let Some(field) = &item.field_ref {
            let path = field.field_path.as_str();
            downward_api::metadata_field(pod, path)
                .ok_or_else(|| DownwardApiError::FieldPath(path.to_string()))?
        } else if let Some(sel) = &item.resource_field_ref {
            // A volume belongs to no container: the item must name one.
            let container = downward_api::find_container(pod, sel.container_name.as_deref(), None)?;
            downward_api::resource_value(container, sel, allocatable)?
        } else {
            String::new()
        };
        let file = FileProjection {
            data: data.into_bytes(),
            mode: item.mode.unwrap_or(default_mode) as u32,
        };
        out.insert(item.path.clone(), file);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u-1",
                         "labels": {"b": "2", "a": "1"}, "annotations": {"note": "x"}},
            "spec": {"containers": [{"name": "main",
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]}
        }))
        .unwrap()
    }

    fn items(v: serde_json::Value) -> Vec<DownwardAPIVolumeFile> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn metadata_and_resources_become_files_with_their_modes() {
        let items = items(json!([
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}},
            {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}, "mode": 0o400},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "meta/note", "fieldRef": {"fieldPath": "metadata.annotations['note']"}},
            {"path": "cpu", "resourceFieldRef": {"containerName": "main",
                "resource": "limits.cpu", "divisor": "1m"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "main",
                "resource": "limits.memory", "divisor": "1Mi"}}
        ]));
        let alloc = Allocatable::default();
        let p = payload(&items, &pod(), alloc, Some(0o640)).unwrap();
        let text = |k: &str| String::from_utf8(p[k].data.clone()).unwrap();
        assert_eq!(text("name"), "web");
        assert_eq!(text("ns"), "ns");
        assert_eq!(text("uid"), "u-1");
        assert_eq!(text("labels"), "a=\"1\"\nb=\"2\"");
        assert_eq!(text("meta/note"), "x");
        assert_eq!(text("cpu"), "500");
        assert_eq!(text("mem"), "64");
        assert_eq!(p["name"].mode, 0o640);
        assert_eq!(p["uid"].mode, 0o400);
        let p = payload(&items, &pod(), alloc, None).unwrap();
        assert_eq!(p["labels"].mode, 0o644);
    }

    #[test]
    fn env_only_fields_and_unnamed_containers_are_refused() {
        let alloc = Allocatable::default();
        let node = items(json!([{"path": "n", "fieldRef": {"fieldPath": "spec.nodeName"}}]));
        assert_eq!(
            payload(&node, &pod(), alloc, None).unwrap_err().to_string(),
            "unsupported fieldPath: spec.nodeName"
        );
        let unnamed = items(json!([{"path": "c",
            "resourceFieldRef": {"resource": "limits.cpu"}}]));
        assert_eq!(
            payload(&unnamed, &pod(), alloc, None)
                .unwrap_err()
                .to_string(),
            "container  not found in the pod"
        );
    }
}
