//! The preemption verdict for a pod that fits nowhere (upstream's DefaultPreemption
//! PostFilter, dry run only): which nodes could take the pod if lower-priority pods were
//! evicted, and otherwise the `preemption: ...` text the FailedScheduling message ends with.
//!
//! Only nodes rejected with a resolvable status are examined; on each, every pod of lower
//! priority is set aside and the filters run again, as upstream's `SelectVictimsOnNode` does.
//! Evicting the victims is left to the caller.

use k8s_openapi::api::core::v1::Pod;

use super::fit_error::Diagnosis;
use super::placed::PlacedPod;
use super::status::{Code, NodeStatus};
use super::NodeInfo;

/// Preemption's finding.
pub(crate) struct Verdict {
    /// The PostFilter message, `None` when candidates exist.
    pub message: Option<String>,
    /// Nodes where evicting lower-priority pods would make the pod fit.
    pub candidates: Vec<String>,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn node_name<'a>(info: &'a NodeInfo<'_>) -> &'a str {
    info.node.metadata.name.as_deref().unwrap_or("")
}

/// Runs the dry run; `filters` is the full filter chain for one node.
pub(crate) fn evaluate(
    pod: &Pod,
    nodes: &[NodeInfo<'_>],
    diagnosis: &Diagnosis,
    filters: impl Fn(&NodeInfo<'_>) -> Option<NodeStatus>,
) -> Verdict {
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref());
    if policy == Some("Never") {
        return Verdict {
            message: Some("preemption: not eligible due to preemptionPolicy=Never.".to_string()),
            candidates: Vec::new(),
        };
    }

    let mut dry_run = Diagnosis {
        absent_status: Some(NodeStatus::unresolvable(
            "Preemption is not helpful for scheduling",
        )),
        ..Diagnosis::default()
    };
    let mut candidates = Vec::new();
    let my_priority = priority(pod);
    let potential = nodes.iter().filter(|info| {
        diagnosis
            .status(node_name(info))
            .is_some_and(|s| s.code == Code::Unschedulable)
    });
    for info in potential {
        let survivors: Vec<PlacedPod> = info
            .pods
            .iter()
            .filter(|p| p.priority >= my_priority)
            .cloned()
            .collect();
        let status = if survivors.len() == info.pods.len() {
            Some(NodeStatus::unresolvable(
                "No preemption victims found for incoming pod",
            ))
        } else {
            filters(&NodeInfo {
                node: info.node,
                allocatable: info.allocatable.clone(),
                usage: std::borrow::Cow::Owned(super::NodeUsage::of(&survivors)),
                pods: survivors.into(),
                taints: info.taints.clone(),
                cordoned: info.cordoned,
            })
        };
        match status {
            Some(status) => {
                dry_run
                    .node_statuses
                    .insert(node_name(info).to_string(), status);
            }
            None => candidates.push(node_name(info).to_string()),
        }
    }

    if !candidates.is_empty() {
        candidates.sort();
        return Verdict {
            message: None,
            candidates,
        };
    }
    Verdict {
        message: Some(format!("preemption: {}", dry_run.summary(nodes.len()))),
        candidates,
    }
}
