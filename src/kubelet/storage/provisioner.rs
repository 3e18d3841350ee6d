//! The kubelet's storage task: provisions claims this node was selected for, grows volumes
//! whose claims asked for more, reclaims Released volumes with the Delete policy, and keeps
//! the node's free-space annotations current (ADR 004).
//!
//! It reconciles from full lists of StorageClasses, claims and volumes whenever a claim or a
//! volume changes (a watch wakes it) and at least every minute, so a missed event or a failed
//! attempt is retried. Disk work runs on the blocking pool.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    NodeStorage, StorageError, HOSTNAME_LABEL, PROVISIONED_BY_ANNOTATION, SELECTED_NODE_ANNOTATION,
};
use crate::client::events::{EventRecorder, EventType};
use crate::client::options::{ListOptions, WatchOptions};
use crate::client::{Client, WatchSource};
use crate::resources::meta;
use crate::resources::quantity::Quantity;
use crate::resources::{persistentvolume, persistentvolumeclaim, storageclass, ResourceType};

/// The slowest the task reconciles (and refreshes the free-space annotations).
const RESYNC: Duration = Duration::from_secs(60);
/// How soon a resize waiting for its volume's pods to go is tried again: pods leave without
/// a claim or volume change to wake the task.
const RESIZE_RETRY: Duration = Duration::from_secs(2);

/// One node's provisioner.
pub struct Provisioner<C: Client> {
    pub(super) client: C,
    pub(super) node: String,
    pub(super) storage: NodeStorage,
    pub(super) events: EventRecorder<C>,
    /// A resize is waiting for pods to release its volume.
    pub(super) resize_pending: std::sync::atomic::AtomicBool,
}

pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Bytes of a quantity string (`1Gi`), if it parses and is not negative.
pub(super) fn bytes_of(q: &str) -> Option<u64> {
    Quantity::parse(q)
        .ok()
        .and_then(|q| u64::try_from(q.value()).ok())
}

/// The provisioner of `class` (by name), if this node implements it.
pub(super) fn our_provisioner<'a>(
    classes: &'a BTreeMap<String, Value>,
    class: &str,
) -> Option<&'a str> {
    let p = str_at(classes.get(class)?, &["provisioner"]);
    NodeStorage::handles(p).then_some(p)
}

impl<C: Client> Provisioner<C> {
    /// A provisioner for node `node`.
    pub fn new(client: C, node: String, storage: NodeStorage) -> Self {
        let events = EventRecorder::new(client.clone(), "bramble.io/local-storage");
        Self {
            client,
            node,
            storage,
            events,
            resize_pending: Default::default(),
        }
    }

    /// Runs until `shutdown`; `wake` triggers a pass (the kubelet removed a pod).
    pub async fn run(self, wake: Arc<Notify>, shutdown: CancellationToken) {
        let disk = self.storage.local_disk.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || disk.remount_all()).await {
            tracing::warn!(error = %e, "remounting local-disk volumes failed");
        }
        let watchers = [
            tokio::spawn(wake_on_change(
                self.client.clone(),
                &persistentvolumeclaim::RESOURCE,
                wake.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(wake_on_change(
                self.client.clone(),
                &persistentvolume::RESOURCE,
                wake.clone(),
                shutdown.clone(),
            )),
        ];
        let mut published = BTreeMap::new();
        loop {
            if let Err(e) = self.reconcile().await {
                tracing::warn!(error = %e, "storage reconcile failed");
            }
            self.publish_free(&mut published).await;
            let next = if self.resize_pending.swap(false, Ordering::Relaxed) {
                RESIZE_RETRY
            } else {
                RESYNC
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        for w in watchers {
            let _ = w.await;
        }
    }

    async fn list(
        &self,
        rt: &'static ResourceType,
    ) -> Result<Vec<Value>, crate::client::status::ApiError> {
        Ok(self
            .client
            .list(rt, None, &ListOptions::default())
            .await?
            .items)
    }

    async fn reconcile(&self) -> Result<(), crate::client::status::ApiError> {
        let classes: BTreeMap<String, Value> = self
            .list(&storageclass::RESOURCE)
            .await?
            .into_iter()
            .map(|c| (meta::name_of(&c).to_string(), c))
            .collect();
        // Claims before volumes, reclaim before provisioning: a pass that provisions a claim
        // created after some PV change has seen that change, so observers can rely on order.
        let pvcs = self.list(&persistentvolumeclaim::RESOURCE).await?;
        let pvs: BTreeMap<String, Value> = self
            .list(&persistentvolume::RESOURCE)
            .await?
            .into_iter()
            .map(|v| (meta::name_of(&v).to_string(), v))
            .collect();
        for pv in pvs.values() {
            self.reclaim_if_released(pv).await;
        }
        for pvc in &pvcs {
            self.provision_if_selected(&classes, &pvs, pvc).await;
            self.expand_if_grown(&classes, &pvs, pvc).await;
        }
        Ok(())
    }

    /// Whether `pv` is a volume this node's provisioners made (its provisioner is ours and its
    /// node affinity names this node).
    pub(super) fn owns(&self, pv: &Value) -> Option<String> {
        let prov = str_at(pv, &["metadata", "annotations", PROVISIONED_BY_ANNOTATION]);
        if !NodeStorage::handles(prov) {
            return None;
        }
        let terms = pv
            .pointer("/spec/nodeAffinity/required/nodeSelectorTerms")
            .and_then(Value::as_array)?;
        let pinned_here = terms.iter().any(|t| {
            t["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| {
                    e["key"] == HOSTNAME_LABEL
                        && e["operator"] == "In"
                        && e["values"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|v| v == &json!(self.node))
                })
        });
        pinned_here.then(|| prov.to_string())
    }

    async fn provision_if_selected(
        &self,
        classes: &BTreeMap<String, Value>,
        pvs: &BTreeMap<String, Value>,
        pvc: &Value,
    ) {
        if str_at(pvc, &["metadata", "annotations", SELECTED_NODE_ANNOTATION]) != self.node
            || !str_at(pvc, &["spec", "volumeName"]).is_empty()
            || pvc["metadata"].get("deletionTimestamp").is_some()
        {
            return;
        }
        let class = str_at(pvc, &["spec", "storageClassName"]);
        let Some(provisioner) = our_provisioner(classes, class) else {
            return;
        };
        let uid = str_at(pvc, &["metadata", "uid"]);
        let pv_name = format!("pvc-{uid}");
        if uid.is_empty() || pvs.contains_key(&pv_name) {
            return;
        }
        match self
            .provision(&classes[class], provisioner, &pv_name, pvc)
            .await
        {
            Ok(()) => {
                let msg = format!("Successfully provisioned volume {pv_name}");
                self.events.record(
                    pvc,
                    EventType::Normal,
                    "ProvisioningSucceeded",
                    "Provision",
                    &msg,
                );
            }
            Err(e) => {
                tracing::warn!(claim = %meta::name_of(pvc), error = %e, "provisioning failed");
                let msg = format!("failed to provision volume with StorageClass {class:?}: {e}");
                self.events.record(
                    pvc,
                    EventType::Warning,
                    "ProvisioningFailed",
                    "Provision",
                    &msg,
                );
            }
        }
    }

    async fn provision(
        &self,
        class: &Value,
        provisioner: &str,
        pv_name: &str,
        pvc: &Value,
    ) -> Result<(), ProvisionError> {
        if !self.allowed_here(class).await? {
            return Err(ProvisionError::Claim(format!(
                "node {:?} is not in the class's allowedTopologies",
                self.node
            )));
        }
        let request = str_at(pvc, &["spec", "resources", "requests", "storage"]).to_string();
        let bytes = bytes_of(&request)
            .ok_or_else(|| ProvisionError::Claim(format!("invalid storage request {request:?}")))?;
        let volume_mode = match str_at(pvc, &["spec", "volumeMode"]) {
            "" => "Filesystem",
            m => m,
        };
        if volume_mode != "Filesystem" {
            return Err(ProvisionError::Claim(format!(
                "{provisioner} provides Filesystem volumes only, the claim asks for volumeMode {volume_mode}"
            )));
        }
        let (storage, prov, name) = (
            self.storage.clone(),
            provisioner.to_string(),
            pv_name.to_string(),
        );
        let path = tokio::task::spawn_blocking(move || storage.provision(&prov, &name, bytes))
            .await
            .map_err(|e| ProvisionError::Claim(e.to_string()))??;
        let reclaim = match str_at(class, &["reclaimPolicy"]) {
            "" => "Delete",
            p => p,
        };
        let pv = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": {PROVISIONED_BY_ANNOTATION: provisioner},
            },
            "spec": {
                "capacity": {"storage": request},
                "accessModes": pvc["spec"]["accessModes"],
                "volumeMode": volume_mode,
                "storageClassName": str_at(pvc, &["spec", "storageClassName"]),
                "persistentVolumeReclaimPolicy": reclaim,
                "mountOptions": class.get("mountOptions").cloned().unwrap_or(Value::Null),
                "local": {"path": path.display().to_string()},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": HOSTNAME_LABEL, "operator": "In", "values": [self.node]}
                ]}]}},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": str_at(pvc, &["metadata", "namespace"]),
                    "name": meta::name_of(pvc),
                    "uid": str_at(pvc, &["metadata", "uid"]),
                },
            },
        });
        match self
            .client
            .create(&persistentvolume::RESOURCE, "", pv)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(ProvisionError::Api(format!(
                "creating the PersistentVolume: {}",
                e.message
            ))),
        }
    }
}

/// Why a claim could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The claim asks for something the provisioner cannot give.
    #[error("{0}")]
    Claim(String),
    /// The disk work failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An API call failed.
    #[error("API: {0}")]
    Api(String),
}

/// Notifies `wake` on every change of `rt`, re-watching when a watch ends.
async fn wake_on_change<C: Client>(
    client: C,
    rt: &'static ResourceType,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let Ok(mut watch) = client.watch(rt, None, &WatchOptions::default()).await else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                _ = shutdown.cancelled() => return,
            }
        };
        loop {
            tokio::select! {
                e = watch.next() => match e {
                    Some(_) => wake.notify_one(),
                    None => break,
                },
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
