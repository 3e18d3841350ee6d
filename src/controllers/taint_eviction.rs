//! Taint-based eviction, as kube-controller-manager's `TaintEvictionController`: a pod on a
//! node with NoExecute taints it does not tolerate is deleted at once; one that tolerates
//! them for a while (`tolerationSeconds`, 300 s by default through admission) is deleted
//! when the shortest of those times, counted from the taint's `timeAdded`, runs out; one
//! that tolerates them without a limit stays. So when a board goes unreachable its pods are
//! removed after five minutes and their controllers recreate them on the boards left. It
//! reads nodes and pods from the shared informers; a node's change queues its pods, found
//! through an index of pods by node.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use serde_json::json;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::{EventRecorder, EventType};
use crate::client::informer::{key_of, Change, Informer, Informers, Unserved};
use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::pod;
use crate::resources::tolerations::{tolerates, tolerations};

/// The component named on events, as upstream.
pub const COMPONENT: &str = "taint-eviction-controller";
/// Name of the pod index by node.
const PODS_BY_NODE: &str = "node-name";

fn node_of(p: &Pod) -> Vec<String> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
        .into_iter()
        .collect()
}

/// When `pod` must go given the NoExecute `taints` of its node: `None` never, else the time
/// (in the past or now for a taint not tolerated at all).
pub fn eviction_time(pod: &Pod, taints: &[Taint], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut at: Option<DateTime<Utc>> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<_> = tolerations(pod)
            .iter()
            .filter(|t| tolerates(t, taint))
            .collect();
        if matching.is_empty() {
            return Some(now);
        }
        // The shortest limit among the tolerations that match; none means forever.
        let limit = matching.iter().filter_map(|t| t.toleration_seconds).min();
        let Some(secs) = limit else { continue };
        let added = taint.time_added.as_ref().map_or(now, |t| t.0);
        let due = crate::resources::seconds::wall_after(added, secs.max(0));
        at = Some(at.map_or(due, |a| a.min(due)));
    }
    at
}

/// The controller and what it reads.
pub struct TaintEvictionController<C: Client> {
    client: C,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
    events: EventRecorder<C>,
}

impl<C: Client> TaintEvictionController<C> {
    /// Wires the controller to the shared informers; its keys are pods.
    pub fn new(informers: &Informers<C>) -> Result<(Self, Informer<Pod>, WorkQueue), Unserved> {
        let nodes = informers.get::<Node>()?;
        let pods = informers.get::<Pod>()?;
        pods.add_index(PODS_BY_NODE, node_of);
        let queue = WorkQueue::default();
        {
            let (pods, queue) = (pods.clone(), queue.clone());
            nodes.on_change(move |c: &Change<Node>| {
                let taints = |n: &Node| {
                    n.spec
                        .as_ref()
                        .and_then(|s| s.taints.clone())
                        .unwrap_or_default()
                };
                let changed = match c {
                    Change::Updated { old, new } => taints(old) != taints(new),
                    Change::Added(n) => taints(n).iter().any(|t| t.effect == "NoExecute"),
                    Change::Deleted(_) => false,
                };
                if changed {
                    let name = c.object().metadata.name.as_deref().unwrap_or_default();
                    for p in pods.by_index(PODS_BY_NODE, name) {
                        queue.add(key_of(&*p));
                    }
                }
            });
        }
        let client = informers.client().clone();
        Ok((
            TaintEvictionController {
                events: EventRecorder::new(client.clone(), COMPONENT),
                client,
                nodes,
                pods: pods.clone(),
            },
            pods,
            queue,
        ))
    }

    /// Resolves once nodes and pods have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (n, p) = (self.nodes.clone(), self.pods.clone());
        async move {
            n.wait_synced().await;
            p.wait_synced().await;
        }
    }
}

impl<C: Client> Controller for TaintEvictionController<C> {
    type Kind = Pod;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, p: Arc<Pod>) -> Result<Action, ApiError> {
        let Some(node_name) = node_of(&p).into_iter().next() else {
            return Ok(Action::Done);
        };
        if p.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let Some(node) = self.nodes.get("", &node_name) else {
            return Ok(Action::Done);
        };
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let now = Utc::now();
        let Some(at) = eviction_time(&p, &taints, now) else {
            return Ok(Action::Done);
        };
        if at > now {
            let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
            return Ok(Action::RequeueAfter(wait + Duration::from_millis(100)));
        }
        let (ns, name) = key_of(&*p);
        tracing::info!(namespace = %ns, pod = %name, node = %node_name, "evicting a pod from a tainted node");
        // Upstream marks why the pod goes before deleting it.
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }]}});
        let _ = self
            .client
            .patch(
                &pod::RESOURCE,
                &ns,
                &name,
                PatchType::StrategicMerge,
                &condition,
                Subresource::Status,
            )
            .await;
        let involved = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": p.metadata.uid}});
        self.events.record(
            &involved,
            EventType::Normal,
            "TaintManagerEviction",
            "Delete",
            &format!("Marking for deletion Pod {ns}/{name}"),
        );
        match self
            .client
            .delete(&pod::RESOURCE, &ns, &name, &DeleteOptions::default())
            .await
        {
            Err(e) if e.code != 404 => Err(e),
            _ => Ok(Action::Done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tolerations}})).unwrap()
    }

    fn taint(key: &str, added: DateTime<Utc>) -> Taint {
        serde_json::from_value(
            json!({"key": key, "effect": "NoExecute", "timeAdded": added.to_rfc3339()}),
        )
        .unwrap()
    }

    #[test]
    fn eviction_waits_for_the_shortest_matching_toleration() {
        let now = Utc::now();
        let added = now - chrono::Duration::seconds(100);
        let taints = [taint("node.kubernetes.io/unreachable", added)];
        assert_eq!(eviction_time(&pod(json!([])), &taints, now), Some(now));
        let p = pod(json!([
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"operator": "Exists", "tolerationSeconds": 200},
        ]));
        let at = eviction_time(&p, &taints, now).unwrap();
        assert_eq!((at - added).num_seconds(), 200);
        let forever = pod(json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]));
        assert_eq!(eviction_time(&forever, &taints, now), None);
        let no_execute_free: [Taint; 0] = [];
        assert_eq!(eviction_time(&pod(json!([])), &no_execute_free, now), None);
    }
}
