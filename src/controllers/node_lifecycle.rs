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
//! evicted by the taint eviction controller after their `tolerationSeconds`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{Change, Informer, Informers, Key, Unserved};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta;
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

fn time_at(v: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn condition<'a>(node: &'a Value, kind: &str) -> Option<&'a Value> {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == kind)
}

/// When the node last showed a sign of life: its lease renewal or its Ready heartbeat,
/// whichever is later, else its creation.
pub fn last_heard(node: &Value, lease: Option<&Value>) -> Option<DateTime<Utc>> {
    let renewed = lease.and_then(|l| time_at(l, "/spec/renewTime"));
    let heartbeat = condition(node, "Ready").and_then(|c| time_at(c, "/lastHeartbeatTime"));
    renewed
        .max(heartbeat)
        .or_else(|| time_at(node, "/metadata/creationTimestamp"))
}

/// The kubelet conditions marked Unknown, others kept; `None` when already so.
fn unknown_conditions(node: &Value, now: &str) -> Option<Vec<Value>> {
    let current: Vec<Value> = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if condition(node, "Ready").is_some_and(|c| c["status"] == "Unknown") {
        return None;
    }
    let mut out: Vec<Value> = current
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.iter().any(|k| c["type"] == *k))
        .cloned()
        .collect();
    for kind in KUBELET_CONDITIONS {
        let old = current.iter().find(|c| c["type"] == kind);
        let mut c = json!({
            "type": kind,
            "status": "Unknown",
            "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.",
            "lastTransitionTime": now,
        });
        if let Some(beat) = old.and_then(|o| o.get("lastHeartbeatTime")) {
            c["lastHeartbeatTime"] = beat.clone();
        }
        out.push(c);
    }
    Some(out)
}

/// The node's taints with the lifecycle taints set for its Ready `status`; `None` when
/// nothing changes.
fn lifecycle_taints(node: &Value, ready: &str, now: &str) -> Option<Vec<Value>> {
    let current: Vec<Value> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let wanted = match ready {
        "Unknown" => Some(TAINT_NODE_UNREACHABLE),
        "True" => None,
        _ => Some(TAINT_NODE_NOT_READY),
    };
    let is_lifecycle =
        |t: &Value| t["key"] == TAINT_NODE_UNREACHABLE || t["key"] == TAINT_NODE_NOT_READY;
    let mut out: Vec<Value> = current
        .iter()
        .filter(|t| !is_lifecycle(t) || wanted.is_some_and(|w| t["key"] == w))
        .cloned()
        .collect();
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            if !out.iter().any(|t| t["key"] == key && t["effect"] == effect) {
                let mut t = json!({"key": key, "effect": effect});
                if effect == "NoExecute" {
                    t["timeAdded"] = json!(now);
                }
                out.push(t);
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
        let obj = serde_json::to_value(&*typed)
            .map_err(|e| ApiError::internal(format!("node unreadable: {e}")))?;
        let name = meta::name_of(&obj).to_string();
        let lease = self
            .leases
            .get(LEASE_NAMESPACE, &name)
            .and_then(|l| serde_json::to_value(&*l).ok());
        let stamp = meta::now();
        let silent_for = self.silent_for(&name, last_heard(&obj, lease.as_ref()));
        let mut node = obj.clone();
        if silent_for >= self.grace {
            if let Some(conditions) = unknown_conditions(&node, &stamp) {
                tracing::info!(node = %name, silent_secs = silent_for.as_secs(), "the kubelet stopped posting node status");
                node = self
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
            }
        }
        let ready = condition(&node, "Ready")
            .and_then(|c| c["status"].as_str())
            .unwrap_or("False")
            .to_string();
        if let Some(taints) = lifecycle_taints(&node, &ready, &stamp) {
            let rv = meta::meta_str(&node, "resourceVersion").unwrap_or("");
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

    fn node(ready: &str, taints: Value) -> Value {
        json!({
            "metadata": {"name": "pi-2", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"taints": taints},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "2026-01-01T00:01:00Z"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": "2026-01-01T00:01:00Z"},
                {"type": "NetworkUnavailable", "status": "False"},
            ]},
        })
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
        let heard = last_heard(&node("True", json!([])), None);
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
        let lease = json!({"spec": {"renewTime": "2026-01-01T00:05:00.000000Z"}});
        let heard = last_heard(&n, Some(&lease)).unwrap();
        assert_eq!(heard.to_rfc3339(), "2026-01-01T00:05:00+00:00");
        let heard = last_heard(&n, None).unwrap();
        assert_eq!(heard.to_rfc3339(), "2026-01-01T00:01:00+00:00");
        let bare = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            last_heard(&bare, None).unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn a_silent_node_goes_unknown_keeping_its_heartbeats_and_other_conditions() {
        let n = node("True", json!([]));
        let out = unknown_conditions(&n, "2026-01-01T00:10:00Z").unwrap();
        let ready = out.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "Unknown");
        assert_eq!(ready["reason"], "NodeStatusUnknown");
        assert_eq!(ready["message"], "Kubelet stopped posting node status.");
        assert_eq!(ready["lastHeartbeatTime"], "2026-01-01T00:01:00Z");
        assert_eq!(ready["lastTransitionTime"], "2026-01-01T00:10:00Z");
        assert!(out
            .iter()
            .any(|c| c["type"] == "NetworkUnavailable" && c["status"] == "False"));
        assert!(out
            .iter()
            .any(|c| c["type"] == "PIDPressure" && c["status"] == "Unknown"));
        let already = json!({"status": {"conditions": out}});
        assert!(unknown_conditions(&already, "later").is_none());
    }

    #[test]
    fn taints_follow_the_ready_condition_and_leave_others_alone() {
        let own = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let n = node("Unknown", json!([own]));
        let t = lifecycle_taints(&n, "Unknown", "now").unwrap();
        assert_eq!(t.len(), 3);
        assert!(t
            .iter()
            .any(|x| x["key"] == TAINT_NODE_UNREACHABLE && x["effect"] == "NoSchedule"));
        assert!(t.iter().any(|x| x["key"] == TAINT_NODE_UNREACHABLE
            && x["effect"] == "NoExecute"
            && x["timeAdded"] == "now"));
        let tainted = json!({"spec": {"taints": t}});
        assert!(lifecycle_taints(&tainted, "Unknown", "later").is_none());
        let back = lifecycle_taints(&tainted, "True", "later").unwrap();
        assert_eq!(back, vec![own.clone()]);
        let not_ready = lifecycle_taints(&tainted, "False", "later").unwrap();
        assert!(not_ready.iter().all(|x| x["key"] != TAINT_NODE_UNREACHABLE));
        assert!(not_ready.iter().any(|x| x["key"] == TAINT_NODE_NOT_READY));
        assert!(lifecycle_taints(&node("True", json!([])), "True", "x").is_none());
    }
}
