//! A DaemonSet's template history, as upstream's `constructHistory`, `snapshot` and
//! `cleanupHistory`: one ControllerRevision per template, named `<set>-<hash>` and labelled
//! `controller-revision-hash`, holding the strategic merge patch that restores the template
//! (what `kubectl rollout history|undo daemonset` read). The current revision carries the
//! highest `revision` number; a name taken by another template bumps the set's
//! `collisionCount`; old revisions beyond `revisionHistoryLimit` go, oldest first, unless a
//! live pod still runs them.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::claim::{claim, Claimant};
use super::DaemonSetController;
use crate::client::informer::key_of;
use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::deployment::template_hash;
use crate::controllers::history;
use crate::controllers::pods;
use crate::resources::{controllerrevision, daemonset, pod};

/// The label naming a pod's (and a revision's) template (upstream's
/// `DefaultDaemonSetUniqueLabelKey`).
pub const REVISION_HASH: &str = "controller-revision-hash";

/// The hash label of a revision or pod, if any.
pub fn hash_of(labels: Option<&std::collections::BTreeMap<String, String>>) -> Option<&str> {
    labels
        .and_then(|l| l.get(REVISION_HASH))
        .map(String::as_str)
}

/// The patch that restores `ds`'s template (upstream's `getPatch`).
pub fn patch_of(ds: &DaemonSet) -> Value {
    history::data_of(ds.spec.as_ref().map(|s| &s.template))
}

/// The hash of `ds`'s template and collision count (upstream's `ComputeHash`).
pub fn current_hash(ds: &DaemonSet) -> String {
    let collisions = ds
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    ds.spec
        .as_ref()
        .map(|s| template_hash(&s.template, collisions))
        .unwrap_or_default()
}

/// Whether `rev` holds `ds`'s template (upstream's `Match`).
pub fn matches(ds: &DaemonSet, rev: &ControllerRevision) -> bool {
    history::holds(rev, &patch_of(ds))
}

/// The ControllerRevision recording `ds`'s template as number `revision`.
pub fn snapshot(ds: &DaemonSet, revision: i64) -> Value {
    let hash = current_hash(ds);
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    let mut labels = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH.into(), hash.clone());
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": ds.metadata.namespace,
            "labels": labels,
            "annotations": ds.metadata.annotations,
            "ownerReferences": [owner(ds)],
        },
        "data": patch_of(ds),
        "revision": revision,
    })
}

/// A controller reference to `ds`.
pub fn owner(ds: &DaemonSet) -> Value {
    pods::owner_reference(
        "apps/v1",
        "DaemonSet",
        ds.metadata.name.as_deref().unwrap_or_default(),
        ds.metadata.uid.as_deref().unwrap_or_default(),
    )
}

fn decode(v: Value) -> Result<Arc<ControllerRevision>, ApiError> {
    serde_json::from_value(v)
        .map(Arc::new)
        .map_err(|e| ApiError::internal(format!("controller revision unreadable: {e}")))
}

/// The current revision (created if missing) and the old ones.
pub(super) async fn construct<C: Client>(
    c: &DaemonSetController<C>,
    ds: &DaemonSet,
    claimant: &Claimant<'_>,
    pods: &[Arc<Pod>],
) -> Result<(Arc<ControllerRevision>, Vec<Arc<ControllerRevision>>), ApiError> {
    let rt = &controllerrevision::RESOURCE;
    let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
    let mut current = Vec::new();
    let mut old = Vec::new();
    for mut rev in claim(&c.client, rt, &c.revisions, claimant).await? {
        // A revision made elsewhere without the label is named by its own name, which
        // cannot collide.
        if hash_of(rev.metadata.labels.as_ref()).is_none() {
            let name = rev.metadata.name.clone().unwrap_or_default();
            let patch = json!({"metadata": {"labels": {REVISION_HASH: name}}});
            let v = c
                .client
                .patch(rt, ns, &name, PatchType::Merge, &patch, Subresource::Main)
                .await?;
            rev = decode(v)?;
        }
        if matches(ds, &rev) {
            current.push(rev);
        } else {
            old.push(rev);
        }
    }
    let next = old
        .iter()
        .map(|r| r.revision)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let cur = if current.is_empty() {
        create(c, ds, next).await?
    } else {
        let keep = dedup(c, ds, current, pods).await?;
        if keep.revision < next {
            let name = keep.metadata.name.clone().unwrap_or_default();
            let patch = json!({"revision": next});
            decode(
                c.client
                    .patch(rt, ns, &name, PatchType::Merge, &patch, Subresource::Main)
                    .await?,
            )?
        } else {
            keep
        }
    };
    Ok((cur, old))
}

/// Creates the revision of `ds`'s template; a name already taken by another template bumps
/// the collision count so the next attempt hashes to another name.
async fn create<C: Client>(
    c: &DaemonSetController<C>,
    ds: &DaemonSet,
    revision: i64,
) -> Result<Arc<ControllerRevision>, ApiError> {
    let rt = &controllerrevision::RESOURCE;
    let (ns, name) = key_of(ds);
    let body = snapshot(ds, revision);
    let rev_name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let err = match c.client.create(rt, &ns, body).await {
        Ok(v) => return decode(v),
        Err(e) if e.code == 409 => e,
        Err(e) => return Err(e),
    };
    let existing = decode(c.client.get(rt, &ns, &rev_name).await?)?;
    if matches(ds, &existing) {
        return Ok(existing);
    }
    let fresh: DaemonSet =
        serde_json::from_value(c.client.get(&daemonset::RESOURCE, &ns, &name).await?)
            .map_err(|e| ApiError::internal(format!("daemon set unreadable: {e}")))?;
    let seen = ds.status.as_ref().and_then(|s| s.collision_count);
    let now = fresh.status.as_ref().and_then(|s| s.collision_count);
    if seen != now {
        return Err(ApiError::new(409, "Conflict", format!(
            "found a stale collision count ({}, expected {}) of DaemonSet {name:?} while processing; will retry until it is updated",
            seen.unwrap_or(0),
            now.unwrap_or(0)
        )));
    }
    let bumped = now.unwrap_or(0).saturating_add(1);
    let patch = json!({"metadata": {"resourceVersion": fresh.metadata.resource_version},
        "status": {"collisionCount": bumped}});
    c.client
        .patch(
            &daemonset::RESOURCE,
            &ns,
            &name,
            PatchType::Merge,
            &patch,
            Subresource::Status,
        )
        .await?;
    tracing::info!(namespace = %ns, name = %name, collision_count = bumped, "hash collision for DaemonSet, bumping collisionCount to resolve it");
    Err(err)
}

/// Keeps the highest-numbered of several revisions of the current template: relabels the
/// pods of the others to its hash and deletes them.
async fn dedup<C: Client>(
    c: &DaemonSetController<C>,
    ds: &DaemonSet,
    mut current: Vec<Arc<ControllerRevision>>,
    pods: &[Arc<Pod>],
) -> Result<Arc<ControllerRevision>, ApiError> {
    current.sort_by_key(|r| r.revision);
    let Some(keep) = current.pop() else {
        return Err(ApiError::internal("no current revision to keep"));
    };
    if current.is_empty() {
        return Ok(keep);
    }
    let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
    let keep_hash = hash_of(keep.metadata.labels.as_ref()).unwrap_or_default();
    for p in pods {
        if hash_of(p.metadata.labels.as_ref()) != Some(keep_hash) {
            let patch = json!({"metadata": {"labels": {REVISION_HASH: keep_hash}}});
            let name = p.metadata.name.as_deref().unwrap_or_default();
            match c
                .client
                .patch(
                    &pod::RESOURCE,
                    ns,
                    name,
                    PatchType::Merge,
                    &patch,
                    Subresource::Main,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    for dup in current {
        let name = dup.metadata.name.as_deref().unwrap_or_default();
        delete_revision(c, ns, name).await?;
    }
    Ok(keep)
}

async fn delete_revision<C: Client>(
    c: &DaemonSetController<C>,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    match c
        .client
        .delete(
            &controllerrevision::RESOURCE,
            ns,
            name,
            &DeleteOptions::default(),
        )
        .await
    {
        Err(e) if e.code != 404 => Err(e),
        _ => Ok(()),
    }
}

/// The old revisions to delete: beyond `limit`, oldest first, none a live pod runs.
pub fn surplus(
    old: &[Arc<ControllerRevision>],
    limit: usize,
    pods: &[Arc<Pod>],
) -> Vec<Arc<ControllerRevision>> {
    let mut to_kill = old.len().saturating_sub(limit);
    let live: BTreeSet<&str> = pods
        .iter()
        .filter_map(|p| hash_of(p.metadata.labels.as_ref()))
        .collect();
    let mut sorted = old.to_vec();
    sorted.sort_by_key(|r| r.revision);
    let mut out = Vec::new();
    for r in sorted {
        if to_kill == 0 {
            break;
        }
        if hash_of(r.metadata.labels.as_ref()).is_some_and(|h| live.contains(h)) {
            continue;
        }
        out.push(r);
        to_kill -= 1;
    }
    out
}

/// Deletes the old revisions beyond the set's `revisionHistoryLimit`.
pub(super) async fn cleanup<C: Client>(
    c: &DaemonSetController<C>,
    ds: &DaemonSet,
    old: &[Arc<ControllerRevision>],
    pods: &[Arc<Pod>],
) -> Result<(), ApiError> {
    let limit = ds
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
    for r in surplus(old, usize::try_from(limit).unwrap_or(0), pods) {
        delete_revision(c, ns, r.metadata.name.as_deref().unwrap_or_default()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(image: &str, collisions: Option<i32>) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}},
                    "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"collisionCount": collisions, "currentNumberScheduled": 0,
                "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0},
        }))
        .unwrap()
    }

    fn rev(v: Value) -> Arc<ControllerRevision> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn the_hash_follows_the_template_and_the_collision_count() {
        let a = current_hash(&ds("busybox:1", None));
        assert_eq!(a, current_hash(&ds("busybox:1", Some(0))));
        assert_ne!(a, current_hash(&ds("busybox:2", None)));
        assert_ne!(a, current_hash(&ds("busybox:1", Some(1))));
    }

    #[test]
    fn a_snapshot_restores_the_template_and_matches_only_it() {
        let one = ds("busybox:1", None);
        let snap = snapshot(&one, 3);
        let hash = current_hash(&one);
        assert_eq!(snap["metadata"]["name"], format!("agent-{hash}"));
        assert_eq!(
            snap["metadata"]["labels"],
            json!({"app": "a", REVISION_HASH: hash})
        );
        assert_eq!(snap["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(snap["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(snap["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            snap["data"]["spec"]["template"]["spec"]["containers"][0]["image"],
            "busybox:1"
        );
        assert_eq!(snap["revision"], 3);
        let r = rev(snap);
        assert!(matches(&one, &r));
        assert!(!matches(&ds("busybox:2", None), &r));
    }

    #[test]
    fn surplus_revisions_go_oldest_first_sparing_those_pods_run() {
        let r = |n: i64, h: &str| {
            rev(
                json!({"metadata": {"name": format!("agent-{h}"), "labels": {REVISION_HASH: h}},
                "revision": n}),
            )
        };
        let old = vec![r(3, "c"), r(1, "a"), r(2, "b"), r(4, "d")];
        let pod = |h: &str| -> Arc<Pod> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"labels": {REVISION_HASH: h}}}))
                    .unwrap(),
            )
        };
        let names =
            |v: Vec<Arc<ControllerRevision>>| v.iter().map(|r| r.revision).collect::<Vec<_>>();
        assert_eq!(names(surplus(&old, 4, &[])), Vec::<i64>::new());
        assert_eq!(names(surplus(&old, 2, &[])), [1, 2]);
        assert_eq!(names(surplus(&old, 2, &[pod("a")])), [2, 3]);
        assert_eq!(names(surplus(&old, 0, &[pod("b"), pod("d")])), [1, 3]);
    }
}
