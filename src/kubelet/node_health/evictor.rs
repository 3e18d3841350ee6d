//! Evicts one pod to reclaim a crossed threshold, as upstream's eviction manager does in
//! `synchronize`: a `Warning` event `EvictionThresholdMet` ("Attempting to reclaim …") on
//! the Node, the active pods of this node ranked for the signal, and the first that may be
//! evicted handed to its pod worker, which ends it as evicted (phase `Failed`, reason
//! `Evicted`, the `Evicted` event, one second of grace) on the path the emptyDir limit uses.

use serde_json::{json, Value};

use super::ranking::{self, Candidate, ContainerUsage};
use super::signals::Observation;
use super::thresholds::Threshold;
use crate::client::events::EventType;
use crate::client::options::ListOptions;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::runtime::cgroup;
use crate::resources::{meta, pod};

/// The Node as an event's involved object (upstream's `nodeRef`: the uid is the name).
pub(super) fn node_ref(node: &str) -> Value {
    json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": node, "uid": node}})
}

/// Whether `p` still runs on this node: not finished, not being deleted.
fn is_active(p: &Value) -> bool {
    let phase = p["status"]["phase"].as_str().unwrap_or("Pending");
    phase != "Succeeded" && phase != "Failed" && p.pointer("/metadata/deletionTimestamp").is_none()
}

fn read_u64(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A pod as ranking sees it, with its cgroups' figures.
fn candidate(p: &Value) -> Candidate {
    let uid = meta::meta_str(p, "uid").unwrap_or_default().to_string();
    let pod_cgroup = cgroup::pod_cgroup_path(&uid);
    let containers = p["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let name = c["name"].as_str()?;
            let stats = cgroup::stats(&cgroup::container_cgroup_path(&uid, name))?;
            Some(ContainerUsage {
                name: name.to_string(),
                request: ranking::container_request(c, "memory"),
                usage: stats.memory_working_set_bytes,
            })
        })
        .collect();
    Candidate {
        namespace: meta::meta_str(p, "namespace")
            .unwrap_or("default")
            .to_string(),
        name: meta::name_of(p).to_string(),
        priority: p["spec"]["priority"].as_i64().unwrap_or(0),
        memory_request: ranking::pod_request(p, "memory"),
        storage_request: ranking::pod_request(p, "ephemeral-storage"),
        memory_usage: cgroup::stats(&pod_cgroup).map(|s| s.memory_working_set_bytes),
        disk_usage: None,
        processes: read_u64(&cgroup::controller_dir(&pod_cgroup, "pids").join("pids.current")),
        containers,
        uid,
    }
}

/// Picks the pod to evict for `threshold` and asks its worker to evict it; answers whether
/// one was asked.
pub(super) async fn evict_one<C: Client>(
    ctx: &NodeContext<C>,
    threshold: Threshold,
    observed: Observation,
) -> bool {
    let resource = threshold.signal.resource();
    tracing::info!(%threshold, available = observed.available, "eviction threshold met; attempting to reclaim {resource}");
    ctx.events.record(
        &node_ref(&ctx.node),
        EventType::Warning,
        "EvictionThresholdMet",
        "EvictionThresholdMet",
        &format!("Attempting to reclaim {resource}"),
    );
    let opts = ListOptions {
        field_selector: format!("spec.nodeName={}", ctx.node),
        ..Default::default()
    };
    let pods = match ctx.client.list(&pod::RESOURCE, None, &opts).await {
        Ok(l) => l.items,
        Err(e) => {
            tracing::warn!(error = %e, "listing this node's pods for eviction failed");
            return false;
        }
    };
    let active: Vec<Value> = pods
        .into_iter()
        .filter(|p| is_active(p) && !ranking::is_critical(p))
        .collect();
    let mut ranked = tokio::task::spawn_blocking(move || {
        active.iter().map(candidate).collect::<Vec<Candidate>>()
    })
    .await
    .unwrap_or_default();
    ranking::rank(&mut ranked, threshold.signal);
    let Some(chosen) = ranked.first() else {
        tracing::warn!("eviction thresholds have been met, but no pods are active to evict");
        return false;
    };
    let message = ranking::eviction_message(&threshold, observed, chosen);
    tracing::warn!(pod = %format!("{}/{}", chosen.namespace, chosen.name), %message, "evicting pod");
    ctx.health.request_eviction(&chosen.uid, message);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_pods_are_candidates() {
        assert!(is_active(&json!({"status": {"phase": "Running"}})));
        assert!(is_active(&json!({})));
        assert!(!is_active(&json!({"status": {"phase": "Failed"}})));
        assert!(!is_active(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}})
        ));
    }

    #[test]
    fn a_pod_without_cgroups_is_a_candidate_without_figures() {
        let p = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "no-such-uid"},
                       "spec": {"priority": 7, "containers": [{"name": "c", "resources": {"requests": {"memory": "1Mi"}}}]}});
        let c = candidate(&p);
        assert_eq!(
            (c.name.as_str(), c.namespace.as_str(), c.priority),
            ("p", "ns", 7)
        );
        assert_eq!(c.memory_request, 1 << 20);
        assert_eq!(c.memory_usage, None);
        assert!(c.containers.is_empty());
    }
}
