//! The DaemonSet controller, as kube-controller-manager's: one pod per node the pod would
//! fit (nodeSelector, required node affinity, taints against the template's tolerations
//! plus the daemon tolerations), created pinned to its node through required node affinity
//! so the default scheduler binds it, and removed from nodes that stop fitting. Failed pods
//! are replaced with a per-node backoff, surplus pods on a node deleted. Each template is
//! recorded as a ControllerRevision whose hash labels the pods; a changed template rolls out
//! by the update strategy (RollingUpdate within `maxUnavailable`/`maxSurge`, or OnDelete),
//! and the status carries the counts `kubectl rollout status daemonset` reads.
//!
//! It reads DaemonSets, pods, nodes and ControllerRevisions from the shared informers: a
//! pod or revision change queues its owner, a node change queues the sets for which the
//! node's fitness changed.

mod backoff;
mod claim;
mod eligibility;
mod history;
mod placement;
mod pod_control;
mod rolling;
mod status;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};

use super::expectations::Expectations;
use super::pod_changes::{self, OrphanUpdates};
use super::pods::{self, controller_of, owner_in};
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::{self, EventRecorder, EventType};
use crate::client::informer::{key_of, Change, Informer, Informers, Key, Kind, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::pod;
use crate::resources::selector::typed as selector;
use backoff::FailedPodBackoff;
use claim::Claimant;

/// The component named on events, as upstream.
pub const COMPONENT: &str = "daemonset-controller";

/// The controller and what it reads.
pub struct DaemonSetController<C: Client> {
    client: C,
    sets: Informer<DaemonSet>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    expectations: Expectations,
    backoff: FailedPodBackoff,
    events: EventRecorder<C>,
}

/// Index function: an object's controller uid.
fn controller_uid<K: Kind>(o: &K) -> Vec<String> {
    controller_of(o.metadata())
        .map(|r| r.uid.clone())
        .into_iter()
        .collect()
}

/// Index function: the namespace of an object without a controller.
fn orphan_namespace<K: Kind>(o: &K) -> Vec<String> {
    let m = o.metadata();
    if controller_of(m).is_some() {
        return Vec::new();
    }
    vec![m.namespace.clone().unwrap_or_default()]
}

/// The sets of the object's namespace whose selector matches it (for an orphan).
fn selecting_sets<K: Kind>(sets: &Informer<DaemonSet>, o: &K) -> Vec<Key> {
    let m = o.metadata();
    sets.list_namespace(m.namespace.as_deref().unwrap_or_default())
        .iter()
        .filter(|s| {
            s.spec.as_ref().is_some_and(|sp| {
                !selector::is_empty(&sp.selector)
                    && selector::matches(&sp.selector, m.labels.as_ref())
            })
        })
        .map(|s| key_of(&**s))
        .collect()
}

/// Queues the sets for which a node change matters: a new node that should run their pod,
/// a changed node whose fitness for them changed, a node gone (their counts change).
fn on_node_change(sets: &Informer<DaemonSet>, queue: &WorkQueue, change: &Change<Node>) {
    for set in sets.list() {
        let pod = eligibility::daemon_pod(&set);
        let concerned = match change {
            Change::Added(n) => eligibility::node_fit(&pod, n).should_run,
            Change::Updated { old, new } => {
                eligibility::node_fit(&pod, old) != eligibility::node_fit(&pod, new)
            }
            Change::Deleted(_) => true,
        };
        if concerned {
            queue.add(key_of(&*set));
        }
    }
}

impl<C: Client> DaemonSetController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(
        informers: &Informers<C>,
    ) -> Result<(Self, Informer<DaemonSet>, WorkQueue), Unserved> {
        let sets = informers.get::<DaemonSet>()?;
        let pods = informers.get::<Pod>()?;
        let nodes = informers.get::<Node>()?;
        let revisions = informers.get::<ControllerRevision>()?;
        pods.add_index(pods::BY_CONTROLLER, pods::controller_uid);
        pods.add_index(pods::ORPHANS, pods::orphan_namespace);
        revisions.add_index(pods::BY_CONTROLLER, controller_uid::<ControllerRevision>);
        revisions.add_index(pods::ORPHANS, orphan_namespace::<ControllerRevision>);
        let queue = WorkQueue::default();
        let expectations = Expectations::default();
        {
            let (sets, queue, expectations) = (sets.clone(), queue.clone(), expectations.clone());
            pods.on_change(move |c| {
                let selecting = |p: &Pod| selecting_sets(&sets, p);
                let orphans = OrphanUpdates::Always;
                pod_changes::route(&sets, &queue, &expectations, c, selecting, orphans);
            });
        }
        {
            let (sets, queue) = (sets.clone(), queue.clone());
            nodes.on_change(move |c| on_node_change(&sets, &queue, c));
        }
        {
            let (sets, queue) = (sets.clone(), queue.clone());
            revisions.on_change(move |c: &Change<ControllerRevision>| {
                match owner_in(&sets, &c.object().metadata) {
                    Some(k) => queue.add(k),
                    None if controller_of(&c.object().metadata).is_none() => {
                        selecting_sets(&sets, &**c.object())
                            .into_iter()
                            .for_each(|k| queue.add(k));
                    }
                    None => {}
                }
            });
        }
        let client = informers.client().clone();
        Ok((
            DaemonSetController {
                events: EventRecorder::new(client.clone(), COMPONENT),
                client,
                sets: sets.clone(),
                pods,
                nodes,
                revisions,
                expectations,
                backoff: FailedPodBackoff::default(),
            },
            sets,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (s, p, n, r) = (
            self.sets.clone(),
            self.pods.clone(),
            self.nodes.clone(),
            self.revisions.clone(),
        );
        async move {
            s.wait_synced().await;
            p.wait_synced().await;
            n.wait_synced().await;
            r.wait_synced().await;
        }
    }

    /// Upstream's `updateDaemonSet`: the manage step, then (with nothing pending) the
    /// rolling step, then the history cleanup. Answers when to look again.
    async fn update(
        &self,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        owned: &[Arc<Pod>],
        hash: &str,
        old: &[Arc<ControllerRevision>],
    ) -> Result<Option<std::time::Duration>, ApiError> {
        let by_node = placement::by_node(owned);
        let surge = rolling::allows_surge(ds);
        let plan = placement::plan(
            ds,
            nodes,
            &by_node,
            hash,
            surge,
            &self.backoff,
            Instant::now(),
        );
        for (pod, node) in &plan.failed {
            let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
            self.events.record(
                &events::reference(ds),
                EventType::Warning,
                "FailedDaemonPod",
                "Delete",
                &format!("Found failed daemon pod {ns}/{pod} on node {node}, will try to kill it"),
            );
        }
        pod_control::sync_nodes(self, ds, &plan.delete, &plan.create_on, hash).await?;
        // The rolling step must see what the manage step just did: the informer may already
        // have brought those changes (expectations met) while `owned` predates them, and
        // deleting an already terminating pod again would wait for an event that never
        // comes. The changes queue the set again, so the rolling step runs next time.
        let acted = !plan.delete.is_empty() || !plan.create_on.is_empty();
        if !acted && self.expectations.satisfied(&key_of(ds)) && rolling::is_rolling_update(ds) {
            let picks = rolling::pick(ds, nodes, &by_node, hash, Utc::now());
            let delete: Vec<Arc<Pod>> = owned
                .iter()
                .filter(|p| {
                    picks
                        .delete
                        .iter()
                        .any(|n| p.metadata.name.as_deref() == Some(n))
                })
                .cloned()
                .collect();
            if !delete.is_empty() || !picks.create_on.is_empty() {
                pod_control::sync_nodes(self, ds, &delete, &picks.create_on, hash).await?;
            }
        }
        history::cleanup(self, ds, old, owned).await?;
        Ok(plan.retry_after)
    }
}

impl<C: Client> Controller for DaemonSetController<C> {
    type Kind = DaemonSet;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, ds: Arc<DaemonSet>) -> Result<Action, ApiError> {
        let key = key_of(&*ds);
        let Some(spec) = ds.spec.as_ref() else {
            return Ok(Action::Done);
        };
        if selector::is_empty(&spec.selector) {
            self.events.record(
                &events::reference(&*ds),
                EventType::Warning,
                "SelectingAll",
                "Sync",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(Action::Done);
        }
        // A set being deleted may already have lost its revisions: its status cannot be
        // told reliably, and the garbage collector removes its pods.
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let claimant = Claimant {
            namespace: &key.0,
            uid: ds.metadata.uid.as_deref().unwrap_or_default(),
            selector: &spec.selector,
            owner: history::owner(&ds),
        };
        let owned = claim::claim(&self.client, &pod::RESOURCE, &self.pods, &claimant).await?;
        let (cur, old) = history::construct(self, &ds, &claimant, &owned).await?;
        let hash = history::hash_of(cur.metadata.labels.as_ref())
            .unwrap_or_default()
            .to_string();
        let nodes = self.nodes.list();
        if !self.expectations.satisfied(&key) {
            let counts = status::count(&ds, &nodes, &placement::by_node(&owned), &hash, Utc::now());
            return status::update(&self.client, &ds, counts, false).await;
        }
        let result = self.update(&ds, &nodes, &owned, &hash, &old).await;
        let counts = status::count(&ds, &nodes, &placement::by_node(&owned), &hash, Utc::now());
        let action = status::update(&self.client, &ds, counts, true).await?;
        let retry = result?;
        Ok(match (action, retry) {
            (Action::RequeueAfter(a), Some(b)) => Action::RequeueAfter(a.min(b)),
            (Action::Done, Some(b)) => Action::RequeueAfter(b),
            (a, None) => a,
        })
    }

    fn forget(&self, key: &Key) {
        self.expectations.forget(key);
        self.backoff.forget_set(&key.0, &key.1);
    }
}
