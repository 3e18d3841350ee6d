//! The claim side of the binder (upstream's `syncClaim`): bind a Pending claim to the best
//! volume, ask a node to provision one when its class has a bramble provisioner, finish
//! half-done binds, and mark a claim Lost when its volume disappears.

use std::borrow::Borrow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::json;

use super::bind::{bind, set_claim_phase};
use super::matching::{self, claim_class, claim_request_bytes, find_matching_volume};
use super::protection;
use super::{
    node_free_bytes, ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER, COMPONENT, LOCAL_PROVISIONERS,
};
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

/// How often a Pending claim is looked at again (a node may have created its volume).
const PENDING_RECHECK: Duration = Duration::from_secs(5);

/// Upstream's event when a claim has no class and no volume fits.
pub const MSG_NO_CLASS: &str =
    "no persistent volumes available for this claim and no storage class is set";
/// Upstream's event while a WaitForFirstConsumer claim has no pod scheduled yet.
pub const MSG_WAIT_FOR_CONSUMER: &str = "waiting for first consumer to be created before binding";

/// Reconciles PersistentVolumeClaims.
pub struct ClaimBinder<C: Client> {
    client: C,
    /// Where events go.
    pub recorder: EventRecorder<C>,
    claims: Informer<PersistentVolumeClaim>,
    volumes: Informer<PersistentVolume>,
    classes: Informer<StorageClass>,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
}

impl<C: Client> ClaimBinder<C> {
    /// A binder reporting as upstream's `persistentvolume-controller`, reading volumes,
    /// classes, nodes and pods from the shared informers; a volume's change queues the
    /// claims it concerns. Run it with [`crate::controllers::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Wired<Self, PersistentVolumeClaim> {
        let client = informers.client().clone();
        let claims: Informer<PersistentVolumeClaim> = informers.get()?;
        let volumes: Informer<PersistentVolume> = informers.get()?;
        let queue = WorkQueue::default();
        {
            let (claims, queue) = (claims.clone(), queue.clone());
            volumes.on_change(move |c| on_volume_change(&claims, &queue, c));
        }
        Ok((
            Self {
                recorder: EventRecorder::new(client.clone(), COMPONENT),
                client,
                claims: claims.clone(),
                volumes,
                classes: informers.get()?,
                nodes: informers.get()?,
                pods: informers.get()?,
            },
            claims,
            queue,
        ))
    }

    /// Resolves once every kind the binder reads has listed.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let (claims, volumes) = (self.claims.clone(), self.volumes.clone());
        let (classes, nodes, pods) = (self.classes.clone(), self.nodes.clone(), self.pods.clone());
        async move {
            claims.wait_synced().await;
            volumes.wait_synced().await;
            classes.wait_synced().await;
            nodes.wait_synced().await;
            pods.wait_synced().await;
        }
    }
}

/// A volume's change concerns the claim it names and, while it is free, every claim still
/// waiting for a volume.
fn on_volume_change(
    claims: &Informer<PersistentVolumeClaim>,
    queue: &WorkQueue,
    change: &Change<PersistentVolume>,
) {
    let pv = change.object();
    if let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
        queue.add((
            r.namespace.clone().unwrap_or_default(),
            r.name.clone().unwrap_or_default(),
        ));
    }
    let free = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_none();
    if free || matches!(change, Change::Deleted(_)) {
        for c in claims.list() {
            let waiting = c
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .map_or(true, str::is_empty);
            if waiting {
                queue.add(key_of(&*c));
            }
        }
    }
}

impl<C: Client> Controller for ClaimBinder<C> {
    type Kind = PersistentVolumeClaim;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, claim: Arc<PersistentVolumeClaim>) -> Result<Action, ApiError> {
        let client = &self.client;
        if claim.metadata.deletion_timestamp.is_some() {
            return protection::release_claim(client, &self.pods, &claim).await;
        }
        let volume_name = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .unwrap_or("");
        if volume_name.is_empty() {
            self.sync_unbound(client, &claim).await
        } else {
            self.sync_named(client, &claim, volume_name).await
        }
    }
}

fn annotation<'a>(claim: &'a PersistentVolumeClaim, key: &str) -> Option<&'a str> {
    claim
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

impl<C: Client> ClaimBinder<C> {
    /// Records an event about `claim` (upstream's binder events carry no action).
    fn event(&self, claim: &PersistentVolumeClaim, kind: EventType, reason: &str, message: &str) {
        self.recorder
            .record(&reference(claim), kind, reason, "", message);
    }

    /// A claim without `volumeName`: find, provision or wait (upstream `syncUnboundClaim`).
    async fn sync_unbound(
        &self,
        client: &C,
        claim: &PersistentVolumeClaim,
    ) -> Result<Action, ApiError> {
        let class_name = claim_class(claim);
        let class: Option<StorageClass> = if class_name.is_empty() {
            None
        } else {
            self.classes.get("", class_name).map(|c| (*c).clone())
        };
        let delay = class
            .as_ref()
            .and_then(|c| c.volume_binding_mode.as_deref())
            == Some("WaitForFirstConsumer");
        let vols = self.volumes.list();
        if let Some(pv) = find_matching_volume(claim, &vols, None, delay) {
            bind(client, pv, claim).await?;
            return Ok(Action::Done);
        }
        set_claim_phase(client, claim, "Pending", None).await?;
        if delay && annotation(claim, ANN_SELECTED_NODE).is_none() {
            self.event(
                claim,
                EventType::Normal,
                "WaitForFirstConsumer",
                MSG_WAIT_FOR_CONSUMER,
            );
            return Ok(Action::RequeueAfter(PENDING_RECHECK));
        }
        if class_name.is_empty() {
            self.event(claim, EventType::Normal, "FailedBinding", MSG_NO_CLASS);
            return Ok(Action::RequeueAfter(PENDING_RECHECK));
        }
        let Some(class) = class else {
            let msg = format!("storageclass.storage.k8s.io \"{class_name}\" not found");
            self.event(claim, EventType::Warning, "ProvisioningFailed", &msg);
            return Ok(Action::RequeueAfter(PENDING_RECHECK));
        };
        self.request_provisioning(client, claim, &class).await?;
        Ok(Action::RequeueAfter(PENDING_RECHECK))
    }

    /// Annotates the claim for its provisioner; for Immediate claims of a bramble
    /// provisioner also chooses the node (the one with most free bytes that fit).
    async fn request_provisioning(
        &self,
        client: &C,
        claim: &PersistentVolumeClaim,
        class: &StorageClass,
    ) -> Result<(), ApiError> {
        let provisioner = class.provisioner.as_str();
        let mut annotations = serde_json::Map::new();
        if annotation(claim, ANN_STORAGE_PROVISIONER) != Some(provisioner) {
            annotations.insert(ANN_STORAGE_PROVISIONER.into(), json!(provisioner));
            annotations.insert(ANN_BETA_STORAGE_PROVISIONER.into(), json!(provisioner));
        }
        if LOCAL_PROVISIONERS.contains(&provisioner)
            && annotation(claim, ANN_SELECTED_NODE).is_none()
        {
            match pick_node(&self.nodes.list(), provisioner, claim_request_bytes(claim)) {
                Some(name) => {
                    annotations.insert(ANN_SELECTED_NODE.into(), json!(name));
                }
                None => {
                    let msg = format!(
                        "no node has {} bytes free for provisioner \"{provisioner}\"",
                        claim_request_bytes(claim)
                    );
                    self.event(claim, EventType::Warning, "ProvisioningFailed", &msg);
                }
            }
        }
        if !annotations.is_empty() {
            let patch = json!({"metadata": {"annotations": annotations}});
            client
                .patch(
                    &persistentvolumeclaim::RESOURCE,
                    claim.metadata.namespace.as_deref().unwrap_or("default"),
                    claim.metadata.name.as_deref().unwrap_or(""),
                    PatchType::Merge,
                    &patch,
                    Subresource::Main,
                )
                .await?;
        }
        // Upstream's wording for a provisioner outside the controller: here the kubelet of
        // the selected node.
        let msg = format!(
            "Waiting for a volume to be created either by the external provisioner '{provisioner}' \
             or manually by the system administrator. If volume creation is delayed, please \
             verify that the provisioner is running and correctly registered."
        );
        self.event(claim, EventType::Normal, "ExternalProvisioning", &msg);
        Ok(())
    }

    /// A claim naming its volume: finish the bind, or notice the volume is gone or taken.
    async fn sync_named(
        &self,
        client: &C,
        claim: &PersistentVolumeClaim,
        volume_name: &str,
    ) -> Result<Action, ApiError> {
        let completed = annotation(claim, ANN_BIND_COMPLETED).is_some();
        let pv: PersistentVolume = match client
            .get(&persistentvolume::RESOURCE, "", volume_name)
            .await
        {
            Ok(v) => serde_json::from_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
            Err(e) if e.code == 404 => {
                if completed {
                    self.lost(client, claim, "ClaimLost",
                        "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!").await?;
                    return Ok(Action::Done);
                }
                set_claim_phase(client, claim, "Pending", None).await?;
                return Ok(Action::RequeueAfter(PENDING_RECHECK));
            }
            Err(e) => return Err(e),
        };
        let claim_ref = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_none() || matching::is_bound_to_claim(&pv, claim) {
            // Only a volume not yet bound is checked against the claim (upstream's
            // syncUnboundClaim): a bound claim whose request grew is being expanded.
            let problem = if claim_ref.is_none() {
                mismatch(claim, &pv)
            } else {
                None
            };
            if let Some(problem) = problem {
                self.event(claim, EventType::Warning, "VolumeMismatch", &problem);
                set_claim_phase(client, claim, "Pending", None).await?;
                return Ok(Action::RequeueAfter(PENDING_RECHECK));
            }
            bind(client, &pv, claim).await?;
            return Ok(Action::Done);
        }
        if completed {
            self.lost(
                client,
                claim,
                "ClaimMisbound",
                "Two claims are bound to the same volume, this one is bound incorrectly",
            )
            .await?;
            return Ok(Action::Done);
        }
        let msg = format!("volume \"{volume_name}\" already bound to a different claim.");
        self.event(claim, EventType::Warning, "FailedBinding", &msg);
        set_claim_phase(client, claim, "Pending", None).await?;
        Ok(Action::RequeueAfter(PENDING_RECHECK))
    }

    async fn lost(
        &self,
        client: &C,
        claim: &PersistentVolumeClaim,
        reason: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase != Some("Lost") {
            set_claim_phase(client, claim, "Lost", None).await?;
            self.event(claim, EventType::Warning, reason, message);
        }
        Ok(())
    }
}

/// Why a volume the claim names cannot serve it (upstream `checkVolumeSatisfyClaim`).
fn mismatch(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> Option<String> {
    if matching::volume_capacity_bytes(pv) < claim_request_bytes(claim) {
        return Some("requested PV is too small".into());
    }
    if matching::volume_class(pv) != claim_class(claim) {
        return Some("storageClassName does not match".into());
    }
    if matching::volume_mode_mismatch(claim, pv) {
        return Some("incompatible volumeMode".into());
    }
    None
}

/// The node with the most free bytes for `provisioner`, if it has at least `request`;
/// `nodes` owned or shared as the informer cache holds them.
pub fn pick_node<N: Borrow<Node>>(nodes: &[N], provisioner: &str, request: i64) -> Option<String> {
    nodes
        .iter()
        .map(Borrow::borrow)
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter_map(|n| Some((node_free_bytes(n, provisioner)?, n.metadata.name.clone()?)))
        .filter(|(free, _)| *free >= request)
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, name)| name)
}
