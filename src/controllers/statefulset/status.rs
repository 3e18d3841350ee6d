//! A StatefulSet's status, as upstream's `updateStatefulSet` counts it and
//! `completeRollingUpdate` finishes it: every pod it controls counts in `replicas`, the
//! Running and Ready ones in `readyReplicas` (and `availableReplicas` after
//! `minReadySeconds`), the ones not being deleted in `currentReplicas`/`updatedReplicas` by
//! their revision; once a RollingUpdate has every pod updated and Ready, the update revision
//! becomes the current one, which is what `kubectl rollout status` waits for. Written only
//! when it changed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::identity;
use super::revision::Revisions;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pods;
use crate::controllers::status_patch::patch_status;

/// Phase Running and Ready (upstream's `isRunningAndReady`).
pub fn running_and_ready(p: &Pod) -> bool {
    let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    running && pods::is_ready(p)
}

/// Running, Ready for `minReadySeconds`, not being deleted (upstream's `isHealthy` with
/// `isRunningAndAvailable`).
pub fn healthy(p: &Pod, min_ready: i32, now: DateTime<Utc>) -> bool {
    running_and_ready(p)
        && pods::is_available(p, min_ready, now)
        && p.metadata.deletion_timestamp.is_none()
}

/// The status of `set` with `owned` pods and `revs`.
pub fn compute(set: &StatefulSet, owned: &[Arc<Pod>], revs: &Revisions) -> Value {
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = Utc::now();
    let (current_name, update_name) = (
        revs.current.metadata.name.as_deref().unwrap_or_default(),
        revs.update.metadata.name.as_deref().unwrap_or_default(),
    );
    let count = |f: &dyn Fn(&Pod) -> bool| -> i32 {
        i32::try_from(owned.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let replicas = count(&|_| true);
    let ready = count(&running_and_ready);
    let available = count(&|p| running_and_ready(p) && pods::is_available(p, min_ready, now));
    let live_at = |name: &str| {
        let name = name.to_string();
        move |p: &Pod| {
            p.metadata.deletion_timestamp.is_none()
                && identity::revision_of(p) == Some(name.as_str())
        }
    };
    let mut current = count(&live_at(current_name));
    let updated = count(&live_at(update_name));
    let mut current_revision = current_name;
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .map_or(true, |t| t == "RollingUpdate");
    if rolling && updated == replicas && ready == replicas {
        current_revision = update_name;
        current = updated;
    }
    json!({
        "observedGeneration": set.metadata.generation.unwrap_or(0),
        "replicas": replicas,
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "currentRevision": current_revision,
        "updateRevision": update_name,
        "collisionCount": revs.collisions,
    })
}

/// Writes `status` unless the set already has it.
pub async fn write<C: Client>(
    client: &C,
    set: &StatefulSet,
    status: Value,
) -> Result<(), ApiError> {
    let old = serde_json::to_value(set.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
    let unchanged = status
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| old.get(k).unwrap_or(&json!(0)) == v);
    if unchanged {
        return Ok(());
    }
    // A set deleted meanwhile has no status to write.
    patch_status(client, set, status).await.map(|_| ())
}
