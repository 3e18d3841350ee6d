//! The other half of the storage task: Delete reclaim of Released volumes this node
//! provisioned, and expansion of volumes whose claims ask for more than they have.
//!
//! Reclaim removes the data first and the PV object second, so a PV never disappears while
//! its data is still on disk. Expansion follows upstream's flow for a volume that grows
//! online: the volume, then the PV's capacity, then the claim's `status.capacity`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::provisioner::{bytes_of, our_provisioner, str_at, Provisioner};
use super::Expansion;
use crate::client::events::EventType;
use crate::client::options::PatchType;
use crate::client::options::{ListOptions, Subresource};
use crate::client::Client;
use crate::resources::meta;
use crate::resources::{persistentvolume, persistentvolumeclaim, pod};

impl<C: Client> Provisioner<C> {
    pub(super) async fn reclaim_if_released(&self, pv: &Value) {
        if str_at(pv, &["status", "phase"]) != "Released"
            || str_at(pv, &["spec", "persistentVolumeReclaimPolicy"]) != "Delete"
        {
            return;
        }
        let Some(provisioner) = self.owns(pv) else {
            return;
        };
        let name = meta::name_of(pv).to_string();
        let (storage, n) = (self.storage.clone(), name.clone());
        let removed = tokio::task::spawn_blocking(move || storage.delete(&provisioner, &n)).await;
        let result = match removed {
            Ok(Ok(())) => self
                .client
                .delete(&persistentvolume::RESOURCE, "", &name, &Default::default())
                .await
                .or_else(|e| {
                    if e.code == 404 {
                        Ok(())
                    } else {
                        Err(e.message)
                    }
                }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => tracing::info!(volume = %name, "volume deleted on Delete reclaim"),
            Err(e) => {
                tracing::warn!(volume = %name, error = %e, "deleting volume failed");
                self.events
                    .record(pv, EventType::Warning, "VolumeFailedDelete", "Delete", &e);
            }
        }
    }

    pub(super) async fn expand_if_grown(
        &self,
        classes: &BTreeMap<String, Value>,
        pvs: &BTreeMap<String, Value>,
        pvc: &Value,
    ) {
        let pv_name = str_at(pvc, &["spec", "volumeName"]);
        let Some(pv) = pvs.get(pv_name) else { return };
        let Some(provisioner) = self.owns(pv) else {
            return;
        };
        let class_name = str_at(pvc, &["spec", "storageClassName"]);
        let Some(class) = classes.get(class_name) else {
            return;
        };
        if our_provisioner(classes, class_name).is_none()
            || class["allowVolumeExpansion"] != json!(true)
            || str_at(pvc, &["status", "phase"]) != "Bound"
        {
            return;
        }
        let request = str_at(pvc, &["spec", "resources", "requests", "storage"]).to_string();
        let have = str_at(pvc, &["status", "capacity", "storage"]);
        let (Some(want), Some(has)) = (bytes_of(&request), bytes_of(have)) else {
            return;
        };
        let pending = pvc["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "FileSystemResizePending");
        if want <= has && !pending {
            return;
        }
        let ns = str_at(pvc, &["metadata", "namespace"]).to_string();
        let claim = meta::name_of(pvc).to_string();
        let unused = !self.claim_in_use(&ns, &claim).await;
        let (storage, n) = (self.storage.clone(), pv_name.to_string());
        let grown =
            tokio::task::spawn_blocking(move || storage.expand(&provisioner, &n, want, unused))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        let expansion = match grown {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(volume = %pv_name, error = %e, "volume expansion failed");
                let msg = format!("resize volume {pv_name:?} failed: {e}");
                self.events.record(
                    pvc,
                    EventType::Warning,
                    "VolumeResizeFailed",
                    "Resize",
                    &msg,
                );
                return;
            }
        };
        // Upstream's order: the volume's capacity first, the claim's once the filesystem has
        // grown.
        if str_at(pv, &["spec", "capacity", "storage"]) != request {
            let pv_patch = json!({"spec": {"capacity": {"storage": request}}});
            if let Err(e) = self
                .client
                .patch(
                    &persistentvolume::RESOURCE,
                    "",
                    pv_name,
                    PatchType::Merge,
                    &pv_patch,
                    Subresource::Main,
                )
                .await
            {
                tracing::warn!(volume = %pv_name, error = %e, "could not record the new capacity");
                return;
            }
        }
        if expansion == Expansion::PendingRestart {
            self.resize_pending.store(true, Ordering::Relaxed);
        }
        let pvc_patch = match expansion {
            // Patch once: every claim change wakes this task again.
            Expansion::PendingRestart if pending => return,
            Expansion::PendingRestart => json!({"status": {
                "allocatedResources": {"storage": request},
                "conditions": [{
                    "type": "FileSystemResizePending",
                    "status": "True",
                    "lastTransitionTime": meta::now(),
                    "message": "Waiting for user to (re-)start a pod to finish file system resize of volume on node.",
                }],
            }}),
            Expansion::Done => json!({"status": {
                "capacity": {"storage": request},
                "allocatedResources": {"storage": request},
                "conditions": null,
            }}),
        };
        if let Err(e) = self
            .client
            .patch(
                &persistentvolumeclaim::RESOURCE,
                &ns,
                &claim,
                PatchType::Merge,
                &pvc_patch,
                Subresource::Status,
            )
            .await
        {
            tracing::warn!(claim = %claim, error = %e, "could not record the new capacity");
            return;
        }
        if expansion == Expansion::Done {
            let msg = format!(
                "resize volume {pv_name:?} by resizer {:?} finished successfully",
                str_at(class, &["provisioner"])
            );
            self.events.record(
                pvc,
                EventType::Normal,
                "VolumeResizeSuccessful",
                "Resize",
                &msg,
            );
        }
    }

    /// Whether a pod on this node that has not finished uses claim `ns/claim`.
    async fn claim_in_use(&self, ns: &str, claim: &str) -> bool {
        let opts = ListOptions {
            field_selector: format!("spec.nodeName={}", self.node),
            ..Default::default()
        };
        let Ok(list) = self.client.list(&pod::RESOURCE, Some(ns), &opts).await else {
            return true;
        };
        list.items.iter().any(|p| {
            !matches!(str_at(p, &["status", "phase"]), "Succeeded" | "Failed")
                && p["spec"]["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
        })
    }
}
