//! A Deployment's status, as upstream's `syncRolloutStatus`: counts summed over its sets,
//! the `Available` condition (at least `replicas - maxUnavailable` pods available) and the
//! `Progressing` condition `kubectl rollout status` waits on — NewReplicaSetCreated,
//! ReplicaSetUpdated while pods move, NewReplicaSetAvailable once complete,
//! ProgressDeadlineExceeded (False) when no progress was made for
//! `progressDeadlineSeconds`, DeploymentPaused/DeploymentResumed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use serde_json::{json, Value};

use super::rollout::fenceposts;
use super::DeploymentController;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::status_patch::patch_status;
use crate::controllers::Action;

fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn condition<'a>(d: &'a Deployment, kind: &str) -> Option<&'a DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

/// A condition, keeping its transition time when the status did not change and its
/// update time when nothing at all changed (as upstream's `SetDeploymentCondition`).
fn cond(
    old: Option<&DeploymentCondition>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let same_status = old.is_some_and(|o| o.status == status);
    let same_all = same_status
        && old.is_some_and(|o| {
            o.reason.as_deref() == Some(reason) && o.message.as_deref() == Some(message)
        });
    let transition = match old
        .filter(|_| same_status)
        .and_then(|o| o.last_transition_time.as_ref())
    {
        Some(t) => now_text(t.0),
        None => now.to_string(),
    };
    let update = match old
        .filter(|_| same_all)
        .and_then(|o| o.last_update_time.as_ref())
    {
        Some(t) => now_text(t.0),
        None => now.to_string(),
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": transition, "lastUpdateTime": update})
}

/// Writes `d`'s status from its sets; asks to look again at the progress deadline.
pub(super) async fn update<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    new: Option<&ReplicaSet>,
    all: &[Arc<ReplicaSet>],
    created: bool,
) -> Result<Action, ApiError> {
    let spec = d.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let sum = |f: &dyn Fn(&ReplicaSet) -> Option<i32>| -> i32 {
        all.iter()
            .filter_map(|s| f(s))
            .fold(0i32, |a, b| a.saturating_add(b))
    };
    let total = sum(&|s| s.status.as_ref().map(|st| st.replicas));
    let ready = sum(&|s| s.status.as_ref().and_then(|st| st.ready_replicas));
    let available = sum(&|s| s.status.as_ref().and_then(|st| st.available_replicas));
    let updated = new
        .and_then(|n| n.status.as_ref())
        .map_or(0, |st| st.replicas);
    let new_name = new
        .and_then(|n| n.metadata.name.clone())
        .unwrap_or_default();
    let (_, max_unavailable) = fenceposts(d);
    let now = Utc::now();
    let now_s = now_text(now);

    let mut conditions: Vec<Value> = Vec::new();
    let avail_old = condition(d, "Available");
    conditions.push(if available >= replicas - max_unavailable {
        cond(
            avail_old,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &now_s,
        )
    } else {
        cond(
            avail_old,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &now_s,
        )
    });
    let prog_old = condition(d, "Progressing");
    let paused = spec.and_then(|s| s.paused) == Some(true);
    let complete = new.is_some()
        && updated == replicas
        && total == replicas
        && available >= replicas
        && new.and_then(|n| n.spec.as_ref()).and_then(|s| s.replicas) == Some(replicas);
    let deadline = spec
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    let old_status = d.status.clone().unwrap_or_default();
    let moved = old_status.replicas != Some(total)
        || old_status.updated_replicas != Some(updated)
        || old_status.available_replicas != Some(available)
        || old_status.ready_replicas != Some(ready);
    let mut requeue = None;
    let progressing = if paused {
        cond(
            prog_old,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            &now_s,
        )
    } else if prog_old.is_some_and(|o| o.reason.as_deref() == Some("DeploymentPaused")) {
        cond(
            prog_old,
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed",
            &now_s,
        )
    } else if complete {
        cond(
            prog_old,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            &now_s,
        )
    } else if created {
        cond(
            prog_old,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{new_name}\""),
            &now_s,
        )
    } else if moved
        || prog_old.is_none()
        || prog_old.is_some_and(|o| o.reason.as_deref() == Some("NewReplicaSetAvailable"))
    {
        cond(
            prog_old,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{new_name}\" is progressing."),
            &now_s,
        )
    } else {
        // No progress since the last update: past the deadline the rollout has failed.
        let since = prog_old
            .and_then(|o| o.last_update_time.as_ref())
            .map_or(now, |t| t.0);
        let limit = since + chrono::Duration::seconds(i64::from(deadline));
        if now >= limit && prog_old.is_some_and(|o| o.status == "True") {
            cond(
                prog_old,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                &now_s,
            )
        } else {
            if now < limit {
                requeue = (limit - now)
                    .to_std()
                    .ok()
                    .map(|d| d + Duration::from_secs(1));
            }
            prog_old
                .and_then(|o| serde_json::to_value(o).ok())
                .unwrap_or(Value::Null)
        }
    };
    conditions.push(progressing);
    // Keep the order upstream writes (Available, Progressing) and any other conditions.
    for other in old_status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.type_ != "Available" && c.type_ != "Progressing")
    {
        conditions.push(serde_json::to_value(other).unwrap_or(Value::Null));
    }
    let mut status = json!({
        "observedGeneration": d.metadata.generation,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (replicas - available).max(0),
        "conditions": conditions,
    });
    if let Some(cc) = old_status.collision_count {
        status["collisionCount"] = json!(cc);
    }
    let before = serde_json::to_value(&old_status).unwrap_or(Value::Null);
    let zero = json!(0);
    let changed = [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ]
    .iter()
    .any(|f| before.get(*f).unwrap_or(&zero) != status.get(*f).unwrap_or(&zero))
        || before.get("conditions").cloned().unwrap_or(json!([])) != status["conditions"];
    if changed && !patch_status(&c.client, d, status).await? {
        return Ok(Action::Done);
    }
    Ok(match requeue {
        Some(after) if !complete => Action::RequeueAfter(after),
        _ => Action::Done,
    })
}
