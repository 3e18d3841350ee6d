//! What the collector does with one object, as upstream's `attemptToDeleteItem` and
//! `orphanDependents`: an object being deleted with the `orphan` finalizer has its
//! dependents' references to it removed and then the finalizer; with `foregroundDeletion`
//! its dependents are deleted and the finalizer goes once none that blocks is left. An
//! object whose owners are all gone is deleted (in the foreground when an owner is itself
//! waiting for its dependents); one that still has a live owner only loses its references
//! to the gone ones. An owner the informers do not hold is confirmed gone by a read first:
//! the informers of two kinds may be apart by a moment.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{json, Value};

use super::graph::Item;
use super::{lock, GarbageCollector};
use crate::client::options::{
    DeleteOptions, PatchType, Preconditions, Subresource, FOREGROUND_FINALIZER, ORPHAN_FINALIZER,
};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::Action;

/// How soon to look again when an owner the informers lack turns out to exist.
const INFORMER_LAG: Duration = Duration::from_secs(1);

fn has_finalizer(m: &ObjectMeta, f: &str) -> bool {
    m.finalizers.iter().flatten().any(|x| x == f)
}

/// Handles one object.
pub(super) async fn process<C: Client>(
    gc: &GarbageCollector<C>,
    item: &Item,
) -> Result<Action, ApiError> {
    let Some(kind) = gc.kinds.get(item.0) else {
        return Ok(Action::Done);
    };
    let Some(obj) = kind.informer.get(&item.1, &item.2) else {
        return Ok(Action::Done);
    };
    let m = &obj.metadata;
    let uid = m.uid.clone().unwrap_or_default();
    if m.deletion_timestamp.is_some() {
        if has_finalizer(m, ORPHAN_FINALIZER) {
            orphan_dependents(gc, &uid).await?;
            return remove_finalizer(gc, item, m, ORPHAN_FINALIZER).await;
        }
        if has_finalizer(m, FOREGROUND_FINALIZER) {
            return delete_dependents_first(gc, item, m, &uid).await;
        }
        return Ok(Action::Done);
    }
    let refs: Vec<OwnerReference> = m.owner_references.clone().unwrap_or_default();
    if refs.is_empty() {
        return Ok(Action::Done);
    }
    let (mut solid, mut dangling, mut waiting) = (0, Vec::new(), 0);
    for r in &refs {
        match owner_state(gc, item, r).await? {
            Owner::Present {
                waiting_for_dependents,
            } => {
                if waiting_for_dependents {
                    waiting += 1;
                } else {
                    solid += 1;
                }
            }
            Owner::Absent => dangling.push(r.uid.clone()),
            Owner::NotYetSeen => return Ok(Action::RequeueAfter(INFORMER_LAG)),
        }
    }
    if solid > 0 {
        if !dangling.is_empty() {
            let kept: Vec<&OwnerReference> =
                refs.iter().filter(|r| !dangling.contains(&r.uid)).collect();
            set_owner_references(gc, item, m, &kept).await?;
        }
        return Ok(Action::Done);
    }
    let dependents = lock(&gc.graph).has_dependents(&uid);
    let policy = if waiting > 0 && dependents {
        "Foreground"
    } else {
        "Background"
    };
    tracing::info!(kind = kind.rt.kind, namespace = %item.1, name = %item.2, policy, "deleting an object whose owners are gone");
    delete(gc, item, &uid, policy).await
}

enum Owner {
    Present {
        waiting_for_dependents: bool,
    },
    Absent,
    /// The API has it but the informer does not yet.
    NotYetSeen,
}

/// Whether the owner `r` of `item` exists (with the uid named).
async fn owner_state<C: Client>(
    gc: &GarbageCollector<C>,
    item: &Item,
    r: &OwnerReference,
) -> Result<Owner, ApiError> {
    let Some(kind) = gc
        .kinds
        .position(&r.api_version, &r.kind)
        .and_then(|i| gc.kinds.get(i))
    else {
        // A kind this server does not serve cannot be judged: leave the reference be.
        return Ok(Owner::Present {
            waiting_for_dependents: false,
        });
    };
    let ns = if kind.rt.namespaced {
        item.1.as_str()
    } else {
        ""
    };
    if let Some(owner) = kind.informer.get(ns, &r.name) {
        if owner.metadata.uid.as_deref() == Some(r.uid.as_str()) {
            let waiting = owner.metadata.deletion_timestamp.is_some()
                && has_finalizer(&owner.metadata, FOREGROUND_FINALIZER);
            return Ok(Owner::Present {
                waiting_for_dependents: waiting,
            });
        }
    }
    match gc.client.get(kind.rt, ns, &r.name).await {
        Ok(v) if v.pointer("/metadata/uid").and_then(Value::as_str) == Some(r.uid.as_str()) => {
            Ok(Owner::NotYetSeen)
        }
        Ok(_) => Ok(Owner::Absent),
        Err(e) if e.code == 404 => Ok(Owner::Absent),
        Err(e) => Err(e),
    }
}

/// Deletes `item` (only the object with `uid`) with `policy`.
async fn delete<C: Client>(
    gc: &GarbageCollector<C>,
    item: &Item,
    uid: &str,
    policy: &str,
) -> Result<Action, ApiError> {
    let Some(kind) = gc.kinds.get(item.0) else {
        return Ok(Action::Done);
    };
    let opts = DeleteOptions {
        propagation_policy: Some(policy.to_string()),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match gc.client.delete(kind.rt, &item.1, &item.2, &opts).await {
        Ok(()) => Ok(Action::Done),
        Err(e) if e.code == 404 || e.code == 409 => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

/// Removes every dependent's reference to `owner_uid`.
async fn orphan_dependents<C: Client>(
    gc: &GarbageCollector<C>,
    owner_uid: &str,
) -> Result<(), ApiError> {
    let dependents = lock(&gc.graph).dependents(owner_uid);
    for d in dependents {
        let Some(obj) = gc.kinds.get(d.0).and_then(|k| k.informer.get(&d.1, &d.2)) else {
            continue;
        };
        let m = &obj.metadata;
        let kept: Vec<&OwnerReference> = m
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.uid != owner_uid)
            .collect();
        set_owner_references(gc, &d, m, &kept).await?;
    }
    Ok(())
}

/// Deletes the dependents of an owner deleting in the foreground; drops its finalizer once
/// no blocking dependent is left.
async fn delete_dependents_first<C: Client>(
    gc: &GarbageCollector<C>,
    item: &Item,
    m: &ObjectMeta,
    uid: &str,
) -> Result<Action, ApiError> {
    let dependents = lock(&gc.graph).dependents(uid);
    let mut blocking = 0;
    for d in dependents {
        let Some(obj) = gc.kinds.get(d.0).and_then(|k| k.informer.get(&d.1, &d.2)) else {
            continue;
        };
        let dm = &obj.metadata;
        let blocks = dm
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == uid && r.block_owner_deletion == Some(true));
        if blocks {
            blocking += 1;
        }
        if dm.deletion_timestamp.is_none() {
            let duid = dm.uid.clone().unwrap_or_default();
            let has_own = lock(&gc.graph).has_dependents(&duid);
            delete(
                gc,
                &d,
                &duid,
                if has_own { "Foreground" } else { "Background" },
            )
            .await?;
        }
    }
    if blocking > 0 {
        // The deletions of the dependents queue this owner again.
        return Ok(Action::Done);
    }
    remove_finalizer(gc, item, m, FOREGROUND_FINALIZER).await
}

/// Writes `item`'s owner references, checked against its uid.
async fn set_owner_references<C: Client>(
    gc: &GarbageCollector<C>,
    item: &Item,
    m: &ObjectMeta,
    refs: &[&OwnerReference],
) -> Result<(), ApiError> {
    let Some(kind) = gc.kinds.get(item.0) else {
        return Ok(());
    };
    let refs: Vec<Value> = refs
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    // No references left: the field goes, as upstream never stores an empty list.
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        Value::Array(refs)
    };
    let patch = json!({"metadata": {"uid": m.uid, "ownerReferences": refs}});
    match gc
        .client
        .patch(
            kind.rt,
            &item.1,
            &item.2,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
    {
        Err(e) if e.code != 404 => Err(e),
        _ => Ok(()),
    }
}

/// Removes finalizer `f` from `item`, checked against the state it was read in.
async fn remove_finalizer<C: Client>(
    gc: &GarbageCollector<C>,
    item: &Item,
    m: &ObjectMeta,
    f: &str,
) -> Result<Action, ApiError> {
    let Some(kind) = gc.kinds.get(item.0) else {
        return Ok(Action::Done);
    };
    let kept: Vec<&String> = m.finalizers.iter().flatten().filter(|x| *x != f).collect();
    let patch = json!({"metadata": {"uid": m.uid, "resourceVersion": m.resource_version, "finalizers": kept}});
    match gc
        .client
        .patch(
            kind.rt,
            &item.1,
            &item.2,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
    {
        Ok(_) => Ok(Action::Done),
        Err(e) if e.code == 404 => Ok(Action::Done),
        Err(e) => Err(e),
    }
}
