//! The scheduling loop: keep the [`Cache`] in step with the pod and node watches, and
//! whenever something changed (and every few seconds while pods do not fit), place every
//! pending pod with [`super::schedule`] and bind it — or record why not, as kube-scheduler
//! does with a `FailedScheduling` event and a `PodScheduled=False` condition. Nothing is
//! listed again until a watch ends.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::cache::{Cache, PodKey};
use super::volume_binding::VolumeSnapshot;
use super::{schedule_with_volumes, volume_prebind, PlacedPod};
use crate::client::events::{EventRecorder, EventType};
use crate::client::options::PatchType;
use crate::client::options::{Subresource, WatchOptions};
use crate::client::{Client, WatchSource};
use crate::resources::meta;
use crate::resources::{node, pod};

/// The scheduler name this loop serves, as upstream's default profile.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// How often pods that fit nowhere are tried again without any change in the cluster.
const RETRY: Duration = Duration::from_secs(10);
/// Pause before listing again after a failed list or watch.
const RELIST_PAUSE: Duration = Duration::from_secs(1);

/// Runs until `shutdown` is cancelled.
pub async fn run<C: Client>(client: C, shutdown: CancellationToken) {
    let recorder = EventRecorder::new(client.clone(), SCHEDULER_NAME);
    loop {
        let watched = async {
            let (cache, listed) = Cache::load(&client).await?;
            let watch = |rv: u64| WatchOptions {
                resource_version: rv.to_string(),
                ..Default::default()
            };
            let pods = client
                .watch(&pod::RESOURCE, None, &watch(listed.pods))
                .await?;
            let nodes = client
                .watch(&node::RESOURCE, None, &watch(listed.nodes))
                .await?;
            Ok::<_, crate::client::status::ApiError>((cache, pods, nodes))
        };
        let (mut cache, mut pods, mut nodes) = match watched.await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler could not list and watch");
                tokio::select! {
                    _ = tokio::time::sleep(RELIST_PAUSE) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        // Every change (and the retry timer) may let a pending pod fit somewhere.
        loop {
            if cache.has_pending() {
                pass(&client, &recorder, &mut cache).await;
            }
            let waiting = cache.has_pending();
            tokio::select! {
                e = pods.next() => match e {
                    Some(e) => cache.apply_pod(e),
                    None => break,
                },
                e = nodes.next() => match e {
                    Some(e) => cache.apply_node(e),
                    None => break,
                },
                _ = tokio::time::sleep(RETRY), if waiting => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// Places every pending pod, each read afresh.
async fn pass<C: Client>(client: &C, recorder: &EventRecorder<C>, cache: &mut Cache) {
    let mut storage = None;
    for key in cache.pending() {
        let (ns, name) = (key.0.as_str(), key.1.as_str());
        let raw = match client.get(&pod::RESOURCE, ns, name).await {
            Ok(raw) => raw,
            Err(e) if e.code == 404 => {
                cache.forget(&key);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, pod = %format!("{ns}/{name}"), "reading a pending pod failed");
                continue;
            }
        };
        // Changed since its event: the watch brings the change.
        if !is_pending(&raw) {
            continue;
        }
        let Ok(typed) = serde_json::from_value::<Pod>(raw.clone()) else {
            continue;
        };
        if storage.is_none() && volume_prebind::uses_claims(&typed) {
            match volume_prebind::snapshot(client).await {
                Ok(s) => storage = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "reading claims and volumes failed");
                    return;
                }
            }
        }
        let empty = VolumeSnapshot::default();
        let volumes = storage.as_ref().unwrap_or(&empty);
        let decision = schedule_with_volumes(&typed, &cache.infos(), volumes);
        match decision {
            Ok(node_name) => {
                if let Some(node) = cache.node(&node_name) {
                    if let Err(e) = volume_prebind::pre_bind(client, volumes, &typed, node).await {
                        tracing::warn!(error = %e, pod = %format!("{ns}/{name}"), "recording volume decisions failed");
                        continue;
                    }
                    if volume_prebind::uses_claims(&typed) {
                        // The claims changed; the next pod reads them afresh.
                        storage = None;
                    }
                }
                bind(client, recorder, cache, &key, &raw, &typed, node_name).await;
            }
            Err(fit) => {
                let msg = fit.to_string();
                tracing::info!(pod = %format!("{ns}/{name}"), reason = %msg, "unschedulable");
                mark_unschedulable(client, &raw, &msg).await;
                recorder
                    .record(
                        &raw,
                        EventType::Warning,
                        "FailedScheduling",
                        "Scheduling",
                        &msg,
                    )
                    .await;
            }
        }
    }
}

/// Binds the pod and counts it on its node at once, so the next pending pod sees it.
async fn bind<C: Client>(
    client: &C,
    recorder: &EventRecorder<C>,
    cache: &mut Cache,
    key: &PodKey,
    raw: &Value,
    typed: &Pod,
    node_name: String,
) {
    let (ns, name) = (key.0.as_str(), key.1.as_str());
    match client.bind(ns, name, &node_name).await {
        Ok(()) => {
            tracing::info!(pod = %format!("{ns}/{name}"), node = %node_name, "bound");
            let msg = format!("Successfully assigned {ns}/{name} to {node_name}");
            recorder
                .record(raw, EventType::Normal, "Scheduled", "Binding", &msg)
                .await;
            cache.bound(key.clone(), node_name, PlacedPod::of(typed));
        }
        Err(e) => tracing::debug!(error = %e, "bind failed"),
    }
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(crate) fn is_pending(p: &Value) -> bool {
    let unbound = p
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty();
    let ours = matches!(
        p.pointer("/spec/schedulerName").and_then(Value::as_str),
        None | Some(SCHEDULER_NAME)
    );
    let gated = p
        .pointer("/spec/schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty());
    unbound && ours && !gated && p.pointer("/metadata/deletionTimestamp").is_none()
}

pub(crate) fn is_active(p: &Value) -> bool {
    !matches!(phase(p), "Succeeded" | "Failed")
        && !p
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
}

/// Sets `PodScheduled=False` with the reason, unless it already says so.
async fn mark_unschedulable<C: Client>(client: &C, pod_obj: &Value, message: &str) {
    let conditions = pod_obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let existing = conditions.iter().find(|c| c["type"] == "PodScheduled");
    if existing.is_some_and(|c| c["status"] == "False" && c["message"] == message) {
        return;
    }
    let mut updated: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    updated.push(json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": meta::now(),
    }));
    let patch = json!({"status": {"conditions": updated}});
    let ns = meta::meta_str(pod_obj, "namespace").unwrap_or("default");
    if let Err(e) = client
        .patch(
            &pod::RESOURCE,
            ns,
            meta::name_of(pod_obj),
            PatchType::Merge,
            &patch,
            Subresource::Status,
        )
        .await
    {
        tracing::debug!(error = %e, "could not set PodScheduled condition");
    }
}
