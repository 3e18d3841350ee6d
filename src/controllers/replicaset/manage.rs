//! Which pods a ReplicaSet controls and making their number right, as upstream's
//! `ClaimPods` (adopt matching orphans, release owned pods that stopped matching) and
//! `manageReplicas` (create in slow-start batches, delete the worst pods first).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::{ReplicaSetController, Replicated, BURST_REPLICAS};
use crate::client::events;
use crate::client::informer::{key_of, Informer};
use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pod_control::{Batches, PodControl};
use crate::controllers::pods;
use crate::resources::pod;
use crate::resources::selector::typed as selector;

/// The pods `set` controls after adopting and releasing.
pub(super) async fn claim_pods<C: Client, K: Replicated>(
    client: &C,
    pods_informer: &Informer<Pod>,
    set: &K,
    uid: &str,
    deleting: bool,
) -> Result<Vec<Arc<Pod>>, ApiError> {
    let (ns, name) = key_of(set);
    let Some(sel) = set.selector() else {
        return Ok(Vec::new());
    };
    let sel = &*sel;
    let mut owned = Vec::new();
    for p in pods_informer.by_index(pods::BY_CONTROLLER, uid) {
        if selector::matches(sel, p.metadata.labels.as_ref()) {
            owned.push(p);
        } else if !deleting && p.metadata.deletion_timestamp.is_none() {
            release(client, &p, uid).await?;
        }
    }
    if deleting || selector::is_empty(sel) {
        return Ok(owned);
    }
    for p in pods_informer.by_index(pods::ORPHANS, &ns) {
        if p.metadata.deletion_timestamp.is_some()
            || !selector::matches(sel, p.metadata.labels.as_ref())
        {
            continue;
        }
        let owner = pods::owner_reference(K::API_VERSION, K::KIND, &name, uid);
        match adopt(client, &p, owner).await {
            Ok(adopted) => owned.push(adopted),
            Err(e) if e.code == 404 || e.code == 409 || e.code == 422 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(owned)
}

/// Takes a pod without controller: adds the owner reference, checked against the pod's uid.
pub(crate) async fn adopt<C: Client>(
    client: &C,
    p: &Pod,
    owner: Value,
) -> Result<Arc<Pod>, ApiError> {
    let mut refs: Vec<Value> = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    refs.push(owner);
    let patch = json!({"metadata": {"uid": p.metadata.uid, "ownerReferences": refs}});
    let (ns, name) = key_of(p);
    let v = client
        .patch(
            &pod::RESOURCE,
            &ns,
            &name,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await?;
    serde_json::from_value(v)
        .map(Arc::new)
        .map_err(|e| ApiError::internal(format!("adopted pod unreadable: {e}")))
}

/// Lets go of a pod that no longer matches: drops the owner reference with `uid`.
pub(crate) async fn release<C: Client>(client: &C, p: &Pod, uid: &str) -> Result<(), ApiError> {
    let refs: Vec<Value> = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        Value::Array(refs)
    };
    let patch = json!({"metadata": {"uid": p.metadata.uid, "ownerReferences": refs}});
    let (ns, name) = key_of(p);
    match client
        .patch(
            &pod::RESOURCE,
            &ns,
            &name,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 || e.code == 422 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates or deletes pods so `active` becomes `want`.
pub(super) async fn scale<C: Client, K: Replicated>(
    c: &ReplicaSetController<C, K>,
    set: &K,
    mut active: Vec<Arc<Pod>>,
    want: usize,
) -> Result<(), ApiError> {
    let key = key_of(set);
    let owner = events::reference(set);
    let control = PodControl::new(&c.client, &c.events, &c.expectations, &key, &owner);
    let have = active.len();
    if have < want {
        let missing = (want - have).min(BURST_REPLICAS);
        c.expectations.expect(&key, missing, 0);
        let Some(template) = set.template() else {
            return Ok(());
        };
        let (ns, name) = &key;
        let uid = set.metadata().uid.as_deref().unwrap_or_default();
        let owner = pods::owner_reference(K::API_VERSION, K::KIND, name, uid);
        let pod = pods::from_template(template, ns, name, owner);
        control
            .create(ns, vec![pod; missing], Batches::SlowStart)
            .await
    } else if have > want {
        let surplus = (have - want).min(BURST_REPLICAS);
        pods::sort_for_deletion(&mut active);
        active.truncate(surplus);
        c.expectations.expect(&key, 0, surplus);
        control.delete(&active).await
    } else {
        Ok(())
    }
}
