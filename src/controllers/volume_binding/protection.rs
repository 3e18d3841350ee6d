//! The pvc-protection and pv-protection controllers: a deleting claim keeps its finalizer
//! while a pod that has not terminated uses it, and a deleting volume keeps its finalizer
//! while it is Bound, so data in use is never pulled away (upstream's storage object in-use
//! protection).

use std::ops::ControlFlow;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::{PVC_PROTECTION, PV_PROTECTION};
use crate::client::informer::Informer;
use crate::client::options::PatchType;
use crate::client::options::{ListOptions, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::Action;
use crate::resources::{persistentvolume, persistentvolumeclaim, pod, ResourceType};

/// How soon a claim still in use is looked at again (pod changes do not wake the binder).
const IN_USE_RECHECK: Duration = Duration::from_secs(2);

/// Whether `pod` names claim `claim` among its volumes and has not terminated.
pub fn pod_uses_claim(pod: &Pod, claim: &str) -> bool {
    let terminated = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    !terminated
        && pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .is_some_and(|vols| {
                vols.iter().any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| c.claim_name == claim)
                })
            })
}

fn has_finalizer(meta: &ObjectMeta, name: &str) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == name))
}

async fn remove_finalizer<C: Client>(
    client: &C,
    rt: &'static ResourceType,
    meta: &ObjectMeta,
    finalizer: &str,
) -> Result<(), ApiError> {
    let keep: Vec<&String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": keep,
                                    "resourceVersion": meta.resource_version}});
    let ns = meta.namespace.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    match client
        .patch(rt, ns, name, PatchType::Merge, &patch, Subresource::Main)
        .await
    {
        Ok(_) => {
            tracing::info!(kind = rt.kind, name, finalizer, "finalizer removed");
            Ok(())
        }
        Err(e) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A deleting claim: drop `kubernetes.io/pvc-protection` once no live pod uses it.
pub async fn release_claim<C: Client>(
    client: &C,
    pods: &Informer<Pod>,
    claim: &PersistentVolumeClaim,
) -> Result<Action, ApiError> {
    if !has_finalizer(&claim.metadata, PVC_PROTECTION) {
        return Ok(Action::Done);
    }
    let ns = claim.metadata.namespace.as_deref().unwrap_or("default");
    let name = claim.metadata.name.as_deref().unwrap_or("");
    let mut in_use = pods
        .list_namespace(ns)
        .iter()
        .any(|p| pod_uses_claim(p, name));
    if !in_use {
        // The cache may not show a pod created a moment ago: the API decides, as
        // upstream's protection controller asks the API server before letting a claim go.
        client
            .list_each(&pod::RESOURCE, Some(ns), &ListOptions::default(), |p| {
                in_use = serde_json::from_value::<Pod>(p).is_ok_and(|p| pod_uses_claim(&p, name));
                if in_use {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await?;
    }
    if in_use {
        tracing::debug!(claim = %format!("{ns}/{name}"), "claim in use; keeping its finalizer");
        return Ok(Action::RequeueAfter(IN_USE_RECHECK));
    }
    remove_finalizer(
        client,
        &persistentvolumeclaim::RESOURCE,
        &claim.metadata,
        PVC_PROTECTION,
    )
    .await?;
    Ok(Action::Done)
}

/// A deleting volume: drop `kubernetes.io/pv-protection` once it is not Bound.
pub async fn release_volume<C: Client>(
    client: &C,
    pv: &PersistentVolume,
) -> Result<Action, ApiError> {
    if !has_finalizer(&pv.metadata, PV_PROTECTION) || super::matching::volume_phase(pv) == "Bound" {
        return Ok(Action::Done);
    }
    remove_finalizer(
        client,
        &persistentvolume::RESOURCE,
        &pv.metadata,
        PV_PROTECTION,
    )
    .await?;
    Ok(Action::Done)
}
