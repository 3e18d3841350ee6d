//! The VolumeBinding plugin's PreBind step: before a pod is bound to its node, each of its
//! unbound WaitForFirstConsumer claims is either pre-bound to the matching volume found on
//! that node (the volume's `claimRef`, as upstream's scheduler does) or handed to the
//! class's provisioner with `volume.kubernetes.io/selected-node` naming the node.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

use super::volume_binding::VolumeSnapshot;
use crate::client::options::PatchType;
use crate::client::options::{ListOptions, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::volume_binding::matching::find_matching_volume;
use crate::controllers::volume_binding::{
    ANN_BETA_STORAGE_PROVISIONER, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
};
use crate::resources::{persistentvolume, persistentvolumeclaim, storageclass};

/// Reads the storage objects the VolumeBinding plugin needs.
pub async fn snapshot<C: Client>(client: &C) -> Result<VolumeSnapshot, ApiError> {
    let opts = ListOptions::default();
    let claims = client
        .list(&persistentvolumeclaim::RESOURCE, None, &opts)
        .await?;
    let volumes = client
        .list(&persistentvolume::RESOURCE, None, &opts)
        .await?;
    let classes = client.list(&storageclass::RESOURCE, None, &opts).await?;
    Ok(VolumeSnapshot {
        claims: decode(claims.items),
        volumes: decode(volumes.items),
        classes: decode(classes.items),
    })
}

fn decode<T: serde::de::DeserializeOwned>(items: Vec<serde_json::Value>) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// Whether the pod mounts any claim (only then is the storage snapshot read).
pub fn uses_claims(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|v| v.iter().any(|v| v.persistent_volume_claim.is_some()))
}

/// Records the volume decisions for `pod` on `node`.
pub async fn pre_bind<C: Client>(
    client: &C,
    storage: &VolumeSnapshot,
    pod: &Pod,
    node: &Node,
) -> Result<(), ApiError> {
    let Ok(claims) = storage.pre_filter(pod) else {
        return Ok(());
    };
    let node_name = node.metadata.name.as_deref().unwrap_or("");
    let mut taken: Vec<String> = Vec::new();
    for (claim, class) in claims.unbound {
        let ns = claim.metadata.namespace.as_deref().unwrap_or("default");
        let name = claim.metadata.name.as_deref().unwrap_or("");
        let candidates = storage.volumes_except(&taken);
        if let Some(pv) = find_matching_volume(claim, &candidates, Some(node), true) {
            let pv_name = pv.metadata.name.clone().unwrap_or_default();
            let patch = json!({
                "metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}},
                "spec": {"claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                    "namespace": ns, "name": name, "uid": claim.metadata.uid,
                    "resourceVersion": claim.metadata.resource_version}},
            });
            client
                .patch(
                    &persistentvolume::RESOURCE,
                    "",
                    &pv_name,
                    PatchType::Merge,
                    &patch,
                    Subresource::Main,
                )
                .await?;
            tracing::info!(claim = %format!("{ns}/{name}"), volume = %pv_name, "volume chosen for claim");
            taken.push(pv_name);
            continue;
        }
        let provisioner = class.provisioner.as_str();
        let patch = json!({"metadata": {"annotations": {
            ANN_SELECTED_NODE: node_name,
            ANN_STORAGE_PROVISIONER: provisioner,
            ANN_BETA_STORAGE_PROVISIONER: provisioner,
        }}});
        client
            .patch(
                &persistentvolumeclaim::RESOURCE,
                ns,
                name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        tracing::info!(claim = %format!("{ns}/{name}"), node = node_name, "node selected for provisioning");
    }
    Ok(())
}
