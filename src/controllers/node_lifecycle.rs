//! Notices boards that went away, as kube-controller-manager's node lifecycle controller
//! does: a Node whose kubelet has renewed neither its Lease nor its status for the grace
//! period (`--node-monitor-grace-period`, 40 s) gets every kubelet condition set to
//! `Unknown` with reason `NodeStatusUnknown` ("Kubelet stopped posting node status."), so
//! `kubectl get nodes` shows it `NotReady`, and the `node.kubernetes.io/unreachable` taints
//! (NoSchedule and NoExecute), so nothing new is placed there. A Ready=False node gets the
//! `not-ready` taints instead. When the kubelet reports Ready again the taints go; the
//! kubelet, not this controller, sets Ready back to True.
//!
//! The grace period runs from when this controller last saw a sign of life change, so a
//! restarted server gives every board the full grace period. Pods on a tainted node are
//! evicted by the taint eviction controller after their `tolerationSeconds`. The NoSchedule
//! taints of the node's pressure and board conditions ([`node_condition_taints`]) are
//! written in the same update.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::node_condition_taints::with_condition_taints;
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{key_of, Change, Informer, Informers, Key, Unserved};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::node;
use crate::resources::tolerations::{TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE};

/// Upstream's default `--node-monitor-grace-period`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(40);
/// The conditions a kubelet owns, which go Unknown together.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The last sign of life seen from a node, and when this controller saw it change.
type Probe = (Option<DateTime<Utc>>, Instant);

/// Watches node heartbeats.
pub struct NodeLifecycleController<C: Client> {
    client: C,
    /// How long a silent kubelet is given before its node is marked Unknown.
    grace: Duration,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    /// Per node: the last sign of life seen and when it was first seen.
    health: Mutex<HashMap<String, Probe>>,
}

fn ready_status(node: &Node) -> &str {
    node::ready_condition(node).map_or("False", |c| c.status.as_str())
}

/// The kubelet conditions marked Unknown at `now`, others kept; `None` when already so.
fn unknown_conditions(node: &Node, now: DateTime<Utc>) -> Option<Vec<NodeCondition>> {
    let current = node::conditions(node);
    if ready_status(node) == "Unknown" {
        return None;
    }
    let mut out: Vec<NodeCondition> = current
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    for kind in KUBELET_CONDITIONS {
        let old = current.iter().find(|c| c.type_ == kind);
        out.push(NodeCondition {
            type_: kind.to_string(),
            status: "Unknown".to_string(),
            reason: Some("NodeStatusUnknown".to_string()),
            message: Some("Kubelet stopped posting node status.".to_string()),
            last_transition_time: Some(Time(now)),
            last_heartbeat_time: old.and_then(|o| o.last_heartbeat_time.clone()),
        });
    }
    Some(out)
}

/// The node's taints with the lifecycle taints set for its Ready `status` (added at
/// `now`); `None` when nothing changes.
fn lifecycle_taints(node: &Node, ready: &str, now: DateTime<Utc>) -> Option<Vec<Taint>> {
    let current = node::own_taints(node);
    let wanted = match ready {
        "Unknown" => Some(TAINT_NODE_UNREACHABLE),
        "True" => None,
        _ => Some(TAINT_NODE_NOT_READY),
    };
    let is_lifecycle = |t: &Taint| t.key == TAINT_NODE_UNREACHABLE || t.key == TAINT_NODE_NOT_READY;
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !is_lifecycle(t) || wanted == Some(t.key.as_str()))
        .cloned()
        .collect();
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                out.push(Taint {
                    key: key.to_string(),
                    effect: effect.to_string(),
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                    value: None,
                });
            }
        }
    }
    (out != current).then_some(out)
}

/// Lease renewals are news about their node.
fn on_lease_change(queue: &WorkQueue, change: &Change<Lease>) {
    let m = &change.object().metadata;
    if m.namespace.as_deref() == Some(LEASE_NAMESPACE) {
        queue.add((String::new(), m.name.clone().unwrap_or_default()));
    }
}

impl<C: Client> NodeLifecycleController<C> {
    /// Wires the controller to the shared informers of nodes and leases.
    pub fn new(
        informers: &Informers<C>,
        grace: Duration,
    ) -> Result<(Self, Informer<Node>, WorkQueue), Unserved> {
        let nodes = informers.get::<Node>()?;
        let leases = informers.get::<Lease>()?;
        let queue = WorkQueue::default();
        {
            let queue = queue.clone();
            leases.on_change(move |c| on_lease_change(&queue, c));
        }
        Ok((
            NodeLifecycleController {
                client: informers.client().clone(),
                grace,
                leases,
                nodes: nodes.clone(),
                health: Mutex::new(HashMap::new()),
            },
            nodes,
            queue,
        ))
    }

    /// Resolves once nodes and leases have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (n, l) = (self.nodes.clone(), self.leases.clone());
        async move {
            n.wait_synced().await;
            l.wait_synced().await;
        }
    }

    /// How long this controller has heard nothing new from the node: counted from when it
    /// last saw the node's sign of life change, or from when it first saw the node (as
    /// upstream's `probeTimestamp`), never from the timestamps themselves, so neither an old
    /// heartbeat in a new Node nor a server restart makes a board look gone at once.
    fn silent_for(&self, name: &str, sign: Option<DateTime<Utc>>) -> Duration {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let entry = health.entry(name.to_string()).or_insert((sign, now));
        if entry.0 != sign {
            *entry = (sign, now);
        }
        now.duration_since(entry.1)
    }
}

impl<C: Client> Controller for NodeLifecycleController<C> {
    type Kind = Node;

    fn name(&self) -> &'static str {
        "node-lifecycle-controller"
    }

    async fn reconcile(&self, typed: Arc<Node>) -> Result<Action, ApiError> {
        let name = key_of(&*typed).1;
        let lease = self.leases.get(LEASE_NAMESPACE, &name);
        let silent_for = self.silent_for(&name, node::last_heard(&typed, lease.as_deref()));
        let now = Utc::now();
        let mut node = typed;
        if silent_for >= self.grace {
            if let Some(conditions) = unknown_conditions(&node, now) {
                tracing::info!(node = %name, silent_secs = silent_for.as_secs(), "the kubelet stopped posting node status");
                let patched = self
                    .client
                    .patch(
                        &node::RESOURCE,
                        "",
                        &name,
                        PatchType::Merge,
                        &json!({"status": {"conditions": conditions}}),
                        Subresource::Status,
                    )
                    .await?;
                node = serde_json::from_value(patched)
                    .map(Arc::new)
                    .map_err(|e| ApiError::internal(format!("node unreadable: {e}")))?;
            }
        }
        let current = node::own_taints(&node);
        let lifecycle =
            lifecycle_taints(&node, ready_status(&node), now).unwrap_or_else(|| current.to_vec());
        let taints = with_condition_taints(&node, lifecycle);
        if taints != current {
            let rv = node.metadata.resource_version.as_deref().unwrap_or("");
            let patch = json!({"metadata": {"resourceVersion": rv}, "spec": {"taints": taints}});
            self.client
                .patch(
                    &node::RESOURCE,
                    "",
                    &name,
                    PatchType::Merge,
                    &patch,
                    Subresource::Main,
                )
                .await?;
        }
        Ok(if silent_for < self.grace {
            Action::RequeueAfter(self.grace - silent_for + Duration::from_secs(1))
        } else {
            Action::Done
        })
    }

    fn forget(&self, key: &Key) {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn node(ready: &str, taints: Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "pi-2", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"taints": taints},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "2026-01-01T00:01:00Z"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": "2026-01-01T00:01:00Z"},
                {"type": "NetworkUnavailable", "status": "False"},
            ]},
        }))
        .unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A Node whose heartbeat is a year old when the controller first sees it (a restored
    /// backup, or every board after the server restarts) gets the whole grace period, and
    /// a heartbeat that changes starts it again.
    #[tokio::test]
    async fn the_grace_period_runs_from_when_the_controller_first_sees_a_node() {
        use crate::client::LocalClient;
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = Informers::new(client.clone(), shutdown.clone());
        let grace = Duration::from_millis(300);
        let (c, _, _) = NodeLifecycleController::new(&informers, grace).unwrap();
        // First sight: silent for no time at all, whatever the heartbeat says.
        let heard = node::last_heard(&node("True", json!([])), None);
        assert!(c.silent_for("pi-2", heard) < grace);
        let started = Instant::now();
        // The same sign of life later: the silence grows from first sight.
        while started.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(c.silent_for("pi-2", heard) >= grace);
        // A new heartbeat restarts the count; forgetting the node forgets it.
        let newer = heard.map(|t| t + chrono::Duration::seconds(10));
        assert!(c.silent_for("pi-2", newer) < grace);
        c.forget(&(String::new(), "pi-2".into()));
        assert!(c.health.lock().unwrap().is_empty());
        shutdown.cancel();
        informers.stopped().await;
    }

    #[test]
    fn the_latest_of_lease_and_heartbeat_counts() {
        let n = node("True", json!([]));
        let lease: Lease =
            serde_json::from_value(json!({"spec": {"renewTime": "2026-01-01T00:05:00.000000Z"}}))
                .unwrap();
        let heard = node::last_heard(&n, Some(&lease)).unwrap();
        assert_eq!(heard, at("2026-01-01T00:05:00Z"));
        assert_eq!(
            node::last_heard(&n, None).unwrap(),
            at("2026-01-01T00:01:00Z")
        );
        let bare: Node = serde_json::from_value(
            json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}),
        )
        .unwrap();
        assert_eq!(
            node::last_heard(&bare, None).unwrap(),
            at("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_silent_node_goes_unknown_keeping_its_heartbeats_and_other_conditions() {
        let n = node("True", json!([]));
        let now = at("2026-01-01T00:10:00Z");
        let out = unknown_conditions(&n, now).unwrap();
        let ready = out.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(
            ready.last_heartbeat_time.as_ref().map(|t| t.0),
            Some(at("2026-01-01T00:01:00Z"))
        );
        assert_eq!(ready.last_transition_time.as_ref().map(|t| t.0), Some(now));
        assert!(out
            .iter()
            .any(|c| c.type_ == "NetworkUnavailable" && c.status == "False"));
        assert!(out
            .iter()
            .any(|c| c.type_ == "PIDPressure" && c.status == "Unknown"));
        // What is sent is what kubectl shows: seconds, in UTC.
        let sent = serde_json::to_value(ready).unwrap();
        assert_eq!(sent["lastTransitionTime"], "2026-01-01T00:10:00Z");
        let mut already = n.clone();
        already.status.as_mut().unwrap().conditions = Some(out);
        assert!(unknown_conditions(&already, now).is_none());
    }

    #[test]
    fn taints_follow_the_ready_condition_and_leave_others_alone() {
        let own = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let now = at("2026-01-01T00:10:00Z");
        let n = node("Unknown", json!([own]));
        let t = lifecycle_taints(&n, "Unknown", now).unwrap();
        assert_eq!(t.len(), 3);
        assert!(t
            .iter()
            .any(|x| x.key == TAINT_NODE_UNREACHABLE && x.effect == "NoSchedule"));
        assert!(t.iter().any(|x| x.key == TAINT_NODE_UNREACHABLE
            && x.effect == "NoExecute"
            && x.time_added.as_ref().map(|t| t.0) == Some(now)));
        let tainted = node("Unknown", serde_json::to_value(&t).unwrap());
        assert!(lifecycle_taints(&tainted, "Unknown", now).is_none());
        let back = lifecycle_taints(&tainted, "True", now).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json!([own]));
        let not_ready = lifecycle_taints(&tainted, "False", now).unwrap();
        assert!(not_ready.iter().all(|x| x.key != TAINT_NODE_UNREACHABLE));
        assert!(not_ready.iter().any(|x| x.key == TAINT_NODE_NOT_READY));
        assert!(lifecycle_taints(&node("True", json!([])), "True", now).is_none());
    }
}
