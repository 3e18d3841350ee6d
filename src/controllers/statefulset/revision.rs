//! A StatefulSet's template history as ControllerRevisions, as upstream's
//! `controller/history` package and `getStatefulSetRevisions`: each distinct template is
//! one revision named `<set>-<hash>` (an FNV-1a hash of its data and the set's
//! `collisionCount`, in upstream's safe alphabet) whose data is the patch
//! `{"spec":{"template":{...,"$patch":"replace"}}}`; going back to an older template
//! renumbers its revision instead of making a new one; a name taken by other data bumps
//! `collisionCount`; and revisions no pod uses are dropped beyond `revisionHistoryLimit`.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{json, Value};

use super::identity;

use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::{history, pods};
use crate::resources::controllerrevision::RESOURCE;

/// Label on a revision holding its hash.
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// Upstream's `SafeEncodeString` alphabet: no vowels, no look-alike characters.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Names tried after a collision before giving up until the next sync.
const MAX_COLLISIONS_PER_SYNC: i32 = 5;

/// The revision data of the set's current template (upstream's `getPatch`).
pub fn data_of(set: &StatefulSet) -> Value {
    history::data_of(set.spec.as_ref().map(|s| &s.template))
}

/// The pod template a revision holds (upstream's `ApplyRevision`, for the one field it sets).
pub fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.pointer("/spec/template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// The hash naming a revision with `data` (upstream's `HashControllerRevision`).
pub fn hash(data: &Value, collisions: i32) -> String {
    let text = serde_json::to_string(data).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    let probe = (collisions != 0).then(|| collisions.to_string());
    for b in text
        .bytes()
        .chain(probe.iter().flat_map(|p| p.bytes().collect::<Vec<_>>()))
    {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|d| char::from(ALPHABET[usize::from(d) % ALPHABET.len()]))
        .collect()
}

/// What [`sync`] settled on.
pub struct Revisions {
    /// The revision `status.currentRevision` names (the update revision at first).
    pub current: Arc<ControllerRevision>,
    /// The revision of the set's template now.
    pub update: Arc<ControllerRevision>,
    /// `status.collisionCount` to report.
    pub collisions: i32,
}

/// Finds or makes the update revision of `set` among `owned` (sorted by revision), and
/// picks the current one.
pub async fn sync<C: Client>(
    client: &C,
    set: &StatefulSet,
    mut owned: Vec<Arc<ControllerRevision>>,
) -> Result<Revisions, ApiError> {
    owned.sort_by_key(|r| r.revision);
    let next = owned.last().map_or(1, |r| r.revision.saturating_add(1));
    let data = data_of(set);
    let mut collisions = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let equal: Vec<&Arc<ControllerRevision>> =
        owned.iter().filter(|r| history::holds(r, &data)).collect();
    let update = match equal.last() {
        Some(r)
            if owned
                .last()
                .is_some_and(|l| l.metadata.uid == r.metadata.uid) =>
        {
            (*r).clone()
        }
        Some(r) => {
            // A rollback to an older template: it becomes the newest revision again.
            let (ns, name) = crate::client::informer::key_of(&***r);
            let v = client
                .patch(
                    &RESOURCE,
                    &ns,
                    &name,
                    PatchType::Merge,
                    &json!({"revision": next}),
                    Subresource::Main,
                )
                .await?;
            Arc::new(decode(v)?)
        }
        None => create(client, set, &data, next, &mut collisions).await?,
    };
    let current_name = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.as_deref())
        .unwrap_or_default();
    let current = owned
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name))
        .cloned()
        .unwrap_or_else(|| update.clone());
    Ok(Revisions {
        current,
        update,
        collisions,
    })
}

/// Creates the revision; a name already held by other data is a collision, tried again
/// with the next `collisions`.
async fn create<C: Client>(
    client: &C,
    set: &StatefulSet,
    data: &Value,
    revision: i64,
    collisions: &mut i32,
) -> Result<Arc<ControllerRevision>, ApiError> {
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let mut labels = set
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for _ in 0..MAX_COLLISIONS_PER_SYNC {
        let h = hash(data, *collisions);
        labels.insert(HASH_LABEL.into(), h.clone());
        let name = format!("{set_name}-{h}");
        let rev = json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": labels,
                "ownerReferences": [pods::owner_reference("apps/v1", "StatefulSet", set_name, uid)],
            },
            "data": data,
            "revision": revision,
        });
        match client.create(&RESOURCE, ns, rev).await {
            Ok(v) => return decode(v).map(Arc::new),
            Err(e) if e.code == 409 => {
                let existing = decode(client.get(&RESOURCE, ns, &name).await?)?;
                if history::holds(&existing, data) {
                    return Ok(Arc::new(existing));
                }
                *collisions = collisions.saturating_add(1);
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::internal(format!(
        "no free ControllerRevision name for {set_name} after {MAX_COLLISIONS_PER_SYNC} collisions"
    )))
}

fn decode(v: Value) -> Result<ControllerRevision, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::internal(format!("ControllerRevision unreadable: {e}")))
}

/// The revisions to delete: the oldest that no pod, nor the current or update revision,
/// uses, beyond `limit` of them (upstream's `truncateHistory`).
pub fn prunable<'a>(
    owned: &'a [Arc<ControllerRevision>],
    live: &HashSet<String>,
    limit: i32,
) -> Vec<&'a Arc<ControllerRevision>> {
    let mut history: Vec<&Arc<ControllerRevision>> = owned
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let surplus = history
        .len()
        .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    history.sort_by_key(|r| r.revision);
    history.truncate(surplus);
    history
}

/// Deletes the [`prunable`] revisions, keeping `revisionHistoryLimit` (default 10).
pub async fn truncate<C: Client>(
    client: &C,
    set: &StatefulSet,
    owned: &[Arc<ControllerRevision>],
    live: &HashSet<String>,
) -> Result<(), ApiError> {
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    for r in prunable(owned, live, limit) {
        let (ns, name) = crate::client::informer::key_of(&**r);
        match client
            .delete(&RESOURCE, &ns, &name, &DeleteOptions::default())
            .await
        {
            Ok(()) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The template pod `ord` is made from: below the partition the current revision's, else
/// the update revision's (upstream's `newVersionedStatefulSetPod`).
pub fn template_for(set: &StatefulSet, revs: &Revisions, ord: i32) -> (PodTemplateSpec, String) {
    let spec = set.spec.as_ref();
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    let rolling = strategy
        .and_then(|s| s.type_.as_deref())
        .map_or(true, |t| t == "RollingUpdate");
    let below = match strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
    {
        Some(partition) => ord < partition,
        None => {
            let current = set
                .status
                .as_ref()
                .and_then(|s| s.current_replicas)
                .unwrap_or(0);
            ord - identity::start_ordinal(set) < current
        }
    };
    let rev = if rolling && below {
        &revs.current
    } else {
        &revs.update
    };
    let template = template_of(rev)
        .or_else(|| spec.map(|s| s.template.clone()))
        .unwrap_or_default();
    (template, rev.metadata.name.clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(image: &str) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "d"},
            "spec": {"serviceName": "s", "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": image}]}}},
        }))
        .unwrap()
    }

    #[test]
    fn the_data_replaces_the_template_and_reads_back() {
        let d = data_of(&set("box:1"));
        assert_eq!(d["spec"]["template"]["$patch"], "replace");
        let rev: ControllerRevision = serde_json::from_value(
            json!({"metadata": {"name": "web-x"}, "revision": 1, "data": d}),
        )
        .unwrap();
        let t = template_of(&rev).unwrap();
        assert_eq!(Some(t), set("box:1").spec.map(|s| s.template));
    }

    #[test]
    fn the_hash_follows_the_template_and_the_collision_count() {
        let (a, b) = (data_of(&set("box:1")), data_of(&set("box:2")));
        assert_eq!(hash(&a, 0), hash(&a, 0));
        assert_ne!(hash(&a, 0), hash(&b, 0));
        assert_ne!(hash(&a, 0), hash(&a, 1));
        assert!(hash(&a, 3).bytes().all(|c| ALPHABET.contains(&c)));
    }

    fn rev(name: &str, image: &str) -> Arc<ControllerRevision> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name}, "revision": 1,
                "data": data_of(&set(image))}))
            .unwrap(),
        )
    }

    fn image(t: &PodTemplateSpec) -> String {
        t.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    }

    #[test]
    fn pods_below_the_partition_are_made_at_the_current_revision() {
        let revs = Revisions {
            current: rev("web-old", "box:1"),
            update: rev("web-new", "box:2"),
            collisions: 0,
        };
        let mut s = set("box:2");
        s.spec.as_mut().unwrap().update_strategy = serde_json::from_value(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
        )
        .unwrap();
        let (t, name) = template_for(&s, &revs, 1);
        assert_eq!((image(&t), name.as_str()), ("box:1".into(), "web-old"));
        let (t, name) = template_for(&s, &revs, 2);
        assert_eq!((image(&t), name.as_str()), ("box:2".into(), "web-new"));
        // OnDelete: a pod made again is made at the update revision.
        s.spec.as_mut().unwrap().update_strategy =
            serde_json::from_value(json!({"type": "OnDelete"})).unwrap();
        let (t, name) = template_for(&s, &revs, 0);
        assert_eq!((image(&t), name.as_str()), ("box:2".into(), "web-new"));
    }

    #[test]
    fn history_keeps_live_revisions_and_the_newest_others() {
        let owned: Vec<Arc<ControllerRevision>> = (1..=5)
            .map(|n| {
                Arc::new(
                    serde_json::from_value(json!({"metadata": {"name": format!("web-{n}")},
                        "revision": 6 - n}))
                    .unwrap(),
                )
            })
            .collect();
        // web-5 is revision 1 (oldest), web-1 revision 5; web-5 and web-1 are in use.
        let live: HashSet<String> = ["web-5".to_string(), "web-1".to_string()].into();
        let names = |limit| -> Vec<String> {
            prunable(&owned, &live, limit)
                .iter()
                .map(|r| r.metadata.name.clone().unwrap())
                .collect()
        };
        assert_eq!(names(10), Vec::<String>::new());
        assert_eq!(names(2), ["web-4"]);
        assert_eq!(names(0), ["web-4", "web-3", "web-2"]);
    }
}
