//! Taints and tolerations: the TaintToleration plugin (filter on NoSchedule/NoExecute, score on
//! PreferNoSchedule) and the NodeUnschedulable plugin (cordoned nodes).
//!
//! A node that is not Ready is treated as carrying the taint upstream's node lifecycle
//! controller (and the `TaintNodesByCondition` admission step for new nodes) would put on it,
//! so pods without a matching toleration stay off it even before that taint is written.

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};

use super::status::NodeStatus;
use crate::resources::node::{own_taints, ready_condition};

pub use crate::resources::tolerations::{
    pod_tolerates, tolerates, tolerations, TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE,
    TAINT_NODE_UNSCHEDULABLE,
};

const NO_SCHEDULE: &str = "NoSchedule";
const NO_EXECUTE: &str = "NoExecute";
const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_string(),
        effect: effect.to_string(),
        ..Taint::default()
    }
}

/// The NoSchedule taint the node's Ready condition implies, unless the node carries it.
fn implied_taint(node: &Node) -> Option<Taint> {
    let ready = ready_condition(node).map(|c| c.status.as_str());
    // Upstream's nodeConditionToTaintKeyStatusMap: False → not-ready, Unknown → unreachable;
    // a node that never reported Ready still has the not-ready taint it was created with.
    let key = match ready {
        Some("True") => return None,
        Some("Unknown") => TAINT_NODE_UNREACHABLE,
        _ => TAINT_NODE_NOT_READY,
    };
    let present = own_taints(node)
        .iter()
        .any(|t| t.key == key && t.effect == NO_SCHEDULE);
    (!present).then(|| taint(key, NO_SCHEDULE))
}

/// The node's taints plus the one its Ready condition implies, unless already present.
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = own_taints(node).to_vec();
    taints.extend(implied_taint(node));
    taints
}

/// Whether the node is cordoned (`spec.unschedulable`).
pub(crate) fn is_cordoned(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

/// The NodeUnschedulable filter: a cordoned node takes only pods tolerating the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint.
pub(crate) fn filter_unschedulable(pod: &Pod, cordoned: bool) -> Option<NodeStatus> {
    if cordoned && !pod_tolerates(pod, &taint(TAINT_NODE_UNSCHEDULABLE, NO_SCHEDULE)) {
        return Some(NodeStatus::unresolvable("node(s) were unschedulable"));
    }
    None
}

/// The TaintToleration filter over a node's [`effective_taints`]: the first NoSchedule or
/// NoExecute taint the pod does not tolerate rejects the node (upstream's
/// `FindMatchingUntoleratedTaint`).
pub(crate) fn filter_taints(pod: &Pod, taints: &[Taint]) -> Option<NodeStatus> {
    let untolerated = taints
        .iter()
        .find(|t| (t.effect == NO_SCHEDULE || t.effect == NO_EXECUTE) && !pod_tolerates(pod, t))?;
    Some(NodeStatus::unresolvable(format!(
        "node(s) had untolerated taint {{{}: {}}}",
        untolerated.key,
        untolerated.value.as_deref().unwrap_or("")
    )))
}

/// The TaintToleration raw score over a node's taints: how many PreferNoSchedule taints the
/// pod does not tolerate, counting only tolerations whose effect is PreferNoSchedule or
/// empty. Lower is better; the caller normalises it in reverse.
pub(crate) fn intolerable_prefer_no_schedule(pod: &Pod, taints: &[Taint]) -> i64 {
    let prefer = |tol: &&Toleration| {
        matches!(
            tol.effect.as_deref(),
            None | Some("") | Some(PREFER_NO_SCHEDULE)
        )
    };
    taints
        .iter()
        .filter(|t| {
            t.effect == PREFER_NO_SCHEDULE
                && !tolerations(pod)
                    .iter()
                    .filter(prefer)
                    .any(|tol| tolerates(tol, t))
        })
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn toleration_matching_follows_upstream() {
        let t: Taint =
            serde_json::from_value(json!({"key": "gpu", "value": "yes", "effect": "NoSchedule"}))
                .unwrap();
        assert!(tolerates(
            &tol(json!({"key": "gpu", "value": "yes", "effect": "NoSchedule"})),
            &t
        ));
        assert!(tolerates(
            &tol(json!({"key": "gpu", "operator": "Equal", "value": "yes"})),
            &t
        ));
        assert!(!tolerates(&tol(json!({"key": "gpu", "value": "no"})), &t));
        assert!(tolerates(
            &tol(json!({"key": "gpu", "operator": "Exists"})),
            &t
        ));
        assert!(
            tolerates(&tol(json!({"operator": "Exists"})), &t),
            "empty key + Exists tolerates everything"
        );
        assert!(!tolerates(
            &tol(json!({"operator": "Exists", "effect": "NoExecute"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"key": "other", "operator": "Exists"})),
            &t
        ));
    }

    #[test]
    fn ready_condition_implies_taints() {
        let node = |status: serde_json::Value| -> Node {
            serde_json::from_value(json!({"metadata": {"name": "n"}, "status": status})).unwrap()
        };
        let keys = |n: &Node| {
            effective_taints(n)
                .into_iter()
                .map(|t| t.key)
                .collect::<Vec<_>>()
        };
        assert!(keys(&node(
            json!({"conditions": [{"type": "Ready", "status": "True"}]})
        ))
        .is_empty());
        assert_eq!(
            keys(&node(
                json!({"conditions": [{"type": "Ready", "status": "False"}]})
            )),
            [TAINT_NODE_NOT_READY]
        );
        assert_eq!(
            keys(&node(
                json!({"conditions": [{"type": "Ready", "status": "Unknown"}]})
            )),
            [TAINT_NODE_UNREACHABLE]
        );
        assert_eq!(keys(&node(json!({}))), [TAINT_NODE_NOT_READY]);
    }
}
