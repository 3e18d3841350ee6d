//! What the workload controllers read from pods, as upstream's `controller_utils`: which pods
//! count (active: not terminal, not being deleted), which are ready and available, who
//! controls a pod, which pods to delete first when scaling down, and a pod made from a
//! template for an owner.

use std::cmp::Reverse;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{json, Value};

use crate::client::informer::{Informer, Key, Kind};

/// Name of the pod index by controller uid ([`controller_uid`]).
pub const BY_CONTROLLER: &str = "controller-uid";
/// Name of the pod index of pods without a controller, by namespace.
pub const ORPHANS: &str = "orphans-by-namespace";

/// The owner reference marked `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The key of the `K` that `meta`'s controller reference names, if `owners` holds it with
/// that uid (upstream's `resolveControllerRef`): a reference to an object of the same name
/// that was deleted and made again is no longer its owner.
pub fn owner_in<K: Kind>(owners: &Informer<K>, meta: &ObjectMeta) -> Option<Key> {
    let r = controller_of(meta)?;
    if r.kind != K::KIND || r.api_version != K::API_VERSION {
        return None;
    }
    let ns = meta.namespace.clone().unwrap_or_default();
    let owner = owners.get(&ns, &r.name)?;
    (owner.metadata().uid.as_deref() == Some(r.uid.as_str())).then(|| (ns, r.name.clone()))
}

/// Index function: a pod's controller uid.
pub fn controller_uid(p: &Pod) -> Vec<String> {
    controller_of(&p.metadata)
        .map(|r| r.uid.clone())
        .into_iter()
        .collect()
}

/// Index function: the namespace of a pod without a controller.
pub fn orphan_namespace(p: &Pod) -> Vec<String> {
    if controller_of(&p.metadata).is_some() {
        return Vec::new();
    }
    vec![p.metadata.namespace.clone().unwrap_or_default()]
}

/// The pod's `status.phase`, empty when it has none yet.
pub(crate) fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Not terminal and not being deleted (upstream's `IsPodActive`).
pub fn is_active(p: &Pod) -> bool {
    !matches!(phase(p), "Succeeded" | "Failed") && p.metadata.deletion_timestamp.is_none()
}

/// When the pod's Ready condition last turned True; `None` while not ready.
pub fn ready_since(p: &Pod) -> Option<DateTime<Utc>> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        c.last_transition_time
            .as_ref()
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.0),
    )
}

/// Ready (upstream's `IsPodReady`).
pub fn is_ready(p: &Pod) -> bool {
    ready_since(p).is_some()
}

/// Ready for at least `min_ready_seconds` at `now` (upstream's `IsPodAvailable`).
pub fn is_available(p: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    ready_since(p).is_some_and(|since| {
        min_ready_seconds <= 0
            || since + chrono::Duration::seconds(i64::from(min_ready_seconds)) <= now
    })
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| {
            cs.iter().map(|c| c.restart_count).max().unwrap_or(0)
        })
}

fn created(p: &Pod) -> DateTime<Utc> {
    p.metadata
        .creation_timestamp
        .as_ref()
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.0)
}

/// Orders pods so the ones to delete first come first, as upstream's `ActivePods` sort:
/// unscheduled before scheduled, pending before unknown before running, not ready before
/// ready, ready for less time first, more restarts first, newer first.
pub fn sort_for_deletion(pods: &mut [Arc<Pod>]) {
    pods.sort_by_key(|p| {
        let scheduled = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let phase_rank = match phase(p) {
            "Pending" => 0,
            "Unknown" => 1,
            "Running" => 2,
            _ => 0,
        };
        let ready = ready_since(p);
        (
            scheduled,
            phase_rank,
            ready.is_some(),
            Reverse(ready),
            Reverse(restarts(p)),
            Reverse(created(p)),
        )
    });
}

/// A controller reference to an owner.
pub fn owner_reference(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// A new pod from `template`, controlled by `owner` (an owner reference), named after
/// `prefix` (upstream's `GetPodFromTemplate`).
pub fn from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    prefix: &str,
    owner: Value,
) -> Value {
    let meta = template.metadata.as_ref();
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{prefix}-"),
            "namespace": namespace,
            "ownerReferences": [owner],
        },
        "spec": template.spec,
    });
    if let Some(m) = meta {
        for (field, v) in [
            ("labels", serde_json::to_value(&m.labels)),
            ("annotations", serde_json::to_value(&m.annotations)),
            ("finalizers", serde_json::to_value(&m.finalizers)),
        ] {
            if let Ok(v) = v {
                if !v.is_null() {
                    pod["metadata"][field] = v;
                }
            }
        }
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: bool, age_s: i64) -> Arc<Pod> {
        let now = Utc::now();
        let v = json!({
            "metadata": {"name": name, "namespace": "d",
                "creationTimestamp": (now - chrono::Duration::seconds(age_s)).to_rfc3339()},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase, "conditions": [{"type": "Ready",
                "status": if ready {"True"} else {"False"},
                "lastTransitionTime": (now - chrono::Duration::seconds(age_s)).to_rfc3339()}]},
        });
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn unscheduled_pending_unready_and_new_pods_go_first() {
        let mut pods = vec![
            pod("old-ready", "n", "Running", true, 100),
            pod("new-ready", "n", "Running", true, 10),
            pod("unready", "n", "Running", false, 50),
            pod("pending", "n", "Pending", false, 50),
            pod("unscheduled", "", "Pending", false, 500),
        ];
        sort_for_deletion(&mut pods);
        let names: Vec<_> = pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "unscheduled",
                "pending",
                "unready",
                "new-ready",
                "old-ready"
            ]
        );
    }

    #[test]
    fn available_means_ready_for_min_ready_seconds() {
        let p = pod("a", "n", "Running", true, 10);
        let now = Utc::now();
        assert!(is_available(&p, 0, now) && is_available(&p, 5, now));
        assert!(!is_available(&p, 60, now));
        assert!(!is_available(&pod("b", "n", "Running", false, 10), 0, now));
    }
}
