//! The StatefulSet controller, as kube-controller-manager's: pods with a stable identity
//! (`<set>-<ordinal>`, hostname and subdomain, [`identity`]) and stable storage (one claim
//! per `volumeClaimTemplates` entry and ordinal, made before the pod and kept across its
//! re-creation, owned as the retention policy says, [`claims`]), created in order and each
//! only once the one before is Running and Ready (OrderedReady) or all at once (Parallel),
//! removed from the highest ordinal down, every template recorded as a ControllerRevision
//! ([`revision`]) and rolled out by RollingUpdate (highest ordinal first, down to the
//! partition) or left to the user (OnDelete), with upstream's status for `kubectl rollout
//! status`. It reads StatefulSets, pods, claims and ControllerRevisions from the shared
//! informers; a pod or revision change queues the set controlling it.

mod claims;
mod identity;
mod members;
mod plan;
mod revision;
mod status;
mod sync;

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use identity::{POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL};

use super::pods::{self, controller_of, owner_in};
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::EventRecorder;
use crate::client::informer::{Change, Informer, Informers, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;

/// The component named on events, as upstream.
pub const COMPONENT: &str = "statefulset-controller";
/// Name of the ControllerRevision index by controller uid.
const REVISIONS_BY_CONTROLLER: &str = "controller-uid";

/// The controller and what it reads.
pub struct StatefulSetController<C: Client> {
    client: C,
    sets: Informer<StatefulSet>,
    pods: Informer<Pod>,
    claims: Informer<PersistentVolumeClaim>,
    revisions: Informer<ControllerRevision>,
    events: EventRecorder<C>,
}

fn revision_controller_uid(r: &ControllerRevision) -> Vec<String> {
    controller_of(&r.metadata)
        .map(|o| o.uid.clone())
        .into_iter()
        .collect()
}

/// Queues the sets controlling an object before and after a change.
fn queue_owners<K>(
    sets: &Informer<StatefulSet>,
    queue: &WorkQueue,
    change: &Change<K>,
    meta: fn(&K) -> &ObjectMeta,
) {
    if let Change::Updated { old, .. } = change {
        if let Some(k) = owner_in(sets, meta(old)) {
            queue.add(k);
        }
    }
    if let Some(k) = owner_in(sets, meta(change.object())) {
        queue.add(k);
    }
}

impl<C: Client> StatefulSetController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(
        informers: &Informers<C>,
    ) -> Result<(Self, Informer<StatefulSet>, WorkQueue), Unserved> {
        let sets = informers.get::<StatefulSet>()?;
        let pods = informers.get::<Pod>()?;
        let claims = informers.get::<PersistentVolumeClaim>()?;
        let revisions = informers.get::<ControllerRevision>()?;
        pods.add_index(pods::BY_CONTROLLER, pods::controller_uid);
        pods.add_index(pods::ORPHANS, pods::orphan_namespace);
        revisions.add_index(REVISIONS_BY_CONTROLLER, revision_controller_uid);
        let queue = WorkQueue::default();
        {
            let (sets, queue) = (sets.clone(), queue.clone());
            pods.on_change(move |c| {
                queue_owners(&sets, &queue, c, |p: &Pod| &p.metadata);
                if !matches!(c, Change::Deleted(_)) {
                    members::sets_for_orphan(&sets, c.object())
                        .into_iter()
                        .for_each(|k| queue.add(k));
                }
            });
        }
        {
            let (sets, queue) = (sets.clone(), queue.clone());
            revisions.on_change(move |c| {
                queue_owners(&sets, &queue, c, |r: &ControllerRevision| &r.metadata)
            });
        }
        let client = informers.client().clone();
        Ok((
            StatefulSetController {
                events: EventRecorder::new(client.clone(), COMPONENT),
                client,
                sets: sets.clone(),
                pods,
                claims,
                revisions,
            },
            sets,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (s, p, c, r) = (
            self.sets.clone(),
            self.pods.clone(),
            self.claims.clone(),
            self.revisions.clone(),
        );
        async move {
            s.wait_synced().await;
            p.wait_synced().await;
            c.wait_synced().await;
            r.wait_synced().await;
        }
    }
}

impl<C: Client> Controller for StatefulSetController<C> {
    type Kind = StatefulSet;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, set: Arc<StatefulSet>) -> Result<Action, ApiError> {
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let owned = members::claim(&self.client, &self.pods, &set).await?;
        let revisions = self.revisions.by_index(REVISIONS_BY_CONTROLLER, &uid);
        let revs = revision::sync(&self.client, &set, revisions.clone()).await?;
        // A set being deleted only reports; the garbage collector removes its pods.
        let outcome = if set.metadata.deletion_timestamp.is_some() {
            Ok(Action::Done)
        } else {
            sync::pods(self, &set, &owned, &revs).await
        };
        status::write(&self.client, &set, status::compute(&set, &owned, &revs)).await?;
        let mut live: HashSet<String> = owned
            .iter()
            .filter_map(|p| identity::revision_of(p).map(str::to_string))
            .collect();
        live.extend(revs.current.metadata.name.clone());
        live.extend(revs.update.metadata.name.clone());
        revision::truncate(&self.client, &set, &revisions, &live).await?;
        outcome
    }
}
