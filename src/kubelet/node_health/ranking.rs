//! Which pod goes first when the node must reclaim a resource, as upstream's eviction
//! manager ranks them (`rankMemoryPressure`, `rankDiskPressureFunc`, `rankPIDPressure` in
//! `pkg/kubelet/eviction/helpers.go`): for memory and disk, pods using more than they
//! requested first (so BestEffort pods, which request nothing, and Burstable ones over
//! their requests), then lower priority first, then the largest use above the request; for
//! process ids, lower priority first, then the most processes. A pod without usage figures
//! goes first, as upstream. Critical pods (mirror pods, priority from
//! `system-cluster-critical` up) are never candidates. The eviction message is upstream's.

use std::cmp::Ordering;

use serde_json::Value;

use super::signals::Observation;
use super::thresholds::{format_amount, Signal, Threshold};
use crate::resources::quantity::Quantity;

/// Upstream's `SystemCriticalPriority`: pods at or above it are never evicted.
const SYSTEM_CRITICAL_PRIORITY: i64 = 2_000_000_000;
/// The annotation marking a mirror pod (a static pod's API face).
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// One container's memory use, for the eviction message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    /// Container name.
    pub name: String,
    /// Its memory request in bytes (0 when none).
    pub request: u64,
    /// Its working set in bytes.
    pub usage: u64,
}

/// A pod that may be evicted, with what ranking needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Pod uid.
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.priority` (0 when unset).
    pub priority: i64,
    /// The pod's memory request in bytes.
    pub memory_request: u64,
    /// The pod's ephemeral-storage request in bytes.
    pub storage_request: u64,
    /// The pod's memory working set (`None`: no figures).
    pub memory_usage: Option<u64>,
    /// The pod's disk use in bytes (`None`: not measured).
    pub disk_usage: Option<u64>,
    /// The pod's process count (`None`: no figures).
    pub processes: Option<u64>,
    /// Per-container memory use.
    pub containers: Vec<ContainerUsage>,
}

fn quantity_bytes(v: &Value) -> u64 {
    let q = match v {
        Value::String(s) => Quantity::parse(s).ok(),
        Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    };
    q.map_or(0, |q| q.value().max(0).unsigned_abs())
}

/// A container's request of `resource` in bytes.
pub fn container_request(container: &Value, resource: &str) -> u64 {
    quantity_bytes(&container["resources"]["requests"][resource])
}

/// The pod's effective request of `resource` (upstream's `GetResourceRequestQuantity`): the
/// containers' sum or the largest init container's, whichever is more.
pub fn pod_request(pod: &Value, resource: &str) -> u64 {
    let list = |key: &str| pod["spec"][key].as_array().cloned().unwrap_or_default();
    let sum = list("containers")
        .iter()
        .map(|c| container_request(c, resource))
        .fold(0u64, u64::saturating_add);
    let init = list("initContainers")
        .iter()
        .map(|c| container_request(c, resource))
        .max()
        .unwrap_or(0);
    sum.max(init)
}

/// Whether upstream's kubelet refuses to evict `pod` (`IsCriticalPod`).
pub fn is_critical(pod: &Value) -> bool {
    pod["spec"]["priority"]
        .as_i64()
        .is_some_and(|p| p >= SYSTEM_CRITICAL_PRIORITY)
        || pod
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(MIRROR_ANNOTATION))
            .is_some()
}

/// Whether usage beyond `request` exists; no figures counts as exceeding (evicted first).
fn exceeds(usage: Option<u64>, request: u64) -> bool {
    usage.map_or(true, |u| u > request)
}

/// `usage − request` (negative when under), no figures ranking as the largest.
fn above_request(usage: Option<u64>, request: u64) -> i128 {
    usage.map_or(i128::MAX, |u| i128::from(u) - i128::from(request))
}

/// Orders `pods` for reclaiming `signal`'s resource, first to evict first.
pub fn rank(pods: &mut [Candidate], signal: Signal) {
    match signal {
        Signal::MemoryAvailable => pods
            .sort_by(|a, b| by_request_then_priority(a, b, |p| (p.memory_usage, p.memory_request))),
        Signal::PidAvailable => pods.sort_by(|a, b| {
            a.priority.cmp(&b.priority).then_with(|| {
                b.processes
                    .unwrap_or(u64::MAX)
                    .cmp(&a.processes.unwrap_or(u64::MAX))
            })
        }),
        _ => pods
            .sort_by(|a, b| by_request_then_priority(a, b, |p| (p.disk_usage, p.storage_request))),
    }
}

fn by_request_then_priority(
    a: &Candidate,
    b: &Candidate,
    figures: impl Fn(&Candidate) -> (Option<u64>, u64),
) -> Ordering {
    let (ua, ra) = figures(a);
    let (ub, rb) = figures(b);
    // a pod without figures first, then the ones exceeding their request
    ua.is_some()
        .cmp(&ub.is_some())
        .then_with(|| exceeds(ub, rb).cmp(&exceeds(ua, ra)))
        .then_with(|| a.priority.cmp(&b.priority))
        .then_with(|| above_request(ub, rb).cmp(&above_request(ua, ra)))
}

/// Upstream's eviction message: the starved resource, the threshold and what was available,
/// and for memory each container using more than it requested.
pub fn eviction_message(threshold: &Threshold, observed: Observation, pod: &Candidate) -> String {
    let resource = threshold.signal.resource();
    let mut message = format!(
        "The node was low on resource: {resource}. Threshold quantity: {}, available: {}. ",
        threshold.format_amount(threshold.quantity(observed.capacity)),
        format_amount(threshold.signal, observed.available),
    );
    if threshold.signal == Signal::MemoryAvailable {
        for c in pod.containers.iter().filter(|c| c.usage > c.request) {
            message.push_str(&format!(
                "Container {} was using {}, request is {}, has larger consumption of {resource}. ",
                c.name,
                format_amount(Signal::MemoryAvailable, c.usage),
                format_amount(Signal::MemoryAvailable, c.request),
            ));
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::node_health::thresholds::parse_eviction_hard;
    use serde_json::json;

    fn candidate(name: &str, priority: i64, request: u64, usage: Option<u64>) -> Candidate {
        Candidate {
            uid: name.into(),
            namespace: "default".into(),
            name: name.into(),
            priority,
            memory_request: request,
            storage_request: 0,
            memory_usage: usage,
            disk_usage: None,
            processes: usage,
            containers: vec![],
        }
    }

    fn names(pods: &[Candidate]) -> Vec<&str> {
        pods.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn memory_ranks_by_excess_then_priority_then_use_above_request() {
        let mi = 1 << 20;
        let mut pods = vec![
            candidate("guaranteed-under", 0, 200 * mi, Some(100 * mi)),
            candidate("burstable-over-important", 1000, 100 * mi, Some(150 * mi)),
            candidate("best-effort-small", 0, 0, Some(10 * mi)),
            candidate("best-effort-big", 0, 0, Some(300 * mi)),
            candidate("burstable-under-low", -5, 100 * mi, Some(50 * mi)),
        ];
        rank(&mut pods, Signal::MemoryAvailable);
        assert_eq!(
            names(&pods),
            [
                "best-effort-big",
                "best-effort-small",
                "burstable-over-important",
                "burstable-under-low",
                "guaranteed-under",
            ]
        );
        // no figures: first, as upstream
        pods.push(candidate("unknown", 5000, 0, None));
        rank(&mut pods, Signal::MemoryAvailable);
        assert_eq!(pods[0].name, "unknown");
    }

    #[test]
    fn pids_rank_by_priority_then_process_count() {
        let mut pods = vec![
            candidate("many-important", 10, 0, Some(500)),
            candidate("few", 0, 0, Some(3)),
            candidate("many", 0, 0, Some(400)),
        ];
        rank(&mut pods, Signal::PidAvailable);
        assert_eq!(names(&pods), ["many", "few", "many-important"]);
    }

    #[test]
    fn requests_and_criticality_come_from_the_pod() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"memory": "64Mi"}}},
                {"name": "b", "resources": {"requests": {"memory": "32Mi", "ephemeral-storage": "1Gi"}}},
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"memory": "128Mi"}}}],
        }});
        assert_eq!(pod_request(&pod, "memory"), 128 << 20);
        assert_eq!(pod_request(&pod, "ephemeral-storage"), 1 << 30);
        assert!(!is_critical(&pod));
        assert!(is_critical(&json!({"spec": {"priority": 2000001000}})));
        assert!(is_critical(
            &json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}})
        ));
    }

    #[test]
    fn the_message_is_upstreams() {
        let t = parse_eviction_hard("memory.available<100Mi,nodefs.available<10%").unwrap();
        let mut pod = candidate("hog", 0, 0, Some(300 << 20));
        pod.containers = vec![
            ContainerUsage {
                name: "eater".into(),
                request: 0,
                usage: 300 << 20,
            },
            ContainerUsage {
                name: "quiet".into(),
                request: 10 << 20,
                usage: 1 << 20,
            },
        ];
        let observed = Observation {
            available: 51_201 << 10,
            capacity: 1 << 30,
        };
        assert_eq!(
            eviction_message(&t[0], observed, &pod),
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51201Ki. \
             Container eater was using 300Mi, request is 0, has larger consumption of memory. "
        );
        let disk = Observation {
            available: 1000,
            capacity: 100_000,
        };
        assert_eq!(
            eviction_message(&t[1], disk, &pod),
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10000, available: 1000. "
        );
    }
}
