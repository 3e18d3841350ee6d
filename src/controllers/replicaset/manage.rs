//! Which pods a ReplicaSet controls and making their number right, as upstream's
//! `ClaimPods` (adopt matching orphans, release owned pods that stopped matching) and
//! `manageReplicas` (create in slow-start batches, delete the worst pods first).

use std::sync::Arc;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::{ReplicaSetController, Replicated, BURST_REPLICAS};
use crate::client::events::{self, EventType};
use crate::client::informer::{key_of, Informer};
use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
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
    let have = active.len();
    if have < want {
        let missing = (want - have).min(BURST_REPLICAS);
        c.expectations.expect(&key, missing, 0);
        create_pods(c, set, missing).await
    } else if have > want {
        let surplus = (have - want).min(BURST_REPLICAS);
        pods::sort_for_deletion(&mut active);
        active.truncate(surplus);
        c.expectations.expect(&key, 0, surplus);
        let deletes = active.iter().map(|p| async move {
            let (ns, name) = key_of(&**p);
            let r = c
                .client
                .delete(&pod::RESOURCE, &ns, &name, &DeleteOptions::default())
                .await;
            (name, r)
        });
        let mut first_error = None;
        for (name, r) in join_all(deletes).await {
            match r {
                Ok(()) => c.events.record(
                    &events::reference(set),
                    EventType::Normal,
                    "SuccessfulDelete",
                    "Delete",
                    &format!("Deleted pod: {name}"),
                ),
                Err(e) => {
                    c.expectations.deletion_observed(&key);
                    if e.code != 404 {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    } else {
        Ok(())
    }
}

/// Creates `count` pods in batches of 1, 2, 4, ...; stops after a batch with a failure.
async fn create_pods<C: Client, K: Replicated>(
    c: &ReplicaSetController<C, K>,
    set: &K,
    count: usize,
) -> Result<(), ApiError> {
    let key = key_of(set);
    let (ns, name) = key.clone();
    let Some(template) = set.template() else {
        return Ok(());
    };
    let uid = set.metadata().uid.as_deref().unwrap_or_default();
    let owner = pods::owner_reference(K::API_VERSION, K::KIND, &name, uid);
    let pod = pods::from_template(template, &ns, &name, owner);
    let mut done = 0;
    let mut batch = 1;
    while done < count {
        let n = batch.min(count - done);
        let creates = (0..n).map(|_| c.client.create(&pod::RESOURCE, &ns, pod.clone()));
        let results = join_all(creates).await;
        let mut failure = None;
        for r in results {
            match r {
                Ok(created) => {
                    let pod_name = created
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    c.events.record(
                        &events::reference(set),
                        EventType::Normal,
                        "SuccessfulCreate",
                        "Create",
                        &format!("Created pod: {pod_name}"),
                    );
                }
                Err(e) => {
                    c.expectations.creation_observed(&key);
                    failure.get_or_insert(e);
                }
            }
        }
        done += n;
        if let Some(e) = failure {
            // The pods of batches never sent will not come either.
            for _ in done..count {
                c.expectations.creation_observed(&key);
            }
            c.events.record(
                &events::reference(set),
                EventType::Warning,
                "FailedCreate",
                "Create",
                &format!("Error creating: {}", e.message),
            );
            return Err(e);
        }
        batch = batch.saturating_mul(2);
    }
    Ok(())
}
