//! The Job controller, as kube-controller-manager's (with its TTL-after-finished
//! controller folded in): a Job runs pods from its template until `completions` of them
//! succeeded, at most `parallelism` at a time, counts its pods in its status, and ends with
//! a `Complete` or `Failed` condition. Indexed Jobs give each pod a completion index. A
//! finished Job with `ttlSecondsAfterFinished` is deleted (dependents in the background)
//! once that time has passed. A failed pod is replaced after a delay that doubles with each
//! failure in a row ([`backoff`]). A pod change queues the Job controlling it.

mod backoff;
mod decide;
mod pod;
mod sync;

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::expectations::Expectations;
use super::pods::{self, owner_in};
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::EventRecorder;
use crate::client::informer::{Change, Informer, Informers, Key, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;

/// The component named on events and logs, as upstream.
pub const COMPONENT: &str = "job-controller";

/// The controller and what it reads.
pub struct JobController<C: Client> {
    client: C,
    jobs: Informer<Job>,
    pods: Informer<Pod>,
    expectations: Expectations,
    events: EventRecorder<C>,
}

impl<C: Client> JobController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Result<(Self, Informer<Job>, WorkQueue), Unserved> {
        let jobs = informers.get::<Job>()?;
        let pods = informers.get::<Pod>()?;
        pods.add_index(pods::BY_CONTROLLER, pods::controller_uid);
        let queue = WorkQueue::default();
        let expectations = Expectations::default();
        {
            let (jobs, queue, expectations) = (jobs.clone(), queue.clone(), expectations.clone());
            pods.on_change(move |c| on_pod_change(&jobs, &queue, &expectations, c));
        }
        Ok((
            JobController {
                client: informers.client().clone(),
                events: EventRecorder::new(informers.client().clone(), COMPONENT),
                jobs: jobs.clone(),
                pods,
                expectations,
            },
            jobs,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (jobs, pods) = (self.jobs.clone(), self.pods.clone());
        async move {
            jobs.wait_synced().await;
            pods.wait_synced().await;
        }
    }
}

fn on_pod_change(
    jobs: &Informer<Job>,
    queue: &WorkQueue,
    expectations: &Expectations,
    change: &Change<Pod>,
) {
    match change {
        Change::Added(p) => {
            if let Some(k) = owner_in(jobs, &p.metadata) {
                expectations.creation_observed(&k);
                queue.add(k);
            }
        }
        Change::Updated { old, new } => {
            if let Some(k) = owner_in(jobs, &new.metadata) {
                if new.metadata.deletion_timestamp.is_some()
                    && old.metadata.deletion_timestamp.is_none()
                {
                    expectations.deletion_observed(&k);
                }
                queue.add(k);
            }
        }
        Change::Deleted(p) => {
            if let Some(k) = owner_in(jobs, &p.metadata) {
                if p.metadata.deletion_timestamp.is_none() {
                    expectations.deletion_observed(&k);
                }
                queue.add(k);
            }
        }
    }
}

impl<C: Client> Controller for JobController<C> {
    type Kind = Job;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, job: Arc<Job>) -> Result<Action, ApiError> {
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let owned = self.pods.by_index(pods::BY_CONTROLLER, &uid);
        sync::sync(self, &job, owned).await
    }

    fn forget(&self, key: &Key) {
        self.expectations.forget(key);
    }
}
