//! The NodeResourcesFit plugin: does the pod's request fit in what the node has left, and how
//! empty would the node stay (the LeastAllocated score that spreads pods).
//!
//! Amounts are kept as upstream's `framework.Resource` keeps them: CPU in millicores, memory
//! and everything else in whole units, extended resources under their own names.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::requests::{parse_resource_list, pod_requests_for_scoring, ResourceAmounts};
use super::status::NodeStatus;
use super::NodeInfo;

/// The highest score a plugin gives a node (upstream's `framework.MaxNodeScore`).
pub(crate) const MAX_NODE_SCORE: i64 = 100;

/// Resource amounts in the units the scheduler compares them in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResourceTotals {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub allowed_pods: i64,
    pub scalar: BTreeMap<String, i64>,
}

impl ResourceTotals {
    /// Adds another total (what the pods on a node request together).
    pub(crate) fn add_totals(&mut self, other: &ResourceTotals) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.allowed_pods = self.allowed_pods.saturating_add(other.allowed_pods);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        for (name, amount) in &other.scalar {
            let slot = self.scalar.entry(name.clone()).or_default();
            *slot = slot.saturating_add(*amount);
        }
    }

    /// Takes away a total [`ResourceTotals::add_totals`] added; a resource that drops to
    /// nothing is no longer listed.
    pub(crate) fn sub_totals(&mut self, other: &ResourceTotals) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.allowed_pods = self.allowed_pods.saturating_sub(other.allowed_pods);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        for (name, amount) in &other.scalar {
            if let Some(slot) = self.scalar.get_mut(name) {
                *slot = slot.saturating_sub(*amount);
                if *slot == 0 {
                    self.scalar.remove(name);
                }
            }
        }
    }

    /// Adds a resource list, keeping only the resources upstream's `Resource.Add` knows.
    pub fn add(&mut self, amounts: &ResourceAmounts) {
        for (name, q) in amounts {
            match name.as_str() {
                "cpu" => self.milli_cpu += q.milli_value(),
                "memory" => self.memory += q.value(),
                "pods" => self.allowed_pods += q.value(),
                "ephemeral-storage" => self.ephemeral_storage += q.value(),
                other if is_scalar_resource_name(other) => {
                    *self.scalar.entry(other.to_string()).or_default() += q.value()
                }
                _ => {}
            }
        }
    }

    pub(crate) fn from_amounts(amounts: &ResourceAmounts) -> Self {
        let mut totals = Self::default();
        totals.add(amounts);
        totals
    }
}

/// Extended (`example.com/gpu`), prefixed native, hugepages and attachable-volume resources:
/// the ones upstream's `IsScalarResourceName` tracks by name.
fn is_scalar_resource_name(name: &str) -> bool {
    (name.contains('/') && !name.starts_with("requests."))
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
}

/// What a node offers: `status.allocatable`.
pub(crate) fn allocatable(node: &Node) -> ResourceTotals {
    let list = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    ResourceTotals::from_amounts(&parse_resource_list(list))
}

/// The Filter step (upstream's `fitsRequest`): every shortfall is its own reason.
pub(crate) fn filter(want: &ResourceTotals, info: &NodeInfo<'_>) -> Option<NodeStatus> {
    let have = &*info.allocatable;
    let used = &info.usage.requested;
    let mut reasons = Vec::new();

    if info.usage.pods.saturating_add(1) > have.allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    let short = |want: i64, have: i64, used: i64| want > 0 && want > have.saturating_sub(used);
    if short(want.milli_cpu, have.milli_cpu, used.milli_cpu) {
        reasons.push("Insufficient cpu".to_string());
    }
    if short(want.memory, have.memory, used.memory) {
        reasons.push("Insufficient memory".to_string());
    }
    if short(
        want.ephemeral_storage,
        have.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        reasons.push("Insufficient ephemeral-storage".to_string());
    }
    for (name, amount) in &want.scalar {
        let node_has = have.scalar.get(name).copied().unwrap_or(0);
        let node_used = used.scalar.get(name).copied().unwrap_or(0);
        if short(*amount, node_has, node_used) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    // Upstream v1.32 reports every shortfall as resolvable by preemption.
    (!reasons.is_empty()).then(|| NodeStatus::unschedulable(reasons))
}

/// What a pod counts for in the LeastAllocated score: its requests with the non-zero
/// defaults for containers that name none (worked out once per pod, not once per node).
pub(crate) fn scoring_request(pod: &k8s_openapi::api::core::v1::Pod) -> ResourceTotals {
    ResourceTotals::from_amounts(&pod_requests_for_scoring(pod))
}

/// The LeastAllocated score for CPU and memory, weight 1 each (upstream's default
/// `NodeResourcesFitArgs`), counting request-less containers at the non-zero defaults.
pub(crate) fn least_allocated_score(want: &ResourceTotals, info: &NodeInfo<'_>) -> i64 {
    let have = &*info.allocatable;
    let used = &info.usage;
    let mut score = 0;
    let mut weights = 0;
    for (requested, capacity) in [
        (
            used.scoring_milli_cpu.saturating_add(want.milli_cpu),
            have.milli_cpu,
        ),
        (used.scoring_memory.saturating_add(want.memory), have.memory),
    ] {
        if capacity == 0 {
            continue;
        }
        score += least_requested_score(requested, capacity);
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        score / weights
    }
}

/// Upstream's `leastRequestedScore`: the free fraction of capacity, scaled to 0..=100.
fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    let free = capacity - requested;
    match free.checked_mul(MAX_NODE_SCORE) {
        Some(scaled) => scaled / capacity,
        // Widened only for amounts past 92 PB (or milli-units) times 100: 128-bit division
        // is a library call, and this runs for every pod on every node looked at.
        None => {
            let wide = i128::from(free) * i128::from(MAX_NODE_SCORE) / i128::from(capacity);
            i64::try_from(wide).unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_requested_score_scales_free_share() {
        assert_eq!(least_requested_score(0, 4000), 100);
        assert_eq!(least_requested_score(1000, 4000), 75);
        assert_eq!(least_requested_score(5000, 4000), 0);
        // Past what an i64 holds times 100: still the free share.
        assert_eq!(least_requested_score(i64::MAX / 4, i64::MAX / 2), 50);
    }

    #[test]
    fn scalar_names_follow_upstream() {
        assert!(is_scalar_resource_name("example.com/gpu"));
        assert!(is_scalar_resource_name("hugepages-2Mi"));
        assert!(!is_scalar_resource_name("requests.example.com/gpu"));
        assert!(!is_scalar_resource_name("foo"));
    }
}
