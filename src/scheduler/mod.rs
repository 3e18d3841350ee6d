//! Places pending pods on nodes: filter, score, bind.
//!
//! This module is the pure decision: given a pod and a snapshot of the nodes with the pods
//! already on them, [`schedule`] answers with a node name or a [`FitError`] worded as
//! upstream kube-scheduler v1.32 words its FailedScheduling event. It mirrors upstream's
//! default profile for the plugins Bramble has: filters run in upstream's order
//! (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit) and
//! the first rejection is the node's reason; scores come from NodeResourcesFit
//! (LeastAllocated), NodeAffinity and TaintToleration with upstream's weights.

pub mod fit_error;
pub(crate) mod node_affinity;
mod node_ports;
mod node_resources;
mod node_usage;
mod outcome;
mod placed;
mod preemption;
mod queue;
pub mod requests;
pub mod run;
mod score;
mod snapshot;
mod state;
pub mod status;
pub mod taints;
pub mod volume_binding;
pub mod volume_prebind;

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

pub use fit_error::{Diagnosis, FitError};
pub use node_usage::NodeUsage;
pub use placed::PlacedPod;
pub use requests::{pod_requests, ResourceAmounts};
pub use status::{Code, NodeStatus};

use node_affinity::PreFilter;
use node_resources::ResourceTotals;
use volume_binding::{PodClaims, VolumeSnapshot};

/// A node, the pods bound to it that have not terminated and what they hold together
/// (upstream's `framework.NodeInfo`). The scheduler's snapshot lends all three, so building
/// one per node for a decision copies nothing.
#[derive(Debug, Clone)]
pub struct NodeInfo<'a> {
    /// The node.
    pub node: &'a Node,
    /// Its `status.allocatable`, parsed.
    pub(crate) allocatable: Cow<'a, ResourceTotals>,
    /// What its pods request and hold together.
    pub(crate) usage: Cow<'a, NodeUsage>,
    /// Pods assigned to the node, not yet Succeeded or Failed (read by preemption only).
    pub(crate) pods: Cow<'a, [PlacedPod]>,
    /// Its taints with the one its Ready condition implies ([`taints::effective_taints`]),
    /// worked out when the node changed: the filters read these for every node of every
    /// decision, without touching the node itself.
    pub(crate) taints: Cow<'a, [Taint]>,
    /// Whether it is cordoned.
    pub(crate) cordoned: bool,
}

impl<'a> NodeInfo<'a> {
    /// A node with `pods` on it, the aggregates worked out here.
    pub fn new(node: &'a Node, pods: Vec<PlacedPod>) -> Self {
        NodeInfo {
            node,
            allocatable: Cow::Owned(node_resources::allocatable(node)),
            usage: Cow::Owned(NodeUsage::of(&pods)),
            pods: Cow::Owned(pods),
            taints: Cow::Owned(taints::effective_taints(node)),
            cordoned: taints::is_cordoned(node),
        }
    }

    fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }
}

/// Chooses a node for `pod`, or says why none fits (a cluster without storage objects).
pub fn schedule(pod: &Pod, nodes: &[NodeInfo<'_>]) -> Result<String, FitError> {
    schedule_with_volumes(pod, nodes, &VolumeSnapshot::default())
}

/// [`schedule`] with the cluster's claims, volumes and classes for the VolumeBinding plugin.
pub fn schedule_with_volumes(
    pod: &Pod,
    nodes: &[NodeInfo<'_>],
    storage: &VolumeSnapshot,
) -> Result<String, FitError> {
    schedule_from(pod, nodes, storage, &mut 0)
}

/// Upstream's `numFeasibleNodesToFind` with the adaptive default percentage: every node of
/// a small cluster, in a large one a share that shrinks as the cluster grows (50% less one
/// point per 125 nodes, at least 5%), never fewer than 100 nodes.
fn feasible_nodes_to_find(all: usize) -> usize {
    const MIN_FEASIBLE: usize = 100;
    if all < MIN_FEASIBLE {
        return all;
    }
    let percentage = 50usize.saturating_sub(all / 125).max(5);
    (all.saturating_mul(percentage) / 100).max(MIN_FEASIBLE)
}

/// [`schedule_with_volumes`] as the scheduling loop runs it: the search for feasible nodes
/// starts at `*next_start` and stops once enough are found; `*next_start` moves past the
/// nodes looked at, so successive pods look at different nodes first (upstream's
/// `nextStartNodeIndex`).
pub(crate) fn schedule_from(
    pod: &Pod,
    nodes: &[NodeInfo<'_>],
    storage: &VolumeSnapshot,
    next_start: &mut usize,
) -> Result<String, FitError> {
    if nodes.is_empty() {
        return Err(FitError::no_nodes());
    }
    let request = ResourceTotals::from_amounts(&pod_requests(pod));
    let mut diagnosis = Diagnosis::default();
    let claims = match storage.pre_filter(pod) {
        Ok(c) => c,
        Err(msg) => {
            diagnosis.absent_status = Some(NodeStatus::unresolvable(msg.clone()));
            diagnosis.pre_filter_msg = Some(msg);
            PodClaims::default()
        }
    };
    let filters = |info: &NodeInfo<'_>| {
        run_filters(pod, &request, info).or_else(|| storage.filter(&claims, info.node))
    };

    let start = *next_start % nodes.len();
    let rotated = nodes[start..].iter().chain(&nodes[..start]);
    let candidates: Vec<&NodeInfo<'_>> = match node_affinity::pre_filter(pod) {
        _ if diagnosis.pre_filter_msg.is_some() => Vec::new(),
        PreFilter::AllNodes => rotated.collect(),
        PreFilter::Only(names) => {
            diagnosis.absent_status = Some(NodeStatus::unresolvable(
                "node(s) didn't satisfy plugin(s) [NodeAffinity]",
            ));
            rotated.filter(|n| names.contains(n.name())).collect()
        }
        PreFilter::Conflict => {
            diagnosis.absent_status =
                Some(NodeStatus::unresolvable(node_affinity::ERR_REASON_CONFLICT));
            diagnosis.pre_filter_msg = Some(node_affinity::ERR_REASON_CONFLICT.to_string());
            Vec::new()
        }
    };

    let wanted = feasible_nodes_to_find(candidates.len());
    let mut feasible = Vec::new();
    let mut processed = 0usize;
    for info in candidates {
        if feasible.len() >= wanted {
            break;
        }
        processed += 1;
        match filters(info) {
            None => feasible.push(info),
            Some(status) => {
                diagnosis
                    .node_statuses
                    .insert(info.name().to_string(), status);
            }
        }
    }

    *next_start = start.saturating_add(processed) % nodes.len();

    if let Some(name) = score::select_host(pod, &feasible) {
        return Ok(name);
    }
    let verdict = preemption::evaluate(pod, nodes, &diagnosis, filters);
    Err(FitError {
        num_all_nodes: nodes.len(),
        diagnosis: Box::new(diagnosis),
        post_filter_msg: verdict.message,
        preemption_candidates: verdict.candidates,
    })
}

/// Runs every filter on one node; `None` when the pod fits there. Usable on its own to check
/// one node (the pod's nodeName pin is honoured like upstream's NodeName filter).
pub fn check_node(pod: &Pod, info: &NodeInfo<'_>) -> Option<NodeStatus> {
    run_filters(pod, &ResourceTotals::from_amounts(&pod_requests(pod)), info)
}

/// The filter chain in upstream's order; the first rejection wins.
fn run_filters(pod: &Pod, request: &ResourceTotals, info: &NodeInfo<'_>) -> Option<NodeStatus> {
    taints::filter_unschedulable(pod, info.cordoned)
        .or_else(|| filter_node_name(pod, info))
        .or_else(|| taints::filter_taints(pod, &info.taints))
        .or_else(|| node_affinity::filter(pod, info.node))
        .or_else(|| node_ports::filter(pod, info))
        .or_else(|| node_resources::filter(request, info))
}

/// The NodeName filter: a pod that names its node fits only there.
fn filter_node_name(pod: &Pod, info: &NodeInfo<'_>) -> Option<NodeStatus> {
    let wanted = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    match wanted {
        Some(name) if !name.is_empty() && name != info.name() => Some(NodeStatus::unresolvable(
            "node(s) didn't match the requested node name",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
