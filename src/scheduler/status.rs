//! Why a node was turned down for a pod: the reasons a filter gave and whether evicting
//! lower-priority pods could change the answer (upstream's `framework.Status` codes).

/// Whether preemption could make the node fit (upstream's `Unschedulable`) or not
/// (`UnschedulableAndUnresolvable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Removing pods from the node might make room.
    Unschedulable,
    /// Nothing done to the node's pods can help (labels, taints, cordon).
    UnschedulableAndUnresolvable,
}

/// One node's rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Whether preemption could help.
    pub code: Code,
    /// The user-visible reasons, each counted once in the FailedScheduling message.
    pub reasons: Vec<String>,
}

impl NodeStatus {
    /// A rejection that preemption might resolve.
    pub fn unschedulable(reasons: Vec<String>) -> Self {
        Self {
            code: Code::Unschedulable,
            reasons,
        }
    }

    /// A rejection that preemption cannot resolve.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Self {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }
}
