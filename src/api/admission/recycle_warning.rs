//! Upstream's deprecation warning for `persistentVolumeReclaimPolicy: Recycle`
//! (`GetWarningsForPersistentVolume`): the volume is accepted, kubectl prints the warning, and
//! the binder later marks it Failed on release because no recycler exists.

use serde_json::Value;

use crate::resources::{persistentvolume, ResourceType};

/// The warning text, as kube-apiserver sends it.
pub const RECYCLE_DEPRECATED: &str = "spec.persistentVolumeReclaimPolicy: The Recycle reclaim policy is deprecated. Instead, the recommended approach is to use dynamic provisioning.";

/// Warnings for a new object of kind `rt`.
pub fn warnings(rt: &ResourceType, obj: &Value) -> Vec<String> {
    let is_pv = rt.group.is_empty() && rt.plural == persistentvolume::RESOURCE.plural;
    let recycle = obj
        .pointer("/spec/persistentVolumeReclaimPolicy")
        .and_then(Value::as_str)
        == Some("Recycle");
    if is_pv && recycle {
        vec![RECYCLE_DEPRECATED.to_string()]
    } else {
        Vec::new()
    }
}
