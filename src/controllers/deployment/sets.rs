//! The writes a Deployment makes to its ReplicaSets: create the set of a new template,
//! scale one (recording the Deployment's replicas and surge in annotations, as upstream),
//! bump a reused set's revision, and delete sets beyond `revisionHistoryLimit`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::json;

use super::revision::{template_hash, DESIRED_REPLICAS, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION};
use super::DeploymentController;
use crate::client::events::{self, EventType};
use crate::client::informer::key_of;
use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pods::owner_reference;
use crate::controllers::status_patch::patch_through_status;
use crate::resources::{lookup_kind, ResourceType};

pub(super) fn rs_resource() -> Result<&'static ResourceType, ApiError> {
    lookup_kind("apps/v1", "ReplicaSet")
        .ok_or_else(|| ApiError::internal("the API serves no ReplicaSet"))
}

/// Creates the set of `d`'s template with `replicas` at `revision`.
pub(super) async fn create<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    replicas: i32,
    max_surge: i32,
    revision: i64,
) -> Result<ReplicaSet, ApiError> {
    let (ns, name) = key_of(d);
    let spec = d
        .spec
        .as_ref()
        .ok_or_else(|| ApiError::internal("deployment without spec"))?;
    let collisions = d
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let hash = template_hash(&spec.template, collisions);
    let mut template = serde_json::to_value(&spec.template).unwrap_or(json!({}));
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = serde_json::to_value(&spec.selector).unwrap_or(json!({}));
    selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut annotations: BTreeMap<String, String> =
        d.metadata.annotations.clone().unwrap_or_default();
    annotations.retain(|k, _| !k.starts_with("kubectl.kubernetes.io/last-applied-configuration"));
    annotations.insert(REVISION.into(), revision.to_string());
    annotations.insert(
        DESIRED_REPLICAS.into(),
        spec.replicas.unwrap_or(1).to_string(),
    );
    annotations.insert(
        MAX_REPLICAS.into(),
        (spec.replicas.unwrap_or(1).saturating_add(max_surge)).to_string(),
    );
    let set_name = format!("{name}-{hash}");
    let set = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": set_name,
            "namespace": ns,
            "labels": template["metadata"]["labels"],
            "annotations": annotations,
            "ownerReferences": [owner_reference("apps/v1", "Deployment", &name, d.metadata.uid.as_deref().unwrap_or_default())],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec.min_ready_seconds.unwrap_or(0),
            "selector": selector,
            "template": template,
        },
    });
    let created = c.client.create(rs_resource()?, &ns, set).await?;
    scaled(c, d, &set_name, 0, replicas);
    serde_json::from_value(created)
        .map_err(|e| ApiError::internal(format!("created set unreadable: {e}")))
}

/// Sets `set`'s replicas (and the annotations recording `d`'s replicas and surge).
pub(super) async fn scale<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    set: &ReplicaSet,
    replicas: i32,
    max_surge: i32,
) -> Result<(), ApiError> {
    let current = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let annotations = set.metadata.annotations.as_ref();
    let noted = |k: &str| {
        annotations
            .and_then(|a| a.get(k))
            .cloned()
            .unwrap_or_default()
    };
    let desired = want.to_string();
    let max = want.saturating_add(max_surge).to_string();
    if current == replicas && noted(DESIRED_REPLICAS) == desired && noted(MAX_REPLICAS) == max {
        return Ok(());
    }
    let (ns, name) = key_of(set);
    let patch = json!({
        "metadata": {"annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max}},
        "spec": {"replicas": replicas},
    });
    c.client
        .patch(
            rs_resource()?,
            &ns,
            &name,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await?;
    if current != replicas {
        scaled(c, d, &name, current, replicas);
    }
    Ok(())
}

/// Gives a reused set (a rollback to its template) the newest revision.
pub(super) async fn set_revision<C: Client>(
    c: &DeploymentController<C>,
    set: &ReplicaSet,
    revision: i64,
) -> Result<(), ApiError> {
    let (ns, name) = key_of(set);
    let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
    c.client
        .patch(
            rs_resource()?,
            &ns,
            &name,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
        .map(|_| ())
}

/// Deletes an old set.
pub(super) async fn delete<C: Client>(
    c: &DeploymentController<C>,
    set: &ReplicaSet,
) -> Result<(), ApiError> {
    let (ns, name) = key_of(set);
    match c
        .client
        .delete(rs_resource()?, &ns, &name, &DeleteOptions::default())
        .await
    {
        Err(e) if e.code != 404 => Err(e),
        _ => Ok(()),
    }
}

/// Writes `revision` into the Deployment's own revision annotation when it differs.
pub(super) async fn note_revision<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    revision: i64,
) -> Result<(), ApiError> {
    let text = revision.to_string();
    let noted = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION));
    if revision == 0 || noted == Some(&text) {
        return Ok(());
    }
    // Through the status, as upstream's controller writes it: the generation stays.
    let patch = json!({"metadata": {"annotations": {REVISION: text}}});
    patch_through_status(&c.client, d, &patch).await
}

/// Records upstream's `ScalingReplicaSet` event for a set of `d` scaled from `from` to `to`.
fn scaled<C: Client>(c: &DeploymentController<C>, d: &Deployment, set: &str, from: i32, to: i32) {
    let way = if to >= from { "up" } else { "down" };
    let msg = format!("Scaled {way} replica set {set} from {from} to {to}");
    c.events.record(
        &events::reference(d),
        EventType::Normal,
        "ScalingReplicaSet",
        "Scale",
        &msg,
    );
}
