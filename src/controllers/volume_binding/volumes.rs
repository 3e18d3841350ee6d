//! The volume side of the binder (upstream's `syncVolume`): phases Available, Released and
//! Failed, undoing stale bindings, and the reclaim policies. Volumes a bramble provisioner
//! created are deleted by the kubelet of their node, which removes the data first.

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use serde_json::json;

use super::bind::set_volume_phase;
use super::protection;
use super::{ANN_BOUND_BY_CONTROLLER, ANN_PROVISIONED_BY, COMPONENT, LOCAL_PROVISIONERS};
use crate::client::events::{reference, EventRecorder, EventType};
use crate::client::informer::{key_of, Change, Informer, Informers};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::runtime::Controller;
use crate::controllers::work_queue::WorkQueue;
use crate::controllers::{Action, Wired};
use crate::resources::{persistentvolume, persistentvolumeclaim};

/// Upstream's event text when a Recycle volume is released (no recycler exists).
pub const MSG_NO_RECYCLER: &str = "No recycler plugin found for the volume!";

/// Reconciles PersistentVolumes.
pub struct VolumeBinder<C: Client> {
    client: C,
    /// Where events go.
    pub recorder: EventRecorder<C>,
    claims: Informer<PersistentVolumeClaim>,
    volumes: Informer<PersistentVolume>,
}

impl<C: Client> VolumeBinder<C> {
    /// A binder reporting as upstream's `persistentvolume-controller`, reading claims from
    /// the shared informer; a claim's change queues the volumes it concerns. Run it with
    /// [`crate::controllers::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Wired<Self, PersistentVolume> {
        let client = informers.client().clone();
        let claims: Informer<PersistentVolumeClaim> = informers.get()?;
        let volumes: Informer<PersistentVolume> = informers.get()?;
        let queue = WorkQueue::default();
        {
            let (volumes, queue) = (volumes.clone(), queue.clone());
            claims.on_change(move |c| on_claim_change(&volumes, &queue, c));
        }
        Ok((
            Self {
                recorder: EventRecorder::new(client.clone(), COMPONENT),
                client,
                claims,
                volumes: volumes.clone(),
            },
            volumes,
            queue,
        ))
    }

    /// Resolves once volumes and claims have listed.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let (claims, volumes) = (self.claims.clone(), self.volumes.clone());
        async move {
            claims.wait_synced().await;
            volumes.wait_synced().await;
        }
    }
}

/// A claim's change concerns the volume it names and every volume whose claim reference
/// names it.
fn on_claim_change(
    volumes: &Informer<PersistentVolume>,
    queue: &WorkQueue,
    change: &Change<PersistentVolumeClaim>,
) {
    let claim = change.object();
    if let Some(v) = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .filter(|v| !v.is_empty())
    {
        queue.add((String::new(), v.to_string()));
    }
    let (ns, name) = key_of(&**claim);
    for pv in volumes.list() {
        let names_it = pv
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .is_some_and(|r| {
                r.namespace.as_deref() == Some(ns.as_str())
                    && r.name.as_deref() == Some(name.as_str())
            });
        if names_it {
            queue.add(key_of(&*pv));
        }
    }
}

fn annotation<'a>(pv: &'a PersistentVolume, key: &str) -> Option<&'a str> {
    pv.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

impl<C: Client> Controller for VolumeBinder<C> {
    type Kind = PersistentVolume;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, pv: Arc<PersistentVolume>) -> Result<Action, ApiError> {
        let client = &self.client;
        let pv = &*pv;
        // A deleting volume keeps being synced while Bound, so it can become Released and
        // then lose its finalizer.
        if pv.metadata.deletion_timestamp.is_some() && super::matching::volume_phase(pv) != "Bound"
        {
            return protection::release_volume(client, pv).await;
        }
        let Some(claim_ref) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
            set_volume_phase(client, pv, "Available", None).await?;
            return Ok(Action::Done);
        };
        let ref_uid = claim_ref.uid.as_deref().unwrap_or("");
        if ref_uid.is_empty() {
            // Pre-bound by the administrator; the claim side binds it.
            set_volume_phase(client, pv, "Available", None).await?;
            return Ok(Action::Done);
        }
        let ns = claim_ref.namespace.as_deref().unwrap_or("");
        let name = claim_ref.name.as_deref().unwrap_or("");
        // The cache first; a claim it lacks is looked up, as upstream does, since releasing
        // a volume whose new claim the cache has not seen yet would undo a fresh bind.
        let cached = self
            .claims
            .get(ns, name)
            .filter(|c| c.metadata.uid.as_deref() == Some(ref_uid))
            .map(|c| (*c).clone());
        let claim: Option<PersistentVolumeClaim> = match cached {
            Some(c) => Some(c),
            None => match client.get(&persistentvolumeclaim::RESOURCE, ns, name).await {
                Ok(v) => {
                    Some(serde_json::from_value(v).map_err(|e| ApiError::internal(e.to_string()))?)
                }
                Err(e) if e.code == 404 => None,
                Err(e) => return Err(e),
            }
            .filter(|c: &PersistentVolumeClaim| c.metadata.uid.as_deref() == Some(ref_uid)),
        };
        let Some(claim) = claim else {
            return self.released(client, pv).await;
        };
        let pv_name = pv.metadata.name.as_deref().unwrap_or("");
        match claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()) {
            // Not bound yet: the claim side finishes the bind.
            None | Some("") => {}
            Some(v) if v == pv_name => set_volume_phase(client, pv, "Bound", None).await?,
            Some(_) => self.unbind(client, pv).await?,
        }
        Ok(Action::Done)
    }
}

impl<C: Client> VolumeBinder<C> {
    /// The claim is gone: Released, then the reclaim policy.
    async fn released(&self, client: &C, pv: &PersistentVolume) -> Result<Action, ApiError> {
        let phase = super::matching::volume_phase(pv);
        if phase == "Failed" {
            return Ok(Action::Done);
        }
        if phase != "Released" {
            set_volume_phase(client, pv, "Released", None).await?;
        }
        let policy = pv
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            .unwrap_or("Retain");
        match policy {
            "Recycle" => {
                set_volume_phase(client, pv, "Failed", Some(MSG_NO_RECYCLER)).await?;
                self.recorder.record(
                    &reference(pv),
                    EventType::Warning,
                    "VolumeFailedRecycle",
                    "",
                    MSG_NO_RECYCLER,
                );
            }
            "Delete" => {
                let by = annotation(pv, ANN_PROVISIONED_BY).unwrap_or("");
                if LOCAL_PROVISIONERS.contains(&by) {
                    tracing::debug!(volume = ?pv.metadata.name, "released; its node deletes it");
                } else {
                    let msg = format!(
                        "error getting deleter volume plugin for volume \"{}\": no deletable volume plugin matched",
                        pv.metadata.name.as_deref().unwrap_or("")
                    );
                    set_volume_phase(client, pv, "Failed", Some(&msg)).await?;
                    self.recorder.record(
                        &reference(pv),
                        EventType::Warning,
                        "VolumeFailedDelete",
                        "",
                        &msg,
                    );
                }
            }
            _ => {}
        }
        Ok(Action::Done)
    }

    /// The claim is bound to another volume: drop our side (upstream `unbindVolume`).
    async fn unbind(&self, client: &C, pv: &PersistentVolume) -> Result<(), ApiError> {
        let name = pv.metadata.name.as_deref().unwrap_or("");
        let patch = if annotation(pv, ANN_BOUND_BY_CONTROLLER).is_some() {
            json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: null}},
                   "spec": {"claimRef": null}})
        } else {
            json!({"spec": {"claimRef": {"uid": null}}})
        };
        let updated = client
            .patch(
                &persistentvolume::RESOURCE,
                "",
                name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        let pv: PersistentVolume =
            serde_json::from_value(updated).map_err(|e| ApiError::internal(e.to_string()))?;
        set_volume_phase(client, &pv, "Available", None).await
    }
}
