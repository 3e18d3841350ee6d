//! The RollingUpdate strategy, as upstream's `rollingUpdate`: without surge, old pods are
//! deleted (and replaced by the manage step) while at most `maxUnavailable` of the nodes
//! that should run a pod lack an available one — an old pod that is not available anyway
//! is always replaced; with `maxSurge`, a new pod is started beside up to `maxSurge` old
//! available ones (at once beside an unavailable one) and the old pod goes once the new one
//! is available. Both bounds are resolved against the number of nodes that should run a
//! pod, percentages rounded up; both zero means one may be unavailable.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::eligibility::{daemon_pod, node_fit};
use super::placement::{is_updated, template_generation, NodePods};
use crate::controllers::pods;

/// An int-or-percent of `total`, percentages rounded up (upstream's
/// `GetScaledValueFromIntOrPercent(.., true)`).
fn scaled(v: Option<&IntOrString>, total: usize) -> usize {
    match v {
        Some(IntOrString::Int(n)) => usize::try_from(*n).unwrap_or(0),
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<usize>().ok())
            .map_or(0, |p| total.saturating_mul(p).div_ceil(100)),
        None => 0,
    }
}

fn rolling(ds: &DaemonSet) -> Option<&k8s_openapi::api::apps::v1::RollingUpdateDaemonSet> {
    ds.spec
        .as_ref()?
        .update_strategy
        .as_ref()?
        .rolling_update
        .as_ref()
}

/// Whether the set is rolling.
pub fn is_rolling_update(ds: &DaemonSet) -> bool {
    ds.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .map_or(true, |t| t == "RollingUpdate")
}

/// Whether the set may run a new pod beside an old one on a node (upstream's `AllowsSurge`).
pub fn allows_surge(ds: &DaemonSet) -> bool {
    is_rolling_update(ds) && scaled(rolling(ds).and_then(|r| r.max_surge.as_ref()), 1) > 0
}

/// `(maxSurge, maxUnavailable)` for `desired` nodes.
pub fn bounds(ds: &DaemonSet, desired: usize) -> (usize, usize) {
    let r = rolling(ds);
    let surge = scaled(r.and_then(|r| r.max_surge.as_ref()), desired);
    let unavailable = match r.and_then(|r| r.max_unavailable.as_ref()) {
        Some(v) => scaled(Some(v), desired),
        None => 1,
    };
    if desired > 0 && surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// What one rolling step does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Picks {
    /// Old pods to delete, by name.
    pub delete: Vec<String>,
    /// Nodes to start a new pod on beside the old one.
    pub create_on: Vec<String>,
}

/// The one new and one old live pod of a node; `None` when there are more (the manage step
/// prunes them first).
fn new_and_old<'a>(
    pods: &'a [Arc<Pod>],
    hash: &str,
    generation: Option<i64>,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let (mut new, mut old) = (None, None);
    for p in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let slot = if is_updated(p, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.replace(&**p).is_some() {
            return None;
        }
    }
    Some((new, old))
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// The pods to delete and nodes to surge onto for one step of the rollout to `hash`.
pub fn pick(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    by_node: &NodePods,
    hash: &str,
    now: DateTime<Utc>,
) -> Picks {
    let template = daemon_pod(ds);
    let mut by_node = by_node.clone();
    let mut desired = 0;
    for n in nodes {
        if node_fit(&template, n).should_run {
            desired += 1;
            by_node
                .entry(n.metadata.name.clone().unwrap_or_default())
                .or_default();
        }
    }
    let (max_surge, max_unavailable) = bounds(ds, desired);
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let available = |p: &Pod| pods::is_available(p, min_ready, now);
    let generation = template_generation(ds);
    let mut picks = Picks::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            match new_and_old(pods, hash, generation) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !available(old) {
                        picks.delete.push(name(old));
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(name(old));
                    }
                }
            }
        }
        let room = max_unavailable
            .saturating_sub(unavailable)
            .min(candidates.len());
        picks.delete.extend(candidates.into_iter().take(room));
        return picks;
    }
    let mut surging = 0;
    let mut candidates = Vec::new();
    for (node, pods) in &by_node {
        match new_and_old(pods, hash, generation) {
            None => surging += 1,
            Some((_, None)) => {}
            Some((None, Some(old))) => {
                if !available(old) {
                    picks.create_on.push(node.clone());
                } else if surging < max_surge {
                    candidates.push(node.clone());
                }
            }
            Some((Some(new), Some(old))) => {
                if available(new) {
                    picks.delete.push(name(old));
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = max_surge.saturating_sub(surging).min(candidates.len());
    picks.create_on.extend(candidates.into_iter().take(room));
    picks
}

#[cfg(test)]
mod tests {
    use super::super::history::REVISION_HASH;
    use super::super::placement::by_node;
    use super::*;
    use serde_json::json;

    fn ds(strategy: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "updateStrategy": strategy,
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}},
        }))
        .unwrap()
    }

    fn nodes(n: usize) -> Vec<Arc<Node>> {
        (0..n)
            .map(|i| {
                Arc::new(
                    serde_json::from_value(json!({"metadata": {"name": format!("n{i}")},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
                    .unwrap(),
                )
            })
            .collect()
    }

    fn pod(node: usize, hash: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("{hash}-n{node}"), "labels": {REVISION_HASH: hash}},
                "spec": {"nodeName": format!("n{node}"), "containers": []},
                "status": {"phase": "Running", "conditions": [{"type": "Ready",
                    "status": if ready {"True"} else {"False"}}]},
            }))
            .unwrap(),
        )
    }

    fn rolling(max_unavailable: serde_json::Value, max_surge: serde_json::Value) -> DaemonSet {
        ds(json!({"type": "RollingUpdate", "rollingUpdate":
            {"maxUnavailable": max_unavailable, "maxSurge": max_surge}}))
    }

    #[test]
    fn bounds_resolve_percentages_up_and_never_both_zero() {
        assert_eq!(bounds(&rolling(json!(1), json!(0)), 4), (0, 1));
        assert_eq!(bounds(&rolling(json!("30%"), json!(0)), 4), (0, 2));
        assert_eq!(bounds(&rolling(json!(0), json!("10%")), 4), (1, 0));
        assert_eq!(bounds(&rolling(json!(0), json!(0)), 4), (0, 1));
        assert_eq!(bounds(&ds(json!({"type": "RollingUpdate"})), 3), (0, 1));
        assert!(allows_surge(&rolling(json!(0), json!("1%"))));
        assert!(!allows_surge(&ds(json!({"type": "OnDelete"}))));
    }

    #[test]
    fn old_pods_go_up_to_max_unavailable_and_unavailable_old_pods_always_go() {
        let n = nodes(4);
        let set = rolling(json!(2), json!(0));
        let old: Vec<_> = (0..4).map(|i| pod(i, "old", true)).collect();
        let picks = pick(&set, &n, &by_node(&old), "new", Utc::now());
        assert_eq!(picks.delete.len(), 2);
        assert!(picks.create_on.is_empty());
        // One node is already replacing (its new pod not ready): one more may go.
        let mixed = vec![
            pod(0, "new", false),
            pod(1, "old", true),
            pod(2, "old", true),
            pod(3, "old", false),
        ];
        let picks = pick(&set, &n, &by_node(&mixed), "new", Utc::now());
        assert_eq!(
            picks.delete,
            ["old-n3"],
            "the unavailable old pod uses the room"
        );
        // A node that should run a pod but has none counts as unavailable.
        let picks = pick(&set, &n, &by_node(&old[..2]), "new", Utc::now());
        assert!(picks.delete.is_empty(), "{picks:?}");
        // Everything current: nothing to do.
        let new: Vec<_> = (0..4).map(|i| pod(i, "new", true)).collect();
        assert_eq!(
            pick(&set, &n, &by_node(&new), "new", Utc::now()),
            Picks::default()
        );
    }

    #[test]
    fn surge_starts_new_pods_beside_old_ones_and_removes_old_ones_once_new_are_available() {
        let n = nodes(3);
        let set = rolling(json!(0), json!(1));
        let old: Vec<_> = (0..3).map(|i| pod(i, "old", true)).collect();
        let picks = pick(&set, &n, &by_node(&old), "new", Utc::now());
        assert_eq!(picks.create_on, ["n0"]);
        assert!(picks.delete.is_empty());
        let mut surging = old.clone();
        surging.push(pod(0, "new", false));
        assert_eq!(
            pick(&set, &n, &by_node(&surging), "new", Utc::now()),
            Picks::default()
        );
        surging.pop();
        surging.push(pod(0, "new", true));
        let picks = pick(&set, &n, &by_node(&surging), "new", Utc::now());
        assert_eq!(picks.delete, ["old-n0"]);
        assert_eq!(picks.create_on, ["n1"]);
    }
}
