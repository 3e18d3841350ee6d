//! Evicts one pod to reclaim a crossed threshold, as upstream's eviction manager does in
//! `synchronize`: a `Warning` event `EvictionThresholdMet` ("Attempting to reclaim …") on
//! the Node, the active pods of this node ranked for the signal, and the first that may be
//! evicted handed to its pod worker, which ends it as evicted (phase `Failed`, reason
//! `Evicted`, the `Evicted` event, one second of grace) on the path the emptyDir limit uses.
//!
//! Under disk pressure, unused images go first (upstream's `reclaimNodeLevelResources` with
//! `DeleteUnusedImages`): when that brings the signal back above its threshold no pod is
//! evicted. Memory and process figures come from the pods' cgroups; a pod's disk use, measured only
//! for a disk signal, is what its directory (containers' files, volumes on the node's disk)
//! and its logs take, in a bounded walk.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::ranking::{self, Candidate, ContainerUsage};
use super::signals::{self, Observation};
use super::thresholds::{Signal, Threshold};
use crate::client::events::EventType;
use crate::client::options::ListOptions;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::container_start::pod_log_dirs;
use crate::kubelet::image::GcPolicy;
use crate::kubelet::runtime::cgroup;
use crate::kubelet::volume::disk_usage;
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

/// Entries a disk-use walk looks at per directory at most (upstream's figures come from
/// cAdvisor's periodic walks; this one runs only under disk pressure).
const DISK_WALK_ENTRIES: usize = 100_000;

/// Bytes the directories take together, counted by bounded walks.
fn dirs_usage(dirs: &[PathBuf]) -> Option<u64> {
    let mut total = 0u64;
    for dir in dirs {
        let used = disk_usage(dir, u64::MAX, DISK_WALK_ENTRIES).ok()?;
        total = total.saturating_add(used.bytes);
    }
    Some(total)
}

/// A pod as ranking sees it, with its cgroups' figures and, given `disk_dirs`, its disk use.
fn candidate(p: &Value, disk_dirs: Option<&[PathBuf]>) -> Candidate {
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
        disk_usage: disk_dirs.and_then(dirs_usage),
        processes: read_u64(&cgroup::controller_dir(&pod_cgroup, "pids").join("pids.current")),
        containers,
        uid,
    }
}

/// The images of every container of `pods` (image garbage collection keeps these).
fn images_of(pods: &[Value]) -> HashSet<String> {
    pods.iter()
        .flat_map(|p| {
            ["initContainers", "containers", "ephemeralContainers"]
                .into_iter()
                .flat_map(move |field| p["spec"][field].as_array().into_iter().flatten())
        })
        .filter_map(|c| c["image"].as_str().map(str::to_string))
        .collect()
}

/// For a disk signal, removes every image no pod of this node uses and answers whether the
/// threshold is no longer met.
async fn reclaimed_by_image_gc<C: Client>(
    ctx: &NodeContext<C>,
    threshold: Threshold,
    pods: &[Value],
) -> bool {
    let dir = match threshold.signal {
        Signal::MemoryAvailable | Signal::PidAvailable => return false,
        Signal::NodeFsAvailable | Signal::NodeFsInodesFree => ctx.data_dir.clone(),
        Signal::ImageFsAvailable | Signal::ImageFsInodesFree => {
            ctx.images.store().root().to_path_buf()
        }
    };
    let everything = GcPolicy {
        high_threshold_percent: 0,
        low_threshold_percent: 0,
    };
    match ctx
        .images
        .garbage_collect(everything, &images_of(pods))
        .await
    {
        Ok(r) => {
            tracing::info!(removed = ?r.removed, bytes_freed = r.bytes_freed, "unused images removed to reclaim disk")
        }
        Err(e) => tracing::warn!(error = %e, "removing unused images failed"),
    }
    let figures = tokio::task::spawn_blocking(move || signals::statvfs(&dir))
        .await
        .ok()
        .flatten();
    let Some((bytes, inodes)) = figures.map(signals::fs_observations) else {
        return false;
    };
    let observed = match threshold.signal {
        Signal::NodeFsInodesFree | Signal::ImageFsInodesFree => inodes,
        _ => Some(bytes),
    };
    observed.is_some_and(|o| !threshold.is_met(o))
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
    if reclaimed_by_image_gc(ctx, threshold, &pods).await {
        tracing::info!(%threshold, "able to reduce resource pressure without evicting pods");
        return false;
    }
    let active: Vec<Value> = pods
        .into_iter()
        .filter(|p| is_active(p) && !ranking::is_critical(p))
        .collect();
    let disk = !matches!(
        threshold.signal,
        Signal::MemoryAvailable | Signal::PidAvailable
    );
    let dirs: Vec<Option<Vec<PathBuf>>> = active
        .iter()
        .map(|p| {
            disk.then(|| {
                let uid = meta::meta_str(p, "uid").unwrap_or_default();
                let mut dirs = vec![ctx.data_dir.join("pods").join(uid)];
                dirs.extend(pod_log_dirs(ctx, uid));
                dirs
            })
        })
        .collect();
    let mut ranked = tokio::task::spawn_blocking(move || {
        active
            .iter()
            .zip(&dirs)
            .map(|(p, d)| candidate(p, d.as_deref()))
            .collect::<Vec<Candidate>>()
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
    fn every_container_image_is_in_use() {
        let pods = [
            json!({"spec": {"containers": [{"image": "a"}], "initContainers": [{"image": "b"}]}}),
            json!({"spec": {"ephemeralContainers": [{"image": "c"}], "containers": [{"image": "a"}]}}),
        ];
        let images = images_of(&pods);
        assert_eq!(images, HashSet::from(["a".into(), "b".into(), "c".into()]));
    }

    #[test]
    fn a_pod_without_cgroups_is_a_candidate_without_figures() {
        let p = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "no-such-uid"},
                       "spec": {"priority": 7, "containers": [{"name": "c", "resources": {"requests": {"memory": "1Mi"}}}]}});
        let c = candidate(&p, None);
        assert_eq!(
            (c.name.as_str(), c.namespace.as_str(), c.priority),
            ("p", "ns", 7)
        );
        assert_eq!(c.memory_request, 1 << 20);
        assert_eq!(c.memory_usage, None);
        assert!(c.containers.is_empty());
        assert_eq!(c.disk_usage, None);
        // disk use is what the pod's directories take
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data"), vec![1u8; 64 * 1024]).unwrap();
        let c = candidate(&p, Some(&[dir.path().to_path_buf()]));
        assert!(c.disk_usage.unwrap() >= 64 * 1024);
        assert_eq!(
            candidate(&p, Some(&[dir.path().join("gone")])).disk_usage,
            None
        );
    }
}
