//! A DaemonSet's status, as upstream's `updateDaemonSetStatus`: of the nodes that should
//! run a pod, how many do (`currentNumberScheduled`), how many of those pods (the oldest on
//! each node) are ready, available and of the current template; how many nodes run a pod
//! they should not (`numberMisscheduled`); and the generation seen, raised only when the
//! controller acted on it. Written only when it changed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use serde_json::{json, Value};

use super::eligibility::{daemon_pod, node_fit};
use super::placement::{is_updated, sort_oldest_first, template_generation, NodePods};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pods;
use crate::controllers::status_patch::patch_status;
use crate::controllers::Action;

/// The counters of a DaemonSet's status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Nodes that should run a pod.
    pub desired: i32,
    /// Of those, nodes that run one.
    pub current: i32,
    /// Nodes running a pod they should not.
    pub misscheduled: i32,
    /// Nodes whose pod is ready.
    pub ready: i32,
    /// Nodes whose pod is available.
    pub available: i32,
    /// Nodes whose pod runs the current template.
    pub updated: i32,
}

/// Counts `by_node` against `nodes` for the template `hash`.
pub fn count(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    by_node: &NodePods,
    hash: &str,
    now: DateTime<Utc>,
) -> Counts {
    let template = daemon_pod(ds);
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let generation = template_generation(ds);
    let mut c = Counts::default();
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let pods = by_node.get(name).filter(|p| !p.is_empty());
        if !node_fit(&template, node).should_run {
            if pods.is_some() {
                c.misscheduled += 1;
            }
            continue;
        }
        c.desired += 1;
        let Some(pods) = pods else { continue };
        c.current += 1;
        let mut pods = pods.clone();
        sort_oldest_first(&mut pods);
        let pod = &pods[0];
        if pods::is_ready(pod) {
            c.ready += 1;
            if pods::is_available(pod, min_ready, now) {
                c.available += 1;
            }
        }
        if is_updated(pod, hash, generation) {
            c.updated += 1;
        }
    }
    c
}

/// Writes `counts` into the status of `ds` (with `observedGeneration` when `observed`);
/// asks to look again when ready pods become available only after `minReadySeconds`.
pub async fn update<C: Client>(
    client: &C,
    ds: &DaemonSet,
    counts: Counts,
    observed: bool,
) -> Result<Action, ApiError> {
    let old = ds.status.clone().unwrap_or_default();
    let observed_generation = if observed {
        ds.metadata.generation
    } else {
        old.observed_generation
    };
    let status = json!({
        "desiredNumberScheduled": counts.desired,
        "currentNumberScheduled": counts.current,
        "numberMisscheduled": counts.misscheduled,
        "numberReady": counts.ready,
        "numberAvailable": counts.available,
        "numberUnavailable": counts.desired.saturating_sub(counts.available),
        "updatedNumberScheduled": counts.updated,
        "observedGeneration": observed_generation,
    });
    let current = serde_json::to_value(&old).unwrap_or(Value::Null);
    let zero = json!(0);
    let or_zero = |v: Option<&Value>| v.filter(|v| !v.is_null()).unwrap_or(&zero).clone();
    let same = status
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| or_zero(current.get(k)) == or_zero(Some(v)));
    if !same && !patch_status(client, ds, status).await? {
        return Ok(Action::Done);
    }
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if min_ready > 0 && counts.ready != counts.available {
        return Ok(Action::RequeueAfter(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(0),
        )));
    }
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::super::history::REVISION_HASH;
    use super::super::placement::by_node;
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn counts_follow_upstream() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {}, "template": {"spec": {"nodeSelector": {"run": "yes"}, "containers": []}}},
        }))
        .unwrap();
        let node = |name: &str, run: bool| -> Arc<Node> {
            let labels = if run {
                json!({"run": "yes"})
            } else {
                json!({})
            };
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
                .unwrap(),
            )
        };
        let pod = |node: &str, hash: &str, ready: bool| -> Arc<Pod> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": format!("p-{node}"), "labels": {REVISION_HASH: hash}},
                    "spec": {"nodeName": node, "containers": []},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready",
                        "status": if ready {"True"} else {"False"}}]},
                }))
                .unwrap(),
            )
        };
        let nodes = [
            node("a", true),
            node("b", true),
            node("c", true),
            node("d", false),
        ];
        let pods = [
            pod("a", "new", true),
            pod("b", "old", false),
            pod("d", "old", true),
        ];
        let c = count(&ds, &nodes, &by_node(&pods), "new", Utc::now());
        assert_eq!(
            c,
            Counts {
                desired: 3,
                current: 2,
                misscheduled: 1,
                ready: 1,
                available: 1,
                updated: 1
            }
        );
    }
}
