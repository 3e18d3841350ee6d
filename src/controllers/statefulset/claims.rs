//! A StatefulSet pod's claims, as upstream's `createPersistentVolumeClaims` and
//! `updateClaimOwnerRefForSetAndPod`: every claim template gives each ordinal one claim,
//! made before the pod and never replaced, so a recreated pod gets its old data back. The
//! `persistentVolumeClaimRetentionPolicy` decides the claim's owners, and with them what the
//! garbage collector removes: Retain (the default) leaves a claim unowned; `whenDeleted:
//! Delete` makes the set an owner while the ordinal is in range, `whenScaled: Delete` makes
//! the pod an owner once its ordinal is scaled away.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{json, Value};

use super::identity;
use crate::client::events::{self, EventRecorder, EventType};
use crate::client::informer::Informer;
use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::persistentvolumeclaim::RESOURCE;

/// Who should own a claim, by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    /// The StatefulSet.
    pub set: bool,
    /// The pod of the claim's ordinal.
    pub pod: bool,
}

fn is_delete(policy: Option<&String>) -> bool {
    policy.is_some_and(|p| p == "Delete")
}

/// The owners the retention policy gives the claim of a pod whose ordinal is `in_range`.
pub fn wanted_owners(set: &StatefulSet, in_range: bool) -> Owners {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let when_deleted = is_delete(policy.and_then(|p| p.when_deleted.as_ref()));
    let when_scaled = is_delete(policy.and_then(|p| p.when_scaled.as_ref()));
    Owners {
        set: when_deleted && in_range,
        pod: when_scaled && !in_range,
    }
}

fn plain_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid})
}

/// The claim's owner references with the set's and pod's set or removed as `want` says;
/// `None` when they are already so.
pub fn owner_refs_for(
    current: &[OwnerReference],
    set: &StatefulSet,
    pod: Option<&Pod>,
    want: Owners,
) -> Option<Vec<Value>> {
    let set_uid = set.metadata.uid.as_deref().unwrap_or_default();
    let pod_uid = pod
        .and_then(|p| p.metadata.uid.as_deref())
        .unwrap_or_default();
    let has = |uid: &str| !uid.is_empty() && current.iter().any(|r| r.uid == uid);
    let set_ok = want.set == has(set_uid) || set_uid.is_empty();
    // Without a pod (or its uid) the pod's reference can neither be checked nor added.
    let pod_ok = pod_uid.is_empty() || want.pod == has(pod_uid);
    if set_ok && pod_ok {
        return None;
    }
    let mut refs: Vec<Value> = current
        .iter()
        .filter(|r| r.uid != set_uid && (pod_uid.is_empty() || r.uid != pod_uid))
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    if want.set && !set_uid.is_empty() {
        let name = set.metadata.name.as_deref().unwrap_or_default();
        refs.push(plain_ref("apps/v1", "StatefulSet", name, set_uid));
    }
    if let (true, Some(p)) = (want.pod && !pod_uid.is_empty(), pod) {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        refs.push(plain_ref("v1", "Pod", name, pod_uid));
    }
    Some(refs)
}

/// Makes the missing claims of pod `ordinal`; a claim being deleted is an error, as the pod
/// would otherwise start on storage about to vanish.
pub async fn create_missing<C: Client>(
    client: &C,
    events: &EventRecorder<C>,
    claims: &Informer<PersistentVolumeClaim>,
    set: &StatefulSet,
    ordinal: i32,
) -> Result<(), ApiError> {
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let want = wanted_owners(set, identity::in_range(set, ordinal));
    for template in identity::claim_templates(set) {
        let mut claim = identity::new_claim(set, template, ordinal);
        let name = claim["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(existing) = claims.get(ns, &name) {
            if existing.metadata.deletion_timestamp.is_some() {
                return Err(ApiError::conflict(&RESOURCE, &name, "it is being deleted"));
            }
            continue;
        }
        if let Some(refs) = owner_refs_for(&[], set, None, want) {
            claim["metadata"]["ownerReferences"] = Value::Array(refs);
        }
        let set_name = set.metadata.name.as_deref().unwrap_or_default();
        let pod = identity::pod_name(set_name, ordinal);
        match client.create(&RESOURCE, ns, claim).await {
            Ok(_) => {
                let msg =
                    format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success");
                events.record(
                    &events::reference(set),
                    EventType::Normal,
                    "SuccessfulCreate",
                    "Create",
                    &msg,
                );
            }
            Err(e) if e.code == 409 => {}
            Err(e) => {
                let msg = format!(
                    "create Claim {name} for Pod {pod} in StatefulSet {set_name} failed error: {}",
                    e.message
                );
                events.record(
                    &events::reference(set),
                    EventType::Warning,
                    "FailedCreate",
                    "Create",
                    &msg,
                );
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Brings the owners of `pod`'s claims in line with the retention policy.
pub async fn apply_retention<C: Client>(
    client: &C,
    claims: &Informer<PersistentVolumeClaim>,
    set: &StatefulSet,
    pod: &Arc<Pod>,
    ordinal: i32,
) -> Result<(), ApiError> {
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let want = wanted_owners(set, identity::in_range(set, ordinal));
    for template in identity::claim_templates(set) {
        let tname = template.metadata.name.as_deref().unwrap_or_default();
        let name = identity::claim_name(tname, set_name, ordinal);
        let Some(claim) = claims.get(ns, &name) else {
            continue;
        };
        let current = claim.metadata.owner_references.clone().unwrap_or_default();
        let Some(refs) = owner_refs_for(&current, set, Some(pod), want) else {
            continue;
        };
        let patch = json!({"metadata": {"uid": claim.metadata.uid, "ownerReferences": refs}});
        match client
            .patch(
                &RESOURCE,
                ns,
                &name,
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(policy: Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "d", "uid": "set-uid"},
            "spec": {"serviceName": "s", "selector": {}, "template": {},
                "persistentVolumeClaimRetentionPolicy": policy},
        }))
        .unwrap()
    }

    fn pod() -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "web-1", "uid": "pod-uid"}})).unwrap()
    }

    #[test]
    fn the_policy_picks_the_owners() {
        let retain = set(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert_eq!(
            wanted_owners(&retain, true),
            Owners {
                set: false,
                pod: false
            }
        );
        assert_eq!(
            wanted_owners(&retain, false),
            Owners {
                set: false,
                pod: false
            }
        );
        let deleted = set(json!({"whenDeleted": "Delete", "whenScaled": "Retain"}));
        assert_eq!(
            wanted_owners(&deleted, true),
            Owners {
                set: true,
                pod: false
            }
        );
        let scaled = set(json!({"whenDeleted": "Retain", "whenScaled": "Delete"}));
        assert_eq!(
            wanted_owners(&scaled, true),
            Owners {
                set: false,
                pod: false
            }
        );
        assert_eq!(
            wanted_owners(&scaled, false),
            Owners {
                set: false,
                pod: true
            }
        );
        let both = set(json!({"whenDeleted": "Delete", "whenScaled": "Delete"}));
        assert_eq!(
            wanted_owners(&both, false),
            Owners {
                set: false,
                pod: true
            }
        );
    }

    #[test]
    fn owner_references_are_added_and_removed_once() {
        let s = set(json!({"whenDeleted": "Delete", "whenScaled": "Delete"}));
        let p = pod();
        let refs = owner_refs_for(
            &[],
            &s,
            Some(&p),
            Owners {
                set: true,
                pod: false,
            },
        )
        .unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0]["kind"], "StatefulSet");
        assert!(refs[0].get("controller").is_none());
        let typed: Vec<OwnerReference> = serde_json::from_value(json!(refs)).unwrap();
        assert_eq!(
            owner_refs_for(
                &typed,
                &s,
                Some(&p),
                Owners {
                    set: true,
                    pod: false
                }
            ),
            None
        );
        // Scaled away: the pod takes over from the set.
        let moved = owner_refs_for(
            &typed,
            &s,
            Some(&p),
            Owners {
                set: false,
                pod: true,
            },
        )
        .unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0]["kind"], "Pod");
        assert_eq!(moved[0]["uid"], "pod-uid");
        // Retain: every reference of ours goes, others stay.
        let mut with_other = typed.clone();
        with_other.push(
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "name": "x", "uid": "other"}))
            .unwrap(),
        );
        let kept = owner_refs_for(
            &with_other,
            &s,
            Some(&p),
            Owners {
                set: false,
                pod: false,
            },
        )
        .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["uid"], "other");
    }
}
