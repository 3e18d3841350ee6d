//! The scheduling loop: whenever pods or nodes change (and every few seconds for pods that
//! did not fit), take a snapshot, place every pending pod with [`super::schedule`], and bind
//! it — or record why not, as kube-scheduler does with a `FailedScheduling` event and a
//! `PodScheduled=False` condition.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::volume_binding::VolumeSnapshot;
use super::{schedule_with_volumes, volume_prebind, NodeInfo};
use crate::api::patch::PatchType;
use crate::api::registry::{meta, ListOptions, Subresource, WatchOptions};
use crate::client::events::{EventRecorder, EventType};
use crate::client::{Client, WatchSource};
use crate::resources::{node, pod};

/// The scheduler name this loop serves, as upstream's default profile.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// How often pods that fit nowhere are tried again without any change in the cluster.
const RETRY: Duration = Duration::from_secs(10);

/// Runs until `shutdown` is cancelled.
pub async fn run<C: Client>(client: C, shutdown: CancellationToken) {
    let recorder = EventRecorder::new(client.clone(), SCHEDULER_NAME);
    loop {
        let revision = match pass(&client, &recorder).await {
            Ok(rv) => rv,
            Err(e) => {
                tracing::warn!(error = %e, "scheduling pass failed");
                String::new()
            }
        };
        let opts = WatchOptions {
            resource_version: revision,
            ..Default::default()
        };
        let pods = client.watch(&pod::RESOURCE, None, &opts).await;
        let nodes = client.watch(&node::RESOURCE, None, &opts).await;
        let (Ok(mut pods), Ok(mut nodes)) = (pods, nodes) else {
            // history moved on: just run another pass after a pause
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                _ = shutdown.cancelled() => return,
            }
        };
        tokio::select! {
            _ = pods.next() => {}
            _ = nodes.next() => {}
            _ = tokio::time::sleep(RETRY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One scheduling pass; returns the revision the snapshot was taken at.
async fn pass<C: Client>(
    client: &C,
    recorder: &EventRecorder<C>,
) -> Result<String, crate::api::status::ApiError> {
    let nodes = client
        .list(&node::RESOURCE, None, &ListOptions::default())
        .await?;
    let pods = client
        .list(&pod::RESOURCE, None, &ListOptions::default())
        .await?;
    let revision = nodes
        .resource_version
        .min(pods.resource_version)
        .to_string();
    let typed_nodes: Vec<Node> = nodes
        .items
        .iter()
        .filter_map(|n| serde_json::from_value(n.clone()).ok())
        .collect();
    let mut typed_pods: Vec<Pod> = Vec::new();
    let mut storage = None;
    let mut pending: Vec<(Value, Pod)> = Vec::new();
    for p in &pods.items {
        let Ok(typed) = serde_json::from_value::<Pod>(p.clone()) else {
            continue;
        };
        if is_pending(p) {
            pending.push((p.clone(), typed));
        } else if is_active(p) {
            typed_pods.push(typed);
        }
    }
    for (raw, typed) in pending {
        let infos: Vec<NodeInfo<'_>> = typed_nodes
            .iter()
            .map(|n| NodeInfo {
                node: n,
                pods: typed_pods
                    .iter()
                    .filter(|p| {
                        p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                            == n.metadata.name.as_deref()
                    })
                    .collect(),
            })
            .collect();
        let ns = meta::meta_str(&raw, "namespace")
            .unwrap_or("default")
            .to_string();
        let name = meta::name_of(&raw).to_string();
        if storage.is_none() && volume_prebind::uses_claims(&typed) {
            storage = Some(volume_prebind::snapshot(client).await?);
        }
        let empty = VolumeSnapshot::default();
        let volumes = storage.as_ref().unwrap_or(&empty);
        match schedule_with_volumes(&typed, &infos, volumes) {
            Ok(node_name) => {
                drop(infos);
                if let Some(node) = typed_nodes
                    .iter()
                    .find(|n| n.metadata.name.as_deref() == Some(node_name.as_str()))
                {
                    if let Err(e) = volume_prebind::pre_bind(client, volumes, &typed, node).await {
                        tracing::warn!(error = %e, pod = %format!("{ns}/{name}"), "recording volume decisions failed");
                        continue;
                    }
                    if volume_prebind::uses_claims(&typed) {
                        // The claims changed; the next pod reads them afresh.
                        storage = None;
                    }
                }
                match client.bind(&ns, &name, &node_name).await {
                    Ok(()) => {
                        tracing::info!(pod = %format!("{ns}/{name}"), node = %node_name, "bound");
                        let msg = format!("Successfully assigned {ns}/{name} to {node_name}");
                        recorder
                            .record(&raw, EventType::Normal, "Scheduled", "Binding", &msg)
                            .await;
                        let mut bound = typed;
                        if let Some(spec) = bound.spec.as_mut() {
                            spec.node_name = Some(node_name);
                        }
                        typed_pods.push(bound);
                    }
                    Err(e) => tracing::debug!(error = %e, "bind failed"),
                }
            }
            Err(fit) => {
                drop(infos);
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
    Ok(revision)
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn is_pending(p: &Value) -> bool {
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

fn is_active(p: &Value) -> bool {
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
