//! The VolumeBinding plugin (upstream pkg/scheduler/framework/plugins/volumebinding), pure:
//! PreFilter rejects pods whose claims are missing, being deleted or unbound with Immediate
//! binding; Filter keeps a pod with bound local volumes on their node, and places a pod with
//! unbound WaitForFirstConsumer claims only where a matching volume exists or the class's
//! bramble provisioner reports enough free bytes (the node annotations of ADR 004).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

use super::status::NodeStatus;
use crate::controllers::volume_binding::matching::{
    claim_class, claim_request_bytes, find_matching_volume, node_affinity_fits,
};
use crate::controllers::volume_binding::{node_free_bytes, LOCAL_PROVISIONERS};

/// Upstream's `ErrReasonBindConflict`.
pub const ERR_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// Upstream's `ErrReasonNodeConflict`.
pub const ERR_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Upstream's `ErrReasonNotEnoughSpace`.
pub const ERR_NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
/// Upstream's `ErrReasonPVNotExist`.
pub const ERR_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// Upstream's PreFilter message for unbound Immediate claims.
pub const ERR_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The storage objects the scheduler reads each pass.
#[derive(Debug, Clone, Default)]
pub struct VolumeSnapshot {
    /// Every claim.
    pub claims: Vec<PersistentVolumeClaim>,
    /// Every volume.
    pub volumes: Vec<PersistentVolume>,
    /// Every class.
    pub classes: Vec<StorageClass>,
}

/// A pod's claims, sorted into bound and not yet bound (WaitForFirstConsumer).
#[derive(Debug, Default)]
pub struct PodClaims<'a> {
    /// Claims with a volume, and that volume's name.
    pub bound: Vec<(&'a PersistentVolumeClaim, &'a str)>,
    /// Claims waiting for this pod's node, with their class.
    pub unbound: Vec<(&'a PersistentVolumeClaim, &'a StorageClass)>,
}

impl VolumeSnapshot {
    /// The volumes not named in `taken` (already chosen for another claim of the pod).
    pub fn volumes_except(&self, taken: &[String]) -> Vec<PersistentVolume> {
        self.volumes
            .iter()
            .filter(|v| {
                !taken
                    .iter()
                    .any(|t| Some(t.as_str()) == v.metadata.name.as_deref())
            })
            .cloned()
            .collect()
    }

    fn class(&self, name: &str) -> Option<&StorageClass> {
        self.classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    /// PreFilter: the pod's claims, or the message that rules out every node.
    pub fn pre_filter<'a>(&'a self, pod: &Pod) -> Result<PodClaims<'a>, String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut out = PodClaims::default();
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref());
        for v in volumes.unwrap_or_default() {
            let Some(src) = &v.persistent_volume_claim else {
                continue;
            };
            let name = src.claim_name.as_str();
            let claim = self
                .claims
                .iter()
                .find(|c| {
                    c.metadata.name.as_deref() == Some(name)
                        && c.metadata.namespace.as_deref() == Some(ns)
                })
                .ok_or_else(|| format!("persistentvolumeclaim \"{name}\" not found"))?;
            if claim.metadata.deletion_timestamp.is_some() {
                return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
            }
            let volume = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref());
            match volume {
                Some(pv) if !pv.is_empty() => out.bound.push((claim, pv)),
                _ => {
                    let class = self.class(claim_class(claim)).filter(|c| {
                        c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
                    });
                    match class {
                        Some(c) => out.unbound.push((claim, c)),
                        None => return Err(ERR_UNBOUND_IMMEDIATE.to_string()),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Filter: whether the pod's claims can be served on `node`.
    pub fn filter(&self, claims: &PodClaims<'_>, node: &Node) -> Option<NodeStatus> {
        for (_, pv_name) in &claims.bound {
            let pv = self
                .volumes
                .iter()
                .find(|v| v.metadata.name.as_deref() == Some(*pv_name));
            match pv {
                None => return Some(NodeStatus::unresolvable(ERR_PV_NOT_EXIST)),
                Some(pv) if !node_affinity_fits(pv, node) => {
                    return Some(NodeStatus::unresolvable(ERR_NODE_CONFLICT))
                }
                Some(_) => {}
            }
        }
        let mut taken: Vec<String> = Vec::new();
        // Claims of one provisioner share the node's free space.
        let mut needed: BTreeMap<&str, i64> = BTreeMap::new();
        for (claim, class) in &claims.unbound {
            let candidates = self.volumes_except(&taken);
            if let Some(pv) = find_matching_volume(claim, &candidates, Some(node), true) {
                taken.push(pv.metadata.name.clone().unwrap_or_default());
                continue;
            }
            let provisioner = class.provisioner.as_str();
            if !LOCAL_PROVISIONERS.contains(&provisioner) || !topology_allows(class, node) {
                return Some(NodeStatus::unresolvable(ERR_BIND_CONFLICT));
            }
            let Some(free_bytes) = node_free_bytes(node, provisioner) else {
                return Some(NodeStatus::unresolvable(ERR_BIND_CONFLICT));
            };
            let total = needed.entry(provisioner).or_default();
            *total += claim_request_bytes(claim);
            if free_bytes < *total {
                return Some(NodeStatus::unresolvable(ERR_NOT_ENOUGH_SPACE));
            }
        }
        None
    }
}

/// The class's `allowedTopologies` admit the node (none: every node).
fn topology_allows(class: &StorageClass, node: &Node) -> bool {
    let Some(terms) = class.allowed_topologies.as_ref().filter(|t| !t.is_empty()) else {
        return true;
    };
    let labels = node.metadata.labels.as_ref();
    terms.iter().any(|t| {
        t.match_label_expressions.iter().flatten().all(|e| {
            labels
                .and_then(|l| l.get(&e.key))
                .is_some_and(|v| e.values.contains(v))
        })
    })
}

#[cfg(test)]
#[path = "volume_binding_tests.rs"]
mod tests;
