//! What a decision leaves on the pod, as kube-scheduler leaves it: a `Scheduled` event once
//! bound; when the pod fits nowhere (or its binding fails) a `FailedScheduling` warning and
//! the `PodScheduled=False` condition with reason `Unschedulable` and the same message.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::client::events::{EventRecorder, EventType};
use crate::client::options::{PatchType, Subresource};
use crate::client::Client;
use crate::resources::{meta, pod};

/// What an event needs of the pod it is about (its kind and identity, not the whole pod).
fn involved(pod: &Pod) -> Value {
    let m = &pod.metadata;
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": m.name,
            "namespace": m.namespace,
            "uid": m.uid,
            "resourceVersion": m.resource_version,
        },
    })
}

fn pod_name(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or(""),
    )
}

/// Records the `Scheduled` event.
pub(crate) fn scheduled<C: Client>(recorder: &EventRecorder<C>, pod: &Pod, node: &str) {
    let (ns, name) = pod_name(pod);
    let msg = format!("Successfully assigned {ns}/{name} to {node}");
    recorder.record(
        &involved(pod),
        EventType::Normal,
        "Scheduled",
        "Binding",
        &msg,
    );
}

/// Records `FailedScheduling` and sets `PodScheduled=False` with `message`.
pub(crate) async fn failed<C: Client>(
    client: &C,
    recorder: &EventRecorder<C>,
    pod: &Pod,
    message: &str,
) {
    mark_unschedulable(client, pod, message).await;
    recorder.record(
        &involved(pod),
        EventType::Warning,
        "FailedScheduling",
        "Scheduling",
        message,
    );
}

/// Sets `PodScheduled=False` with the reason, unless it already says so.
async fn mark_unschedulable<C: Client>(client: &C, pod_obj: &Pod, message: &str) {
    let conditions = pod_obj
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let existing = conditions.iter().find(|c| c.type_ == "PodScheduled");
    if existing.is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(message)) {
        return;
    }
    let mut updated: Vec<Value> = conditions
        .iter()
        .filter(|c| c.type_ != "PodScheduled")
        .filter_map(|c| serde_json::to_value(c).ok())
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
    let (ns, name) = pod_name(pod_obj);
    if let Err(e) = client
        .patch(
            &pod::RESOURCE,
            ns,
            name,
            PatchType::Merge,
            &patch,
            Subresource::Status,
        )
        .await
    {
        tracing::debug!(error = %e, "could not set PodScheduled condition");
    }
}
