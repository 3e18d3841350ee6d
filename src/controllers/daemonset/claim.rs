//! Which pods and ControllerRevisions a DaemonSet controls, as upstream's
//! `ClaimPods`/`ClaimControllerRevisions`: objects it controls stay its own while its
//! selector matches them and are released when it stops matching; objects without a
//! controller that the selector matches are adopted. Adoption and release are merge patches
//! of `ownerReferences` checked against the object's uid, so a replaced object is left alone.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::informer::{Informer, Kind};
use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pods::{self, controller_of};
use crate::resources::selector::typed as selector;
use crate::resources::ResourceType;

/// The owner a claim is made for.
pub(super) struct Claimant<'a> {
    /// The set's namespace.
    pub namespace: &'a str,
    /// The set's uid.
    pub uid: &'a str,
    /// Its selector.
    pub selector: &'a LabelSelector,
    /// The controller reference an adopted object gets.
    pub owner: Value,
}

/// The objects of `informer` (indexed by [`pods::BY_CONTROLLER`] and [`pods::ORPHANS`])
/// that `claimant` controls after adopting and releasing.
pub(super) async fn claim<C: Client, K: Kind>(
    client: &C,
    rt: &'static ResourceType,
    informer: &Informer<K>,
    claimant: &Claimant<'_>,
) -> Result<Vec<Arc<K>>, ApiError> {
    let labels = |o: &K| o.metadata().labels.clone();
    let mut owned = Vec::new();
    for o in informer.by_index(pods::BY_CONTROLLER, claimant.uid) {
        if selector::matches(claimant.selector, labels(&o).as_ref()) {
            owned.push(o);
        } else if o.metadata().deletion_timestamp.is_none() {
            release(client, rt, o.metadata(), claimant.uid).await?;
        }
    }
    if selector::is_empty(claimant.selector) {
        return Ok(owned);
    }
    for o in informer.by_index(pods::ORPHANS, claimant.namespace) {
        let meta = o.metadata();
        if meta.deletion_timestamp.is_some()
            || controller_of(meta).is_some()
            || !selector::matches(claimant.selector, meta.labels.as_ref())
        {
            continue;
        }
        match adopt::<C, K>(client, rt, meta, claimant.owner.clone()).await {
            Ok(adopted) => owned.push(adopted),
            Err(e) if e.code == 404 || e.code == 409 || e.code == 422 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(owned)
}

async fn patch_refs<C: Client>(
    client: &C,
    rt: &'static ResourceType,
    meta: &ObjectMeta,
    refs: Vec<Value>,
) -> Result<Value, ApiError> {
    let patch = json!({"metadata": {"uid": meta.uid, "ownerReferences": refs}});
    client
        .patch(
            rt,
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
}

/// Takes an object without controller: adds the owner reference.
async fn adopt<C: Client, K: DeserializeOwned>(
    client: &C,
    rt: &'static ResourceType,
    meta: &ObjectMeta,
    owner: Value,
) -> Result<Arc<K>, ApiError> {
    let mut refs: Vec<Value> = meta
        .owner_references
        .iter()
        .flatten()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    refs.push(owner);
    let v = patch_refs(client, rt, meta, refs).await?;
    serde_json::from_value(v)
        .map(Arc::new)
        .map_err(|e| ApiError::internal(format!("adopted {} unreadable: {e}", rt.kind)))
}

/// Lets go of an object that no longer matches: drops the owner reference with `uid`.
async fn release<C: Client>(
    client: &C,
    rt: &'static ResourceType,
    meta: &ObjectMeta,
    uid: &str,
) -> Result<(), ApiError> {
    let refs: Vec<Value> = meta
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    match patch_refs(client, rt, meta, refs).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 || e.code == 422 => Ok(()),
        Err(e) => Err(e),
    }
}
