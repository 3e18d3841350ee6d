//! Why a pod fits no node, worded as upstream's `FitError.Error()` words the FailedScheduling
//! event and the PodScheduled condition message, e.g.
//! `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node
//! affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found for
//! incoming pod, 2 Preemption is not helpful for scheduling.`

use std::collections::BTreeMap;
use std::fmt;

use super::status::NodeStatus;

/// What the filters said about each node (upstream's `Diagnosis` with its `NodeToStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// Rejections of nodes that were filtered, by node name.
    pub node_statuses: BTreeMap<String, NodeStatus>,
    /// The rejection standing for every node not in `node_statuses` (nodes a PreFilter step
    /// already ruled out).
    pub absent_status: Option<NodeStatus>,
    /// A PreFilter step's message; when set it replaces the per-node reasons.
    pub pre_filter_msg: Option<String>,
}

impl Diagnosis {
    /// The status of `node`, falling back to the absent-node status.
    pub fn status(&self, node: &str) -> Option<&NodeStatus> {
        self.node_statuses.get(node).or(self.absent_status.as_ref())
    }

    /// `0/N nodes are available: <reasons>.`, reasons counted per node and sorted as strings
    /// (so `10 x` sorts before `2 y`, as upstream's `sort.Strings` does).
    pub(crate) fn summary(&self, num_all_nodes: usize) -> String {
        let mut msg = format!("0/{num_all_nodes} nodes are available:");
        if let Some(pre) = &self.pre_filter_msg {
            msg.push_str(&format!(" {pre}."));
            return msg;
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for status in self.node_statuses.values() {
            for reason in &status.reasons {
                *counts.entry(reason).or_default() += 1;
            }
        }
        let absent = num_all_nodes.saturating_sub(self.node_statuses.len());
        if absent > 0 {
            for reason in self.absent_status.iter().flat_map(|s| &s.reasons) {
                *counts.entry(reason).or_default() += absent;
            }
        }
        let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
        parts.sort();
        if !parts.is_empty() {
            msg.push_str(&format!(" {}.", parts.join(", ")));
        }
        msg
    }
}

/// The pod fits no node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    /// How many nodes the cluster has.
    pub num_all_nodes: usize,
    /// What the filters said (boxed: the error travels by value through `Result`).
    pub diagnosis: Box<Diagnosis>,
    /// What preemption said (upstream's PostFilter message, starting `preemption: `); `None`
    /// when evicting lower-priority pods would make room (see `preemption_candidates`).
    pub post_filter_msg: Option<String>,
    /// Nodes where evicting lower-priority pods would let the pod fit, sorted by name.
    pub preemption_candidates: Vec<String>,
}

impl FitError {
    /// The error for a cluster without nodes.
    pub fn no_nodes() -> Self {
        Self {
            num_all_nodes: 0,
            diagnosis: Box::default(),
            post_filter_msg: None,
            preemption_candidates: Vec::new(),
        }
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_all_nodes == 0 {
            // Upstream's ErrNoNodesAvailable, returned before any plugin runs.
            return f.write_str("no nodes available to schedule pods");
        }
        f.write_str(&self.diagnosis.summary(self.num_all_nodes))?;
        if let Some(post) = &self.post_filter_msg {
            write!(f, " {post}.")?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_sort_as_strings() {
        let mut d = Diagnosis::default();
        for i in 0..10 {
            d.node_statuses.insert(
                format!("a{i}"),
                NodeStatus::unresolvable("node(s) were unschedulable"),
            );
        }
        for i in 0..2 {
            d.node_statuses.insert(
                format!("b{i}"),
                NodeStatus::unschedulable(vec!["Insufficient cpu".into(), "Too many pods".into()]),
            );
        }
        assert_eq!(
            d.summary(12),
            "0/12 nodes are available: 10 node(s) were unschedulable, 2 Insufficient cpu, 2 Too many pods."
        );
    }

    #[test]
    fn no_nodes_message() {
        assert_eq!(
            FitError::no_nodes().to_string(),
            "no nodes available to schedule pods"
        );
    }
}
