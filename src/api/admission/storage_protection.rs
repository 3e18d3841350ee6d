//! Upstream's `StorageObjectInUseProtection` admission: every new claim gets the
//! `kubernetes.io/pvc-protection` finalizer and every new volume `kubernetes.io/pv-protection`,
//! so the binder's protection step decides when they may really go.

use serde_json::Value;

use crate::api::registry::meta;
use crate::controllers::volume_binding::{PVC_PROTECTION, PV_PROTECTION};
use crate::resources::{persistentvolume, persistentvolumeclaim, ResourceType};

/// Adds the protection finalizer to a new claim or volume.
pub fn admit(rt: &ResourceType, obj: &mut Value) {
    let finalizer = if rt.group.is_empty() && rt.plural == persistentvolumeclaim::RESOURCE.plural {
        PVC_PROTECTION
    } else if rt.group.is_empty() && rt.plural == persistentvolume::RESOURCE.plural {
        PV_PROTECTION
    } else {
        return;
    };
    let m = meta::meta_mut(obj);
    let list = m
        .entry("finalizers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(items) = list {
        if !items.iter().any(|f| f == finalizer) {
            items.push(Value::String(finalizer.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_each_finalizer_once() {
        let mut pvc = json!({"metadata": {"name": "c", "finalizers": ["other"]}});
        admit(&persistentvolumeclaim::RESOURCE, &mut pvc);
        admit(&persistentvolumeclaim::RESOURCE, &mut pvc);
        assert_eq!(
            pvc["metadata"]["finalizers"],
            json!(["other", PVC_PROTECTION])
        );
        let mut pv = json!({"metadata": {"name": "v"}});
        admit(&persistentvolume::RESOURCE, &mut pv);
        assert_eq!(pv["metadata"]["finalizers"], json!([PV_PROTECTION]));
        let mut pod = json!({"metadata": {"name": "p"}});
        admit(&crate::resources::pod::RESOURCE, &mut pod);
        assert!(pod["metadata"].get("finalizers").is_none());
    }
}
