//! Which pods belong to a StatefulSet, as upstream's `getPodsForStatefulSet`: the pods it
//! controls that its selector matches and that are named for one of its ordinals
//! (`isMemberOf`); it adopts orphans that fit both and lets go of pods that stopped
//! matching, so a pod relabelled by hand is replaced rather than fought over.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use super::identity;
use crate::client::informer::{key_of, Informer, Key};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pods::{self, controller_of};
use crate::controllers::replicaset::{adopt, release};
use crate::resources::selector::typed as selector;

fn is_member(set: &StatefulSet, p: &Pod) -> bool {
    let name = set.metadata.name.as_deref().unwrap_or_default();
    set.spec.as_ref().is_some_and(|s| {
        selector::matches(&s.selector, p.metadata.labels.as_ref())
            && identity::ordinal_of(name, p.metadata.name.as_deref().unwrap_or_default()).is_some()
    })
}

/// The set's members after adopting and releasing.
pub(super) async fn claim<C: Client>(
    client: &C,
    pods_informer: &Informer<Pod>,
    set: &StatefulSet,
) -> Result<Vec<Arc<Pod>>, ApiError> {
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let mut members = Vec::new();
    for p in pods_informer.by_index(pods::BY_CONTROLLER, uid) {
        if is_member(set, &p) {
            members.push(p);
        } else if !deleting && p.metadata.deletion_timestamp.is_none() {
            release(client, &p, uid).await?;
        }
    }
    let empty = set
        .spec
        .as_ref()
        .map_or(true, |s| selector::is_empty(&s.selector));
    if deleting || empty {
        return Ok(members);
    }
    let (ns, name) = key_of(set);
    for p in pods_informer.by_index(pods::ORPHANS, &ns) {
        if p.metadata.deletion_timestamp.is_some() || !is_member(set, &p) {
            continue;
        }
        let owner = pods::owner_reference("apps/v1", "StatefulSet", &name, uid);
        match adopt(client, &p, owner).await {
            Ok(adopted) => members.push(adopted),
            Err(e) if e.code == 404 || e.code == 409 || e.code == 422 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(members)
}

/// The sets an orphan pod could join (for queueing them when it appears or changes).
pub(super) fn sets_for_orphan(sets: &Informer<StatefulSet>, p: &Pod) -> Vec<Key> {
    if controller_of(&p.metadata).is_some() {
        return Vec::new();
    }
    let ns = p.metadata.namespace.as_deref().unwrap_or_default();
    sets.list_namespace(ns)
        .iter()
        .filter(|s| {
            s.spec
                .as_ref()
                .is_some_and(|sp| !selector::is_empty(&sp.selector))
                && is_member(s, p)
        })
        .map(|s| key_of(&**s))
        .collect()
}
