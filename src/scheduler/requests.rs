//! A pod's effective resource requests, as upstream's `resourcehelper.PodRequests` computes
//! them: what the scheduler reserves on a node, and what the kubelet and controllers account.
//!
//! Regular containers run together, so their requests add up. Init containers run one at a
//! time before them, so each one only raises the total to its own size; restartable init
//! containers (sidecars, `restartPolicy: Always`) keep running, so they add up with the regular
//! containers and with every init container that starts after them. Pod overhead comes on top.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::resources::quantity::Quantity;

/// Resource name → amount, like upstream's `v1.ResourceList` but with parsed quantities.
pub type ResourceAmounts = BTreeMap<String, Quantity>;

/// CPU counted for a container without a CPU request when spreading load
/// (upstream's `schedutil.DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;

/// Memory counted for a container without a memory request when spreading load
/// (upstream's `schedutil.DefaultMemoryRequest`, 200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The pod's effective requests: containers summed, init containers max'ed in, overhead added.
pub fn pod_requests(pod: &Pod) -> ResourceAmounts {
    aggregate(pod, None)
}

/// The pod's requests with upstream's non-zero defaults for containers that name no CPU or
/// memory request; used only for scoring, so that request-less pods still spread.
pub fn pod_requests_for_scoring(pod: &Pod) -> ResourceAmounts {
    let defaults = ResourceAmounts::from([
        (
            "cpu".to_string(),
            Quantity::from_milli(DEFAULT_MILLI_CPU_REQUEST),
        ),
        (
            "memory".to_string(),
            Quantity::from_units(DEFAULT_MEMORY_REQUEST),
        ),
    ]);
    aggregate(pod, Some(&defaults))
}

/// Parses an API resource list; entries that are not quantities are skipped (API validation
/// rejects them before they can be stored).
pub fn parse_resource_list(list: Option<&BTreeMap<String, ApiQuantity>>) -> ResourceAmounts {
    list.into_iter()
        .flatten()
        .filter_map(|(name, q)| Some((name.clone(), Quantity::parse(&q.0).ok()?)))
        .collect()
}

/// Mirrors `AggregateContainerRequests` followed by the overhead step of `PodRequests`.
fn aggregate(pod: &Pod, non_missing: Option<&ResourceAmounts>) -> ResourceAmounts {
    let Some(spec) = pod.spec.as_ref() else {
        return ResourceAmounts::new();
    };
    let mut total = ResourceAmounts::new();
    for container in &spec.containers {
        add_into(&mut total, &container_requests(container, non_missing));
    }

    let mut sidecars = ResourceAmounts::new();
    let mut init_peak = ResourceAmounts::new();
    for container in spec.init_containers.iter().flatten() {
        let own = container_requests(container, non_missing);
        let in_use = if container.restart_policy.as_deref() == Some("Always") {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut in_use = own;
            add_into(&mut in_use, &sidecars);
            in_use
        };
        max_into(&mut init_peak, &in_use);
    }
    max_into(&mut total, &init_peak);

    add_into(&mut total, &parse_resource_list(spec.overhead.as_ref()));
    total
}

/// A container's requests, with `non_missing` filling resources it does not name at all (an
/// explicit zero stays zero, as upstream's `applyNonMissing` does).
fn container_requests(
    container: &Container,
    non_missing: Option<&ResourceAmounts>,
) -> ResourceAmounts {
    let mut requests = parse_resource_list(
        container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref()),
    );
    for (name, amount) in non_missing.into_iter().flatten() {
        requests.entry(name.clone()).or_insert(*amount);
    }
    requests
}

fn add_into(total: &mut ResourceAmounts, add: &ResourceAmounts) {
    for (name, amount) in add {
        let slot = total.entry(name.clone()).or_default();
        *slot = *slot + *amount;
    }
}

fn max_into(total: &mut ResourceAmounts, other: &ResourceAmounts) {
    for (name, amount) in other {
        let slot = total.entry(name.clone()).or_default();
        if *amount > *slot {
            *slot = *amount;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn get(r: &ResourceAmounts, name: &str) -> Option<String> {
        r.get(name).map(|q| q.to_string())
    }

    #[test]
    fn sums_containers_and_maxes_init_containers() {
        let p = pod(json!({
            "initContainers": [
                {"name": "i1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "i2", "resources": {"requests": {"cpu": "2", "memory": "3G"}}}
            ],
            "containers": [
                {"name": "c1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "c2", "resources": {"requests": {"cpu": "1", "memory": "1G"}}}
            ]
        }));
        let r = pod_requests(&p);
        assert_eq!(r["cpu"].milli_value(), 3000);
        assert_eq!(r["memory"].value(), 3_000_000_000);
    }

    #[test]
    fn sidecars_add_up_and_overhead_is_added() {
        let p = pod(json!({
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "1"}}}
            ],
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "200m"}}}],
            "overhead": {"cpu": "50m", "memory": "10Mi"}
        }));
        let r = pod_requests(&p);
        // max(200m + 500m, 500m + 1) + 50m
        assert_eq!(r["cpu"].milli_value(), 1550);
        assert_eq!(get(&r, "memory").as_deref(), Some("10Mi"));
    }

    #[test]
    fn scoring_defaults_fill_only_missing_requests() {
        let p = pod(json!({"containers": [
            {"name": "a"},
            {"name": "b", "resources": {"requests": {"cpu": "0", "memory": "1Gi"}}}
        ]}));
        assert!(pod_requests(&p).contains_key("memory"));
        assert_eq!(pod_requests(&p)["cpu"].milli_value(), 0);
        let s = pod_requests_for_scoring(&p);
        assert_eq!(s["cpu"].milli_value(), 100);
        assert_eq!(s["memory"].value(), (200 << 20) + (1 << 30));
    }
}
