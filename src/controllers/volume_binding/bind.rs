//! The writes of a bind, in upstream's order (`pv_controller.bind`): the volume's `claimRef`,
//! the volume's phase, the claim's `volumeName` and annotations, then the claim's status.
//! Each step is skipped when already done, so an interrupted bind is finished on the next
//! pass.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use serde_json::{json, Value};

use super::{ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::{persistentvolume, persistentvolumeclaim};

fn claim_ns(claim: &PersistentVolumeClaim) -> &str {
    claim.metadata.namespace.as_deref().unwrap_or("default")
}

fn claim_name(claim: &PersistentVolumeClaim) -> &str {
    claim.metadata.name.as_deref().unwrap_or("")
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Patches a volume's phase (and message) through `status`, unless it already has it.
pub async fn set_volume_phase<C: Client>(
    client: &C,
    pv: &PersistentVolume,
    phase: &str,
    message: Option<&str>,
) -> Result<(), ApiError> {
    let status = pv.status.as_ref();
    let current = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    let current_msg = status.and_then(|s| s.message.as_deref());
    if current == phase && current_msg == message {
        return Ok(());
    }
    let patch = json!({"status": {"phase": phase, "message": message,
                                  "lastPhaseTransitionTime": crate::resources::meta::now()}});
    let name = pv.metadata.name.as_deref().unwrap_or("");
    client
        .patch(
            &persistentvolume::RESOURCE,
            "",
            name,
            PatchType::Merge,
            &patch,
            Subresource::Status,
        )
        .await?;
    tracing::info!(volume = name, phase, "volume phase changed");
    Ok(())
}

/// Patches a claim's status phase; `volume` supplies capacity and access modes when Bound.
pub async fn set_claim_phase<C: Client>(
    client: &C,
    claim: &PersistentVolumeClaim,
    phase: &str,
    volume: Option<&PersistentVolume>,
) -> Result<(), ApiError> {
    let status = claim.status.as_ref();
    let current = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    let mut patch = json!({"status": {"phase": phase}});
    if let Some(spec) = volume.and_then(|v| v.spec.as_ref()) {
        let capacity = serde_json::to_value(&spec.capacity).unwrap_or(Value::Null);
        let modes = serde_json::to_value(&spec.access_modes).unwrap_or(Value::Null);
        let same = current == phase
            && serde_json::to_value(status.map(|s| &s.access_modes)).ok() == Some(modes.clone());
        if same {
            return Ok(());
        }
        // Upstream copies the capacity only when the claim becomes Bound: afterwards a
        // difference means an expansion in progress, which the node completes.
        if current != phase {
            patch["status"]["capacity"] = capacity;
        }
        patch["status"]["accessModes"] = modes;
    } else if current == phase {
        return Ok(());
    }
    client
        .patch(
            &persistentvolumeclaim::RESOURCE,
            claim_ns(claim),
            claim_name(claim),
            PatchType::Merge,
            &patch,
            Subresource::Status,
        )
        .await?;
    tracing::info!(claim = %format!("{}/{}", claim_ns(claim), claim_name(claim)), phase, "claim phase changed");
    Ok(())
}

/// Binds `pv` and `claim` to each other and marks both Bound.
pub async fn bind<C: Client>(
    client: &C,
    pv: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), ApiError> {
    let pv_name = pv.metadata.name.as_deref().unwrap_or("");
    let uid = claim.metadata.uid.as_deref().unwrap_or("");
    let claim_ref = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let ref_done = claim_ref.is_some_and(|r| {
        r.name.as_deref() == Some(claim_name(claim))
            && r.namespace.as_deref() == Some(claim_ns(claim))
            && r.uid.as_deref() == Some(uid)
    });
    let mut pv = pv.clone();
    if !ref_done {
        let mut patch = json!({"spec": {"claimRef": {
            "kind": "PersistentVolumeClaim", "apiVersion": "v1",
            "namespace": claim_ns(claim), "name": claim_name(claim), "uid": uid,
            "resourceVersion": claim.metadata.resource_version,
        }}});
        // Checked against the state read, which may come from a cache a step behind: a
        // volume another claim took meanwhile answers 409 instead of being taken twice.
        patch["metadata"] = json!({"resourceVersion": pv.metadata.resource_version});
        if claim_ref.is_none() {
            patch["metadata"]["annotations"] = json!({ANN_BOUND_BY_CONTROLLER: "yes"});
        }
        let updated = client
            .patch(
                &persistentvolume::RESOURCE,
                "",
                pv_name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        pv = serde_json::from_value(updated).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    set_volume_phase(client, &pv, "Bound", None).await?;

    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    let completed = annotation(&claim.metadata, ANN_BIND_COMPLETED) == Some("yes");
    if volume_name != pv_name || !completed {
        let mut annotations = json!({ANN_BIND_COMPLETED: "yes"});
        if volume_name.is_empty() {
            annotations[ANN_BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch =
            json!({"metadata": {"annotations": annotations}, "spec": {"volumeName": pv_name}});
        client
            .patch(
                &persistentvolumeclaim::RESOURCE,
                claim_ns(claim),
                claim_name(claim),
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
    }
    set_claim_phase(client, claim, "Bound", Some(&pv)).await?;
    tracing::info!(claim = %format!("{}/{}", claim_ns(claim), claim_name(claim)), volume = pv_name, "bound");
    Ok(())
}
