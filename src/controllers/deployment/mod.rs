//! The Deployment controller, as kube-controller-manager's: one ReplicaSet per pod
//! template (named by its `pod-template-hash`), rolled from the old sets to the new one by
//! the strategy — RollingUpdate within `maxSurge`/`maxUnavailable`, or Recreate (old pods
//! gone first) — with revisions for `kubectl rollout history|undo`, old sets kept up to
//! `revisionHistoryLimit`, paused rollouts that only scale, and the `Available` and
//! `Progressing` conditions `kubectl rollout status` reads (`progressDeadlineSeconds`
//! included). It reads Deployments, ReplicaSets and pods from the shared informers.

mod revision;
mod rollout;
mod sets;
mod status;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

pub use revision::{template_hash, POD_TEMPLATE_HASH, REVISION};

use super::pods::{controller_of, owner_in};
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::EventRecorder;
use crate::client::informer::{Change, Informer, Informers, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;

/// The component named on events, as upstream.
pub const COMPONENT: &str = "deployment-controller";
/// Name of the ReplicaSet index by controller uid.
const SETS_BY_CONTROLLER: &str = "controller-uid";

/// The controller and what it reads.
pub struct DeploymentController<C: Client> {
    client: C,
    deployments: Informer<Deployment>,
    sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    events: EventRecorder<C>,
}

fn set_controller_uid(s: &ReplicaSet) -> Vec<String> {
    controller_of(&s.metadata)
        .map(|r| r.uid.clone())
        .into_iter()
        .collect()
}

impl<C: Client> DeploymentController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(
        informers: &Informers<C>,
    ) -> Result<(Self, Informer<Deployment>, WorkQueue), Unserved> {
        let deployments = informers.get::<Deployment>()?;
        let sets = informers.get::<ReplicaSet>()?;
        let pods = informers.get::<Pod>()?;
        sets.add_index(SETS_BY_CONTROLLER, set_controller_uid);
        let queue = WorkQueue::default();
        {
            let (deployments, queue) = (deployments.clone(), queue.clone());
            sets.on_change(move |c: &Change<ReplicaSet>| {
                if let Change::Updated { old, .. } = c {
                    if let Some(k) = owner_in(&deployments, &old.metadata) {
                        queue.add(k);
                    }
                }
                if let Some(k) = owner_in(&deployments, &c.object().metadata) {
                    queue.add(k);
                }
            });
        }
        {
            // Recreate waits for the old pods to be gone: their deletion is news.
            let (deployments, sets, queue) = (deployments.clone(), sets.clone(), queue.clone());
            pods.on_change(move |c: &Change<Pod>| {
                let Change::Deleted(p) = c else { return };
                let Some(r) = controller_of(&p.metadata) else {
                    return;
                };
                if r.kind != "ReplicaSet" {
                    return;
                }
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                if let Some(set) = sets.get(&ns, &r.name) {
                    if let Some(k) = owner_in(&deployments, &set.metadata) {
                        queue.add(k);
                    }
                }
            });
        }
        let client = informers.client().clone();
        Ok((
            DeploymentController {
                events: EventRecorder::new(client.clone(), COMPONENT),
                client,
                deployments: deployments.clone(),
                sets,
                pods,
            },
            deployments,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (d, s, p) = (
            self.deployments.clone(),
            self.sets.clone(),
            self.pods.clone(),
        );
        async move {
            d.wait_synced().await;
            s.wait_synced().await;
            p.wait_synced().await;
        }
    }

    /// The sets `d` controls, by the index.
    fn owned_sets(&self, d: &Deployment) -> Vec<Arc<ReplicaSet>> {
        let uid = d.metadata.uid.as_deref().unwrap_or_default();
        self.sets.by_index(SETS_BY_CONTROLLER, uid)
    }
}

impl<C: Client> Controller for DeploymentController<C> {
    type Kind = Deployment;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, d: Arc<Deployment>) -> Result<Action, ApiError> {
        rollout::sync(self, &d).await
    }
}
