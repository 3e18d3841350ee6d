//! After a kubelet restart, which pod holds which device is rebuilt from the pods that
//! still have containers on this node, oldest first, before any new pod is admitted: the
//! allocation a previous kubelet made is given again, as upstream's device manager reloads
//! its checkpoint. Finished pods hold nothing.

use serde_json::Value;

use super::DeviceAllocator;
use crate::kubelet::container_start::parse_id;
use crate::kubelet::runtime::ContainerRuntime;
use crate::resources::meta;

/// Gives back their devices to `pods` (this node's, as listed) that have containers in
/// `runtime` and are not finished.
pub async fn restore(devices: &DeviceAllocator, runtime: &dyn ContainerRuntime, pods: &[Value]) {
    if devices.declared().is_empty() {
        return;
    }
    let ids = match runtime.list().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "listing containers to restore device allocations failed");
            return;
        }
    };
    let running: std::collections::BTreeSet<&str> = ids
        .iter()
        .filter_map(|id| parse_id(id).map(|(uid, _, _)| uid))
        .collect();
    restore_listed(devices, &running, pods);
}

/// [`restore`] with the pod uids that have containers already known.
pub fn restore_listed(
    devices: &DeviceAllocator,
    with_containers: &std::collections::BTreeSet<&str>,
    pods: &[Value],
) {
    let mut chosen: Vec<&Value> = pods
        .iter()
        .filter(|p| with_containers.contains(meta::meta_str(p, "uid").unwrap_or("")))
        .filter(|p| !is_finished(p))
        .collect();
    chosen.sort_by_key(|p| meta::meta_str(p, "creationTimestamp").unwrap_or(""));
    for p in chosen {
        let uid = meta::meta_str(p, "uid").unwrap_or("");
        let Ok(pod) = serde_json::from_value(p.clone()) else {
            continue;
        };
        if let Err(e) = devices.admit(uid, &pod) {
            tracing::warn!(pod = %meta::name_of(p), error = %e, "devices of a running pod cannot be given back");
        }
    }
}

/// Whether the pod's phase is `Succeeded` or `Failed`: it holds no device.
pub fn is_finished(p: &Value) -> bool {
    matches!(
        p.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}
