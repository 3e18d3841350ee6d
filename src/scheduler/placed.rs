//! What the scheduler keeps of a pod already on a node: only what its plugins read
//! (upstream's `framework.PodInfo`, cut down). NodeResourcesFit needs the pod's effective
//! requests and its requests with the non-zero scoring defaults, NodePorts the host ports it
//! holds, preemption its priority. Kept per bound pod for as long as the pod runs, so it is a
//! handful of numbers rather than the pod.

use k8s_openapi::api::core::v1::Pod;

use super::node_ports::{self, HostPort};
use super::node_resources::ResourceTotals;
use super::requests::{pod_requests, pod_requests_for_scoring};

/// A bound pod as the scheduler's plugins see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedPod {
    /// The effective requests, in the units NodeResourcesFit compares.
    pub(crate) requests: ResourceTotals,
    /// CPU (millicores) with the scoring default for containers that request none.
    pub(crate) scoring_milli_cpu: i64,
    /// Memory (bytes) with the scoring default for containers that request none.
    pub(crate) scoring_memory: i64,
    /// The host ports its containers hold.
    pub(crate) host_ports: Vec<HostPort>,
    /// `spec.priority`.
    pub(crate) priority: i32,
}

impl PlacedPod {
    /// What the plugins read of `pod`.
    pub fn of(pod: &Pod) -> Self {
        let mut requests = ResourceTotals::default();
        requests.add(&pod_requests(pod));
        let mut scoring = ResourceTotals::default();
        scoring.add(&pod_requests_for_scoring(pod));
        Self {
            requests,
            scoring_milli_cpu: scoring.milli_cpu,
            scoring_memory: scoring.memory,
            host_ports: node_ports::host_ports(pod).collect(),
            priority: pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
        }
    }
}
