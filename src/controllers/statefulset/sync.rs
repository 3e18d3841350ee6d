//! One pass over a StatefulSet's pods, as upstream's `updateStatefulSet`: walk the ordinals
//! in order, recreating what is missing or failed (claims first) — under OrderedReady
//! stopping at the first pod that is not yet Running and Ready, under Parallel going on —
//! then delete the surplus ordinals ([`plan::condemned_to_delete`]), then, for a
//! RollingUpdate, replace outdated pods ([`plan::rolling_update_victims`]). OnDelete leaves
//! outdated pods alone: they come back at the update revision once a user deletes them.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::plan::{self, Member};
use super::revision::{self, Revisions};
use super::status::healthy;
use super::{claims, identity, StatefulSetController};
use crate::client::events::{self, EventType};
use crate::client::informer::key_of;
use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::{pods, Action};
use crate::resources::pod::RESOURCE;

/// What the walk over the ordinals ended with.
enum Walk {
    /// Every ordinal was looked at; look again after the duration if a pod waits for
    /// `minReadySeconds`.
    Through(Option<Duration>),
    /// OrderedReady stopped at a pod that is not ready yet; look again after the duration
    /// if the pod only waits for `minReadySeconds`.
    Stopped(Option<Duration>),
}

fn failed(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed" | "Succeeded")
    )
}

fn terminating(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}

/// How long until a ready pod counts as available, if it does not yet.
fn until_available(p: &Pod, min_ready: i32) -> Option<Duration> {
    let since = pods::ready_since(p)?;
    let at = since + chrono::Duration::seconds(i64::from(min_ready));
    let left = at.signed_duration_since(Utc::now());
    (left > chrono::Duration::zero()).then(|| left.to_std().unwrap_or_default())
}

/// Brings `set`'s pods one step closer to its spec; `owned` are its members.
pub(super) async fn pods<C: Client>(
    c: &StatefulSetController<C>,
    set: &StatefulSet,
    owned: &[Arc<Pod>],
    revs: &Revisions,
) -> Result<Action, ApiError> {
    let Some(spec) = set.spec.as_ref() else {
        return Ok(Action::Done);
    };
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let (start, replicas) = (identity::start_ordinal(set), identity::replicas(set));
    let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = Utc::now();
    let update_name = revs.update.metadata.name.as_deref().unwrap_or_default();

    let mut slots: Vec<Option<Arc<Pod>>> = vec![None; usize::try_from(replicas).unwrap_or(0)];
    let mut condemned = Vec::new();
    for p in owned {
        let Some(ord) =
            identity::ordinal_of(set_name, p.metadata.name.as_deref().unwrap_or_default())
        else {
            continue;
        };
        match usize::try_from(i64::from(ord) - i64::from(start))
            .ok()
            .filter(|_| identity::in_range(set, ord))
        {
            Some(i) => slots[i] = Some(p.clone()),
            None => condemned.push((ord, p.clone())),
        }
    }
    condemned.sort_by_key(|(ord, _)| *ord);
    let first_unhealthy = slots
        .iter()
        .flatten()
        .chain(condemned.iter().map(|(_, p)| p))
        .find(|p| !healthy(p, min_ready, now))
        .and_then(|p| {
            identity::ordinal_of(set_name, p.metadata.name.as_deref().unwrap_or_default())
        });

    let requeue = match walk(c, set, revs, &slots, monotonic).await? {
        Walk::Stopped(after) => return Ok(after.map_or(Action::Done, Action::RequeueAfter)),
        Walk::Through(after) => after,
    };
    let done = requeue.map_or(Action::Done, Action::RequeueAfter);

    for (ord, p) in &condemned {
        claims::apply_retention(&c.client, &c.claims, set, p, *ord).await?;
    }
    let members: Vec<Member> = condemned
        .iter()
        .map(|(ord, p)| Member {
            ordinal: *ord,
            updated: identity::revision_of(p) == Some(update_name),
            healthy: healthy(p, min_ready, now),
            terminating: terminating(p),
        })
        .collect();
    let doomed = plan::condemned_to_delete(&members, monotonic, first_unhealthy);
    for (_, p) in condemned.iter().filter(|(ord, _)| doomed.contains(ord)) {
        delete_pod(c, set, p).await?;
    }
    // OrderedReady takes one step at a time: no update while the set shrinks.
    if monotonic && !members.is_empty() {
        return Ok(done);
    }

    let strategy = spec.update_strategy.as_ref();
    if strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete") {
        return Ok(done);
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let partition = rolling.and_then(|r| r.partition).unwrap_or(0);
    let max_unavailable =
        plan::max_unavailable(rolling.and_then(|r| r.max_unavailable.as_ref()), replicas);
    let targets: Vec<Member> = slots
        .iter()
        .zip(start..)
        .map(|(slot, ordinal)| match slot {
            Some(p) => Member {
                ordinal,
                updated: identity::revision_of(p) == Some(update_name),
                healthy: healthy(p, min_ready, now),
                terminating: terminating(p),
            },
            None => Member {
                ordinal,
                updated: false,
                healthy: false,
                terminating: true,
            },
        })
        .collect();
    for ord in plan::rolling_update_victims(&targets, partition, max_unavailable) {
        let i = usize::try_from(i64::from(ord) - i64::from(start)).unwrap_or(usize::MAX);
        if let Some(Some(p)) = slots.get(i) {
            delete_pod(c, set, p).await?;
        }
    }
    Ok(done)
}

/// The ordinals in order: creates, recreates and checks each (upstream's `processReplica`).
async fn walk<C: Client>(
    c: &StatefulSetController<C>,
    set: &StatefulSet,
    revs: &Revisions,
    slots: &[Option<Arc<Pod>>],
    monotonic: bool,
) -> Result<Walk, ApiError> {
    let start = identity::start_ordinal(set);
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let mut requeue: Option<Duration> = None;
    for (slot, ord) in slots.iter().zip(start..) {
        let Some(p) = slot else {
            claims::create_missing(&c.client, &c.events, &c.claims, set, ord).await?;
            create_pod(c, set, revs, ord).await?;
            if monotonic {
                return Ok(Walk::Stopped(None));
            }
            continue;
        };
        if failed(p) && !terminating(p) {
            // Recreated under the same name, with the same claims, once this one is gone.
            delete_pod(c, set, p).await?;
            if monotonic {
                return Ok(Walk::Stopped(None));
            }
            continue;
        }
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase.map_or(true, |ph| ph == "Pending") {
            claims::create_missing(&c.client, &c.events, &c.claims, set, ord).await?;
        }
        if terminating(p) || !super::status::running_and_ready(p) {
            if monotonic {
                return Ok(Walk::Stopped(None));
            }
            continue;
        }
        if let Some(left) = until_available(p, min_ready) {
            if monotonic {
                return Ok(Walk::Stopped(Some(left)));
            }
            requeue = Some(requeue.map_or(left, |r| r.min(left)));
            continue;
        }
        claims::apply_retention(&c.client, &c.claims, set, p, ord).await?;
        if !identity::identity_matches(p, ord) {
            restore_labels(c, p, ord).await?;
        }
    }
    Ok(Walk::Through(requeue))
}

/// Puts back the identity labels a user removed.
async fn restore_labels<C: Client>(
    c: &StatefulSetController<C>,
    p: &Pod,
    ord: i32,
) -> Result<(), ApiError> {
    let (ns, name) = key_of(p);
    let patch = json!({"metadata": {"labels": identity::identity_labels(&name, ord)}});
    match c
        .client
        .patch(
            &RESOURCE,
            &ns,
            &name,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn create_pod<C: Client>(
    c: &StatefulSetController<C>,
    set: &StatefulSet,
    revs: &Revisions,
    ord: i32,
) -> Result<(), ApiError> {
    let (template, rev_name) = revision::template_for(set, revs, ord);
    let pod = identity::new_pod(set, &template, ord, &rev_name);
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let name = identity::pod_name(set_name, ord);
    match c.client.create(&RESOURCE, ns, pod).await {
        Ok(_) => {
            let msg = format!("create Pod {name} in StatefulSet {set_name} successful");
            c.events.record(
                &events::reference(set),
                EventType::Normal,
                "SuccessfulCreate",
                "Create",
                &msg,
            );
            Ok(())
        }
        // The cache has not seen it yet (or its predecessor is still going): next time.
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => {
            let msg = format!(
                "create Pod {name} in StatefulSet {set_name} failed error: {}",
                e.message
            );
            c.events.record(
                &events::reference(set),
                EventType::Warning,
                "FailedCreate",
                "Create",
                &msg,
            );
            Err(e)
        }
    }
}

async fn delete_pod<C: Client>(
    c: &StatefulSetController<C>,
    set: &StatefulSet,
    p: &Pod,
) -> Result<(), ApiError> {
    let (ns, name) = key_of(p);
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    match c
        .client
        .delete(&RESOURCE, &ns, &name, &DeleteOptions::default())
        .await
    {
        Ok(()) => {
            let msg = format!("delete Pod {name} in StatefulSet {set_name} successful");
            c.events.record(
                &events::reference(set),
                EventType::Normal,
                "SuccessfulDelete",
                "Delete",
                &msg,
            );
            Ok(())
        }
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => {
            let msg = format!(
                "delete Pod {name} in StatefulSet {set_name} failed error: {}",
                e.message
            );
            c.events.record(
                &events::reference(set),
                EventType::Warning,
                "FailedDelete",
                "Delete",
                &msg,
            );
            Err(e)
        }
    }
}
