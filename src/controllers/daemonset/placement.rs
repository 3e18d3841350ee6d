//! Which daemon pods each node needs, as upstream's `manage` and `podsShouldBeOnNode`: an
//! eligible node without a pod gets one; a node that may no longer keep one loses it; a
//! failed pod is deleted so it can be replaced (no sooner than the node's backoff allows), a
//! succeeded one too; of several running pods on a node only the oldest stays (with surge,
//! the oldest of the current template and, while it is not yet available, the oldest old
//! one that is ready). Pods pinned to nodes that no longer exist and never bound go too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};

use super::backoff::FailedPodBackoff;
use super::eligibility::{node_fit, target_node};
use super::history::REVISION_HASH;
use crate::controllers::pods;

/// The label holding the template generation a pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Where apps/v1 keeps a DaemonSet's template generation.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// A set's pods by the node they are for.
pub type NodePods = BTreeMap<String, Vec<Arc<Pod>>>;

/// Files `pods` by their target node, leaving out pods both terminal and being deleted
/// (upstream's `getNodesToDaemonPods` without deleted terminal pods).
pub fn by_node(pods: &[Arc<Pod>]) -> NodePods {
    let mut out = NodePods::new();
    for p in pods {
        let terminal = matches!(pods::phase(p), "Succeeded" | "Failed");
        if terminal && p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match target_node(p) {
            Some(node) => out.entry(node.to_string()).or_default().push(p.clone()),
            None => tracing::debug!(pod = ?p.metadata.name, "daemon pod names no node"),
        }
    }
    out
}

/// The set's template generation, from its annotation.
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata
        .annotations
        .as_ref()?
        .get(TEMPLATE_GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

/// Whether `p` runs the current template (upstream's `IsPodUpdated`): its hash label is
/// `hash`, or its template generation label is the set's.
pub fn is_updated(p: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let label = |k: &str| p.metadata.labels.as_ref().and_then(|l| l.get(k));
    let by_hash = !hash.is_empty() && label(REVISION_HASH).map(String::as_str) == Some(hash);
    let by_generation =
        generation.is_some_and(|g| label(TEMPLATE_GENERATION_LABEL) == Some(&g.to_string()));
    by_hash || by_generation
}

/// Orders pods bound first, then oldest first, then by name (upstream's
/// `podByCreationTimestampAndPhase`).
pub fn sort_oldest_first(pods: &mut [Arc<Pod>]) {
    pods.sort_by_key(|p| {
        let unbound = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .map_or(true, str::is_empty);
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.0);
        (unbound, created, p.metadata.name.clone())
    });
}

/// What the manage step decided.
#[derive(Debug, Default)]
pub struct Plan {
    /// Nodes that need a pod.
    pub create_on: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<Arc<Pod>>,
    /// Failed pods being replaced, for the warning event.
    pub failed: Vec<(String, String)>,
    /// Look again this soon: a failed pod waits for its node's backoff.
    pub retry_after: Option<Duration>,
}

/// What the manage step should do for `ds` given its pods by node.
pub fn plan(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    pods_by_node: &NodePods,
    hash: &str,
    surge: bool,
    backoff: &FailedPodBackoff,
    now: Instant,
) -> Plan {
    let template = super::eligibility::daemon_pod(ds);
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let (ns, name) = (
        ds.metadata.namespace.as_deref().unwrap_or_default(),
        ds.metadata.name.as_deref().unwrap_or_default(),
    );
    let mut plan = Plan::default();
    for node in nodes {
        let node_name = node.metadata.name.as_deref().unwrap_or_default();
        let fit = node_fit(&template, node);
        let pods = pods_by_node.get(node_name);
        match pods {
            None if fit.should_run => plan.create_on.push(node_name.to_string()),
            None => {}
            Some(pods) if fit.should_continue => {
                let mut running = Vec::new();
                for p in pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                {
                    match pods::phase(p) {
                        "Failed" => {
                            let key = FailedPodBackoff::key(ns, name, node_name);
                            if backoff.waiting(&key, now) {
                                let d = backoff.delay(&key);
                                plan.retry_after = Some(plan.retry_after.map_or(d, |r| r.min(d)));
                                continue;
                            }
                            backoff.step(&key, now);
                            let pod_name = p.metadata.name.clone().unwrap_or_default();
                            plan.failed.push((pod_name, node_name.to_string()));
                            plan.delete.push(p.clone());
                        }
                        "Succeeded" => plan.delete.push(p.clone()),
                        _ => running.push(p.clone()),
                    }
                }
                sort_oldest_first(&mut running);
                if !surge {
                    plan.delete.extend(running.into_iter().skip(1));
                    continue;
                }
                if running.is_empty() && fit.should_run {
                    plan.create_on.push(node_name.to_string());
                }
                if running.len() <= 1 {
                    continue;
                }
                let (mut oldest_new, mut oldest_old) = (None, None);
                for p in running {
                    let current = p
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(REVISION_HASH))
                        .map(String::as_str)
                        == Some(hash);
                    let slot = if current {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(p);
                    } else {
                        plan.delete.push(p);
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                    if !pods::is_ready(&old) || pods::is_available(&new, min_ready, Utc::now()) {
                        plan.delete.push(old);
                    }
                }
            }
            Some(pods) => plan.delete.extend(
                pods.iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .cloned(),
            ),
        }
    }
    // Pods for nodes that are gone and never bound would wait for them forever.
    for (node, pods) in pods_by_node {
        if nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node.as_str()))
        {
            continue;
        }
        plan.delete.extend(
            pods.iter()
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && p.spec
                            .as_ref()
                            .and_then(|s| s.node_name.as_deref())
                            .map_or(true, str::is_empty)
                })
                .cloned(),
        );
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}},
                    "spec": {"nodeSelector": {"run": "yes"}, "containers": []}}},
        }))
        .unwrap()
    }

    fn node(name: &str, run: bool) -> Arc<Node> {
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
    }

    fn pod(name: &str, node: &str, phase: &str, age: i64, hash: &str) -> Arc<Pod> {
        let created = Utc::now() - chrono::Duration::seconds(age);
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "creationTimestamp": created.to_rfc3339(),
                    "labels": {"app": "a", REVISION_HASH: hash}},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": phase},
            }))
            .unwrap(),
        )
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn eligible_nodes_get_a_pod_and_ineligible_ones_lose_theirs() {
        let nodes = [node("n1", true), node("n2", true), node("n3", false)];
        let pods = vec![
            pod("on-n2", "n2", "Running", 10, "h"),
            pod("on-n3", "n3", "Running", 10, "h"),
        ];
        let p = plan(
            &ds(),
            &nodes,
            &by_node(&pods),
            "h",
            false,
            &FailedPodBackoff::default(),
            Instant::now(),
        );
        assert_eq!(p.create_on, ["n1"]);
        assert_eq!(names(&p.delete), ["on-n3"]);
    }

    #[test]
    fn only_the_oldest_of_several_pods_on_a_node_stays() {
        let nodes = [node("n1", true)];
        let pods = vec![
            pod("young", "n1", "Running", 5, "h"),
            pod("old", "n1", "Running", 50, "h"),
            pod("middle", "n1", "Pending", 20, "h"),
        ];
        let p = plan(
            &ds(),
            &nodes,
            &by_node(&pods),
            "h",
            false,
            &FailedPodBackoff::default(),
            Instant::now(),
        );
        assert!(p.create_on.is_empty());
        assert_eq!(names(&p.delete), ["middle", "young"]);
    }

    #[test]
    fn a_failed_pod_is_replaced_no_sooner_than_its_backoff() {
        let nodes = [node("n1", true)];
        let pods = vec![pod("broken", "n1", "Failed", 5, "h")];
        let backoff = FailedPodBackoff::default();
        let t0 = Instant::now();
        let first = plan(&ds(), &nodes, &by_node(&pods), "h", false, &backoff, t0);
        assert_eq!(names(&first.delete), ["broken"]);
        assert_eq!(first.failed, [("broken".to_string(), "n1".to_string())]);
        // Its replacement fails at once: it waits out the backoff, and is asked back for then.
        let again = plan(
            &ds(),
            &nodes,
            &by_node(&pods),
            "h",
            false,
            &backoff,
            t0 + Duration::from_millis(100),
        );
        assert!(again.delete.is_empty());
        assert_eq!(again.retry_after, Some(Duration::from_secs(1)));
        let later = plan(
            &ds(),
            &nodes,
            &by_node(&pods),
            "h",
            false,
            &backoff,
            t0 + Duration::from_secs(2),
        );
        assert_eq!(names(&later.delete), ["broken"]);
    }

    #[test]
    fn with_surge_an_old_pod_goes_once_the_new_one_is_available() {
        let nodes = [node("n1", true)];
        let mut new = pod("new", "n1", "Running", 5, "h2");
        Arc::make_mut(&mut new).status = serde_json::from_value(json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}))
        .unwrap();
        let mut old = pod("old", "n1", "Running", 50, "h1");
        Arc::make_mut(&mut old).status = new.status.clone();
        let b = FailedPodBackoff::default();
        let waiting = pod("new", "n1", "Running", 5, "h2");
        let p = plan(
            &ds(),
            &nodes,
            &by_node(&[old.clone(), waiting]),
            "h2",
            true,
            &b,
            Instant::now(),
        );
        assert!(p.delete.is_empty(), "{:?}", names(&p.delete));
        let p = plan(
            &ds(),
            &nodes,
            &by_node(&[old, new]),
            "h2",
            true,
            &b,
            Instant::now(),
        );
        assert_eq!(names(&p.delete), ["old"]);
    }

    #[test]
    fn template_generation_also_marks_a_pod_current() {
        let mut p = pod("p", "n1", "Running", 5, "h1");
        assert!(is_updated(&p, "h1", None));
        assert!(!is_updated(&p, "h2", Some(2)));
        Arc::make_mut(&mut p)
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(TEMPLATE_GENERATION_LABEL.into(), "2".into());
        assert!(is_updated(&p, "h2", Some(2)));
    }
}
