//! Upstream's NodeRestriction admission (`plugin/pkg/admission/noderestriction`): what a
//! node's writes may contain, judged on the object written and the one it replaces, after
//! the Node authorizer (`api/auth/node.rs`) let the request through.
//!
//! - pods: a node creates only mirror pods of itself (the mirror annotation, bound to
//!   itself, one controller owner reference to its own Node, no service account, secret,
//!   config map or claim references) and deletes only pods bound to it; pod status only of
//!   pods bound to it, never their labels.
//! - nodes: only its own Node; on create no `node-restriction.kubernetes.io/` labels and no
//!   `kubernetes.io`/`k8s.io` labels outside the kubelet's set; on update neither those nor
//!   a change to its taints (taints are set at registration only).
//! - leases: only its own, in `kube-node-lease`.
//! - claim status: only capacity, conditions and allocated resources.
//! - persistent volumes (Bramble's kubelet provisions node-local volumes): only volumes
//!   whose node affinity pins them to the node, before and after the write.
//!
//! Messages are upstream's; a refusal is 403 Forbidden about the object, and nothing is
//! stored.

use serde_json::Value;

use crate::api::auth::node_graph::{pinned_to, references_any};
use crate::api::auth::{Vertex, NODE_LEASE_NAMESPACE};
use crate::api::registry::{meta, Registry, Subresource};
use crate::api::status::ApiError;
use crate::resources::meta::str_at_pointer;
use crate::resources::{node, ResourceType};

/// The annotation marking a mirror pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Labels a kubelet may set on its own Node (`kubeletapis.IsKubeletLabel`).
const KUBELET_LABELS: [&str; 11] = [
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];
/// Label namespaces (and their subdomains) a kubelet may set.
const KUBELET_LABEL_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];
/// Labels no kubelet may set: they steer workloads that trust them.
const NODE_RESTRICTION_NAMESPACE: &str = "node-restriction.kubernetes.io";

fn is(rt: &ResourceType, group: &str, plural: &str) -> bool {
    rt.group == group && rt.plural == plural
}

/// Checks a node's create of `obj`.
pub fn admit_create(
    registry: &Registry,
    node: &str,
    rt: &ResourceType,
    obj: &Value,
) -> Result<(), ApiError> {
    let name = meta::name_of(obj);
    let refuse = |why: String| Err(ApiError::forbidden_on(rt, name, &why));
    if is(rt, "", "pods") {
        return mirror_pod(registry, node, obj).or_else(refuse);
    }
    if is(rt, "", "nodes") {
        if name != node {
            return refuse(format!(
                "node {node:?} is not allowed to modify node {name:?}"
            ));
        }
        if obj
            .pointer("/spec/configSource")
            .is_some_and(|c| !c.is_null())
        {
            return refuse(format!(
                "node {node:?} is not allowed to create pods with a non-nil configSource"
            ));
        }
        let forbidden = forbidden_labels(&modified_labels(obj, &Value::Null));
        if !forbidden.is_empty() {
            return refuse(format!(
                "node {node:?} is not allowed to set the following labels: {}",
                forbidden.join(", ")
            ));
        }
        return Ok(());
    }
    if is(rt, "coordination.k8s.io", "leases") {
        if str_at_pointer(obj, "/metadata/namespace") != NODE_LEASE_NAMESPACE {
            return refuse(format!(
                "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
            ));
        }
        if name != node {
            return refuse(
                "can only access node lease with the same name as the requesting node".into(),
            );
        }
        return Ok(());
    }
    if is(rt, "", "persistentvolumes") && !pinned_to(obj, node) {
        return refuse(volume_reason(node));
    }
    Ok(())
}

/// Checks a node's update of `old` into `new` (after the kind's update preparation).
pub fn admit_update(
    node: &str,
    rt: &ResourceType,
    sub: Subresource,
    new: &Value,
    old: &Value,
) -> Result<(), ApiError> {
    let name = meta::name_of(old);
    let refuse = |why: String| Err(ApiError::forbidden_on(rt, name, &why));
    if is(rt, "", "pods") {
        if sub == Subresource::EphemeralContainers {
            return refuse(format!(
                "unexpected pod subresource {:?}, only 'status' and 'eviction' are allowed",
                sub.name()
            ));
        }
        if sub != Subresource::Status {
            return refuse(format!(
                "unexpected operation \"UPDATE\", node {node:?} can only create and delete mirror pods"
            ));
        }
        if str_at_pointer(old, "/spec/nodeName") != node {
            return refuse(format!(
                "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
            ));
        }
        if labels(new) != labels(old) {
            return refuse(format!(
                "node {node:?} cannot update labels through pod status"
            ));
        }
        return Ok(());
    }
    if is(rt, "", "nodes") {
        if name != node {
            return refuse(format!(
                "node {node:?} is not allowed to modify node {name:?}"
            ));
        }
        let config = new.pointer("/spec/configSource").filter(|c| !c.is_null());
        if config.is_some() && config != old.pointer("/spec/configSource") {
            return refuse(format!(
                "node {node:?} is not allowed to update configSource to a new non-nil configSource"
            ));
        }
        if taints(new) != taints(old) {
            return refuse(format!("node {node:?} is not allowed to modify taints"));
        }
        let forbidden = forbidden_labels(&modified_labels(new, old));
        if !forbidden.is_empty() {
            return refuse(format!(
                "is not allowed to modify labels: {}",
                forbidden.join(", ")
            ));
        }
        return Ok(());
    }
    if is(rt, "", "persistentvolumeclaims") {
        let changed = claim_changes(new, old);
        if !changed.is_empty() {
            return refuse(format!(
                "node {node:?} is not allowed to update fields other than status.capacity and \
                 status.conditions: {}",
                changed.join(", ")
            ));
        }
        return Ok(());
    }
    if is(rt, "", "persistentvolumes") && !(pinned_to(old, node) && pinned_to(new, node)) {
        return refuse(volume_reason(node));
    }
    Ok(())
}

/// Checks a node's delete of `existing`.
pub fn admit_delete(node: &str, rt: &ResourceType, existing: &Value) -> Result<(), ApiError> {
    let name = meta::name_of(existing);
    if is(rt, "", "pods") && str_at_pointer(existing, "/spec/nodeName") != node {
        return Err(ApiError::forbidden_on(
            rt,
            name,
            &format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
        ));
    }
    if is(rt, "", "persistentvolumes") && !pinned_to(existing, node) {
        return Err(ApiError::forbidden_on(rt, name, &volume_reason(node)));
    }
    Ok(())
}

fn volume_reason(node: &str) -> String {
    format!(
        "node {node:?} can only write persistent volumes whose node affinity pins them to itself"
    )
}

/// `admitPodCreate`: the reason a node may not create `pod`, if any.
fn mirror_pod(registry: &Registry, node: &str, pod: &Value) -> Result<(), String> {
    let annotated = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .is_some();
    if !annotated {
        return Err(format!(
            "pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
        ));
    }
    if str_at_pointer(pod, "/spec/nodeName") != node {
        return Err(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        ));
    }
    let owners = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let owner = match owners {
        [] => {
            return Err(format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            ))
        }
        [one] => one,
        _ => {
            return Err(format!(
                "node {node:?} can only create pods with a single owner reference set to itself"
            ))
        }
    };
    if owner["apiVersion"] != "v1" || owner["kind"] != "Node" || owner["name"] != node {
        return Err(format!(
            "node {node:?} can only create pods with an owner reference set to itself"
        ));
    }
    if owner["controller"] != true {
        return Err(format!(
            "node {node:?} can only create pods with a controller owner reference set to itself"
        ));
    }
    if owner["blockOwnerDeletion"] == true {
        return Err(format!(
            "node {node:?} must not set blockOwnerDeletion on an owner reference"
        ));
    }
    let uid = registry
        .get(&node::RESOURCE, "", node)
        .map(|n| str_at_pointer(&n, "/metadata/uid").to_string())
        .map_err(|e| e.message)?;
    let given = owner["uid"].as_str().unwrap_or("");
    if given != uid {
        return Err(format!(
            "node {node} UID mismatch: expected {given} got {uid}"
        ));
    }
    if !str_at_pointer(pod, "/spec/serviceAccountName").is_empty() {
        return Err(format!(
            "node {node:?} can not create pods that reference a service account"
        ));
    }
    let kinds = [
        (Vertex::Secret, "secrets"),
        (Vertex::ConfigMap, "configmaps"),
        (Vertex::PersistentVolumeClaim, "persistentvolumeclaims"),
    ];
    for (vertex, what) in kinds {
        if references_any(pod, vertex) {
            return Err(format!(
                "node {node:?} can not create pods that reference {what}"
            ));
        }
    }
    Ok(())
}

fn labels(obj: &Value) -> &Value {
    obj.pointer("/metadata/labels").unwrap_or(&Value::Null)
}

fn taints(obj: &Value) -> Vec<&Value> {
    obj.pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|t| t.iter().collect())
        .unwrap_or_default()
}

/// Label keys added, removed or changed between `new` and `old` (`getModifiedLabels`).
fn modified_labels(new: &Value, old: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let a = labels(new).as_object().unwrap_or(&empty);
    let b = labels(old).as_object().unwrap_or(&empty);
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .chain(b.iter().filter(|(k, v)| a.get(*k) != Some(v)))
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or("")
}

fn in_namespace(namespace: &str, domain: &str) -> bool {
    namespace == domain
        || namespace
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// `getForbiddenLabels`, sorted as upstream's `sets.String.List()`.
fn forbidden_labels(modified: &[String]) -> Vec<String> {
    modified
        .iter()
        .filter(|key| {
            let ns = label_namespace(key);
            let restricted = in_namespace(ns, NODE_RESTRICTION_NAMESPACE);
            let kubernetes = in_namespace(ns, "kubernetes.io") || in_namespace(ns, "k8s.io");
            let kubelet = KUBELET_LABELS.contains(&key.as_str())
                || KUBELET_LABEL_NAMESPACES.iter().any(|d| in_namespace(ns, d));
            restricted || (kubernetes && !kubelet)
        })
        .cloned()
        .collect()
}

/// What a claim status update changes beyond capacity, conditions and allocated resources
/// (`admitPVCStatus` with expansion recovery), as top-level field paths.
fn claim_changes(new: &Value, old: &Value) -> Vec<String> {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        if let Some(s) = v.get_mut("status").and_then(Value::as_object_mut) {
            for k in [
                "capacity",
                "conditions",
                "allocatedResources",
                "allocatedResourceStatuses",
            ] {
                s.remove(k);
            }
        }
        v
    };
    let (a, b) = (strip(new), strip(old));
    let mut changed = Vec::new();
    for part in ["metadata", "spec", "status"] {
        let (x, y) = (a.get(part), b.get(part));
        let keys: std::collections::BTreeSet<&String> = x
            .and_then(Value::as_object)
            .into_iter()
            .chain(y.and_then(Value::as_object))
            .flat_map(|m| m.keys())
            .collect();
        for k in keys {
            if x.and_then(|m| m.get(k)) != y.and_then(|m| m.get(k)) {
                changed.push(format!("{part}.{k}"));
            }
        }
    }
    changed
}

#[cfg(test)]
#[path = "node_restriction_tests.rs"]
mod tests;
