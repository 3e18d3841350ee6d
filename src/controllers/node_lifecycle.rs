//! Notices boards that went away, as kube-controller-manager's node lifecycle controller
//! does: a Node whose kubelet has renewed neither its Lease nor its status for the grace
//! period (`--node-monitor-grace-period`, 40 s) gets every kubelet condition set to
//! `Unknown` with reason `NodeStatusUnknown` ("Kubelet stopped posting node status."), so
//! `kubectl get nodes` shows it `NotReady`, and the `node.kubernetes.io/unreachable` taints
//! (NoSchedule and NoExecute), so nothing new is placed there. A Ready=False node gets the
//! `not-ready` taints instead. When the kubelet reports Ready again the taints go; the
//! kubelet, not this controller, sets Ready back to True.
//!
//! Pods on an unreachable node are not evicted: with no kubelet to stop them they could
//! still be running, and a board on a flaky network would otherwise lose its pods.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Action, Reconciler, Related};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta;
use crate::resources::{lease, node, ResourceType};
use crate::scheduler::taints::{TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE};

/// Upstream's default `--node-monitor-grace-period`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(40);
/// The conditions a kubelet owns, which go Unknown together.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// A renewed Lease is a sign of life too.
static ALSO_WATCH: [&ResourceType; 1] = [&lease::RESOURCE];

/// Watches node heartbeats.
pub struct NodeLifecycleController {
    /// How long a silent kubelet is given before its node is marked Unknown.
    pub grace: Duration,
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

impl<C: Client> Reconciler<C> for NodeLifecycleController {
    fn resource(&self) -> &'static ResourceType {
        &node::RESOURCE
    }

    fn also_watch(&self) -> &'static [&'static ResourceType] {
        &ALSO_WATCH
    }

    /// A node's Lease has the node's name, in `kube-node-lease`.
    fn related(&self, _rt: &'static ResourceType, lease: &Value) -> Related {
        if meta::meta_str(lease, "namespace") != Some(LEASE_NAMESPACE) {
            return Related::Nothing;
        }
        Related::One(String::new(), meta::name_of(lease).to_string())
    }

    async fn reconcile(&self, client: &C, obj: &Value) -> Result<Action, ApiError> {
        let name = meta::name_of(obj);
        let lease = match client.get(&lease::RESOURCE, LEASE_NAMESPACE, name).await {
            Ok(l) => Some(l),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        let now = Utc::now();
        let stamp = meta::now();
        let silent_for = last_heard(obj, lease.as_ref())
            .map(|t| (now - t).to_std().unwrap_or_default())
            .unwrap_or(self.grace);
        let mut node = obj.clone();
        if silent_for >= self.grace {
            if let Some(conditions) = unknown_conditions(&node, &stamp) {
                tracing::info!(node = %name, silent_secs = silent_for.as_secs(), "the kubelet stopped posting node status");
                node = client
                    .patch(
                        &node::RESOURCE,
                        "",
                        name,
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
            client
                .patch(
                    &node::RESOURCE,
                    "",
                    name,
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
