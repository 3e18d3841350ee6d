//! The disruption controller, as kube-controller-manager's: for every PodDisruptionBudget it
//! finds the pods of its namespace the selector matches, the pods their controllers expect
//! (a Deployment's replicas for pods of its ReplicaSets, else the ReplicaSet's,
//! ReplicationController's or StatefulSet's), the ready ones, and writes how many may be
//! evicted now (`disruptionsAllowed`), the `DisruptionAllowed` condition and the evictions
//! it has not yet seen take effect (`disruptedPods`, forgotten once the pod goes or after
//! two minutes). A pod change queues the budgets selecting it.

mod budget;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};

use super::pods::{self, controller_of};
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{key_of, Change, Informer, Informers, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::status_patch::patch_status;
use crate::resources::selector::typed as selector;

/// The component name, as upstream's.
pub const COMPONENT: &str = "disruption-controller";
/// How long an eviction the pod has not yet shown is remembered (upstream's
/// `DeletionTimeout`).
const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// The controller and what it reads.
pub struct DisruptionController<C: Client> {
    client: C,
    budgets: Informer<PodDisruptionBudget>,
    pods: Informer<Pod>,
    sets: Informer<ReplicaSet>,
    replication: Informer<ReplicationController>,
    deployments: Informer<Deployment>,
    stateful: Informer<StatefulSet>,
}

/// Whether `budget` selects `pod` (same namespace, selector matches).
fn selects(budget: &PodDisruptionBudget, pod: &Pod) -> bool {
    budget.metadata.namespace == pod.metadata.namespace
        && budget
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| selector::matches(sel, pod.metadata.labels.as_ref()))
}

impl<C: Client> DisruptionController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(
        informers: &Informers<C>,
    ) -> Result<(Self, Informer<PodDisruptionBudget>, WorkQueue), Unserved> {
        let budgets = informers.get::<PodDisruptionBudget>()?;
        let pods = informers.get::<Pod>()?;
        let queue = WorkQueue::default();
        {
            let (budgets, queue) = (budgets.clone(), queue.clone());
            pods.on_change(move |c: &Change<Pod>| {
                let changed: Vec<&Pod> = match c {
                    Change::Added(p) | Change::Deleted(p) => vec![&**p],
                    Change::Updated { old, new } => vec![&**old, &**new],
                };
                let ns = changed[0].metadata.namespace.as_deref().unwrap_or_default();
                for b in budgets.list_namespace(ns) {
                    if changed.iter().any(|p| selects(&b, p)) {
                        queue.add(key_of(&*b));
                    }
                }
            });
        }
        Ok((
            DisruptionController {
                client: informers.client().clone(),
                budgets: budgets.clone(),
                pods,
                sets: informers.get::<ReplicaSet>()?,
                replication: informers.get::<ReplicationController>()?,
                deployments: informers.get::<Deployment>()?,
                stateful: informers.get::<StatefulSet>()?,
            },
            budgets,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (b, p, s, rc, d, st) = (
            self.budgets.clone(),
            self.pods.clone(),
            self.sets.clone(),
            self.replication.clone(),
            self.deployments.clone(),
            self.stateful.clone(),
        );
        async move {
            b.wait_synced().await;
            p.wait_synced().await;
            s.wait_synced().await;
            rc.wait_synced().await;
            d.wait_synced().await;
            st.wait_synced().await;
        }
    }

    /// The scale of the controller a pod belongs to, keyed by that controller's uid; `None`
    /// when the pod has no controller this controller knows how to scale (upstream then
    /// refuses to allow any disruption).
    fn controller_scale(&self, pod: &Pod) -> Option<(String, i32)> {
        let r = controller_of(&pod.metadata)?;
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let same_uid = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.uid.as_deref() == Some(r.uid.as_str())
        };
        match (r.api_version.as_str(), r.kind.as_str()) {
            ("apps/v1", "ReplicaSet") => {
                let rs = self
                    .sets
                    .get(ns, &r.name)
                    .filter(|s| same_uid(&s.metadata))?;
                if let Some(d) = controller_of(&rs.metadata).filter(|d| d.kind == "Deployment") {
                    let dep = self
                        .deployments
                        .get(ns, &d.name)
                        .filter(|x| x.metadata.uid.as_deref() == Some(d.uid.as_str()))?;
                    let n = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    return Some((d.uid.clone(), n));
                }
                let n = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                Some((r.uid.clone(), n))
            }
            ("v1", "ReplicationController") => {
                let rc = self
                    .replication
                    .get(ns, &r.name)
                    .filter(|s| same_uid(&s.metadata))?;
                let n = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                Some((r.uid.clone(), n))
            }
            ("apps/v1", "StatefulSet") => {
                let ss = self
                    .stateful
                    .get(ns, &r.name)
                    .filter(|s| same_uid(&s.metadata))?;
                let n = ss.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                Some((r.uid.clone(), n))
            }
            _ => None,
        }
    }
}

/// The counts written to a budget's status.
struct Counts {
    expected: i32,
    healthy: i32,
    desired: i32,
    disrupted: BTreeMap<String, String>,
    /// When the earliest remembered eviction expires.
    recheck: Option<Duration>,
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl<C: Client> DisruptionController<C> {
    fn counts(&self, b: &PodDisruptionBudget, now: DateTime<Utc>) -> Result<Counts, String> {
        let spec = b.spec.clone().unwrap_or_default();
        let ns = b.metadata.namespace.as_deref().unwrap_or_default();
        let selected: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| selects(b, p))
            .collect();
        let expected = if budget::needs_controllers(spec.min_available.as_ref()) {
            let mut scales: HashMap<String, i32> = HashMap::new();
            for p in &selected {
                let name = p.metadata.name.as_deref().unwrap_or_default();
                let (uid, n) = self
                    .controller_scale(p)
                    .ok_or_else(|| format!("found no controllers for pod {name:?}"))?;
                scales.insert(uid, n);
            }
            scales.values().fold(0i32, |a, n| a.saturating_add(*n))
        } else {
            count_i32(selected.len())
        };
        let desired = budget::desired_healthy(
            spec.min_available.as_ref(),
            spec.max_unavailable.as_ref(),
            expected,
        )
        .map_err(|e| e.to_string())?;
        // Evictions recorded by pods/eviction stay until the pod shows its deletion or
        // they are two minutes old; such a pod no longer counts as healthy.
        let mut disrupted = BTreeMap::new();
        let mut recheck: Option<Duration> = None;
        let old = b.status.as_ref().and_then(|s| s.disrupted_pods.clone());
        for (name, at) in old.unwrap_or_default() {
            let Some(p) = selected
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(&*name))
            else {
                continue;
            };
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let expires = at.0 + chrono::Duration::from_std(DELETION_TIMEOUT).unwrap_or_default();
            if expires <= now {
                continue;
            }
            let left = (expires - now).to_std().unwrap_or_default();
            recheck = Some(recheck.map_or(left, |r| r.min(left)));
            disrupted.insert(
                name,
                at.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
        }
        let healthy = selected
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && pods::is_ready(p)
                    && !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default())
            })
            .count();
        Ok(Counts {
            expected,
            healthy: count_i32(healthy),
            desired,
            disrupted,
            recheck,
        })
    }
}

/// The `DisruptionAllowed` condition, keeping its transition time while its status holds.
fn condition(b: &PodDisruptionBudget, status: &str, reason: &str, message: &str) -> Value {
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let since = b
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionAllowed"))
        .filter(|c| c.status == status)
        .map_or(now, |c| {
            c.last_transition_time
                .0
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
    json!({"type": "DisruptionAllowed", "status": status, "reason": reason,
        "message": message, "lastTransitionTime": since,
        "observedGeneration": b.metadata.generation})
}

impl<C: Client> Controller for DisruptionController<C> {
    type Kind = PodDisruptionBudget;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, b: Arc<PodDisruptionBudget>) -> Result<Action, ApiError> {
        if b.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let now = Utc::now();
        let (status, action) = match self.counts(&b, now) {
            Ok(c) => {
                let allowed = budget::disruptions_allowed(c.healthy, c.desired);
                let cond = if allowed > 0 {
                    condition(&b, "True", "SufficientPods", "")
                } else {
                    condition(&b, "False", "InsufficientPods", "")
                };
                let status = json!({
                    "observedGeneration": b.metadata.generation,
                    "disruptedPods": c.disrupted,
                    "disruptionsAllowed": allowed,
                    "currentHealthy": c.healthy,
                    "desiredHealthy": c.desired,
                    "expectedPods": c.expected,
                    "conditions": [cond],
                });
                let action = c.recheck.map_or(Action::Done, Action::RequeueAfter);
                (status, action)
            }
            Err(msg) => {
                // Upstream's failSafe: no disruption is allowed while the numbers are unknown.
                tracing::debug!(namespace = ?b.metadata.namespace, name = ?b.metadata.name, %msg, "budget not computable");
                let cond = condition(&b, "False", "SyncFailed", &msg);
                let status = json!({
                    "observedGeneration": b.metadata.generation,
                    "disruptionsAllowed": 0,
                    "conditions": [cond],
                });
                (status, Action::RequeueAfter(Duration::from_secs(30)))
            }
        };
        let current =
            serde_json::to_value(b.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        let unchanged =
            status
                .as_object()
                .into_iter()
                .flatten()
                .all(|(k, v)| match (current.get(k), v) {
                    (Some(c), v) => c == v,
                    (None, Value::Object(m)) => m.is_empty(),
                    (None, _) => false,
                });
        if unchanged {
            return Ok(action);
        }
        // A merge patch cannot drop map keys without naming them: the whole map is replaced.
        let mut status = status;
        let gone: Vec<String> = current
            .get("disruptedPods")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(m) = status["disruptedPods"].as_object_mut() {
            for k in gone {
                m.entry(k).or_insert(Value::Null);
            }
        }
        if patch_status(&self.client, &*b, status).await? {
            Ok(action)
        } else {
            Ok(Action::Done)
        }
    }
}
