//! Resolves a pod's `persistentVolumeClaim` volumes to host directories before its
//! containers start: the claim must exist, not be terminating and be Bound; its PV must point
//! back at it and be usable on this node (node affinity); a ReadWriteOncePod claim must not be
//! in use by another pod. Messages copy upstream kubelet's (`desired_state_of_world_populator`)
//! so a pod stuck in ContainerCreating reads as it would on a stock node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};

use crate::client::options::ListOptions;
use crate::client::Client;
use crate::kubelet::volume::ClaimVolume;
use crate::resources::{node, persistentvolume, persistentvolumeclaim, pod as pod_resource};
use crate::scheduler::node_affinity::node_selector_matches;

/// Why a claim cannot be mounted yet (the pod stays in ContainerCreating with this message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClaimError(pub String);

/// Names of the claims `pod`'s volumes use, with the volume-level `readOnly`.
pub fn claim_names(pod: &Pod) -> Vec<String> {
    let mut names: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn typed<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
    what: &str,
) -> Result<T, ClaimError> {
    serde_json::from_value(v).map_err(|e| ClaimError(format!("decoding {what}: {e}")))
}

/// Resolves every claim of `pod` for node `node_name`; keys are claim names.
pub async fn resolve<C: Client>(
    client: &C,
    node_name: &str,
    pod: &Pod,
) -> Result<BTreeMap<String, ClaimVolume>, ClaimError> {
    let names = claim_names(pod);
    let mut out = BTreeMap::new();
    if names.is_empty() {
        return Ok(out);
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let node: Node = match client.get(&node::RESOURCE, "", node_name).await {
        Ok(v) => typed(v, "node")?,
        Err(e) => return Err(ClaimError(format!("fetching node {node_name}: {e}"))),
    };
    for name in names {
        let pvc: PersistentVolumeClaim = match client
            .get(&persistentvolumeclaim::RESOURCE, ns, &name)
            .await
        {
            Ok(v) => typed(v, "claim")?,
            Err(e) => {
                return Err(ClaimError(format!(
                    "error processing PVC {ns}/{name}: failed to fetch PVC from API server: {}",
                    e.message
                )))
            }
        };
        if pvc.metadata.deletion_timestamp.is_some() {
            return Err(ClaimError(format!(
                "can't start pod because PVC {ns}/{name} is being deleted"
            )));
        }
        let phase = pvc
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let volume_name = pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .unwrap_or_default();
        if phase != "Bound" || volume_name.is_empty() {
            return Err(ClaimError(format!(
                "PVC {ns}/{name} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume_name:?})"
            )));
        }
        let pv: PersistentVolume =
            match client.get(&persistentvolume::RESOURCE, "", &volume_name).await {
                Ok(v) => typed(v, "volume")?,
                Err(e) => {
                    return Err(ClaimError(format!(
                        "error processing PVC {ns}/{name}: failed to fetch PV {volume_name:?} from API server: {}",
                        e.message
                    )))
                }
            };
        let spec = pv.spec.clone().unwrap_or_default();
        let claim_uid = pvc.metadata.uid.clone().unwrap_or_default();
        if spec.claim_ref.as_ref().and_then(|r| r.uid.as_deref()) != Some(claim_uid.as_str()) {
            return Err(ClaimError(format!(
                "error processing PVC {ns}/{name}: found PV object {volume_name:?} but it has a nil or incorrect ClaimRef"
            )));
        }
        if let Some(required) = spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
        {
            if !node_selector_matches(&required.node_selector_terms, &node) {
                return Err(ClaimError(format!(
                    "PV {volume_name:?} of PVC {ns}/{name} has a node affinity that does not match node {node_name:?} (volume node affinity conflict)"
                )));
            }
        }
        let (path, host_path) = match (&spec.local, &spec.host_path) {
            (Some(local), _) => (PathBuf::from(&local.path), false),
            (None, Some(hp)) => (PathBuf::from(&hp.path), true),
            _ => {
                return Err(ClaimError(format!(
                    "PV {volume_name:?}: unsupported volume source (this node mounts local and hostPath volumes)"
                )))
            }
        };
        let modes = spec.access_modes.clone().unwrap_or_default();
        if modes.iter().any(|m| m == "ReadWriteOncePod") {
            check_single_pod(client, ns, &name, pod).await?;
        }
        out.insert(name, ClaimVolume { path, host_path });
    }
    Ok(out)
}

/// ReadWriteOncePod: another live pod using the claim that is running, or was created first,
/// keeps it; this pod waits.
async fn check_single_pod<C: Client>(
    client: &C,
    ns: &str,
    claim: &str,
    pod: &Pod,
) -> Result<(), ClaimError> {
    let list = client
        .list(&pod_resource::RESOURCE, Some(ns), &ListOptions::default())
        .await
        .map_err(|e| ClaimError(format!("listing pods using PVC {ns}/{claim}: {e}")))?;
    let me = pod.metadata.uid.as_deref().unwrap_or("");
    let my_key = (
        pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
        pod.metadata.name.clone(),
    );
    for other in list.items {
        let Ok(other) = serde_json::from_value::<Pod>(other) else {
            continue;
        };
        let status_phase = other
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending");
        let bound = other
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        if other.metadata.uid.as_deref() == Some(me)
            || other.metadata.deletion_timestamp.is_some()
            || matches!(status_phase, "Succeeded" | "Failed")
            || !bound
            || !claim_names(&other).iter().any(|c| c == claim)
        {
            continue;
        }
        let other_key = (
            other.metadata.creation_timestamp.as_ref().map(|t| t.0),
            other.metadata.name.clone(),
        );
        if status_phase == "Running" || other_key < my_key {
            return Err(ClaimError(format!(
                "PVC {ns}/{claim} uses the ReadWriteOncePod access mode and is in use by pod {ns}/{}",
                other.metadata.name.unwrap_or_default()
            )));
        }
    }
    Ok(())
}
