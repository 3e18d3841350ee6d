//! A container's `oom_score_adj` from its pod's QoS class (upstream
//! `pkg/kubelet/qos/policy.go`): when a board runs out of memory the kernel kills BestEffort
//! containers first, Guaranteed ones last, and Burstable ones by how much of the node's
//! memory they asked for.
//!
//! Lowering a score below the kubelet's own needs `CAP_SYS_RESOURCE`; in a container or a
//! user namespace without it, scores are clamped to the kubelet's own, as containerd's
//! `restrict_oom_score_adj` does, rather than failing every Guaranteed pod.

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::resources::pod::pod_qos_class;
use crate::resources::quantity::Quantity;

/// Guaranteed pods and node-critical pods.
const GUARANTEED: i32 = -997;
/// BestEffort pods: killed first.
const BEST_EFFORT: i32 = 1000;
/// `system-node-critical` and above (upstream `SystemCriticalPriority`).
const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// The score for `container` of `pod` on a node with `memory_capacity` bytes.
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i32 {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.priority).unwrap_or(0) >= SYSTEM_CRITICAL_PRIORITY {
        return GUARANTEED;
    }
    let qos = match pod.status.as_ref().and_then(|s| s.qos_class.clone()) {
        Some(q) => q,
        None => serde_json::to_value(pod)
            .map(|v| pod_qos_class(&v).to_string())
            .unwrap_or_default(),
    };
    let r = container.resources.as_ref();
    let memory = |m: Option<&std::collections::BTreeMap<String, _>>| {
        m.and_then(|m| m.get("memory"))
            .and_then(
                |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| {
                    Quantity::parse(&q.0).ok()
                },
            )
            .map(|q| q.value())
    };
    // The API defaults a missing request to the limit.
    let request = memory(r.and_then(|r| r.requests.as_ref()))
        .or_else(|| memory(r.and_then(|r| r.limits.as_ref())));
    by_class(&qos, request, memory_capacity)
}

/// `score`, raised to this process's own score when it may not go lower.
pub fn restricted(score: i32) -> i32 {
    static FLOOR: std::sync::OnceLock<Option<i32>> = std::sync::OnceLock::new();
    let floor = FLOOR.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        if may_lower(&status) {
            return None;
        }
        std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    floor.map_or(score, |f| score.max(f))
}

/// Whether `CapEff` in `/proc/self/status` holds `CAP_SYS_RESOURCE` (bit 24).
fn may_lower(status: &str) -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

fn by_class(qos: &str, memory_request: Option<i64>, memory_capacity: i64) -> i32 {
    match qos {
        "Guaranteed" => GUARANTEED,
        "BestEffort" => BEST_EFFORT,
        _ => {
            let request = i128::from(memory_request.unwrap_or(0).max(0));
            let capacity = i128::from(memory_capacity.max(1));
            let adj = 1000 - (1000 * request) / capacity;
            // Never as safe as Guaranteed, never as exposed as BestEffort.
            let adj = adj.clamp(i128::from(1000 + GUARANTEED), i128::from(BEST_EFFORT - 1));
            // In range by the clamp above.
            adj as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GIB: i64 = 1 << 30;

    #[test]
    fn classes_score_as_upstream() {
        assert_eq!(by_class("Guaranteed", Some(GIB), 4 * GIB), -997);
        assert_eq!(by_class("BestEffort", None, 4 * GIB), 1000);
        assert_eq!(by_class("Burstable", Some(GIB), 4 * GIB), 750);
        assert_eq!(by_class("Burstable", Some(4 * GIB), 4 * GIB), 3);
        assert_eq!(by_class("Burstable", None, 4 * GIB), 999);
    }

    #[test]
    fn cap_sys_resource_is_read_from_the_effective_set() {
        assert!(may_lower("Name: x\nCapEff:\t000001ffffffffff\n"));
        assert!(!may_lower("Name: x\nCapEff:\t000001fffeffffff\n"));
        assert!(!may_lower("Name: x\n"));
    }

    #[test]
    fn the_pods_qos_and_the_containers_request_decide() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "1Gi"}}}]},
        }))
        .unwrap();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        // limits only: requests default to them, so the pod is Burstable (no CPU) at 1 GiB
        assert_eq!(oom_score_adj(&pod, c, 4 * GIB), 750);
        let critical: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"priority": 2_000_001_000, "containers": [{"name": "c"}]},
        }))
        .unwrap();
        let c = &critical.spec.as_ref().unwrap().containers[0];
        assert_eq!(oom_score_adj(&critical, c, 4 * GIB), -997);
    }
}
