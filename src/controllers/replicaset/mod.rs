//! The ReplicaSet controller, as kube-controller-manager's: keeps `spec.replicas` pods
//! made from the template running. It adopts pods its selector matches that have no
//! controller, releases the ones it controls that stopped matching, creates missing pods in
//! slow-start batches (1, 2, 4, ... so a failing template costs one request, not hundreds)
//! and deletes surplus ones worst first, and reports counts in its status. It reads pods
//! and ReplicaSets from the shared informers; a pod change queues only its owner (or, for a
//! pod without one, the ReplicaSets of its namespace that select it). The same controller
//! keeps ReplicationControllers ([`ReplicationManager`]), as upstream's does.

mod kind;
mod manage;
mod status;

pub use kind::Replicated;

/// Taking and letting go of pods, shared with the other workload controllers.
pub(crate) use manage::{adopt, release};

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use super::expectations::Expectations;
use super::pod_changes::{self, OrphanUpdates};
use super::pods;
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::EventRecorder;
use crate::client::informer::{key_of, Informer, Informers, Key, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::selector::typed as selector;

/// At most this many pods are created or deleted in one sync (upstream's `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// The controller of ReplicationControllers.
pub type ReplicationManager<C> = ReplicaSetController<C, ReplicationController>;

/// The controller and what it reads.
pub struct ReplicaSetController<C: Client, K: Replicated = k8s_openapi::api::apps::v1::ReplicaSet> {
    client: C,
    sets: Informer<K>,
    pods: Informer<Pod>,
    expectations: Expectations,
    events: EventRecorder<C>,
}

impl<C: Client, K: Replicated> ReplicaSetController<C, K> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Result<(Self, Informer<K>, WorkQueue), Unserved> {
        let sets = informers.get::<K>()?;
        let pods = informers.get::<Pod>()?;
        pods.add_index(pods::BY_CONTROLLER, pods::controller_uid);
        pods.add_index(pods::ORPHANS, pods::orphan_namespace);
        let queue = WorkQueue::default();
        let expectations = Expectations::default();
        {
            let (sets, queue, expectations) = (sets.clone(), queue.clone(), expectations.clone());
            pods.on_change(move |c| {
                let selecting = |p: &Pod| selecting_sets(&sets, p);
                let orphans = OrphanUpdates::LabelsOrRelease;
                pod_changes::route(&sets, &queue, &expectations, c, selecting, orphans);
            });
        }
        let client = informers.client().clone();
        Ok((
            ReplicaSetController {
                events: EventRecorder::new(client.clone(), K::COMPONENT),
                client,
                sets: sets.clone(),
                pods,
                expectations,
            },
            sets,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (sets, pods) = (self.sets.clone(), self.pods.clone());
        async move {
            sets.wait_synced().await;
            pods.wait_synced().await;
        }
    }
}

/// The sets of the pod's namespace whose selector matches it (for a pod without owner).
fn selecting_sets<K: Replicated>(sets: &Informer<K>, pod: &Pod) -> Vec<Key> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    sets.list_namespace(ns)
        .iter()
        .filter(|s| {
            s.selector().is_some_and(|sel| {
                !selector::is_empty(&sel) && selector::matches(&sel, pod.metadata.labels.as_ref())
            })
        })
        .map(|s| key_of(&**s))
        .collect()
}

impl<C: Client, K: Replicated> Controller for ReplicaSetController<C, K> {
    type Kind = K;

    fn name(&self) -> &'static str {
        K::COMPONENT
    }

    async fn reconcile(&self, set: Arc<K>) -> Result<Action, ApiError> {
        let key = key_of(&*set);
        if set.selector().is_none() {
            return Ok(Action::Done);
        }
        let uid = set.metadata().uid.clone().unwrap_or_default();
        let deleting = set.metadata().deletion_timestamp.is_some();
        let owned = manage::claim_pods(&self.client, &self.pods, &*set, &uid, deleting).await?;
        let active: Vec<Arc<Pod>> = owned
            .iter()
            .filter(|p| pods::is_active(p))
            .cloned()
            .collect();
        let mut failure = None;
        if !deleting && self.expectations.satisfied(&key) {
            let want = usize::try_from(set.replicas()).unwrap_or(0);
            if let Err(e) = manage::scale(self, &*set, active.clone(), want).await {
                failure = Some(e);
            }
        }
        let requeue = status::update(&self.client, &*set, &active, failure.as_ref()).await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(requeue),
        }
    }

    fn forget(&self, key: &Key) {
        self.expectations.forget(key);
    }
}
