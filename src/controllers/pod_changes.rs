//! Routing a pod change to the owners it concerns, as upstream's ReplicaSet and DaemonSet
//! `addPod`/`updatePod`/`deletePod`: a pod with a controller reference queues that owner
//! (its old owner too when the reference changed) and counts toward the owner's
//! expectations (a new pod is an observed creation, a pod starting to terminate or gone
//! without terminating an observed deletion); an orphan queues the owners whose selector
//! matches it, which may adopt it.

use k8s_openapi::api::core::v1::Pod;

use super::expectations::Expectations;
use super::pods::{controller_of, owner_in};
use super::work_queue::WorkQueue;
use crate::client::informer::{Change, Informer, Key, Kind};

/// When an updated orphan is offered to the owners selecting it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OrphanUpdates {
    /// On every update (the DaemonSet controller's way).
    Always,
    /// Only when its labels changed or it was just released (upstream's ReplicaSet).
    LabelsOrRelease,
}

/// Queues the owners in `owners` that `change` concerns and counts what they expected;
/// `selecting` gives the owners whose selector matches an orphan.
pub fn route<K: Kind>(
    owners: &Informer<K>,
    queue: &WorkQueue,
    expectations: &Expectations,
    change: &Change<Pod>,
    selecting: impl Fn(&Pod) -> Vec<Key>,
    orphan_updates: OrphanUpdates,
) {
    match change {
        Change::Added(p) => match owner_in(owners, &p.metadata) {
            Some(k) => {
                expectations.creation_observed(&k);
                queue.add(k);
            }
            None if controller_of(&p.metadata).is_none() => {
                selecting(p).into_iter().for_each(|k| queue.add(k));
            }
            None => {}
        },
        Change::Updated { old, new } => {
            let deleting = new.metadata.deletion_timestamp.is_some()
                && old.metadata.deletion_timestamp.is_none();
            let new_owner = owner_in(owners, &new.metadata);
            if let (true, Some(k)) = (deleting, &new_owner) {
                expectations.deletion_observed(k);
            }
            let old_owner = owner_in(owners, &old.metadata);
            if old_owner != new_owner {
                old_owner.into_iter().for_each(|k| queue.add(k));
            }
            let offer_orphan = match orphan_updates {
                OrphanUpdates::Always => true,
                OrphanUpdates::LabelsOrRelease => {
                    old.metadata.labels != new.metadata.labels
                        || controller_of(&old.metadata).is_some()
                }
            };
            match new_owner {
                Some(k) => queue.add(k),
                None if controller_of(&new.metadata).is_none() && offer_orphan => {
                    selecting(new).into_iter().for_each(|k| queue.add(k));
                }
                None => {}
            }
        }
        Change::Deleted(p) => {
            if let Some(k) = owner_in(owners, &p.metadata) {
                if p.metadata.deletion_timestamp.is_none() {
                    expectations.deletion_observed(&k);
                }
                queue.add(k);
            }
        }
    }
}
