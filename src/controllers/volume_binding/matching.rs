//! Which PersistentVolume a claim should bind to: upstream's `FindMatchingVolume`
//! (pkg/controller/volume/persistentvolume/util), pure so the binder and the scheduler's
//! VolumeBinding filter share one answer.
//!
//! A volume bound to the claim (its `claimRef` names the claim) always wins. Otherwise an
//! Available, unclaimed volume of the claim's class whose labels match the claim's selector,
//! whose access modes include the claim's and whose volume mode equals the claim's is a
//! candidate; among candidates the smallest capacity that fits is chosen, and volumes with
//! fewer access modes are preferred (upstream's access-mode index order).

use std::borrow::Borrow;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use serde_json::Value;

use crate::resources::quantity::Quantity;
use crate::resources::selector::LabelSelector;
use crate::scheduler::node_affinity::node_selector_matches;

/// The claim's `spec.resources.requests.storage` in bytes (0 when absent or malformed).
pub fn claim_request_bytes(claim: &PersistentVolumeClaim) -> i64 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.value())
}

/// The volume's `spec.capacity.storage` in bytes (0 when absent or malformed).
pub fn volume_capacity_bytes(pv: &PersistentVolume) -> i64 {
    pv.spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.value())
}

/// The claim's class name; `""` when unset (upstream's `GetPersistentVolumeClaimClass`).
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// The volume's class name; `""` when unset.
pub fn volume_class(pv: &PersistentVolume) -> &str {
    pv.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// The volume's phase (`""` when it has no status yet).
pub fn volume_phase(pv: &PersistentVolume) -> &str {
    pv.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn claim_modes(claim: &PersistentVolumeClaim) -> &[String] {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default()
}

fn volume_modes(pv: &PersistentVolume) -> &[String] {
    pv.spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default()
}

/// Upstream's `CheckAccessModes`: every mode the claim asks for is offered by the volume.
pub fn access_modes_fit(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let offered = volume_modes(pv);
    claim_modes(claim).iter().all(|m| offered.contains(m))
}

/// Upstream's `CheckVolumeModeMismatches`, with both modes defaulting to Filesystem.
pub fn volume_mode_mismatch(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let claim_mode = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_mode.as_deref())
        .unwrap_or("Filesystem");
    let pv_mode = pv
        .spec
        .as_ref()
        .and_then(|s| s.volume_mode.as_deref())
        .unwrap_or("Filesystem");
    claim_mode != pv_mode
}

/// Upstream's `IsVolumeBoundToClaim`: the claimRef names the claim, and its uid (if set)
/// is the claim's.
pub fn is_bound_to_claim(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    r.name == claim.metadata.name
        && r.namespace == claim.metadata.namespace
        && r.uid
            .as_deref()
            .filter(|u| !u.is_empty())
            .map_or(true, |u| Some(u) == claim.metadata.uid.as_deref())
}

/// Whether the volume's required node affinity admits `node` (no affinity: every node).
pub fn node_affinity_fits(pv: &PersistentVolume, node: &Node) -> bool {
    let Some(required) = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    else {
        return true;
    };
    node_selector_matches(&required.node_selector_terms, node)
}

fn selector_matches(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let Some(sel) = claim.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return true;
    };
    let Ok(raw) = serde_json::to_value(sel) else {
        return false;
    };
    let Ok(selector) = LabelSelector::from_label_selector(&raw) else {
        return false;
    };
    let labels: serde_json::Map<String, Value> = pv
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    selector.matches(&labels)
}

/// Finds the volume `claim` should bind to. `node`: the scheduler's candidate node (the
/// volume must be usable there and access modes are checked as upstream's scheduler path
/// does); `delay_binding`: the class is WaitForFirstConsumer, so without a node only a
/// volume already bound to the claim is returned. `volumes` may be owned or shared as the
/// informer cache holds them, so the binder copies none.
pub fn find_matching_volume<'a, V: Borrow<PersistentVolume>>(
    claim: &PersistentVolumeClaim,
    volumes: &'a [V],
    node: Option<&Node>,
    delay_binding: bool,
) -> Option<&'a PersistentVolume> {
    let requested = claim_request_bytes(claim);
    let class = claim_class(claim);
    // Upstream indexes volumes by access-mode set and tries the sets that include the
    // claim's modes, fewest modes first.
    let volumes = || volumes.iter().map(Borrow::borrow);
    let mut sizes: Vec<usize> = volumes()
        .filter(|v| access_modes_fit(claim, v))
        .map(|v| volume_modes(v).len())
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    for size in sizes {
        let mut best: Option<(&PersistentVolume, i64)> = None;
        for pv in volumes().filter(|v| access_modes_fit(claim, v) && volume_modes(v).len() == size)
        {
            if volume_mode_mismatch(claim, pv) || pv.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let affinity_ok = node.map_or(true, |n| node_affinity_fits(pv, n));
            if is_bound_to_claim(pv, claim) {
                return affinity_ok.then_some(pv);
            }
            if node.is_none() && delay_binding {
                continue;
            }
            let claimed = pv.spec.as_ref().is_some_and(|s| s.claim_ref.is_some());
            if volume_phase(pv) != "Available"
                || claimed
                || !selector_matches(claim, pv)
                || volume_class(pv) != class
                || !affinity_ok
            {
                continue;
            }
            let capacity = volume_capacity_bytes(pv);
            if capacity >= requested && best.map_or(true, |(_, b)| capacity < b) {
                best = Some((pv, capacity));
            }
        }
        if let Some((pv, _)) = best {
            return Some(pv);
        }
    }
    None
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
