//! What the pods on a node hold together, kept up to date as pods come and go rather than
//! summed for every decision (upstream's `framework.NodeInfo` aggregates: `Requested`,
//! `NonZeroRequested`, `UsedPorts` and the pod count). Adding a pod and removing it again
//! leaves the totals as they were, so an assumed pod can be forgotten exactly.

use super::node_ports::HostPort;
use super::node_resources::ResourceTotals;
use super::placed::PlacedPod;

/// The aggregates of the pods on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUsage {
    /// Effective requests summed (what NodeResourcesFit compares with allocatable).
    pub(crate) requested: ResourceTotals,
    /// CPU with the scoring default for request-less containers (LeastAllocated).
    pub(crate) scoring_milli_cpu: i64,
    /// Memory with the scoring default for request-less containers (LeastAllocated).
    pub(crate) scoring_memory: i64,
    /// How many pods the node holds.
    pub(crate) pods: i64,
    /// Host ports held, one entry per claim (a port two pods claim on different IPs is
    /// listed twice, so removing one pod keeps the other's).
    pub(crate) host_ports: Vec<HostPort>,
}

impl NodeUsage {
    /// The aggregates of `pods`.
    pub fn of<'a>(pods: impl IntoIterator<Item = &'a PlacedPod>) -> Self {
        let mut usage = Self::default();
        for p in pods {
            usage.add(p);
        }
        usage
    }

    /// Counts one more pod.
    pub fn add(&mut self, pod: &PlacedPod) {
        self.requested.add_totals(&pod.requests);
        self.scoring_milli_cpu = self.scoring_milli_cpu.saturating_add(pod.scoring_milli_cpu);
        self.scoring_memory = self.scoring_memory.saturating_add(pod.scoring_memory);
        self.pods = self.pods.saturating_add(1);
        self.host_ports.extend(pod.host_ports.iter().cloned());
    }

    /// Stops counting a pod that [`NodeUsage::add`] counted.
    pub fn remove(&mut self, pod: &PlacedPod) {
        self.requested.sub_totals(&pod.requests);
        self.scoring_milli_cpu = self.scoring_milli_cpu.saturating_sub(pod.scoring_milli_cpu);
        self.scoring_memory = self.scoring_memory.saturating_sub(pod.scoring_memory);
        self.pods = self.pods.saturating_sub(1);
        for port in &pod.host_ports {
            if let Some(i) = self.host_ports.iter().position(|p| p == port) {
                self.host_ports.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn placed(cpu: &str, gpus: i64, host_port: Option<i32>) -> PlacedPod {
        let mut c = json!({"name": "c", "image": "i",
            "resources": {"requests": {"cpu": cpu, "example.com/gpu": gpus.to_string()}}});
        if let Some(p) = host_port {
            c["ports"] = json!([{"containerPort": 80, "hostPort": p}]);
        }
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [c]}}))
                .unwrap();
        PlacedPod::of(&pod)
    }

    #[test]
    fn adding_and_removing_pods_moves_every_aggregate() {
        let a = placed("250m", 1, Some(8080));
        let b = placed("500m", 2, None);
        let mut usage = NodeUsage::default();
        usage.add(&a);
        usage.add(&b);
        assert_eq!(usage.requested.milli_cpu, 750);
        assert_eq!(usage.requested.scalar["example.com/gpu"], 3);
        assert_eq!(usage.pods, 2);
        assert_eq!(usage.host_ports.len(), 1);
        // Memory was not requested: scoring counts the 200Mi default for each pod.
        assert_eq!(usage.scoring_memory, 2 * (200 << 20));
        assert_eq!(usage, NodeUsage::of([&a, &b]));

        usage.remove(&a);
        assert_eq!(usage, NodeUsage::of([&b]));
        usage.remove(&b);
        assert_eq!(usage.requested.milli_cpu, 0);
        assert_eq!(usage.pods, 0);
        assert!(usage.host_ports.is_empty());
    }
}
